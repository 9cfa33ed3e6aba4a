//! What one server holds (`bench/capacity.sh`): a room of `--clients` people, the signed-in
//! members given in `--cookies` chatting, asking, raising hands and reacting and the rest
//! guests watching, some of them leaving and others arriving, while one publisher's 720p
//! video goes to `--subscribers` guests through the embedded SFU. Reports what each part got
//! (media frames lost, chat latency and completeness), the server's CPU and memory (with its
//! memory cgroup's peak and failures when `--memory-cgroup` is given), and the load
//! generator's own CPU, so a run the load generator limits says so.
//!
//! Bounded: every phase has a deadline, and the run fails rather than hang.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use super::{clock_ticks_per_sec, cpu_ticks, now_us, rss_kib, wait_until};
use crate::{media, room};

pub struct CapacityOpts {
    pub base: String,
    pub event: String,
    pub key: String,
    /// Session cookies of signed-in members, one per member.
    pub cookies: Vec<String>,
    pub clients: usize,
    pub subscribers: usize,
    pub seconds: u64,
    pub server_pid: u32,
    /// The server's memory cgroup (v1), for its peak and its failed allocations.
    pub memory_cgroup: Option<String>,
}

/// The room's activity, per second, all members together: a busy meetup's chat and more.
const CHAT_PER_S: u64 = 5;
const QUESTIONS_PER_S: f64 = 0.5;
const HANDS_PER_S: u64 = 1;
const REACTIONS_PER_S: u64 = 5;
/// Guests leaving, each replaced by a newcomer.
const CHURN_PER_S: u64 = 1;
/// How many chat messages a run may measure.
const MAX_MESSAGES: usize = 10_000;
/// Guests who may leave during a run (their places taken by newcomers).
const MAX_LEAVERS: usize = 100;

