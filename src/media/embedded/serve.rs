//! The task that owns every connection: reads the UDP port, runs str0m for the connections
//! that need it, obeys commands, and gives back the places of connections that end.

use super::forward::forward;
use super::*;
use str0m::net::DatagramSend;

/// Everything one pass over the peers produced that concerns other peers.
#[derive(Default)]
pub(super) struct Pass {
    pub(super) media: Vec<(usize, MediaData)>,
    pub(super) keyframes: Vec<(usize, KeyframeRequest)>,
    /// Subscribers that just connected: they need a picture from every publisher.
    pub(super) fresh: Vec<usize>,
}

/// Where packets over TCP come from: the listener's address and what its connections read.
pub(super) struct TcpSide {
    pub(super) local: SocketAddr,
    pub(super) packets: mpsc::Receiver<super::tcp::Packet>,
}

pub(super) async fn serve(
    socket: UdpSocket,
    mut tcp: Option<TcpSide>,
    writers: super::tcp::Writers,
    mut commands: mpsc::UnboundedReceiver<Command>,
    count: Arc<AtomicUsize>,
    places: Shared,
) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut peers: Vec<Peer> = Vec::new();
    // The task's copy of whose screen each stage shows, read for every packet.
    let mut screens: HashMap<EventId, UserId> = HashMap::new();
    // The stages being recorded, each with its writer.
    let mut recorders = super::record::Recorders::default();
    // Which peer a remote address last reached, so a packet finds its peer without asking
    // every one; rebuilt whenever the list changes.
    let mut by_source: HashMap<(bool, SocketAddr), usize> = HashMap::new();
    let mut buf = vec![0u8; DATAGRAM];
    let mut outbox = Outbox::default();
    // Some connection may have ended: set by a command or a connection that ran.
    let mut sweep = false;
    loop {
        // Only connections that heard something, were written to, or whose time came are
        // run: the rest cost nothing, however many there are.
        let now = Instant::now();
        let mut pass = Pass::default();
        for (i, peer) in peers.iter_mut().enumerate() {
            if !peer.dirty && peer.due > now {
                continue;
            }
            if peer.due <= now
                && peer.alive()
                && let Some(Err(_)) = peer.guarded(|p| p.rtc.handle_input(Input::Timeout(now)))
            {
                peer.rtc.disconnect();
            }
            peer.dirty = false;
            if let Some(next) = peer.guarded(|p| drain(i, p, &mut outbox, &writers, &mut pass)) {
                peer.due = next;
            }
            outbox.send_full(&socket);
            sweep |= !peer.alive();
        }
        outbox.send(&socket);
        if !pass.media.is_empty() || !pass.keyframes.is_empty() || !pass.fresh.is_empty() {
            forward(&mut peers, &screens, &mut recorders, pass);
            // What was just written must go out before we wait.
            continue;
        }
        if std::mem::take(&mut sweep) {
            let (alive, gone): (Vec<Peer>, Vec<Peer>) = peers.into_iter().partition(Peer::alive);
            peers = alive;
            by_source.clear();
            release(&places, &mut screens, &peers, &gone);
        }
        if count.swap(peers.len(), Ordering::Relaxed) != peers.len() {
            metrics::gauge!("meetstage_media_connections").set(peers.len() as f64);
        }
        let idle = Instant::now() + Duration::from_millis(100);
        let wake = peers.iter().map(|p| p.due).min().unwrap_or(idle).min(idle);
        let wait = wake.saturating_duration_since(Instant::now());
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => {
                    if matches!(command, Command::Add(_)) {
                        by_source.clear();
                    }
                    obey(command, &mut peers, &mut screens, &mut recorders);
                    sweep = true;
                }
                None => return,
            },
            received = socket.recv_from(&mut buf) => {
                if let Ok((n, source)) = received {
                    let to = (Protocol::Udp, source, local);
                    receive(&mut peers, &mut by_source, to, &buf[..n]);
                }
            }
            packet = async {
                match tcp.as_mut() {
                    Some(t) => t.packets.recv().await.map(|p| (t.local, p)),
                    None => std::future::pending().await,
                }
            } => {
                if let Some((tcp_local, p)) = packet {
                    let to = (Protocol::Tcp, p.source, tcp_local);
                    receive(&mut peers, &mut by_source, to, &p.contents);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The UDP packets of one pass over the connections. A frame is written to every viewer in
/// the same pass, so their packets leave together: one `sendmmsg` for [`BATCH`] of them
/// instead of a system call each.
#[derive(Default)]
struct Outbox {
    packets: Vec<(SocketAddr, DatagramSend)>,
}

/// Packets per system call: enough to spread its cost thin, few enough that the first of
/// them do not wait long for the rest.
const BATCH: usize = 64;

impl Outbox {
    fn send_full(&mut self, socket: &UdpSocket) {
        if self.packets.len() >= BATCH {
            self.send(socket);
        }
    }

    /// Sends every packet held; a full socket buffer drops the rest, as the network would.
    #[cfg(target_os = "linux")]
    fn send(&mut self, socket: &UdpSocket) {
        use rustix::net::{
            MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, addr::SocketAddrArg, sendmmsg,
        };
        use std::io::IoSlice;
        for chunk in self.packets.chunks(BATCH) {
            let addresses: Vec<SocketAddrAny> = chunk.iter().map(|(to, _)| to.as_any()).collect();
            let slices: Vec<[IoSlice<'_>; 1]> =
                chunk.iter().map(|(_, p)| [IoSlice::new(p)]).collect();
            let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = chunk
                .iter()
                .map(|_| SendAncillaryBuffer::default())
                .collect();
            let mut messages: Vec<MMsgHdr<'_>> = addresses
                .iter()
                .zip(&slices)
                .zip(controls.iter_mut())
                .map(|((to, slice), control)| MMsgHdr::new_with_addr(to, slice, control))
                .collect();
            let mut sent = 0;
            while sent < messages.len() {
                match sendmmsg(socket, &mut messages[sent..], SendFlags::DONTWAIT) {
                    Ok(0) | Err(rustix::io::Errno::AGAIN) => break,
                    Ok(n) => sent += n,
                    // This packet's address was refused; the others may still go.
                    Err(_) => sent += 1,
                }
            }
        }
        self.packets.clear();
    }

    #[cfg(not(target_os = "linux"))]
    fn send(&mut self, socket: &UdpSocket) {
        for (to, packet) in self.packets.drain(..) {
            let _ = socket.try_send_to(&packet, to);
        }
    }
}

/// Hands a packet to the connection it belongs to (str0m knows its own traffic: ICE
/// credentials, then the address pair); others are dropped.
fn receive(
    peers: &mut [Peer],
    by_source: &mut HashMap<(bool, SocketAddr), usize>,
    (proto, source, destination): (Protocol, SocketAddr, SocketAddr),
    contents: &[u8],
) {
    let Ok(contents) = contents.try_into() else {
        return;
    };
    let input = Input::Receive(
        Instant::now(),
        Receive {
            proto,
            source,
            destination,
            contents,
        },
    );
    let key = (proto == Protocol::Tcp, source);
    let known = by_source.get(&key).copied().filter(|&i| {
        peers
            .get(i)
            .is_some_and(|p| !p.failed && p.rtc.accepts(&input))
    });
    let found = known.or_else(|| {
        peers
            .iter()
            .position(|p| !p.failed && p.rtc.accepts(&input))
    });
    if let Some(i) = found {
        by_source.insert(key, i);
        let peer = &mut peers[i];
        peer.dirty = true;
        if let Some(Err(e)) = peer.guarded(|p| p.rtc.handle_input(input)) {
            tracing::debug!(error = %e, "media input refused");
        }
    }
}

fn obey(
    command: Command,
    peers: &mut Vec<Peer>,
    screens: &mut HashMap<EventId, UserId>,
    recorders: &mut super::record::Recorders,
) {
    match command {
        Command::Record { stage, dir } => {
            // Video files start at a picture: forward() asks the publishers for one.
            recorders.start(&stage, &dir);
        }
        Command::Add(peer) => {
            // A person publishes through one connection: a reload replaces the old one
            // at once instead of both filling the same seat.
            if peer.role == MediaRole::Publisher
                && let Some(user) = &peer.user
            {
                for old in peers
                    .iter_mut()
                    .filter(|p| p.role == MediaRole::Publisher && p.is(&peer.stage, user))
                {
                    old.rtc.disconnect();
                }
            }
            peers.push(*peer);
        }
        Command::Drop { stage, user } => {
            for peer in peers.iter_mut().filter(|p| p.is(&stage, &user)) {
                peer.rtc.disconnect();
            }
        }
        Command::DropOne { stage, user, id } => {
            for peer in peers
                .iter_mut()
                .filter(|p| p.id == id && p.is(&stage, &user))
            {
                peer.rtc.disconnect();
            }
        }
        Command::Close { stage } => {
            recorders.stop(&stage);
            for peer in peers.iter_mut().filter(|p| p.stage == stage) {
                peer.rtc.disconnect();
            }
        }
        Command::Restrict {
            stage,
            user,
            muted,
            may_publish,
        } => {
            for peer in peers.iter_mut().filter(|p| p.is(&stage, &user)) {
                peer.muted = muted;
                if peer.role == MediaRole::Publisher && !may_publish {
                    peer.rtc.disconnect();
                }
            }
        }
        Command::Screen { stage, owner } => match owner {
            Some(owner) => {
                screens.insert(stage, owner);
            }
            None => {
                screens.remove(&stage);
            }
        },
    }
}

/// Gives back the places of connections that ended: a person's connection count, and their
/// seat once their sending connection is gone.
fn release(places: &Shared, screens: &mut HashMap<EventId, UserId>, alive: &[Peer], gone: &[Peer]) {
    let mut places = places.lock().unwrap_or_else(|p| p.into_inner());
    for peer in gone {
        if let Some(address) = peer.guest {
            let key = (peer.stage.clone(), address);
            if let Some(n) = places.guests.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    places.guests.remove(&key);
                }
            }
        }
        let Some(user) = &peer.user else { continue };
        let key = (peer.stage.clone(), user.clone());
        if let Some(n) = places.held.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                places.held.remove(&key);
            }
        }
        let still = alive
            .iter()
            .any(|p| p.role == MediaRole::Publisher && p.is(&peer.stage, user));
        if peer.role == MediaRole::Publisher && !still {
            places.unseat(&peer.stage, user);
            if screens.get(&peer.stage) == Some(user) {
                screens.remove(&peer.stage);
            }
        }
    }
}

