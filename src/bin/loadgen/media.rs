//! Media load: one publisher sending 720p-sized video (2 Mbit/s, 30 frames a second) and
//! Opus-sized audio through WHIP, forwarded by the server to N guest subscribers. Reports
//! the server's CPU while it forwards (from /proc, as a share of one core), its memory per
//! subscriber, and what reached the subscribers: every video frame ends with a marked RTP
//! packet and every audio packet is a frame, counted from the clear RTP headers. Each
//! subscriber's str0m then takes the packet as a browser would, and sends back the receiver
//! reports and congestion feedback the server's bandwidth estimate lives on.
//!
//! Bounded: every phase has a deadline, and the run fails rather than hang.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use str0m::{
    Candidate, Event, Input, Output, Rtc, RtcConfig,
    change::{SdpAnswer, SdpPendingOffer},
    format::Codec,
    media::{Direction, Frequency, MediaKind, MediaTime, Mid},
    net::{Protocol, Receive},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
};

use super::{clock_ticks_per_sec, cpu_ticks, rss_kib};

pub struct MediaOpts {
    pub base: String,
    pub event: String,
    pub key: String,
    pub subscribers: usize,
    pub seconds: u64,
    pub server_pid: u32,
}

const FPS: u64 = 30;
/// 2 Mbit/s at 30 frames a second: what a browser sends for 720p.
const VIDEO_FRAME: usize = 2_000_000 / 8 / FPS as usize;
const AUDIO_FRAME: usize = 100;

/// What one subscriber counted.
#[derive(Default)]
pub struct Counts {
    connected: AtomicUsize,
    video_frames: AtomicU64,
    audio_frames: AtomicU64,
}

pub async fn run(o: MediaOpts) -> anyhow::Result<()> {
    let rss_before = rss_kib(o.server_pid)?;
    let counting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let all = audience(&o.base, &o.event, o.subscribers, counting.clone()).await?;
    let connect_s = started.elapsed().as_secs_f64();

    counting.store(true, Ordering::Relaxed);
    let cpu_before = cpu_ticks(o.server_pid)?;
    let own_before = cpu_ticks(std::process::id())?;
    let sending = Instant::now();
    let sent = publish(&o.base, &o.event, &o.key, Duration::from_secs(o.seconds)).await?;
    let cpu = cpu_ticks(o.server_pid)?.saturating_sub(cpu_before);
    let own = cpu_ticks(std::process::id())?.saturating_sub(own_before);
    let wall = sending.elapsed().as_secs_f64();
    // What was sent last is still on its way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    counting.store(false, Ordering::Relaxed);
    let rss_after = rss_kib(o.server_pid)?;

    let (mean, worst) = losses(&all, sent);
    let core_share = cpu as f64 / clock_ticks_per_sec() / wall * 100.0;
    println!(
        "subscribers {n}: connected in {connect_s:.1} s; server CPU {core_share:.1}% of one core \
         ({per:.3}% per subscriber); frames lost mean {mean:.2}%, worst {worst:.2}% \
         ({v} video + {a} audio frames sent in {wall:.1} s); server memory +{mem} KiB \
         ({mem_per:.0} KiB per subscriber); load generator CPU {own_share:.0}%",
        n = o.subscribers,
        per = core_share / o.subscribers as f64,
        v = sent.0,
        a = sent.1,
        mem = rss_after.saturating_sub(rss_before),
        mem_per = rss_after.saturating_sub(rss_before) as f64 / o.subscribers as f64,
        own_share = own as f64 / clock_ticks_per_sec() / wall * 100.0,
    );
    Ok(())
}