pub async fn run(o: CapacityOpts) -> anyhow::Result<()> {
    if o.cookies.is_empty() || o.cookies.len() >= o.clients {
        bail!(
            "give fewer members' cookies ({}) than clients ({}), and at least one",
            o.cookies.len(),
            o.clients
        );
    }
    let addr = o.base.trim_start_matches("http://").to_string();
    let path = format!("/events/{}/live/socket", o.event);
    let rss_before = rss_kib(o.server_pid)?;
    let seen: room::Seen = Arc::new(Mutex::new(vec![Vec::new(); MAX_MESSAGES]));
    let tally = Arc::new(room::Tally::default());

    // The room: members (who also receive) and guests, a few hundred at a time.
    let started = Instant::now();
    let mut members = Vec::new();
    for cookie in &o.cookies {
        let (stream, rest) = room::open(&addr, &path, &o.base, Some(cookie)).await?;
        let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
        tokio::spawn(room::receive(
            stream,
            rest,
            seen.clone(),
            tally.clone(),
            Some(rx),
        ));
        members.push(tx);
    }
    let guests = o.clients - o.cookies.len();
    // The first guests are the ones who may leave: what reaches them is not counted.
    let leavers = guests.div_ceil(2).min(MAX_LEAVERS);
    let mut leaving: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    for chunk in 0..guests.div_ceil(250) {
        let mut batch = Vec::new();
        for _ in 0..250.min(guests - chunk * 250) {
            let (addr, path, base) = (addr.clone(), path.clone(), o.base.clone());
            batch.push(tokio::spawn(async move {
                room::open(&addr, &path, &base, None).await
            }));
        }
        for b in batch {
            let (stream, rest) = b.await??;
            if leaving.len() < leavers {
                let ignored: room::Seen = Arc::new(Mutex::new(Vec::new()));
                leaving.push(tokio::spawn(room::receive(
                    stream,
                    rest,
                    ignored,
                    tally.clone(),
                    None,
                )));
            } else {
                tokio::spawn(room::receive(
                    stream,
                    rest,
                    seen.clone(),
                    tally.clone(),
                    None,
                ));
            }
        }
    }
    wait_until(Duration::from_secs(120), || {
        tally.greeted.load(Ordering::Relaxed) >= o.clients
    })
    .await
    .with_context(|| format!("the room's snapshots: {}", tally.summary()))?;
    let room_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_room = rss_kib(o.server_pid)?;

    // The audience of the stage.
    let counting = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let audience = media::audience(&o.base, &o.event, o.subscribers, counting.clone()).await?;
    let audience_s = started.elapsed().as_secs_f64();

    // The room's activity runs while the publisher sends.
    let stop = Arc::new(AtomicBool::new(false));
    let sent_chat = Arc::new(AtomicUsize::new(0));
    let activity = tokio::spawn(activity(
        members,
        leaving,
        Churn {
            addr: addr.clone(),
            path: path.clone(),
            base: o.base.clone(),
            tally: tally.clone(),
        },
        stop.clone(),
        sent_chat.clone(),
    ));
    counting.store(true, Ordering::Relaxed);
    let cpu_before = cpu_ticks(o.server_pid)?;
    let own_before = cpu_ticks(std::process::id())?;
    let sending = Instant::now();
    let frames = media::publish(&o.base, &o.event, &o.key, Duration::from_secs(o.seconds)).await?;
    let cpu = cpu_ticks(o.server_pid)?.saturating_sub(cpu_before);
    let own = cpu_ticks(std::process::id())?.saturating_sub(own_before);
    let wall = sending.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let churns = activity.await??;
    tokio::time::sleep(Duration::from_millis(500)).await;
    counting.store(false, Ordering::Relaxed);
    let rss_after = rss_kib(o.server_pid)?;

    // Every chat message should reach every client that stayed (the members and the
    // guests who were never going to leave).
    let messages = sent_chat.load(Ordering::Relaxed);
    let stayed = o.clients - leavers;
    let _ = wait_until(Duration::from_secs(10), || {
        seen.lock().unwrap()[..messages]
            .iter()
            .all(|v| v.len() >= stayed)
    })
    .await;
    let (short, latencies): (Vec<String>, Vec<u64>) = {
        let seen = seen.lock().unwrap();
        let measured = &seen[..messages];
        (
            measured
                .iter()
                .enumerate()
                .filter(|(_, v)| v.len() < stayed)
                .take(10)
                .map(|(i, v)| format!("#{i} reached {}", v.len()))
                .collect(),
            measured.iter().flatten().copied().collect(),
        )
    };
    let delivered = latencies.len();
    let (p50, p99, max) = room::percentiles(latencies);
    let (lost_mean, lost_worst) = media::losses(&audience, frames);
    let share = |ticks: u64| ticks as f64 / clock_ticks_per_sec() / wall * 100.0;
    println!(
        "room {clients} ({members} members): snapshots for all in {room_s:.1} s; server memory +{room_mem} KiB",
        clients = o.clients,
        members = o.cookies.len(),
        room_mem = rss_room.saturating_sub(rss_before),
    );
    println!(
        "stage {n} subscribers: connected in {audience_s:.1} s; frames lost mean {lost_mean:.2}%, worst {lost_worst:.2}% ({v} video + {a} audio sent in {wall:.1} s)",
        n = o.subscribers,
        v = frames.0,
        a = frames.1,
    );
    println!(
        "chat: {messages} messages ({CHAT_PER_S}/s) to {stayed} who stayed: {pct:.2}% delivered{short}, latency p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; {churns} guests left and were replaced; {}; members' actions refused: {:?}",
        tally.summary(),
        tally.refused.lock().unwrap(),
        short = if short.is_empty() {
            String::new()
        } else {
            format!(" (short: {})", short.join(", "))
        },
        pct = if messages == 0 {
            0.0
        } else {
            delivered as f64 * 100.0 / (messages * stayed) as f64
        },
    );
    println!(
        "server: CPU {cpu:.1}% of one core; memory {rss_after} KiB resident ({per:.0} KiB per subscriber over the room){cgroup}",
        cpu = share(cpu),
        per = rss_after.saturating_sub(rss_room) as f64 / o.subscribers.max(1) as f64,
        cgroup = o
            .memory_cgroup
            .as_deref()
            .map(memory_cgroup)
            .unwrap_or_default(),
    );
    let own = share(own);
    println!(
        "load generator: CPU {own:.0}% of its core{}",
        if own > 90.0 {
            " (near its limit: the losses may be the load generator's)"
        } else {
            ""
        }
    );
    Ok(())
}

