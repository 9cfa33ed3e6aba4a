//! The embedded SFU: one UDP port and one task that owns every peer connection (str0m's
//! sans-IO `Rtc`) and forwards each publisher's audio and video to the subscribers of the same
//! stage. Signaling is one HTTP exchange per connection (WHIP/WHEP style): the browser's offer
//! in, our answer out, with our single ICE-lite host candidate in it.
//!
//! Tracks are placed by their order in the offer, so no connection is ever renegotiated:
//! - a publisher's first audio and video are its microphone and camera, its second its
//!   screen's audio and the screen;
//! - a subscriber's k-th audio and video (k < [`MAX_PUBLISHERS`]) carry the person in seat k
//!   of the stage, the next ones the shared screen. Who sits where is the stage's [`Roster`],
//!   which pages receive over the live-room socket.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use str0m::{
    Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig,
    bwe::{Bitrate, BweKind},
    change::SdpOffer,
    crypto::CryptoProvider,
    media::{KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, Mid, Rid},
    net::{Protocol, Receive},
};
use tokio::{net::UdpSocket, sync::mpsc};

use super::{Admission, Connected, MediaError, MediaRole, OnStage, Roster, layers};
use crate::features::ids::{EventId, UserId};

/// Largest datagram we read: WebRTC keeps packets under the path MTU.
const DATAGRAM: usize = 2000;
/// Connections one SFU carries at most; beyond that new ones are refused, not queued.
const MAX_PEERS: usize = 4096;
/// People sending audio and video on one stage at once (as on an IVS stage).
pub const MAX_PUBLISHERS: usize = 12;
/// Media connections one person may hold on one stage (a few tabs, a reload).
pub const MAX_PER_PERSON: usize = 4;
/// A subscriber's estimate starts here, enough for a full layer and audio: what arrives is
/// already encoded, so starting low would only queue and drop it while the estimate grows.
/// A slower link brings it down within seconds, and the layers with it.
const START_ESTIMATE: u64 = 2_500_000;
/// A layer not heard from for this long is taken as no longer sent.
const LAYER_GONE: Duration = Duration::from_secs(1);
/// At most one key frame request per layer in this time: a request costs a large frame.
const KEYFRAME_EVERY: Duration = Duration::from_millis(500);
/// Video packets each connection keeps for resends.
const SEND_BUFFER_VIDEO: usize = 300;
/// A subscriber's track index for the shared screen (after the seats).
const SCREEN: usize = MAX_PUBLISHERS;

/// Stage places, taken before a connection is handed to the serving task and given back
/// when connections end. Shared with the task; every change is announced on `changes`.
type Shared = Arc<Mutex<Places>>;

struct Places {
    stages: HashMap<EventId, Seats>,
    /// Each person's connections on each stage.
    held: HashMap<(EventId, UserId), usize>,
    changes: mpsc::UnboundedSender<(EventId, Roster)>,
}

#[derive(Default)]
struct Seats {
    seats: Vec<Option<Seat>>,
    /// Who shares their screen (one at a time: the last to start).
    screen: Option<UserId>,
}

struct Seat {
    user: UserId,
    name: String,
    muted: bool,
}

impl Places {
    fn roster(&self, stage: &EventId) -> Roster {
        let Some(s) = self.stages.get(stage) else {
            return Roster::default();
        };
        Roster {
            seats: s
                .seats
                .iter()
                .enumerate()
                .filter_map(|(slot, seat)| {
                    seat.as_ref().map(|seat| OnStage {
                        slot,
                        user_id: seat.user.clone(),
                        name: seat.name.clone(),
                        muted: seat.muted,
                    })
                })
                .collect(),
            screen: s.screen.clone(),
        }
    }

    fn changed(&self, stage: &EventId) {
        let _ = self.changes.send((stage.clone(), self.roster(stage)));
    }

    /// The person's seat on the stage, taking the first free one.
    fn seat(&mut self, stage: &EventId, user: &UserId, name: &str, muted: bool) -> Option<usize> {
        let s = self.stages.entry(stage.clone()).or_default();
        if let Some(slot) = s
            .seats
            .iter()
            .position(|x| x.as_ref().is_some_and(|x| x.user == *user))
        {
            return Some(slot);
        }
        let slot = match s.seats.iter().position(Option::is_none) {
            Some(free) => free,
            None if s.seats.len() < MAX_PUBLISHERS => {
                s.seats.push(None);
                s.seats.len() - 1
            }
            None => return None,
        };
        s.seats[slot] = Some(Seat {
            user: user.clone(),
            name: name.to_string(),
            muted,
        });
        self.changed(stage);
        Some(slot)
    }

