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
    change::SdpOffer,
    crypto::CryptoProvider,
    media::{KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, Mid, Rid},
    net::{Protocol, Receive, TcpType},
};
use tokio::{net::UdpSocket, sync::mpsc};

use super::{Admission, Connected, MediaError, MediaRole, OnStage, Roster, layers};

mod forward;
pub mod record;
mod serve;
mod tcp;
use crate::features::ids::{EventId, UserId};

/// Largest datagram we read: WebRTC keeps packets under the path MTU.
const DATAGRAM: usize = 2000;
/// Connections one SFU carries at most (the operator may set fewer); beyond that new ones
/// are refused, not queued.
pub const MAX_PEERS: usize = 4096;
/// People sending audio and video on one stage at once (as on an IVS stage).
pub const MAX_PUBLISHERS: usize = 12;
/// Media connections one person may hold on one stage (a few tabs, a reload).
pub const MAX_PER_PERSON: usize = 4;
/// Media connections guests from one address may hold on one stage: a household or an
/// office behind one address, not one script opening connections until the server is full.
pub const MAX_GUESTS_PER_ADDRESS: usize = 16;
/// How often a subscriber's sending is summed up and its link judged (layers::Link).
const STATS_EVERY: Duration = Duration::from_secs(1);
/// A layer not heard from for this long is taken as no longer sent.
const LAYER_GONE: Duration = Duration::from_secs(1);
/// At most one key frame request per layer in this time: a request costs a large frame.
const KEYFRAME_EVERY: Duration = Duration::from_millis(500);
/// Video packets each connection keeps for resends: about a second of 720p, longer than a
/// browser keeps asking for a lost packet, and a large screen key frame whole. The largest
/// part of a viewer's memory.
const SEND_BUFFER_VIDEO: usize = 200;
/// A subscriber's track index for the shared screen (after the seats).
const SCREEN: usize = MAX_PUBLISHERS;

/// Stage places, taken before a connection is handed to the serving task and given back
/// when connections end. Shared with the task; every change is announced on `changes`.
type Shared = Arc<Mutex<Places>>;

struct Places {
    stages: HashMap<EventId, Seats>,
    /// Each person's connections on each stage.
    held: HashMap<(EventId, UserId), usize>,
    /// Guests' connections on each stage, by address.
    guests: HashMap<(EventId, IpAddr), usize>,
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

/// Every change of a stage's roster, for the live rooms to relay.
pub type Rosters = mpsc::UnboundedReceiver<(EventId, Roster)>;

/// This instance's SFU. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    // Unbounded so that decisions arrive in the order they were made; each comes from a
    // rate-limited action or a connection already counted against MAX_PEERS.
    tx: mpsc::UnboundedSender<Command>,
    /// The address browsers send media to: our UDP host candidate.
    candidate: SocketAddr,
    /// Our passive TCP candidate, for browsers that cannot use UDP.
    tcp_candidate: Option<SocketAddr>,
    crypto: Arc<CryptoProvider>,
    /// Connections being served, kept by the serving task.
    peers: Arc<AtomicUsize>,
    places: Shared,
    /// Numbers each connection, so its owner can end it (WHIP's DELETE).
    next_id: Arc<AtomicU64>,
    /// The most video a subscriber is sent (bit/s), whatever its link carries.
    viewer_cap: Option<u64>,
    /// The most connections carried at once (at most MAX_PEERS).
    max_peers: usize,
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
    /// Records what the stage's publishers send into a new part under `dir`.
    Record {
        stage: EventId,
        dir: std::path::PathBuf,
    },
}

struct Peer {
    id: u64,
    stage: EventId,
    user: Option<UserId>,
    /// A guest's address, counted in [`Places::guests`].
    guest: Option<IpAddr>,
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
    /// What a subscriber's link carries, and the operator's limit (bit/s).
    link: layers::Link,
    cap: Option<u64>,
    /// A subscriber's sending since its link was last judged, and each line's totals then.
    sent: Sent,
    totals: HashMap<Mid, (u64, u64)>,
    /// A subscriber's video lines and the simulcast layer each carries now.
    lanes: HashMap<Mid, Rid>,
    /// A publisher's layers by media line, and when each was last heard.
    layers: HashMap<Mid, Vec<(Rid, Instant)>>,
    /// A publisher's last key frame request by media line and layer.
    asked: HashMap<(Mid, Option<Rid>), Instant>,
}

