//! One live-room socket: a reader that turns the person's messages into actions, and a
//! writer that sends their room's stream and their own messages. The writer is the only
//! task that writes to the socket; everything else queues for it.

use std::{
    sync::{Arc, OnceLock, atomic::Ordering},
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpStream, tcp::OwnedWriteHalf},
    sync::{broadcast, mpsc, oneshot},
};

use super::{
    protocol::{self, Action, Out, Reason},
    room::{self, Frame, Join, Outbox, RoomMsg},
    wire::{self, Inbound, Reader},
};
use crate::features::{
    Core,
    live::{self, Participant},
};

/// Milliseconds on a monotonic clock, for liveness checks.
pub fn mono_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Serves an upgraded connection until either side ends it.
pub async fn run(core: Core, upgraded: Upgraded, who: Participant) {
    let parts = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => parts,
        Err(_) => {
            tracing::warn!("live room over a connection that is not plain TCP; closing");
            return;
        }
    };
    let stream = parts.io.into_inner();
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let limits = core.hub.limits().clone();
    let conn = room::next_conn_id();
    let outbox = Arc::new(Outbox::new(limits.outbox));
    let Some((inbox, rx)) = join(&core, conn, &who, &outbox).await else {
        // Whatever the room queued (a close frame) still goes out.
        let (frames, _) = outbox.take();
        let mut write = write;
        let _ = write_frames(&mut write, &frames, limits.stall).await;
        return;
    };
    let writer = tokio::spawn(write_loop(
        write,
        rx,
        outbox.clone(),
        inbox.clone(),
        conn,
        limits.stall,
    ));
    // Hyper's read buffer would stay allocated behind any leftover bytes: copy them out.
    let pending = Bytes::copy_from_slice(&parts.read_buf);
    drop(parts.read_buf);
    let reader = Reader::new(pending, read, limits.max_inbound);
    read_loop(&core, reader, &who, &outbox, &inbox).await;
    // The room must hear of the leave, or it would count a ghost: wait for space.
    let _ = inbox.send(RoomMsg::Leave { conn }).await;
    let _ = writer.await;
}

/// Joins the event's room on this instance, starting it if needed. A room that is closing
/// drops the request, and the next attempt starts a new one.
async fn join(
    core: &Core,
    conn: u64,
    who: &Participant,
    outbox: &Arc<Outbox>,
) -> Option<(mpsc::Sender<RoomMsg>, broadcast::Receiver<Frame>)> {
    let event_id = who.event_id.to_string();
    for _ in 0..3 {
        let inbox = core
            .hub
            .room(&event_id, || room::start(core.clone(), event_id.clone()));
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
            Ok(rx) => return Some((inbox, rx)),
            Err(_) if outbox.is_closing() => return None,
            Err(_) => continue,
        }
    }
    None
}

async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
    core: &Core,
    mut reader: Reader<R>,
    who: &Participant,
    outbox: &Outbox,
    inbox: &mpsc::Sender<RoomMsg>,
) {
    loop {
        let next = tokio::select! {
            next = reader.next() => next,
            () = outbox.gone.notified() => return,
        };
        outbox.heard.store(mono_ms(), Ordering::Relaxed);
        match next {
            Ok(Inbound::Text(text)) => {
                metrics::counter!("meetstage_room_frames_in_total").increment(1);
                // Boxed: the action's future is large and exists only while it runs, so an
                // idle connection's task stays small.
                if let Some(reply) = Box::pin(handle(core, who, &text, outbox, inbox)).await {
                    outbox.push(reply.frame(None));
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
    who: &Participant,
    text: &str,
    outbox: &Outbox,
    inbox: &mpsc::Sender<RoomMsg>,
) -> Option<Out> {
    let action = match protocol::parse(text) {
        Ok(a) => a,
        Err((name, reason)) => return Some(Out::error(name.as_deref(), reason)),
    };
    let name = action.name();
    if let Err(reason) = core.hub.allow(who, &action) {
        return Some(Out::error(Some(name), reason));
    }
    match action {
        Action::Resync(_) => {
            // The writer owns the stream; it asks the room for a snapshot and a new receiver.
            outbox.request_resync();
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

async fn write_loop(
    mut io: OwnedWriteHalf,
    mut rx: broadcast::Receiver<Frame>,
    outbox: Arc<Outbox>,
    inbox: mpsc::Sender<RoomMsg>,
    conn: u64,
    stall: Duration,
) {
    let mut batch: Vec<Bytes> = Vec::new();
    loop {
        let (frames, closing) = outbox.take();
        if !frames.is_empty() && !write_frames(&mut io, &frames, stall).await {
            break;
        }
        if let Some(last) = closing {
            if let Some(frame) = last {
                let _ = write_frames(&mut io, &[frame], stall).await;
            }
            let _ = io.shutdown().await;
            break;
        }
        if outbox.take_resync() {
            match Box::pin(resync(&inbox, conn)).await {
                Some(new_rx) => rx = new_rx,
                None => break,
            }
            continue;
        }
        tokio::select! {
            biased;
            () = outbox.ready.notified() => {}
            next = rx.recv() => match next {
                Ok(frame) => {
                    batch.clear();
                    batch.push(frame.bytes);
                    while batch.len() < 64 {
                        match rx.try_recv() {
                            Ok(f) => batch.push(f.bytes),
                            Err(_) => break,
                        }
                    }
                    if !write_frames(&mut io, &batch, stall).await {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Fell behind the ring: start over from a snapshot, never from stale state.
                    match Box::pin(resync(&inbox, conn)).await {
                        Some(new_rx) => rx = new_rx,
                        None => break,
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    let _ = write_frames(&mut io, &[wire::close(wire::code::GOING_AWAY, "the room closed")], stall).await;
                    break;
                }
            },
        }
    }
    // Wakes the reader, which tells the room.
    outbox.close(None);
}

/// Asks the room for a snapshot (queued in the outbox) and a receiver right after it.
async fn resync(inbox: &mpsc::Sender<RoomMsg>, conn: u64) -> Option<broadcast::Receiver<Frame>> {
    let (reply, fresh) = oneshot::channel();
    inbox.send(RoomMsg::Resync { conn, reply }).await.ok()?;
    fresh.await.ok()
}

/// Writes frames in one go where the socket takes them; a socket that takes nothing for
/// `stall` is given up on. False when the connection is over.
async fn write_frames(io: &mut OwnedWriteHalf, frames: &[Bytes], stall: Duration) -> bool {
    let joined;
    let bytes: &[u8] = match frames {
        [one] => one,
        many => {
            let mut all = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
            for f in many {
                all.extend_from_slice(f);
            }
            joined = all.freeze();
            &joined
        }
    };
    let sent = match io.try_write(bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return false,
    };
    if sent == bytes.len() {
        return true;
    }
    match tokio::time::timeout(stall, io.write_all(&bytes[sent..])).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            metrics::counter!("meetstage_room_drops_total", "why" => "stalled").increment(1);
            false
        }
    }
}