/// Runs one peer until it waits: sends its packets, notes what it received for the others.
/// Returns when it next needs time.
fn drain(
    i: usize,
    peer: &mut Peer,
    outbox: &mut Outbox,
    writers: &super::tcp::Writers,
    pass: &mut Pass,
) -> Instant {
    loop {
        if !peer.rtc.is_alive() {
            return Instant::now() + Duration::from_millis(100);
        }
        match peer.rtc.poll_output() {
            Ok(Output::Timeout(at)) => {
                // Every line's report of this round has come in.
                peer.judge_link(Instant::now());
                return at;
            }
            Ok(Output::Transmit(t)) => match t.proto {
                Protocol::Udp => outbox.packets.push((t.destination, t.contents)),
                _ => writers.send(t.destination, &t.contents),
            },
            Ok(Output::Event(event)) => match event {
                Event::MediaAdded(m) => match m.kind {
                    MediaKind::Audio => peer.audio.push(m.mid),
                    MediaKind::Video => peer.video.push(m.mid),
                },
                Event::Connected if peer.role == MediaRole::Subscriber => pass.fresh.push(i),
                Event::MediaData(data) if peer.role == MediaRole::Publisher => {
                    if let Some(rid) = data.rid {
                        let seen = peer.layers.entry(data.mid).or_default();
                        match seen.iter_mut().find(|(r, _)| *r == rid) {
                            Some(layer) => layer.1 = Instant::now(),
                            None => seen.push((rid, Instant::now())),
                        }
                    }
                    pass.media.push((i, data));
                }
                Event::MediaEgressStats(stats) => peer.count_sent(&stats),
                Event::KeyframeRequest(req) => pass.keyframes.push((i, req)),
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                    peer.rtc.disconnect();
                }
                _ => {}
            },
            Err(e) => {
                tracing::debug!(error = %e, user = ?peer.user, "media connection failed");
                peer.rtc.disconnect();
            }
        }
    }
}