/// What a subscriber was sent since its link was last judged, and how much of it its
/// browser reported lost.
#[derive(Default)]
struct Sent {
    bytes: u64,
    /// Packets sent on lines with a loss report, and how many of those were lost.
    reported: u64,
    lost: f64,
    /// A report came in since the last judgement.
    fresh: bool,
    since: Option<Instant>,
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
        tcp: Option<SocketAddr>,
        public_ip: Option<IpAddr>,
        viewer_cap: Option<u64>,
        max_peers: usize,
    ) -> std::io::Result<(Sfu, Rosters)> {
        let socket = bind_udp(bind)?;
        let local = socket.local_addr()?;
        let ip = public_ip.unwrap_or(if local.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            local.ip()
        });
        let writers = tcp::Writers::default();
        let (tcp_side, tcp_candidate) = match tcp {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                let tcp_local = listener.local_addr()?;
                let (inbox, packets) = mpsc::channel(1024);
                tokio::spawn(tcp::accept(listener, inbox, writers.clone()));
                (
                    Some(serve::TcpSide {
                        local: tcp_local,
                        packets,
                    }),
                    Some(SocketAddr::new(ip, tcp_local.port())),
                )
            }
            None => (None, None),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (changes, rosters) = mpsc::unbounded_channel();
        let peers = Arc::new(AtomicUsize::new(0));
        let places = Arc::new(Mutex::new(Places {
            stages: HashMap::new(),
            held: HashMap::new(),
            guests: HashMap::new(),
            changes,
        }));
        tokio::spawn(serve::serve(
            socket,
            tcp_side,
            writers,
            rx,
            peers.clone(),
            places.clone(),
        ));
        tracing::info!(udp = %local, candidate = %SocketAddr::new(ip, local.port()), tcp = ?tcp_candidate, "media server listening");
        let sfu = Sfu {
            tx,
            candidate: SocketAddr::new(ip, local.port()),
            tcp_candidate,
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            peers,
            places,
            next_id: Arc::new(AtomicU64::new(1)),
            max_peers: max_peers.min(MAX_PEERS),
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

    /// Ends every connection of `user` on every stage (their account was closed).
    pub fn disconnect_everywhere(&self, user: &UserId) {
        let stages: Vec<EventId> = self
            .places()
            .held
            .keys()
            .filter(|(_, u)| u == user)
            .map(|(stage, _)| stage.clone())
            .collect();
        for stage in stages {
            self.disconnect(&stage, user);
        }
    }

    /// Ends connection `id` if it is `user`'s on this stage.
    pub fn hang_up(&self, stage: &EventId, user: &UserId, id: u64) {
        self.command(Command::DropOne {
            stage: stage.clone(),
            user: user.clone(),
            id,
        });
    }

    /// Starts recording a stage (the event went live); it stops when the stage closes.
    pub fn record(&self, stage: &EventId, dir: &std::path::Path) {
        self.command(Command::Record {
            stage: stage.clone(),
            dir: dir.to_path_buf(),
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
        // Stopping needs no seat: it may come after the seat is gone (revoked, kicked).
        let Some(s) = places.stages.get_mut(stage) else {
            return if on {
                Err(MediaError::NotOnStage)
            } else {
                Ok(())
            };
        };
        if on && !s.seats.iter().flatten().any(|x| x.user == *user) {
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
        if self.peers.load(Ordering::Relaxed) >= self.max_peers {
            return Err(MediaError::Full);
        }
        let parsed = SdpOffer::from_sdp_string(offer).map_err(|_| MediaError::NotSdp)?;
        super::check_offer(offer)?;
        let offer = parsed;
        let mut config = RtcConfig::new()
            .set_ice_lite(true)
            .set_crypto_provider(self.crypto.clone())
            // Packets kept for resends (str0m's default, 1000, is 1.2 MB per connection).
            .set_send_buffer_video(SEND_BUFFER_VIDEO);
        if who.role == MediaRole::Subscriber {
            // The losses its browser reports, for the layer each gets. Not str0m's delay-based
            // estimate: with it, pacing and probing, a viewer cost half as much again.
            config = config.set_stats_interval(Some(STATS_EVERY));
        }
        let mut rtc = config.build(Instant::now());
        let candidate = Candidate::host(self.candidate, "udp")
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        if let Some(addr) = self.tcp_candidate {
            let tcp = Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Passive)
                .build()
                .map_err(|e| MediaError::BadOffer(e.to_string()))?;
            rtc.add_local_candidate(tcp);
        }
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
        } else if let Some(address) = who.address {
            let mut places = self.places();
            let n = places.guests.entry((stage.clone(), address)).or_default();
            if *n >= MAX_GUESTS_PER_ADDRESS {
                return Err(MediaError::TooManyGuests);
            }
            *n += 1;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let peer = Peer {
            id,
            stage: stage.clone(),
            user: who.user.cloned(),
            guest: who.user.is_none().then_some(who.address).flatten(),
            role: who.role,
            slot,
            muted: who.muted,
            rtc,
            audio: Vec::new(),
            video: Vec::new(),
            failed: false,
            due: Instant::now(),
            dirty: true,
            link: layers::Link::new(Instant::now()),
            cap: self.viewer_cap,
            sent: Sent::default(),
            totals: HashMap::new(),
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
