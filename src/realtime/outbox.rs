//! One connection's way out: frames are written straight to the socket by whoever has them
//! (the room, the connection's own task), and only what the socket cannot take at once
//! waits in a bounded queue that the connection's task drains when the socket is writable.
//! A broadcast to thousands of sockets therefore costs one write each and wakes nobody.

use std::{
    collections::VecDeque,
    io::{ErrorKind, IoSlice},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use tokio::{net::tcp::OwnedWriteHalf, sync::Notify};

use super::{connection::mono_ms, wire};

/// Frames written in one vectored write when draining a queue.
const VECTORED: usize = 64;

/// Where a drain left the queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// Everything is written.
    Empty,
    /// The socket took what it could; the rest waits for it to be writable.
    Waiting,
    /// The socket failed: the connection is over.
    Broken,
}

/// What became of a room's frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Written, or queued behind earlier frames.
    Ok,
    /// The queue is full: the connection must start over from a snapshot ([`Outbox::restart`]).
    Behind,
    /// The connection is closing or gone.
    Closed,
}

pub struct Outbox {
    io: OwnedWriteHalf,
    state: Mutex<State>,
    /// Wakes the connection's task: frames are waiting for the socket, or it must close.
    pub wake: Notify,
    limit: usize,
    /// When the person's socket last sent anything ([`mono_ms`]).
    pub heard: AtomicU64,
    /// Since when frames have waited for a socket that takes nothing ([`mono_ms`], 0 when
    /// nothing waits), so the room can cut off a client that stopped reading.
    pub blocked_since: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Frames the socket has not taken; `true` marks a room stream frame, which a restart
    /// may drop (a snapshot replaces it), `false` one for this person alone.
    queue: VecDeque<(Bytes, bool)>,
    /// Bytes of the first queued frame already written.
    head_sent: usize,
    /// The last frame to write (a close frame), then stop.
    closing: Option<Option<Bytes>>,
    /// The socket failed: nothing more is written.
    broken: bool,
}

impl Outbox {
    pub fn new(io: OwnedWriteHalf, limit: usize) -> Outbox {
        Outbox {
            io,
            state: Mutex::default(),
            wake: Notify::new(),
            limit,
            heard: AtomicU64::new(mono_ms()),
            blocked_since: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A frame for this person alone. A full queue closes the connection (1013): the page
    /// reconnects to a fresh snapshot.
    pub fn push(&self, frame: Bytes) -> bool {
        match self.enqueue(frame, false) {
            Pushed::Ok => true,
            Pushed::Closed => false,
            Pushed::Behind => {
                metrics::counter!("meetstage_room_drops_total", "why" => "outbox").increment(1);
                self.close(Some(wire::close(wire::code::TRY_AGAIN, "too far behind")));
                false
            }
        }
    }

    /// A frame of the room's stream.
    pub fn push_stream(&self, frame: &Bytes) -> Pushed {
        self.enqueue(frame.clone(), true)
    }

    fn enqueue(&self, frame: Bytes, stream: bool) -> Pushed {
        let mut s = self.lock();
        if s.closing.is_some() || s.broken {
            return Pushed::Closed;
        }
        if !s.queue.is_empty() {
            if s.queue.len() >= self.limit {
                return Pushed::Behind;
            }
            s.queue.push_back((frame, stream));
            return Pushed::Ok;
        }
        match self.io.try_write(&frame) {
            Ok(n) if n == frame.len() => return Pushed::Ok,
            Ok(n) => s.head_sent = n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => s.head_sent = 0,
            Err(_) => {
                s.broken = true;
                drop(s);
                self.wake.notify_one();
                return Pushed::Closed;
            }
        }
        s.queue.push_back((frame, stream));
        drop(s);
        self.blocked_since
            .store(mono_ms().max(1), Ordering::Relaxed);
        self.wake.notify_one();
        Pushed::Ok
    }

    /// Starts a connection that fell behind over from `snapshot`: the stream frames still
    /// waiting are dropped (all but one already partly written), its own messages are kept.
    pub fn restart(&self, snapshot: Bytes) {
        let mut s = self.lock();
        if s.closing.is_some() || s.broken {
            return;
        }
        let head_started = s.head_sent > 0;
        let mut first = true;
        s.queue.retain(|(_, stream)| {
            let keep = !stream || (first && head_started);
            first = false;
            keep
        });
        s.queue.push_back((snapshot, true));
        drop(s);
        self.wake.notify_one();
    }

    /// Writes what the socket takes now.
    pub fn drain(&self) -> Drained {
        let mut s = self.lock();
        if s.broken {
            return Drained::Broken;
        }
        while !s.queue.is_empty() {
            let written = {
                let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(VECTORED);
                for (i, (frame, _)) in s.queue.iter().take(VECTORED).enumerate() {
                    let from = if i == 0 { s.head_sent } else { 0 };
                    slices.push(IoSlice::new(&frame[from..]));
                }
                self.io.try_write_vectored(&slices)
            };
            let mut n = match written {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Drained::Waiting,
                Err(_) => {
                    s.broken = true;
                    return Drained::Broken;
                }
            };
            // Pop what was written whole; remember how far into the next one we got.
            while let Some((frame, _)) = s.queue.front() {
                let left = frame.len() - s.head_sent;
                if n < left {
                    s.head_sent += n;
                    break;
                }
                n -= left;
                s.head_sent = 0;
                s.queue.pop_front();
            }
        }
        self.blocked_since.store(0, Ordering::Relaxed);
        Drained::Empty
    }

    pub fn is_waiting(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// Ends the connection after the frames queued so far and `last`.
    pub fn close(&self, last: Option<Bytes>) {
        let mut s = self.lock();
        if s.closing.is_none() {
            s.closing = Some(last);
        }
        drop(s);
        self.wake.notify_one();
    }

    /// Gives up on a socket that stopped reading: nothing more is written to it.
    pub fn abort(&self) {
        self.lock().broken = true;
        self.wake.notify_one();
    }

    pub fn is_closing(&self) -> bool {
        let s = self.lock();
        s.closing.is_some() || s.broken
    }

    /// Queues the last frame for [`Outbox::drain`]; true if the socket is still usable.
    pub fn queue_last(&self) -> bool {
        let mut s = self.lock();
        if s.broken {
            return false;
        }
        if let Some(Some(last)) = s.closing.as_mut().map(Option::take) {
            s.queue.push_back((last, false));
        }
        true
    }

    pub async fn writable(&self) -> std::io::Result<()> {
        self.io.writable().await
    }

    /// No more writes: the peer sees the end of the stream.
    pub fn shut_down(&self) {
        let _ = socket2::SockRef::from(self.io.as_ref()).shutdown(std::net::Shutdown::Write);
    }
}
