//! The embedded SFU: one UDP port and one task that owns every peer connection (str0m's
//! sans-IO `Rtc`) and forwards each publisher's audio and video to the subscribers of the same
//! stage. Signaling is one HTTP exchange per connection (WHIP/WHEP style): the browser's offer
//! in, our answer out, with our single ICE-lite host candidate in it.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use str0m::{
    Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig,
    change::SdpOffer,
    crypto::CryptoProvider,
    media::{KeyframeRequest, MediaData, MediaKind, Mid},
    net::{Protocol, Receive},
};
use tokio::{net::UdpSocket, sync::mpsc};

use super::{MediaError, MediaRole};
use crate::features::ids::{EventId, UserId};

/// Largest datagram we read: WebRTC keeps packets under the path MTU.
const DATAGRAM: usize = 2000;
/// Connections one SFU carries at most; beyond that new ones are refused, not queued.
const MAX_PEERS: usize = 4096;
/// People sending audio and video on one stage at once (as on an IVS stage).
pub const MAX_PUBLISHERS: usize = 12;
/// Media connections one person may hold on one stage (a few tabs, a reload).
pub const MAX_PER_PERSON: usize = 4;

/// Places taken on each stage, before a connection is handed to the serving task, and given
/// back when connections end.
type Publishers = Arc<Mutex<Places>>;

#[derive(Default)]
struct Places {
    /// Who publishes on each stage.
    publishers: HashMap<EventId, HashSet<UserId>>,
    /// Each person's connections on each stage.
    held: HashMap<(EventId, UserId), usize>,
}

/// This instance's SFU. Cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    tx: mpsc::Sender<Command>,
    /// The address browsers send media to: our one host candidate.
    candidate: SocketAddr,
    crypto: Arc<CryptoProvider>,
    /// Connections being served, kept by the serving task.
    peers: Arc<AtomicUsize>,
    publishers: Publishers,
}

enum Command {
    Add(Box<Peer>),
    /// Ends every connection of a person on a stage.
    Drop {
        stage: EventId,
        user: UserId,
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
}

struct Peer {
    stage: EventId,
    user: Option<UserId>,
    role: MediaRole,
    /// A muted publisher's audio is not forwarded.
    muted: bool,
    rtc: Rtc,
    /// The connection's media lines by kind: what a publisher sends us, what a subscriber
    /// asked to receive.
    mids: Vec<(MediaKind, Mid)>,
}

impl Sfu {
    /// Binds the UDP port and starts the task that serves it. `public_ip` is the address
    /// browsers reach this machine at (behind NAT or in a container); without it the bound
    /// address is used, or loopback when bound to every interface.
    pub async fn start(bind: SocketAddr, public_ip: Option<IpAddr>) -> std::io::Result<Sfu> {
        let socket = UdpSocket::bind(bind).await?;
        let local = socket.local_addr()?;
        let ip = public_ip.unwrap_or(if local.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            local.ip()
        });
        let (tx, rx) = mpsc::channel(256);
        let peers = Arc::new(AtomicUsize::new(0));
        let publishers = Publishers::default();
        tokio::spawn(serve(socket, rx, peers.clone(), publishers.clone()));
        tracing::info!(udp = %local, candidate = %SocketAddr::new(ip, local.port()), "media server listening");
        Ok(Sfu {
            tx,
            candidate: SocketAddr::new(ip, local.port()),
            crypto: Arc::new(str0m::crypto::from_feature_flags()),
            peers,
            publishers,
        })
    }

    pub fn disconnect(&self, stage: &EventId, user: &UserId) {
        self.command(Command::Drop {
            stage: stage.clone(),
            user: user.clone(),
        });
    }

    pub fn close_stage(&self, stage: &EventId) {
        self.command(Command::Close {
            stage: stage.clone(),
        });
    }

    pub fn restrict(&self, stage: &EventId, user: &UserId, muted: bool, may_publish: bool) {
        self.command(Command::Restrict {
            stage: stage.clone(),
            user: user.clone(),
            muted,
            may_publish,
        });
    }

    /// Waits for room in the queue rather than losing a moderation decision.
    fn command(&self, command: Command) {
        let tx = self.tx.clone();
        tokio::spawn(async move { tx.send(command).await });
    }

    /// The UDP address in our answers.
    pub fn candidate(&self) -> SocketAddr {
        self.candidate
    }

    pub async fn connect(
        &self,
        stage: &EventId,
        user: Option<&UserId>,
        role: MediaRole,
        muted: bool,
        offer: &str,
    ) -> Result<String, MediaError> {
        if self.peers.load(Ordering::Relaxed) >= MAX_PEERS {
            return Err(MediaError::Full);
        }
        let offer = SdpOffer::from_sdp_string(offer).map_err(|_| MediaError::NotSdp)?;
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .set_crypto_provider(self.crypto.clone())
            .build(Instant::now());
        let candidate = Candidate::host(self.candidate, "udp")
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        if let Some(user) = user {
            let mut places = self.publishers.lock().unwrap_or_else(|p| p.into_inner());
            let key = (stage.clone(), user.clone());
            if places.held.get(&key).copied().unwrap_or(0) >= MAX_PER_PERSON {
                return Err(MediaError::TooMany);
            }
            if role == MediaRole::Publisher {
                let on_stage = places.publishers.entry(stage.clone()).or_default();
                if !on_stage.contains(user) && on_stage.len() >= MAX_PUBLISHERS {
                    return Err(MediaError::StageFull);
                }
                on_stage.insert(user.clone());
            }
            *places.held.entry(key).or_default() += 1;
        } else if role == MediaRole::Publisher {
            return Err(MediaError::BadOffer("guests do not publish".into()));
        }
        let peer = Peer {
            stage: stage.clone(),
            user: user.cloned(),
            role,
            muted,
            rtc,
            mids: Vec::new(),
        };
        self.tx
            .send(Command::Add(Box::new(peer)))
            .await
            .map_err(|_| MediaError::Unavailable)?;
        Ok(answer.to_sdp_string())
    }
}

