//! One event's room on this instance: a task that owns the room's state and is the only
//! writer of its two streams, one for attendees and one for presenters (who also see the
//! people, hands, direct messages and standings). Every message is encoded once with the
//! stream's next sequence number, and the room writes the same bytes to every socket on that
//! stream itself ([`Outbox`]): one write per socket, no task woken.
//!
//! Newcomers and connections that fell behind get a snapshot at the stream's current number,
//! and the stream's frames after it, so nothing is missed or seen twice.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::{
    outbox::{Outbox, Pushed},
    wire,
};
use crate::features::{
    Core,
    ids::UserId,
    live::{
        self, Closing, Loaded, Notice, Participant, To,
        protocol::{Gone, Out, Person, Reactions, RoomRole, Snapshot},
    },
};

/// How often presence counts and reaction bursts are sent: one frame per interval, however
/// many people joined or clapped.
pub const TICK: Duration = Duration::from_millis(250);
/// Notices waiting for a busy room; beyond this the room starts everyone over.
const INBOX: usize = 4096;

pub enum RoomMsg {
    Join(Box<Join>),
    Leave {
        conn: u64,
    },
    /// The person's page saw a gap: a snapshot, then the stream from there.
    Resync {
        conn: u64,
    },
    Notice(Notice),
    /// A reaction from a connection of this instance.
    React(String),
    /// Who sends on this instance's stage changed.
    Stage(crate::media::Roster),
    Shutdown,
}

pub struct Join {
    pub conn: u64,
    pub who: Participant,
    pub outbox: Arc<Outbox>,
    /// Answered once the connection is greeted and on the room's streams.
    pub reply: oneshot::Sender<()>,
}

