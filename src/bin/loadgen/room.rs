//! The live-room benchmark (`bench/room_fanout.sh`): N receive-only guests on raw
//! WebSockets, a presenter's chat messages timed to each of them, the server's CPU per
//! delivery and memory per connection, then one client that stops reading.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bytes::{Buf, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{clock_ticks_per_sec, cpu_ticks, now_us, rss_kib, wait_until};

pub struct RunOpts {
    pub base: String,
    pub event: String,
    pub cookie: String,
    pub clients: usize,
    pub broadcasts: usize,
    pub server_pid: u32,
    pub metrics_token: Option<String>,
}

/// Latencies (µs) of bench messages, by message number.
pub(crate) type Seen = Arc<Mutex<Vec<Vec<u64>>>>;

/// What happened to the clients' connections, so a run that falls short says why.
#[derive(Default)]
pub(crate) struct Tally {
    /// Clients that received their first snapshot.
    pub(crate) greeted: AtomicUsize,
    /// Snapshots after the first: the server resent the room (the client fell behind).
    resynced: AtomicUsize,
    /// Connections the server closed or lost.
    pub(crate) closed: AtomicUsize,
    /// The close frames' codes and reasons, with how many carried each.
    reasons: Mutex<std::collections::BTreeMap<String, usize>>,
    /// The error frames the server answered actions with, with how many.
    pub(crate) refused: Mutex<std::collections::BTreeMap<String, usize>>,
}

impl Tally {
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} clients resynced, {} connections closed (close frames: {:?})",
            self.resynced.load(Ordering::Relaxed),
            self.closed.load(Ordering::Relaxed),
            self.reasons.lock().unwrap()
        )
    }
}

