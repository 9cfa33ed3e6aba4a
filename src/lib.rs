//! meetstage: a self-hostable platform for user-group virtual meetups.
//!
//! Layers, top to bottom (see ARCHITECTURE.md):
//! - [`http`]: routes, extractors, pages and the JSON API; converts everything to responses.
//! - [`features`]: use cases (accounts, events, registrations, admin), free of axum types.
//! - [`store`]: the only module that knows sqlx; one query text runs on SQLite or Postgres.
//! - [`realtime`]: in-process fan-out of room notices to live-room sockets.
//! - [`mail`]: the `Mailer` seam and its transports.
//! - [`media`]: the `MediaProvider` seam and the embedded SFU (cameras, microphones, screens).
//! - [`jobs`]: the in-process loop that runs due jobs and delivers the mail outbox.
//! - [`publish`]: the static archive of past public events, written to a directory or a git branch.
//! - [`config`], [`telemetry`], [`clock`], [`aws`]: process-wide plumbing.

pub mod app;
pub mod aws;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod features;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod media;
pub mod publish;
pub mod realtime;
pub mod store;
pub mod telemetry;

pub use app::App;