    fn unseat(&mut self, stage: &EventId, user: &UserId) {
        let Some(s) = self.stages.get_mut(stage) else {
            return;
        };
        for seat in &mut s.seats {
            if seat.as_ref().is_some_and(|x| x.user == *user) {
                *seat = None;
            }
        }
        if s.screen.as_ref() == Some(user) {
            s.screen = None;
        }
        if s.seats.iter().all(Option::is_none) {
            self.stages.remove(stage);
        }
        self.changed(stage);
    }
}

/// This instance's SFU. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    // Unbounded so that decisions arrive in the order they were made; each comes from a
    // rate-limited action or a connection already counted against MAX_PEERS.
    tx: mpsc::UnboundedSender<Command>,
    /// The address browsers send media to: our one host candidate.
    candidate: SocketAddr,
    crypto: Arc<CryptoProvider>,
    /// Connections being served, kept by the serving task.
    peers: Arc<AtomicUsize>,
    places: Shared,
    /// Numbers each connection, so its owner can end it (WHIP's DELETE).
    next_id: Arc<AtomicU64>,
    /// The most video a subscriber is sent (bit/s), whatever its link carries.
    viewer_cap: Option<u64>,
}

enum Command {
    Add(Box<Peer>),
    /// Ends every connection of a person on a stage.
    Drop {
        stage: EventId,
        user: UserId,
    },
    /// Ends one connection of a person.
    DropOne {
        stage: EventId,
        user: UserId,
        id: u64,
    },
    /// Ends every connection of a stage.
    Close {
        stage: EventId,
    },
    /// Mutes or unmutes a person; ends their sending connections when they may not publish.
    Restrict {
        stage: EventId,
        user: UserId,
        muted: bool,
        may_publish: bool,
    },
    /// Whose screen the stage shows now.
    Screen {
        stage: EventId,
        owner: Option<UserId>,
    },
}

struct Peer {
    id: u64,
    stage: EventId,
    user: Option<UserId>,
    role: MediaRole,
    /// A publisher's seat on the stage.
    slot: Option<usize>,
    /// A muted publisher's audio is not forwarded.
    muted: bool,
    rtc: Rtc,
    /// The connection's media lines in offer order, by kind.
    audio: Vec<Mid>,
    video: Vec<Mid>,
    /// str0m panicked on this connection: it is dropped, the others carry on.
    failed: bool,
    /// When str0m next needs the time, and whether something happened to it since it last
    /// ran (input, a write, a command).
    due: Instant,
    dirty: bool,
    /// A subscriber's bandwidth estimate (bit/s), capped by the operator's limit.
    estimate: Option<u64>,
    cap: Option<u64>,
    /// A subscriber's video lines and the simulcast layer each carries now.
    lanes: HashMap<Mid, Rid>,
    /// A publisher's layers by media line, and when each was last heard.
    layers: HashMap<Mid, Vec<(Rid, Instant)>>,
    /// A publisher's last key frame request by media line and layer.
    asked: HashMap<(Mid, Option<Rid>), Instant>,
}

/// Socket buffers asked for: a key frame sent to hundreds while their feedback arrives
/// overflows the default (about 200 KiB), and a dropped publisher packet is lost for everyone.
/// The kernel grants up to `net.core.rmem_max` / `wmem_max`.
const SOCKET_BUFFER: usize = 4 << 20;

fn bind_udp(bind: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(bind),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: a smaller buffer still works, it only drops sooner under load.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&bind.into())?;
    UdpSocket::from_std(socket.into())
}