/// The server's own count of dropped connections and resyncs, from its metrics.
async fn server_drops(base: &str, token: Option<&str>) -> String {
    let Some(token) = token else {
        return "no metrics token given (--metrics-token)".into();
    };
    let Ok(addr) = base
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
    else {
        return String::new();
    };
    let Ok(Ok(mut s)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await
    else {
        return "the server's metrics could not be read".into();
    };
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let mut body = Vec::new();
    if s.write_all(request.as_bytes()).await.is_err()
        || tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut body))
            .await
            .is_err()
    {
        return "the server's metrics could not be read".into();
    }
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| {
            l.starts_with("meetstage_room_drops_total")
                || l.starts_with("meetstage_room_resyncs_total")
                || l.starts_with("meetstage_room_inbox_overflows_total")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn run(o: RunOpts) -> anyhow::Result<()> {
    let addr = o.base.trim_start_matches("http://").to_string();
    let server_port: u16 = addr
        .rsplit_once(':')
        .context("URL with a port")?
        .1
        .parse()?;
    let path = format!("/events/{}/live/socket", o.event);
    let rss_before = rss_kib(o.server_pid)?;
    let rounds = o.broadcasts * 2;
    let seen: Seen = Arc::new(Mutex::new(vec![Vec::with_capacity(o.clients); rounds]));
    let tally = Arc::new(Tally::default());

    // Phase 1: connect, a few hundred at a time, and wait for every snapshot.
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(o.clients);
    for chunk in 0..o.clients.div_ceil(500) {
        let mut batch = Vec::new();
        for _ in 0..500.min(o.clients - chunk * 500) {
            let (addr, path, base) = (addr.clone(), path.clone(), o.base.clone());
            batch.push(tokio::spawn(async move {
                open(&addr, &path, &base, None).await
            }));
        }
        for b in batch {
            sockets.push(b.await??);
        }
    }
    // One client (the last) will stop reading in phase 3.
    let stalled = sockets.pop().context("at least two clients")?;
    let stalled_port = stalled.0.local_addr()?.port();
    for (stream, rest) in sockets {
        tokio::spawn(receive(stream, rest, seen.clone(), tally.clone(), None));
    }
    let (stall_tx, stall_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(stall_later(stalled.0, stalled.1, stall_rx, tally.clone()));
    wait_until(Duration::from_secs(120), || {
        tally.greeted.load(Ordering::Relaxed) >= o.clients
    })
    .await?;
    let connect_secs = started.elapsed().as_secs_f64();
    // Let presence frames and allocator settle, then measure memory per idle connection.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after = rss_kib(o.server_pid)?;
    let per_conn = (rss_after.saturating_sub(rss_before) as f64) * 1024.0 / o.clients as f64;

    // The presenter, who sends the measured messages.
    let (mut presenter, _) = open(&addr, &path, &o.base, Some(&o.cookie)).await?;

    // Phase 2: broadcasts, one every 200 ms, each to every client.
    let cpu_before = cpu_ticks(o.server_pid)?;
    let t0 = Instant::now();
    for n in 0..o.broadcasts {
        send_chat(&mut presenter, n).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let expected = o.clients - 1;
    if let Err(e) = wait_until(Duration::from_secs(60), || {
        seen.lock().unwrap()[..o.broadcasts]
            .iter()
            .all(|v| v.len() >= expected)
    })
    .await
    {
        let short: Vec<String> = seen.lock().unwrap()[..o.broadcasts]
            .iter()
            .enumerate()
            .filter(|(_, v)| v.len() < expected)
            .map(|(i, v)| format!("#{i} reached {}", v.len()))
            .collect();
        bail!(
            "{e}: not every client got every broadcast (each should reach {expected}): {}; {}; server: {}",
            short.join(", "),
            tally.summary(),
            server_drops(&o.base, o.metrics_token.as_deref()).await
        );
    }
    let cpu = cpu_ticks(o.server_pid)? - cpu_before;
    let wall = t0.elapsed();
    let deliveries = (o.broadcasts * expected) as f64;
    let tick = 1e6 / clock_ticks_per_sec();
    let cpu_us = cpu as f64 * tick / deliveries;
    let quiet: Vec<u64> = seen.lock().unwrap()[..o.broadcasts]
        .iter()
        .flatten()
        .copied()
        .collect();

    // Phase 3: one client stops reading; the same broadcasts again. How long until the
    // server cuts it off, and what it costs the others.
    let _ = stall_tx.send(());
    let stalled_at = Instant::now();
    let mut cut_after = None;
    for n in o.broadcasts..rounds {
        send_chat(&mut presenter, n).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if cut_after.is_none() && !established(server_port, stalled_port)? {
            cut_after = Some(stalled_at.elapsed());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while cut_after.is_none() && Instant::now() < deadline {
        if !established(server_port, stalled_port)? {
            cut_after = Some(stalled_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Err(e) = wait_until(Duration::from_secs(60), || {
        seen.lock().unwrap()[o.broadcasts..]
            .iter()
            .all(|v| v.len() >= expected)
    })
    .await
    {
        bail!(
            "{e}: not every client got every broadcast while one was stalled; {}; server: {}",
            tally.summary(),
            server_drops(&o.base, o.metrics_token.as_deref()).await
        );
    }
    let stalled_lat: Vec<u64> = seen.lock().unwrap()[o.broadcasts..]
        .iter()
        .flatten()
        .copied()
        .collect();

    let (p50, p99, max) = percentiles(quiet);
    let (s50, s99, smax) = percentiles(stalled_lat);
    println!("clients                 {}", o.clients);
    println!("connect + snapshot      {connect_secs:.1} s for all");
    println!(
        "server memory per idle  {per_conn:.0} bytes/connection (RSS {rss_before} -> {rss_after} KiB)"
    );
    println!(
        "broadcasts              {} × {} deliveries in {:.1} s",
        o.broadcasts,
        expected,
        wall.as_secs_f64()
    );
    println!(
        "delivery latency        p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p50, p99, max
    );
    println!("server CPU per delivery {cpu_us:.2} µs ({cpu} ticks)");
    match cut_after {
        Some(d) => println!("stalled client cut off  after {:.1} s", d.as_secs_f64()),
        None => println!("stalled client cut off  NOT within the run"),
    }
    println!(
        "others while stalled    p50 {s50:.1} ms, p99 {s99:.1} ms, max {smax:.1} ms ({:+.0}% p99)",
        (s99 / p99 - 1.0) * 100.0
    );
    Ok(())
}

/// Opens a live-room socket; returns the stream and any bytes read past the handshake.
pub(crate) async fn open(
    addr: &str,
    path: &str,
    origin: &str,
    cookie: Option<&str>,
) -> anyhow::Result<(TcpStream, BytesMut)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n{cookie}\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if s.read_buf(&mut buf).await? == 0 {
            bail!("closed during the handshake");
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                bail!("refused: {}", String::from_utf8_lossy(&buf[..end]));
            }
            buf.advance(end + 4);
            return Ok((s, buf));
        }
    }
}

/// A masked client text frame (mask zero: the payload goes as is).
pub(crate) fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

async fn send_chat(s: &mut TcpStream, n: usize) -> anyhow::Result<()> {
    let text = format!(
        r#"{{"type":"chat","data":{{"text":"bench {n} {}"}}}}"#,
        now_us()
    );
    s.write_all(&client_frame(0x1, text.as_bytes())).await?;
    Ok(())
}

/// Splits whole frames off `buf`: (opcode, payload).
pub(crate) fn frames(buf: &mut BytesMut) -> Vec<(u8, BytesMut)> {
    let mut out = Vec::new();
    loop {
        if buf.len() < 2 {
            return out;
        }
        let (len, head) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 if buf.len() >= 10 => (
                u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return out,
            n => (usize::from(n), 2),
        };
        if buf.len() < head + len {
            return out;
        }
        let op = buf[0] & 0x0F;
        buf.advance(head);
        out.push((op, buf.split_to(len)));
    }
}

/// Reads frames: answers pings, counts the snapshot, records bench message latencies and
/// notes refusals; writes what `outgoing` hands it (a member's actions), and once that ends
/// goes on reading what is still on its way.
pub(crate) async fn receive(
    mut s: TcpStream,
    mut buf: BytesMut,
    seen: Seen,
    tally: Arc<Tally>,
    mut outgoing: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>,
) {
    let mut greeted_once = false;
    loop {
        for (op, payload) in frames(&mut buf) {
            match op {
                0x9 => {
                    let _ = s.write_all(&client_frame(0xA, &payload)).await;
                }
                0x1 => record(&payload, &seen, &tally, &mut greeted_once),
                0x8 => {
                    tally.closed.fetch_add(1, Ordering::Relaxed);
                    let why = match payload.get(..2) {
                        Some(code) => format!(
                            "{} {}",
                            u16::from_be_bytes([code[0], code[1]]),
                            String::from_utf8_lossy(&payload[2..])
                        ),
                        None => "no code".into(),
                    };
                    *tally.reasons.lock().unwrap().entry(why).or_default() += 1;
                    return;
                }
                _ => {}
            }
        }
        let read = tokio::select! {
            r = s.read_buf(&mut buf) => r,
            frame = async { outgoing.as_mut()?.recv().await }, if outgoing.is_some() => {
                match frame {
                    Some(f) => if s.write_all(&f).await.is_err() { return },
                    None => outgoing = None,
                }
                continue;
            }
        };
        if matches!(read, Ok(0) | Err(_)) {
            tally.closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

pub(crate) fn record(payload: &[u8], seen: &Seen, tally: &Tally, greeted_once: &mut bool) {
    if payload.starts_with(br#"{"type":"error""#) {
        let text = String::from_utf8_lossy(payload).into_owned();
        *tally.refused.lock().unwrap().entry(text).or_default() += 1;
        return;
    }
    const SNAPSHOT: &[u8] = b"\"type\":\"snapshot\"";
    if payload.windows(SNAPSHOT.len()).any(|w| w == SNAPSHOT) {
        let counter = if *greeted_once {
            &tally.resynced
        } else {
            &tally.greeted
        };
        *greeted_once = true;
        counter.fetch_add(1, Ordering::Relaxed);
        return;
    }
    const MARK: &[u8] = b"\"text\":\"bench ";
    let Some(at) = payload.windows(MARK.len()).position(|w| w == MARK) else {
        return;
    };
    let rest = &payload[at + MARK.len()..];
    let end = rest.iter().position(|b| *b == b'"').unwrap_or(rest.len());
    let text = String::from_utf8_lossy(&rest[..end]);
    let mut parts = text.split(' ');
    let (Some(n), Some(sent)) = (parts.next(), parts.next()) else {
        return;
    };
    if let (Ok(n), Ok(sent)) = (n.parse::<usize>(), sent.parse::<u64>()) {
        let latency = now_us().saturating_sub(sent);
        if let Some(v) = seen.lock().unwrap().get_mut(n) {
            v.push(latency);
        }
    }
}

/// Reads normally until told to stall, then holds the socket open without reading again,
/// answering nothing, until the process ends.
async fn stall_later(
    mut s: TcpStream,
    mut buf: BytesMut,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    tally: Arc<Tally>,
) {
    let mut greeted_once = false;
    let ignored: Seen = Arc::new(Mutex::new(Vec::new()));
    loop {
        for (op, payload) in frames(&mut buf) {
            match op {
                0x9 => {
                    let _ = s.write_all(&client_frame(0xA, &payload)).await;
                }
                0x1 => record(&payload, &ignored, &tally, &mut greeted_once),
                _ => {}
            }
        }
        tokio::select! {
            r = s.read_buf(&mut buf) => if matches!(r, Ok(0) | Err(_)) { return },
            _ = &mut stop => break,
        }
    }
    std::future::pending::<()>().await;
    drop(s);
}

/// Whether the server still holds the connection from `client_port` open (its side of the
/// socket in /proc/net/tcp is ESTABLISHED).
fn established(server_port: u16, client_port: u16) -> anyhow::Result<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp")?;
    let local = format!(":{server_port:04X}");
    let remote = format!(":{client_port:04X}");
    Ok(table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1].ends_with(&local) && f[2].ends_with(&remote) && f[3] == "01"
    }))
}

/// (p50, p99, max) in milliseconds.
pub(crate) fn percentiles(mut v: Vec<u64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    (at(0.5), at(0.99), at(1.0))
}
