//! One integration-test binary: every test drives the real server over HTTP on port 0, and
//! most run twice, once on SQLite and once on Postgres (see [`both!`]).

mod helpers;

mod accounts;
mod admin;
mod browser;
mod browser_ivs;
mod browser_journey;
mod browser_media;
mod browser_room;
mod calendar;
mod cli;
mod decisions;
mod email;
mod events;
mod ivs;
mod ivs_chat;
mod ivs_costs;
mod live;
mod media;
mod media_layers;
mod ops;
mod publish;
mod recap;
mod recording_edges;
mod recording_ivs;
mod recording_s3;
mod recordings;
mod registrations;
mod restart;
mod room;
mod room_client;
mod security;
mod ses;
mod smtp;
mod snapshots;
mod workers;