impl Sfu {
    /// Binds the UDP port and starts the task that serves it. `public_ip` is the address
    /// browsers reach this machine at (behind NAT or in a container); without it the bound
    /// address is used, or loopback when bound to every interface. Stage rosters are
    /// announced on the returned receiver whenever they change.
    pub async fn start(
        bind: SocketAddr,
        public_ip: Option<IpAddr>,
        viewer_cap: Option<u64>,
    ) -> std::io::Result<(Sfu, mpsc::UnboundedReceiver<(EventId, Roster)>)> {
        let socket = bind_udp(bind)?;
        let local = socket.local_addr()?;
        let ip = public_ip.unwrap_or(if local.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            local.ip()
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (changes, rosters) = mpsc::unbounded_channel();
        let peers = Arc::new(AtomicUsize::new(0));
        let places = Arc::new(Mutex::new(Places {
            stages: HashMap::new(),
            held: HashMap::new(),
            changes,
        }));
        tokio::spawn(serve(socket, rx, peers.clone(), places.clone()));
        tracing::info!(udp = %local, candidate = %SocketAddr::new(ip, local.port()), "media server listening");
        let sfu = Sfu {
            tx,
            candidate: SocketAddr::new(ip, local.port()),
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            peers,
            places,
            next_id: Arc::new(AtomicU64::new(1)),
            viewer_cap,
        };
        Ok((sfu, rosters))
    }

    fn places(&self) -> std::sync::MutexGuard<'_, Places> {
        // The places are whole after every statement; a panic elsewhere cannot tear them.
        self.places.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn disconnect(&self, stage: &EventId, user: &UserId) {
        self.command(Command::Drop {
            stage: stage.clone(),
            user: user.clone(),
        });
    }

    /// Ends connection `id` if it is `user`'s on this stage.
    pub fn hang_up(&self, stage: &EventId, user: &UserId, id: u64) {
        self.command(Command::DropOne {
            stage: stage.clone(),
            user: user.clone(),
            id,
        });
    }

    pub fn close_stage(&self, stage: &EventId) {
        self.command(Command::Close {
            stage: stage.clone(),
        });
    }

    pub fn restrict(&self, stage: &EventId, user: &UserId, muted: bool, may_publish: bool) {
        {
            let mut places = self.places();
            let seat = places
                .stages
                .get_mut(stage)
                .and_then(|s| s.seats.iter_mut().flatten().find(|s| s.user == *user));
            if let Some(seat) = seat
                && seat.muted != muted
            {
                seat.muted = muted;
                places.changed(stage);
            }
        }
        self.command(Command::Restrict {
            stage: stage.clone(),
            user: user.clone(),
            muted,
            may_publish,
        });
    }

    /// Shows `user`'s screen on the stage (`on`), or stops showing it. Only someone seated
    /// on the stage shares; the last to start is shown.
    pub fn share_screen(&self, stage: &EventId, user: &UserId, on: bool) -> Result<(), MediaError> {
        let mut places = self.places();
        let Some(s) = places.stages.get_mut(stage) else {
            return Err(MediaError::NotOnStage);
        };
        if !s.seats.iter().flatten().any(|x| x.user == *user) {
            return Err(MediaError::NotOnStage);
        }
        let owner = if on {
            Some(user.clone())
        } else if s.screen.as_ref() == Some(user) {
            None
        } else {
            return Ok(());
        };
        if s.screen != owner {
            s.screen = owner.clone();
            places.changed(stage);
            self.command(Command::Screen {
                stage: stage.clone(),
                owner,
            });
        }
        Ok(())
    }

    /// Who is on the stage now.
    pub fn roster(&self, stage: &EventId) -> Roster {
        self.places().roster(stage)
    }

    fn command(&self, command: Command) {
        // Fails only once the serving task is gone, and then there is nothing to command.
        let _ = self.tx.send(command);
    }

    /// The UDP address in our answers.
    pub fn candidate(&self) -> SocketAddr {
        self.candidate
    }

    /// Connections being served.
    pub fn connections(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }

    pub async fn connect(
        &self,
        stage: &EventId,
        who: &Admission<'_>,
        offer: &str,
    ) -> Result<Connected, MediaError> {
        if self.peers.load(Ordering::Relaxed) >= MAX_PEERS {
            return Err(MediaError::Full);
        }
        let offer = SdpOffer::from_sdp_string(offer).map_err(|_| MediaError::NotSdp)?;
        let mut config = RtcConfig::new()
            .set_ice_lite(true)
            .set_crypto_provider(self.crypto.clone())
            // Packets kept for resends: about a second of 720p (str0m's default, 1000, is
            // 1.2 MB per connection).
            .set_send_buffer_video(SEND_BUFFER_VIDEO);
        if who.role == MediaRole::Subscriber {
            // Estimates what the subscriber's link carries, for the layer each gets.
            config = config.enable_bwe(Some(Bitrate::bps(START_ESTIMATE)));
        }
        let mut rtc = config.build(Instant::now());
        if who.role == MediaRole::Subscriber {
            // Probe for room for two full layers, or up to the cap.
            let desired = self.viewer_cap.unwrap_or(2 * START_ESTIMATE);
            rtc.bwe().set_desired_bitrate(Bitrate::bps(desired));
        }
        let candidate = Candidate::host(self.candidate, "udp")
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        let mut slot = None;
        if let Some(user) = who.user {
            let mut places = self.places();
            let key = (stage.clone(), user.clone());
            if places.held.get(&key).copied().unwrap_or(0) >= MAX_PER_PERSON {
                return Err(MediaError::TooMany);
            }
            if who.role == MediaRole::Publisher {
                slot = Some(
                    places
                        .seat(stage, user, who.name, who.muted)
                        .ok_or(MediaError::StageFull)?,
                );
            }
            *places.held.entry(key).or_default() += 1;
        } else if who.role == MediaRole::Publisher {
            return Err(MediaError::BadOffer("guests do not publish".into()));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let peer = Peer {
            id,
            stage: stage.clone(),
            user: who.user.cloned(),
            role: who.role,
            slot,
            muted: who.muted,
            rtc,
            audio: Vec::new(),
            video: Vec::new(),
            failed: false,
            due: Instant::now(),
            dirty: true,
            estimate: self.viewer_cap,
            cap: self.viewer_cap,
            lanes: HashMap::new(),
            layers: HashMap::new(),
            asked: HashMap::new(),
        };
        self.tx
            .send(Command::Add(Box::new(peer)))
            .map_err(|_| MediaError::Unavailable)?;
        Ok(Connected {
            answer: answer.to_sdp_string(),
            id,
        })
    }
}

impl Peer {
    fn is(&self, stage: &EventId, user: &UserId) -> bool {
        self.stage == *stage && self.user.as_ref() == Some(user)
    }

    fn alive(&self) -> bool {
        !self.failed && self.rtc.is_alive()
    }

    fn mids(&self, kind: MediaKind) -> &[Mid] {
        match kind {
            MediaKind::Audio => &self.audio,
            MediaKind::Video => &self.video,
        }
    }

    /// The kind of a media line and its place among the lines of that kind.
    fn track(&self, mid: Mid) -> Option<(MediaKind, usize)> {
        [MediaKind::Audio, MediaKind::Video]
            .into_iter()
            .find_map(|k| Some((k, self.mids(k).iter().position(|m| *m == mid)?)))
    }

    /// Runs `f` on this connection; a panic inside str0m fails this connection only.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Peer) -> T) -> Option<T> {
        if self.failed {
            return None;
        }
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::error!(user = ?self.user, "a media connection failed inside the media library; dropped");
                self.failed = true;
                None
            }
        }
    }
}