/// Hands a message to a room without waiting. A room that cannot keep up with notices is
/// told to start everyone over, so nobody is left with silently stale state.
pub fn deliver(inbox: &mpsc::Sender<RoomMsg>, msg: RoomMsg) {
    match inbox.try_send(msg) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics::counter!("meetstage_room_inbox_overflows_total").increment(1);
            STALE.fetch_add(1, Ordering::Relaxed);
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Counts inbox overflows of every room; a room that sees the count move resyncs everyone.
static STALE: AtomicU64 = AtomicU64::new(0);

/// Notices may have been lost (the bus reconnected): every room starts everyone over.
pub fn mark_all_stale() {
    STALE.fetch_add(1, Ordering::Relaxed);
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

pub fn next_conn_id() -> u64 {
    NEXT_CONN.fetch_add(1, Ordering::Relaxed)
}

#[derive(Default)]
struct Stream {
    seq: u64,
    /// The snapshot at `seq`, encoded, until the stream moves on.
    cached: Option<Bytes>,
}

struct Conn {
    user: Option<UserId>,
    role: RoomRole,
    outbox: Arc<Outbox>,
}

/// Someone here on this instance.
struct Present {
    name: String,
    role: RoomRole,
    conns: usize,
    attendance: String,
}

/// Who is in the room on another instance, as its notices tell.
#[derive(Default)]
struct Remote {
    people: HashMap<UserId, Person>,
    guests: u64,
    /// When it last said anything ([`super::connection::mono_ms`]).
    heard: u64,
}

struct Room {
    core: Core,
    hub: super::Hub,
    event_id: String,
    me: mpsc::Sender<RoomMsg>,
    attendees: Stream,
    presenters: Stream,
    conns: HashMap<u64, Conn>,
    /// The hash of the session each signed-in connection was opened with, so a logout closes
    /// exactly its sockets (apart from `conns`, which every broadcast walks).
    sessions: HashMap<u64, String>,
    /// Connections whose queue overflowed during a broadcast: they start over from a snapshot.
    behind: Vec<u64>,
    people: HashMap<UserId, Present>,
    guests: u64,
    /// Guests who came in since the figures were last written, and the largest audience
    /// this room has written (the attendance report's figures).
    guest_arrivals: u32,
    peak: u64,
    /// People and guests on other instances, by instance.
    remote: HashMap<String, Remote>,
    loaded: Option<Loaded>,
    presence_changed: bool,
    reactions: BTreeMap<String, u64>,
    stage: crate::media::Roster,
    stale_seen: u64,
    ticks: u64,
    ping: Bytes,
}

/// Starts the room of `event_id`; it stops by itself when its last connection leaves.
mod presence;

pub fn start(core: Core, hub: super::Hub, event_id: String) -> mpsc::Sender<RoomMsg> {
    let (tx, rx) = mpsc::channel(INBOX);
    let running = hub.running();
    let room = Room {
        core,
        hub,
        event_id,
        me: tx.clone(),
        attendees: Stream::default(),
        presenters: Stream::default(),
        conns: HashMap::new(),
        sessions: HashMap::new(),
        behind: Vec::new(),
        people: HashMap::new(),
        guests: 0,
        guest_arrivals: 0,
        peak: 0,
        remote: HashMap::new(),
        loaded: None,
        presence_changed: false,
        reactions: BTreeMap::new(),
        stage: crate::media::Roster::default(),
        stale_seen: STALE.load(Ordering::Relaxed),
        ticks: 0,
        ping: wire::ping(),
    };
    tokio::spawn(room.run(rx, running));
    tx
}

impl Room {
    async fn run(mut self, mut inbox: mpsc::Receiver<RoomMsg>, _running: super::Running) {
        metrics::gauge!("meetstage_rooms").increment(1.0);
        self.catch_up().await;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = inbox.recv() => match msg {
                    Some(RoomMsg::Shutdown) | None => break,
                    Some(msg) => self.handle(msg).await,
                },
                _ = tick.tick() => {
                    self.tick();
                    if self.conns.is_empty() {
                        break;
                    }
                }
            }
            self.restart_behind().await;
        }
        // Leave the hub first, so new joins start a new room; joins already queued here
        // see their reply dropped and try again.
        self.hub.forget(&self.event_id, &self.me);
        inbox.close();
        for conn in self.conns.values() {
            conn.outbox
                .close(Some(wire::close(wire::code::GOING_AWAY, "the room closed")));
        }
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.leave(id).await;
        }
        metrics::gauge!("meetstage_rooms").decrement(1.0);
    }

    async fn handle(&mut self, msg: RoomMsg) {
        let stale = STALE.load(Ordering::Relaxed);
        if stale != self.stale_seen {
            self.stale_seen = stale;
            self.restart_everyone().await;
        }
        match msg {
            RoomMsg::Join(join) => self.join(*join).await,
            RoomMsg::Leave { conn } => self.leave(conn).await,
            RoomMsg::Resync { conn } => self.behind.push(conn),
            RoomMsg::Notice(notice) => self.notice(notice).await,
            RoomMsg::React(emoji) => *self.reactions.entry(emoji).or_default() += 1,
            RoomMsg::Stage(roster) => {
                if roster != self.stage {
                    let out = Out::Stage(roster.clone());
                    self.stage = roster;
                    self.publish(false, &out);
                    self.publish(true, &out);
                }
            }
            RoomMsg::Shutdown => {}
        }
    }

    fn stream(&mut self, role: RoomRole) -> &mut Stream {
        if role.runs_room() {
            &mut self.presenters
        } else {
            &mut self.attendees
        }
    }

    /// The stream's snapshot at its current number, encoded. None when the room cannot be
    /// loaded.
    async fn snapshot_frame(&mut self, role: RoomRole) -> Option<Bytes> {
        if self.loaded.is_none() {
            // An encoding of the old load is stale too, even when nothing was published since
            // (IVS Chat delivers group chat around this socket).
            self.attendees.cached = None;
            self.presenters.cached = None;
            match live::snapshot(&self.core, &self.event_id).await {
                Ok(l) => self.loaded = Some(l),
                Err(e) => {
                    tracing::error!(error = %e, event.id = %self.event_id, "loading a room failed");
                    return None;
                }
            }
        }
        // Built only when the stream moved on since the last newcomer: a join storm shares
        // one encoding.
        if let Some(b) = self.stream(role).cached.clone() {
            return Some(b);
        }
        let snapshot = Out::Snapshot(Box::new(self.snapshot_for(role)));
        let stream = self.stream(role);
        let b = wire::message(&snapshot, Some(stream.seq));
        stream.cached = Some(b.clone());
        Some(b)
    }

    /// Starts the connections that fell behind (or asked) over from a snapshot.
    async fn restart_behind(&mut self) {
        // One snapshot each, however many frames they missed.
        self.behind.sort_unstable();
        self.behind.dedup();
        while let Some(conn) = self.behind.pop() {
            let Some(role) = self.conns.get(&conn).map(|c| c.role) else {
                continue;
            };
            metrics::counter!("meetstage_room_resyncs_total").increment(1);
            let frame = self.snapshot_frame(role).await;
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            match frame {
                Some(frame) => c.outbox.restart(frame),
                None => c
                    .outbox
                    .close(Some(wire::close(wire::code::TRY_AGAIN, "try again"))),
            }
        }
    }

    /// Writes the next message of a stream to every connection on it.
    fn publish(&mut self, presenters: bool, out: &Out) {
        let stream = if presenters {
            &mut self.presenters
        } else {
            &mut self.attendees
        };
        stream.seq += 1;
        stream.cached = None;
        let frame = wire::message(out, Some(stream.seq));
        let mut delivered = 0u64;
        for (id, c) in &self.conns {
            if c.role.runs_room() != presenters {
                continue;
            }
            match c.outbox.push_stream(&frame) {
                Pushed::Ok => delivered += 1,
                Pushed::Behind => self.behind.push(*id),
                Pushed::Closed => {}
            }
        }
        metrics::counter!("meetstage_room_frames_out_total").increment(delivered);
    }

    fn snapshot_for(&self, role: RoomRole) -> Snapshot {
        let loaded = self.loaded.as_ref().expect("loaded before use");
        let mut s = if role.runs_room() {
            loaded.for_presenters.clone()
        } else {
            loaded.for_attendees.clone()
        };
        s.presence = self.presence();
        s.stage = self.stage.clone();
        if role.runs_room() {
            s.people = Some(self.people_list());
        }
        s
    }

    async fn join(&mut self, join: Join) {
        let Join {
            conn,
            who,
            outbox,
            reply,
        } = join;
        let Some(snapshot) = self.snapshot_frame(who.role).await else {
            outbox.close(Some(wire::close(wire::code::TRY_AGAIN, "try again")));
            return;
        };
        match live::you(&self.core, &who).await {
            Ok(you) => {
                outbox.push_stream(&snapshot);
                outbox.push(wire::message(&Out::You(Box::new(you)), None));
            }
            Err(e) => {
                tracing::error!(error = %e, event.id = %self.event_id, "loading a person failed");
                outbox.close(Some(wire::close(wire::code::TRY_AGAIN, "try again")));
                return;
            }
        }
        if reply.send(()).is_err() {
            return;
        }
        metrics::gauge!("meetstage_room_connections", "event" => self.event_id.clone())
            .increment(1.0);
        if let Some(session) = &who.session {
            self.sessions.insert(conn, session.clone());
        }
        self.conns.insert(
            conn,
            Conn {
                user: who.user.clone(),
                role: who.role,
                outbox,
            },
        );
        match &who.user {
            None => {
                self.guests += 1;
                self.guest_arrivals = self.guest_arrivals.saturating_add(1);
            }
            Some(user) => {
                if let Some(p) = self.people.get_mut(user) {
                    p.conns += 1;
                } else {
                    let attendance = uuid::Uuid::now_v7().to_string();
                    let now = self.core.clock.now_ms();
                    let instance = self.hub.instance().to_string();
                    if let Err(e) = self
                        .core
                        .store
                        .attendance_joined(&attendance, &self.event_id, user, &instance, now)
                        .await
                    {
                        tracing::warn!(error = %e, "recording attendance failed");
                    }
                    self.people.insert(
                        user.clone(),
                        Present {
                            name: who.name.clone(),
                            role: who.role,
                            conns: 1,
                            attendance,
                        },
                    );
                    self.publish(
                        true,
                        &Out::PersonJoined(Person {
                            user_id: user.clone(),
                            name: who.name.clone(),
                            role: who.role,
                        }),
                    );
                    self.tell_others(Some(user.clone()), true);
                }
            }
        }
        self.presence_changed = true;
    }

    async fn leave(&mut self, conn: u64) {
        self.sessions.remove(&conn);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        metrics::gauge!("meetstage_room_connections", "event" => self.event_id.clone())
            .decrement(1.0);
        self.presence_changed = true;
        let Some(user) = c.user else {
            self.guests = self.guests.saturating_sub(1);
            return;
        };
        let Some(p) = self.people.get_mut(&user) else {
            return;
        };
        p.conns -= 1;
        if p.conns > 0 {
            return;
        }
        let attendance = p.attendance.clone();
        self.people.remove(&user);
        let now = self.core.clock.now_ms();
        if let Err(e) = self.core.store.attendance_left(&attendance, now).await {
            tracing::warn!(error = %e, "recording attendance failed");
        }
        self.publish(
            true,
            &Out::PersonLeft(Gone {
                id: user.to_string(),
            }),
        );
        self.tell_others(Some(user), false);
    }

    async fn notice(&mut self, notice: Notice) {
        match notice {
            Notice::Removed { .. } | Notice::Role { .. } | Notice::Account { .. } => {
                if let Some(c) = live::closing(&notice) {
                    self.close_person(c);
                }
            }
            // The stage's business; the standing that came with it tells the pages.
            Notice::Unseated { .. } => {}
            Notice::Presence {
                instance,
                user,
                joined,
                anonymous,
            } => self.heard_from(instance, user, joined, anonymous).await,
            Notice::Reactions { instance, counts } => {
                if instance == self.hub.instance() {
                    return;
                }
                let r = Out::Reactions(Reactions {
                    counts: counts.into_iter().collect(),
                });
                self.publish(false, &r);
                self.publish(true, &r);
            }
            other => {
                // Shared state changed: the next newcomer needs a fresh load.
                self.loaded = None;
                match live::render(&self.core, &self.event_id, &other).await {
                    Ok(messages) => {
                        for (to, out) in messages {
                            self.send(&to, &out);
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, event.id = %self.event_id, "rendering a room notice failed");
                        self.restart_everyone().await;
                    }
                }
            }
        }
    }

    /// Closes the sockets a notice closes (of one person; of some of their sessions), each
    /// after the last message it is to read.
    fn close_person(&self, c: Closing) {
        let frame = wire::close(c.close.code(), c.close.reason());
        let last = c.last.as_ref().map(|out| wire::message(out, None));
        for (id, conn) in &self.conns {
            let session = self.sessions.get(id).map(String::as_str);
            if conn.user.as_ref() != Some(&c.user) || !c.reaches(session) {
                continue;
            }
            if let Some(last) = &last {
                conn.outbox.push(last.clone());
            }
            conn.outbox.close(Some(frame.clone()));
        }
    }

    fn send(&mut self, to: &To, out: &Out) {
        match to {
            To::Everyone => {
                self.publish(false, out);
                self.publish(true, out);
            }
            To::Attendees => self.publish(false, out),
            To::Presenters => self.publish(true, out),
            To::Person(user) => {
                let frame = wire::message(out, None);
                for c in self
                    .conns
                    .values()
                    .filter(|c| c.user.as_ref() == Some(user))
                {
                    c.outbox.push(frame.clone());
                }
            }
        }
    }

    /// Sends a fresh snapshot down both streams: everyone starts over from the record.
    async fn restart_everyone(&mut self) {
        self.loaded = None;
        match live::snapshot(&self.core, &self.event_id).await {
            Ok(l) => {
                self.loaded = Some(l);
                for role in [RoomRole::Attendee, RoomRole::Presenter] {
                    let s = Out::Snapshot(Box::new(self.snapshot_for(role)));
                    self.publish(role.runs_room(), &s);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, event.id = %self.event_id, "reloading a room failed");
            }
        }
    }

    /// Pings quiet sockets and cuts off those that stopped answering: a client that stops
    /// reading is gone within the stall bound, however little the room sends.
    fn check_liveness(&self) {
        let stall = u64::try_from(self.hub.limits().stall.as_millis()).unwrap_or(u64::MAX);
        let now = super::connection::mono_ms();
        for c in self.conns.values() {
            let blocked = c.outbox.blocked_since.load(Ordering::Relaxed);
            if blocked != 0 && now.saturating_sub(blocked) > stall {
                // It stopped reading: nothing more can reach it, not even a close frame.
                metrics::counter!("meetstage_room_drops_total", "why" => "stalled").increment(1);
                c.outbox.abort();
                continue;
            }
            let quiet = now.saturating_sub(c.outbox.heard.load(Ordering::Relaxed));
            if quiet > stall {
                metrics::counter!("meetstage_room_drops_total", "why" => "silent").increment(1);
                c.outbox
                    .close(Some(wire::close(wire::code::TRY_AGAIN, "not responding")));
            } else if quiet > stall / 3 {
                c.outbox.push(self.ping.clone());
            }
        }
    }
}
