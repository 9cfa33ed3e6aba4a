//! One connection's own queue: messages for that person alone (their errors, their own
//! question's status, direct messages, pings) and the signal that the connection must close.
//! The room and the reader push; the connection's writer drains it.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use bytes::Bytes;
use tokio::sync::Notify;

use super::wire;

/// Messages for one connection alone, and the signal that it must close. Bounded: a
/// connection that lets it fill up is cut off and reconnects to a snapshot.
pub struct Outbox {
    state: Mutex<OutboxState>,
    /// Wakes the writer.
    pub ready: Notify,
    /// Wakes the reader when the connection is over.
    pub gone: Notify,
    limit: usize,
    /// When the person's socket last sent anything ([`super::connection::mono_ms`]).
    pub heard: AtomicU64,
    /// The person's page saw a gap and asked to start over.
    resync: AtomicBool,
}

#[derive(Default)]
struct OutboxState {
    frames: Vec<Bytes>,
    /// The last frame to write (a close frame), then stop.
    closing: Option<Option<Bytes>>,
}

impl Outbox {
    pub fn new(limit: usize) -> Outbox {
        Outbox {
            state: Mutex::default(),
            ready: Notify::new(),
            gone: Notify::new(),
            limit,
            heard: AtomicU64::new(super::connection::mono_ms()),
            resync: AtomicBool::new(false),
        }
    }

    pub fn request_resync(&self) {
        self.resync.store(true, Ordering::Relaxed);
        self.ready.notify_one();
    }

    pub fn take_resync(&self) -> bool {
        self.resync.swap(false, Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame; false (and the connection closes) when the queue is full.
    pub fn push(&self, frame: Bytes) -> bool {
        let mut s = self.lock();
        if s.closing.is_some() {
            return false;
        }
        if s.frames.len() >= self.limit {
            drop(s);
            metrics::counter!("meetstage_room_drops_total", "why" => "outbox").increment(1);
            self.close(Some(wire::close(wire::code::TRY_AGAIN, "too far behind")));
            return false;
        }
        s.frames.push(frame);
        drop(s);
        self.ready.notify_one();
        true
    }

    /// Ends the connection after the frames queued so far and `last`.
    pub fn close(&self, last: Option<Bytes>) {
        let mut s = self.lock();
        if s.closing.is_none() {
            s.closing = Some(last);
        }
        drop(s);
        self.ready.notify_one();
        self.gone.notify_one();
    }

    /// What the writer has to do now: frames to write, and whether (and with what) to stop.
    pub fn take(&self) -> (Vec<Bytes>, Option<Option<Bytes>>) {
        let mut s = self.lock();
        let frames = std::mem::take(&mut s.frames);
        let closing = s.closing.clone();
        (frames, closing)
    }

    pub fn is_closing(&self) -> bool {
        self.lock().closing.is_some()
    }
}