/// Connects `n` guest subscribers to the event's stage and waits until every one is
/// connected; each counts what reaches it while `counting` is set.
pub async fn audience(
    base: &str,
    event: &str,
    n: usize,
    counting: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<Vec<Arc<Counts>>> {
    let mut all = Vec::new();
    for i in 0..n {
        let counts = Arc::new(Counts::default());
        let (rtc, socket, pending, sdp, _) = peer(Direction::RecvOnly).await?;
        // Each guest from an address of its own (the server trusts the bench's proxy header),
        // as an audience would be; one address holds at most 16 guests.
        let from = format!(
            "X-Forwarded-For: 10.{}.{}.{}\r\n",
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        );
        let (status, _, answer) =
            post(base, &format!("/events/{event}/live/watch"), &from, &sdp).await?;
        if status != 201 {
            bail!("watch refused ({status}): {answer}");
        }
        tokio::spawn(subscriber(
            rtc,
            socket,
            pending,
            answer,
            counts.clone(),
            counting.clone(),
        ));
        all.push(counts);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while all.iter().any(|c| c.connected.load(Ordering::Relaxed) == 0) {
        if Instant::now() > deadline {
            let up = all
                .iter()
                .filter(|c| c.connected.load(Ordering::Relaxed) > 0)
                .count();
            bail!("only {up} of {n} subscribers connected within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(all)
}

/// The publisher, as OBS would connect: sends for `for_how_long` and returns the frames
/// sent (video, audio).
pub async fn publish(
    base: &str,
    event: &str,
    key: &str,
    for_how_long: Duration,
) -> anyhow::Result<(u64, u64)> {
    let (rtc, socket, pending, sdp, mids) = peer(Direction::SendOnly).await?;
    let (status, _, answer) = post(
        base,
        &format!("/events/{event}/live/whip"),
        &format!("Authorization: Bearer {key}\r\n"),
        &sdp,
    )
    .await?;
    if status != 201 {
        bail!("publish refused ({status}): {answer}");
    }
    publisher(rtc, socket, pending, answer, mids, for_how_long).await
}

/// Frames lost per subscriber, in percent of those sent: (mean, worst).
pub fn losses(all: &[Arc<Counts>], (video, audio): (u64, u64)) -> (f64, f64) {
    let expected = (video + audio) as f64;
    let mut losses: Vec<f64> = all
        .iter()
        .map(|c| {
            let got = (c.video_frames.load(Ordering::Relaxed)
                + c.audio_frames.load(Ordering::Relaxed)) as f64;
            (1.0 - got / expected).max(0.0) * 100.0
        })
        .collect();
    losses.sort_by(f64::total_cmp);
    let mean = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
    (mean, losses.last().copied().unwrap_or(0.0))
}

/// A connection with one audio and one video line in `direction`, its socket and its offer.
async fn peer(
    direction: Direction,
) -> anyhow::Result<(Rtc, UdpSocket, SdpPendingOffer, String, [Mid; 2])> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(socket.local_addr()?, "udp")?);
    let mut api = rtc.sdp_api();
    let audio = api.add_media(MediaKind::Audio, direction, None, None, None);
    let video = api.add_media(MediaKind::Video, direction, None, None, None);
    let (offer, pending) = api.apply().context("an offer")?;
    Ok((rtc, socket, pending, offer.to_sdp_string(), [audio, video]))
}

fn accept(rtc: &mut Rtc, pending: SdpPendingOffer, answer: &str) -> anyhow::Result<()> {
    let answer = SdpAnswer::from_sdp_string(answer)?;
    rtc.sdp_api().accept_answer(pending, answer)?;
    Ok(())
}

/// Sends what str0m has due; returns when it next needs time.
async fn flush(rtc: &mut Rtc, socket: &UdpSocket, connected: &mut bool) -> anyhow::Result<Instant> {
    loop {
        match rtc.poll_output()? {
            Output::Timeout(at) => return Ok(at),
            Output::Transmit(t) => {
                let _ = socket.try_send_to(&t.contents, t.destination);
            }
            Output::Event(Event::Connected) => *connected = true,
            Output::Event(_) => {}
        }
    }
}

fn input(rtc: &mut Rtc, local: SocketAddr, source: SocketAddr, data: &[u8]) {
    if let Ok(contents) = data.try_into() {
        let _ = rtc.handle_input(Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: local,
                contents,
            },
        ));
    }
}

async fn subscriber(
    mut rtc: Rtc,
    socket: UdpSocket,
    pending: SdpPendingOffer,
    answer: String,
    counts: Arc<Counts>,
    counting: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    accept(&mut rtc, pending, &answer)?;
    let pt_of = |codec| {
        rtc.codec_config()
            .params()
            .iter()
            .find(|p| p.spec().codec == codec)
            .map(|p| *p.pt())
    };
    let (opus, vp8) = (pt_of(Codec::Opus), pt_of(Codec::Vp8));
    let local = socket.local_addr()?;
    let mut connected = false;
    let mut buf = vec![0u8; 2000];
    let stop = Instant::now() + Duration::from_secs(600);
    while Instant::now() < stop {
        let wake = flush(&mut rtc, &socket, &mut connected).await?;
        if connected {
            counts.connected.store(1, Ordering::Relaxed);
        }
        let wait = wake.saturating_duration_since(Instant::now());
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = r else { continue };
                let d = &buf[..n];
                // RTP carries its header in the clear: count frames without decrypting.
                // (RTCP's packet types, 200-207, sit where RTP has marker and payload type.)
                if connected
                    && n > 12
                    && (128..=191).contains(&d[0])
                    && !(200..=207).contains(&d[1])
                    && counting.load(Ordering::Relaxed)
                {
                    let (marker, pt) = (d[1] & 0x80 != 0, d[1] & 0x7f);
                    if Some(pt) == opus {
                        counts.audio_frames.fetch_add(1, Ordering::Relaxed);
                    } else if Some(pt) == vp8 && marker {
                        counts.video_frames.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // str0m takes everything, as a browser would: it answers with receiver
                // reports and congestion feedback, which the server's estimate needs.
                input(&mut rtc, local, source, d);
            }
            () = tokio::time::sleep(wait) => {}
        }
        let _ = rtc.handle_input(Input::Timeout(Instant::now()));
    }
    Ok(())
}

/// Sends video and audio frames in real time for `for_how_long` once connected; returns the
/// frames sent (video, audio).
async fn publisher(
    mut rtc: Rtc,
    socket: UdpSocket,
    pending: SdpPendingOffer,
    answer: String,
    [audio, video]: [Mid; 2],
    for_how_long: Duration,
) -> anyhow::Result<(u64, u64)> {
    accept(&mut rtc, pending, &answer)?;
    let local = socket.local_addr()?;
    let mut connected = false;
    let mut buf = vec![0u8; 2000];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !connected {
        if Instant::now() > deadline {
            bail!("the publisher did not connect within 30 s");
        }
        let wake = flush(&mut rtc, &socket, &mut connected).await?;
        let wait = wake
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(10));
        if let Ok(Ok((n, source))) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
            input(&mut rtc, local, source, &buf[..n]);
        }
        let _ = rtc.handle_input(Input::Timeout(Instant::now()));
    }
    let pt = |rtc: &mut Rtc, mid: Mid, codec: Codec| {
        rtc.writer(mid).and_then(|w| {
            w.payload_params()
                .find(|p| p.spec().codec == codec)
                .map(|p| p.pt())
        })
    };
    let (opus, vp8) = (
        pt(&mut rtc, audio, Codec::Opus).context("Opus")?,
        pt(&mut rtc, video, Codec::Vp8).context("VP8")?,
    );
    let frame = vec![0x42u8; VIDEO_FRAME];
    let key = vec![0x43u8; VIDEO_FRAME * 4];
    let start = Instant::now();
    let (mut v, mut a) = (0u64, 0u64);
    while start.elapsed() < for_how_long {
        let now = start.elapsed();
        // Audio every 20 ms, video every 33 ms, a larger key frame every 2 s.
        while Duration::from_millis(a * 20) <= now {
            let t = MediaTime::new(a * 960, Frequency::FORTY_EIGHT_KHZ);
            if let Some(w) = rtc.writer(audio) {
                w.write(opus, Instant::now(), t, vec![0xF8; AUDIO_FRAME])?;
            }
            a += 1;
        }
        while Duration::from_millis(v * 1000 / FPS) <= now {
            let t = MediaTime::new(v * 90_000 / FPS, Frequency::NINETY_KHZ);
            let data = if v % (FPS * 2) == 0 {
                key.clone()
            } else {
                frame.clone()
            };
            if let Some(w) = rtc.writer(video) {
                w.write(vp8, Instant::now(), t, data)?;
            }
            v += 1;
        }
        let _ = flush(&mut rtc, &socket, &mut connected).await?;
        if let Ok(Ok((n, source))) =
            tokio::time::timeout(Duration::from_millis(2), socket.recv_from(&mut buf)).await
        {
            input(&mut rtc, local, source, &buf[..n]);
        }
        let _ = rtc.handle_input(Input::Timeout(Instant::now()));
    }
    Ok((v, a))
}

/// One HTTP/1.1 request with an SDP body: (status, location, body).
/// Posts an SDP offer; `headers` are extra header lines, each ending in CRLF.
async fn post(
    base: &str,
    path: &str,
    headers: &str,
    sdp: &str,
) -> anyhow::Result<(u16, String, String)> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await?;

    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/sdp\r\n{headers}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{sdp}",
        sdp.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("an HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .context("a status")?
        .parse()?;
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .unwrap_or_default()
        .to_string();
    Ok((status, location, body.to_string()))
}
