//! One live-room socket, served by one task: it reads the person's messages and turns them
//! into actions, and writes out what the socket could not take at once. The room writes its
//! stream straight to the socket ([`Outbox`]), so a broadcast wakes no connection task.

use std::{
    sync::{Arc, OnceLock, atomic::Ordering},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::StreamExt;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpStream,
    sync::{mpsc, oneshot},
};

use super::{
    Hub,
    outbox::{Drained, Outbox},
    room::{self, Join, RoomMsg},
    wire::{self, Inbound, Reader},
};
use crate::features::{
    Core,
    live::{
        self, Participant,
        protocol::{self, Action, Out, Reason},
    },
};

/// Milliseconds on a monotonic clock, for liveness checks.
pub fn mono_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Serves an upgraded connection until either side ends it.
pub async fn run(core: Core, hub: Hub, upgraded: Upgraded, who: Participant) {
    let parts = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => parts,
        Err(_) => {
            tracing::warn!("live room over a connection that is not plain TCP; closing");
            return;
        }
    };
    let stream = parts.io.into_inner();
    let limits = hub.limits().clone();
    let _ = stream.set_nodelay(true);
    if let Some(bytes) = limits.send_buffer {
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
    }
    let (read, write) = stream.into_split();
    let conn = room::next_conn_id();
    let outbox = Arc::new(Outbox::new(write, limits.outbox));
    if let Some(inbox) = join(&core, &hub, conn, &who, &outbox).await {
        // Hyper's read buffer would stay allocated behind any leftover bytes: copy them out.
        let pending = Bytes::copy_from_slice(&parts.read_buf);
        drop(parts.read_buf);
        let reader = Reader::new(pending, read, limits.max_inbound);
        serve(&core, &hub, reader, &who, &outbox, &inbox, conn).await;
        // The room must hear of the leave, or it would count a ghost: wait for space.
        let _ = inbox.send(RoomMsg::Leave { conn }).await;
    }
    // Whatever is still queued, and the close frame, go out if the socket takes them.
    finish(&outbox, limits.stall).await;
}

/// Joins the event's room on this instance, starting it if needed. A room that is closing
/// drops the request, and the next attempt starts a new one.
async fn join(
    core: &Core,
    hub: &Hub,
    conn: u64,
    who: &Participant,
    outbox: &Arc<Outbox>,
) -> Option<mpsc::Sender<RoomMsg>> {
    let event_id = who.event_id.to_string();
    for _ in 0..3 {
        let inbox = hub.room(&event_id, || {
            room::start(core.clone(), hub.clone(), event_id.clone())
        });
        let (reply, joined) = oneshot::channel();
        let msg = RoomMsg::Join(Box::new(Join {
            conn,
            who: who.clone(),
            outbox: outbox.clone(),
            reply,
        }));
        if inbox.send(msg).await.is_err() {
            continue;
        }
        match joined.await {
            Ok(()) => return Some(inbox),
            Err(_) if outbox.is_closing() => return None,
            Err(_) => continue,
        }
    }
    None
}

/// Reads the person's messages and writes out what waits for the socket, until the
/// connection is over.
async fn serve<R: tokio::io::AsyncRead + Unpin>(
    core: &Core,
    hub: &Hub,
    reader: Reader<R>,
    who: &Participant,
    outbox: &Outbox,
    inbox: &mpsc::Sender<RoomMsg>,
    conn: u64,
) {
    // The select below is cancelled whenever the outbox needs attention, and a frame half
    // read would be lost with a cancelled `Reader::next`: the stream keeps that read going.
    let incoming = futures_util::stream::unfold(reader, |mut r| async move {
        let next = r.next().await;
        Some((next, r))
    });
    let mut incoming = std::pin::pin!(incoming);
    loop {
        if outbox.is_closing() {
            return;
        }
        let waiting = outbox.is_waiting();
        let next = tokio::select! {
            biased;
            // Something changed (frames wait, or the connection must close): look again.
            () = outbox.wake.notified() => continue,
            ready = outbox.writable(), if waiting => {
                if ready.is_err() || outbox.drain() == Drained::Broken {
                    return;
                }
                continue;
            }
            Some(next) = incoming.next() => next,
        };
        outbox.heard.store(mono_ms(), Ordering::Relaxed);
        match next {
            Ok(Inbound::Text(text)) => {
                metrics::counter!("meetstage_room_frames_in_total").increment(1);
                // Boxed: the action's future is large and exists only while it runs, so an
                // idle connection's task stays small.
                if let Some(reply) = Box::pin(handle(core, hub, who, &text, inbox, conn)).await {
                    outbox.push(wire::message(&reply, None));
                }
            }
            Ok(Inbound::Reply(pong)) => {
                outbox.push(pong);
            }
            Ok(Inbound::Pong) => {}
            Ok(Inbound::Close) => {
                outbox.close(Some(wire::close(wire::code::NORMAL, "")));
                return;
            }
            Err(e) => {
                let last = e.close_code().map(|code| wire::close(code, &e.to_string()));
                outbox.close(last);
                return;
            }
        }
    }
}

/// One message from the person: parsed, rate-limited, carried out. Returns what only the
/// sender gets back (an error, or a reply).
async fn handle(
    core: &Core,
    hub: &Hub,
    who: &Participant,
    text: &str,
    inbox: &mpsc::Sender<RoomMsg>,
    conn: u64,
) -> Option<Out> {
    let action = match protocol::parse(text) {
        Ok(a) => a,
        Err((name, reason)) => return Some(Out::error(name.as_deref(), reason)),
    };
    let name = action.name();
    if let Err(reason) = hub.allow(who, &action) {
        return Some(Out::error(Some(name), reason));
    }
    match action {
        Action::Resync(_) => {
            // The room writes the snapshot, in order with its stream.
            room::deliver(inbox, RoomMsg::Resync { conn });
            None
        }
        Action::React(r) => {
            if who.user.is_none() {
                return Some(Out::error(Some(name), Reason::SignIn));
            }
            if !live::is_reaction(&r.emoji) {
                return Some(Out::error(Some(name), Reason::BadEmoji));
            }
            metrics::counter!("meetstage_room_reactions_total").increment(1);
            room::deliver(inbox, RoomMsg::React(r.emoji));
            None
        }
        action => match live::act(core, who, action).await {
            Ok(reply) => reply,
            Err(reason) => Some(Out::error(Some(name), reason)),
        },
    }
}

/// Writes out what is queued and the close frame, waiting at most `stall` for the socket,
/// then ends the stream.
async fn finish(outbox: &Outbox, stall: Duration) {
    if outbox.queue_last() {
        let flushed = tokio::time::timeout(stall, async {
            while outbox.drain() == Drained::Waiting {
                if outbox.writable().await.is_err() {
                    return;
                }
            }
        });
        if flushed.await.is_err() {
            metrics::counter!("meetstage_room_drops_total", "why" => "stalled").increment(1);
        }
    }
    outbox.shut_down();
}