/// The cgroup's peak memory and how often it refused to grow.
fn memory_cgroup(dir: &str) -> String {
    let read = |f: &str| {
        std::fs::read_to_string(format!("{dir}/{f}"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    match (
        read("memory.max_usage_in_bytes"),
        read("memory.limit_in_bytes"),
        read("memory.failcnt"),
    ) {
        (Some(peak), Some(limit), Some(fails)) => format!(
            "; cgroup peak {} MiB of {} MiB, {fails} allocations refused",
            peak >> 20,
            limit >> 20
        ),
        _ => format!("; the cgroup {dir} could not be read"),
    }
}

/// Where newcomers connect.
struct Churn {
    addr: String,
    path: String,
    base: String,
    tally: Arc<room::Tally>,
}

/// Every 100 ms, the members' share of chat, questions, hands and reactions, and guests
/// leaving and arriving, until told to stop. Returns how many guests were replaced.
async fn activity(
    members: Vec<mpsc::Sender<Vec<u8>>>,
    mut leaving: Vec<tokio::task::JoinHandle<()>>,
    churn: Churn,
    stop: Arc<AtomicBool>,
    sent_chat: Arc<AtomicUsize>,
) -> anyhow::Result<usize> {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n = 0u64;
    let mut raised = vec![false; members.len()];
    let mut replaced = 0;
    let mut next = 0usize;
    let mut pick = || {
        next = (next + 1) % members.len();
        next
    };
    let send = |who: usize, kind: &str, data: String| {
        let frame = room::client_frame(
            0x1,
            format!(r#"{{"type":"{kind}","data":{data}}}"#).as_bytes(),
        );
        // A member whose queue is full is behind: skip rather than wait.
        let _ = members[who].try_send(frame);
    };
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        // Spread each per-second rate over the ten ticks.
        let due = |per_s: u64| (n * per_s / 10) - ((n - 1) * per_s / 10);
        for _ in 0..due(CHAT_PER_S) {
            let m = sent_chat.fetch_add(1, Ordering::Relaxed);
            if m >= MAX_MESSAGES {
                bail!("the run sent more chat messages than it can measure");
            }
            send(
                pick(),
                "chat",
                format!(r#"{{"text":"bench {m} {}"}}"#, now_us()),
            );
        }
        if (n as f64 * QUESTIONS_PER_S / 10.0).floor()
            > ((n - 1) as f64 * QUESTIONS_PER_S / 10.0).floor()
        {
            send(
                pick(),
                "ask",
                format!(r#"{{"text":"Question {n}: how does this scale to a thousand people?"}}"#),
            );
        }
        for _ in 0..due(HANDS_PER_S) {
            let who = pick();
            let kind = if raised[who] {
                "lower_hand"
            } else {
                "raise_hand"
            };
            raised[who] = !raised[who];
            send(who, kind, "{}".into());
        }
        for _ in 0..due(REACTIONS_PER_S) {
            send(pick(), "react", r#"{"emoji":"👏"}"#.into());
        }
        for _ in 0..due(CHURN_PER_S) {
            if let Some(gone) = leaving.pop() {
                gone.abort();
                let (stream, rest) =
                    room::open(&churn.addr, &churn.path, &churn.base, None).await?;
                let ignored: room::Seen = Arc::new(Mutex::new(Vec::new()));
                tokio::spawn(room::receive(
                    stream,
                    rest,
                    ignored,
                    churn.tally.clone(),
                    None,
                ));
                replaced += 1;
            }
        }
    }
    Ok(replaced)
}