/// Everything one pass over the peers produced that concerns other peers.
#[derive(Default)]
struct Pass {
    media: Vec<(usize, MediaData)>,
    keyframes: Vec<(usize, KeyframeRequest)>,
    /// Subscribers that just connected: they need a picture from every publisher.
    fresh: Vec<usize>,
}

async fn serve(
    socket: UdpSocket,
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
    // Which peer a remote address last reached, so a packet finds its peer without asking
    // every one; rebuilt whenever the list changes.
    let mut by_source: HashMap<SocketAddr, usize> = HashMap::new();
    let mut buf = vec![0u8; DATAGRAM];
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
            if let Some(next) = peer.guarded(|p| drain(i, p, &socket, &mut pass)) {
                peer.due = next;
            }
        }
        if !pass.media.is_empty() || !pass.keyframes.is_empty() || !pass.fresh.is_empty() {
            forward(&mut peers, &screens, pass);
            // What was just written must go out before we wait.
            continue;
        }
        if peers.iter().any(|p| !p.alive()) {
            let (alive, gone): (Vec<Peer>, Vec<Peer>) = peers.into_iter().partition(Peer::alive);
            peers = alive;
            by_source.clear();
            release(&places, &mut screens, &peers, &gone);
        }
        count.store(peers.len(), Ordering::Relaxed);
        let idle = Instant::now() + Duration::from_millis(100);
        let wake = peers.iter().map(|p| p.due).min().unwrap_or(idle).min(idle);
        let wait = wake.saturating_duration_since(Instant::now());
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => {
                    if matches!(command, Command::Add(_)) {
                        by_source.clear();
                    }
                    obey(command, &mut peers, &mut screens);
                }
                None => return,
            },
            received = socket.recv_from(&mut buf) => {
                if let Ok((n, source)) = received
                    && let Ok(contents) = buf[..n].try_into()
                {
                    let input = Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: local, contents },
                    );
                    // str0m knows its own traffic (ICE credentials, then the address pair).
                    let known = by_source
                        .get(&source)
                        .copied()
                        .filter(|&i| peers.get(i).is_some_and(|p| !p.failed && p.rtc.accepts(&input)));
                    let found = known.or_else(|| {
                        peers.iter().position(|p| !p.failed && p.rtc.accepts(&input))
                    });
                    if let Some(i) = found {
                        by_source.insert(source, i);
                        let peer = &mut peers[i];
                        peer.dirty = true;
                        if let Some(Err(e)) = peer.guarded(|p| p.rtc.handle_input(input)) {
                            tracing::debug!(error = %e, "media input refused");
                        }
                    }
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn obey(command: Command, peers: &mut Vec<Peer>, screens: &mut HashMap<EventId, UserId>) {
    match command {
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
fn drain(i: usize, peer: &mut Peer, socket: &UdpSocket, pass: &mut Pass) -> Instant {
    loop {
        if !peer.rtc.is_alive() {
            return Instant::now() + Duration::from_millis(100);
        }
        match peer.rtc.poll_output() {
            Ok(Output::Timeout(at)) => return at,
            Ok(Output::Transmit(t)) => {
                // UDP: a full socket buffer drops the packet, as the network would.
                let _ = socket.try_send_to(&t.contents, t.destination);
            }
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
                Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                    let bps = estimate.as_u64();
                    peer.estimate = Some(peer.cap.map_or(bps, |cap| cap.min(bps)));
                }
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

/// Hands each publisher's media to the subscribers of its stage, subscribers' keyframe
/// requests to the publishers whose video they watch, and asks every publisher for a
/// picture when someone starts watching.
fn forward(peers: &mut [Peer], screens: &HashMap<EventId, UserId>, pass: Pass) {
    let now = Instant::now();
    // What each stage sends, for sharing a subscriber's estimate among its videos.
    let mut sending: HashMap<EventId, usize> = HashMap::new();
    for p in peers.iter().filter(|p| p.role == MediaRole::Publisher) {
        *sending.entry(p.stage.clone()).or_default() += 1;
    }
    // Key frames a layer switch waits for: (publisher, media line, layer).
    let mut wanted: Vec<(usize, Mid, Option<Rid>)> = Vec::new();
    for (from, data) in pass.media {
        let p = &peers[from];
        let (Some((kind, index)), Some(slot)) = (p.track(data.mid), p.slot) else {
            continue;
        };
        // Enforced here, whatever the muted person's page does.
        if kind == MediaKind::Audio && p.muted {
            continue;
        }
        let target = match index {
            0 => slot,
            1 if p.user.is_some() && screens.get(&p.stage) == p.user.as_ref() => SCREEN,
            _ => continue,
        };
        let (stage, user) = (p.stage.clone(), p.user.clone());
        let available = p.sent_layers(data.mid, now);
        let seats = sending.get(&stage).copied().unwrap_or(1);
        let videos = seats + usize::from(screens.contains_key(&stage));
        for (j, peer) in peers.iter_mut().enumerate() {
            // Nobody receives their own media back: their page shows it from the device.
            if j == from
                || peer.stage != stage
                || peer.role != MediaRole::Subscriber
                || peer.user == user
            {
                continue;
            }
            let Some(&mid) = peer.mids(kind).get(target) else {
                continue;
            };
            if let Some(rid) = data.rid {
                match peer.lane(mid, rid, &data, videos, seats, &available) {
                    Lane::Send => {}
                    Lane::Skip => continue,
                    Lane::Switch(to) => {
                        wanted.push((from, data.mid, to));
                        continue;
                    }
                    Lane::SendAndSwitch(to) => wanted.push((from, data.mid, to)),
                }
            }
            peer.guarded(|peer| {
                let Some(writer) = peer.rtc.writer(mid) else {
                    return;
                };
                let Some(pt) = writer.match_params(data.params) else {
                    return;
                };
                let writer = match (data.ext_vals.audio_level, data.ext_vals.voice_activity) {
                    (Some(level), voice) => writer.audio_level(level, voice.unwrap_or(false)),
                    _ => writer,
                };
                if let Err(e) = writer.write(pt, data.network_time, data.time, data.data.clone()) {
                    tracing::debug!(error = %e, "forwarding media failed");
                }
            });
            peer.dirty = true;
        }
    }
    for (from, req) in pass.keyframes {
        let Some((MediaKind::Video, target)) = peers[from].track(req.mid) else {
            continue;
        };
        let layer = peers[from].lanes.get(&req.mid).copied();
        let stage = peers[from].stage.clone();
        let screen = screens.get(&stage).cloned();
        for (i, peer) in peers.iter().enumerate() {
            if peer.stage != stage || peer.role != MediaRole::Publisher {
                continue;
            }
            let index = if target == SCREEN && peer.user == screen {
                1
            } else if Some(target) == peer.slot {
                0
            } else {
                continue;
            };
            if let Some(&mid) = peer.video.get(index) {
                wanted.push((i, mid, layer));
            }
        }
    }
    for fresh in pass.fresh {
        let stage = peers[fresh].stage.clone();
        for (i, peer) in peers.iter().enumerate() {
            if peer.stage != stage || peer.role != MediaRole::Publisher {
                continue;
            }
            for &mid in &peer.video {
                let layers = peer.sent_layers(mid, now);
                if layers.is_empty() {
                    wanted.push((i, mid, None));
                }
                wanted.extend(layers.into_iter().map(|rid| (i, mid, Some(rid))));
            }
        }
    }
    for (i, mid, rid) in wanted {
        let peer = &mut peers[i];
        let last = peer.asked.entry((mid, rid)).or_insert(now - KEYFRAME_EVERY);
        if now.duration_since(*last) < KEYFRAME_EVERY {
            continue;
        }
        *last = now;
        peer.guarded(|p| {
            if let Some(mut writer) = p.rtc.writer(mid) {
                let _ = writer.request_keyframe(rid, KeyframeRequestKind::Pli);
            }
        });
        peer.dirty = true;
    }
}

/// What a subscriber's video line does with one simulcast frame.
enum Lane {
    Send,
    Skip,
    /// Skip it, and ask for a key frame of the layer it should switch to (None: audio only).
    Switch(Option<Rid>),
    /// Send it while waiting for that key frame.
    SendAndSwitch(Option<Rid>),
}

impl Peer {
    /// The simulcast layers a publisher sends on a media line now, smallest first.
    fn sent_layers(&self, mid: Mid, now: Instant) -> Vec<Rid> {
        let mut rids: Vec<Rid> = self
            .layers
            .get(&mid)
            .into_iter()
            .flatten()
            .filter(|(_, at)| now.duration_since(*at) < LAYER_GONE)
            .map(|(rid, _)| *rid)
            .collect();
        rids.sort_by_key(|r| layers::rank(r).unwrap_or(usize::MAX));
        rids
    }

    /// Whether this subscriber's line `mid` takes a frame of layer `rid`: it keeps one layer,
    /// and moves to the one its estimate allows at that layer's next key frame.
    fn lane(
        &mut self,
        mid: Mid,
        rid: Rid,
        data: &MediaData,
        videos: usize,
        audios: usize,
        available: &[Rid],
    ) -> Lane {
        let want = layers::choose(self.estimate, videos, audios, available);
        let current = self.lanes.get(&mid).copied();
        match (want, current) {
            // Audio only: the line goes quiet.
            (None, _) => {
                self.lanes.remove(&mid);
                Lane::Skip
            }
            (Some(w), Some(c)) if w == c => {
                if rid == c {
                    Lane::Send
                } else {
                    Lane::Skip
                }
            }
            (Some(w), _) if rid == w && data.is_keyframe() => {
                self.lanes.insert(mid, w);
                Lane::Send
            }
            (Some(w), Some(c)) if rid == c && available.contains(&c) => {
                Lane::SendAndSwitch(Some(w))
            }
            (Some(w), _) if rid == w => Lane::Switch(Some(w)),
            _ => Lane::Skip,
        }
    }
}