impl Peer {
    fn is(&self, stage: &EventId, user: &UserId) -> bool {
        self.stage == *stage && self.user.as_ref() == Some(user)
    }
}

/// Everything one pass over the peers produced that concerns other peers.
#[derive(Default)]
struct Pass {
    media: Vec<(usize, MediaData)>,
    keyframes: Vec<(usize, KeyframeRequest)>,
}

async fn serve(
    socket: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    count: Arc<AtomicUsize>,
    publishers: Publishers,
) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut peers: Vec<Peer> = Vec::new();
    let mut buf = vec![0u8; DATAGRAM];
    loop {
        let mut pass = Pass::default();
        let mut wake = Instant::now() + Duration::from_millis(100);
        for (i, peer) in peers.iter_mut().enumerate() {
            wake = wake.min(drain(i, peer, &socket, &mut pass));
        }
        if !pass.media.is_empty() || !pass.keyframes.is_empty() {
            forward(&mut peers, pass);
            // What was just written must go out before we wait.
            continue;
        }
        if peers.iter().any(|p| !p.rtc.is_alive()) {
            let (alive, gone): (Vec<Peer>, Vec<Peer>) =
                peers.into_iter().partition(|p| p.rtc.is_alive());
            peers = alive;
            release(&publishers, &peers, &gone);
        }
        count.store(peers.len(), Ordering::Relaxed);
        let wait = wake.saturating_duration_since(Instant::now());
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Add(peer)) => peers.push(*peer),
                Some(Command::Drop { stage, user }) => {
                    for peer in peers.iter_mut().filter(|p| p.is(&stage, &user)) {
                        peer.rtc.disconnect();
                    }
                }
                Some(Command::Close { stage }) => {
                    for peer in peers.iter_mut().filter(|p| p.stage == stage) {
                        peer.rtc.disconnect();
                    }
                }
                Some(Command::Restrict { stage, user, muted, may_publish }) => {
                    for peer in peers.iter_mut().filter(|p| p.is(&stage, &user)) {
                        peer.muted = muted;
                        if peer.role == MediaRole::Publisher && !may_publish {
                            peer.rtc.disconnect();
                        }
                    }
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
                    if let Some(peer) = peers.iter_mut().find(|p| p.rtc.accepts(&input))
                        && let Err(e) = peer.rtc.handle_input(input)
                    {
                        tracing::debug!(error = %e, "media input refused");
                    }
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
        let now = Instant::now();
        for peer in &mut peers {
            if peer.rtc.is_alive() && peer.rtc.handle_input(Input::Timeout(now)).is_err() {
                peer.rtc.disconnect();
            }
        }
    }
}

/// Gives back the places of connections that ended: a person's connection count, and their
/// stage place once their last sending connection is gone.
fn release(publishers: &Publishers, alive: &[Peer], gone: &[Peer]) {
    let mut places = publishers.lock().unwrap_or_else(|p| p.into_inner());
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
        if peer.role == MediaRole::Publisher
            && !still
            && let Some(on_stage) = places.publishers.get_mut(&peer.stage)
        {
            on_stage.remove(user);
            if on_stage.is_empty() {
                places.publishers.remove(&peer.stage);
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
                Event::MediaAdded(m) => peer.mids.push((m.kind, m.mid)),
                Event::MediaData(data) if peer.role == MediaRole::Publisher => {
                    pass.media.push((i, data));
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

/// Hands each publisher's media to the subscribers of its stage, and subscribers' keyframe
/// requests to the publishers whose video they watch.
fn forward(peers: &mut [Peer], pass: Pass) {
    for (from, data) in pass.media {
        let Some(&(kind, _)) = peers[from].mids.iter().find(|(_, m)| *m == data.mid) else {
            continue;
        };
        // Enforced here, whatever the muted person's page does.
        if kind == MediaKind::Audio && peers[from].muted {
            continue;
        }
        let stage = peers[from].stage.clone();
        for (j, peer) in peers.iter_mut().enumerate() {
            if j == from || peer.stage != stage || peer.role != MediaRole::Subscriber {
                continue;
            }
            let Some(&(_, mid)) = peer.mids.iter().find(|(k, _)| *k == kind) else {
                continue;
            };
            let Some(writer) = peer.rtc.writer(mid) else {
                continue;
            };
            let Some(pt) = writer.match_params(data.params) else {
                continue;
            };
            if let Err(e) = writer.write(pt, data.network_time, data.time, data.data.clone()) {
                tracing::debug!(error = %e, "forwarding media failed");
            }
        }
    }
    for (from, req) in pass.keyframes {
        let stage = peers[from].stage.clone();
        for peer in peers.iter_mut() {
            if peer.stage != stage || peer.role != MediaRole::Publisher {
                continue;
            }
            let video: Vec<Mid> = peer
                .mids
                .iter()
                .filter(|(k, _)| *k == MediaKind::Video)
                .map(|(_, mid)| *mid)
                .collect();
            for mid in video {
                if let Some(mut writer) = peer.rtc.writer(mid) {
                    let _ = writer.request_keyframe(req.rid, req.kind);
                }
            }
        }
    }
}
