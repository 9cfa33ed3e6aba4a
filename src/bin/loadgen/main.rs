//! Live-room load generator, run as its own process beside a meetstage server (see
//! `bench/room_fanout.sh`). `seed` prepares a public live event on the server's database and
//! prints its id and a presenter's session cookie; `run` connects N receive-only guests,
//! has the presenter send chat messages, and measures how long each takes to reach everyone,
//! the server's CPU time per delivered message (from /proc) and its memory per idle
//! connection, then how one client that stops reading affects the others.
//!
//! `media` (media.rs) measures the embedded SFU the same way (see `bench/media_fanout.sh`),
//! and `capacity` (capacity.rs) both at once, with the room busy (see `bench/capacity.sh`).
//!
//! Bounded in count and time: every phase has a deadline, and the run fails rather than hang.

mod capacity;
mod media;
mod room;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// The same allocator as the server's, so the load generator keeps up with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, bail};
use tokio::{io::AsyncReadExt, net::TcpStream};

fn now_us() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros(),
    )
    .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.get(1).map(String::as_str) {
        Some("seed") => {
            seed(
                &arg("--data-dir").context("--data-dir")?,
                arg("--database-url"),
                !args.iter().any(|a| a == "--no-record"),
                arg("--members").map_or(Ok(0), |v| v.parse())?,
                arg("--cookies"),
            )
            .await
        }
        Some("run") => {
            let opts = room::RunOpts {
                base: arg("--url").context("--url http://127.0.0.1:PORT")?,
                event: arg("--event").context("--event ID")?,
                cookie: arg("--cookie").context("--cookie NAME=VALUE")?,
                clients: arg("--clients").map_or(Ok(1000), |v| v.parse())?,
                broadcasts: arg("--broadcasts").map_or(Ok(20), |v| v.parse())?,
                server_pid: arg("--server-pid").context("--server-pid")?.parse()?,
                metrics_token: arg("--metrics-token"),
            };
            room::run(opts).await
        }
        Some("media") => {
            media::run(media::MediaOpts {
                base: arg("--url").context("--url http://127.0.0.1:PORT")?,
                event: arg("--event").context("--event ID")?,
                key: arg("--key").context("--key STREAM_KEY")?,
                subscribers: arg("--subscribers").map_or(Ok(50), |v| v.parse())?,
                seconds: arg("--seconds").map_or(Ok(10), |v| v.parse())?,
                server_pid: arg("--server-pid").context("--server-pid")?.parse()?,
            })
            .await
        }
        Some("capacity") => {
            let cookies = std::fs::read_to_string(arg("--cookies").context("--cookies FILE")?)?;
            capacity::run(capacity::CapacityOpts {
                base: arg("--url").context("--url http://127.0.0.1:PORT")?,
                event: arg("--event").context("--event ID")?,
                key: arg("--key").context("--key STREAM_KEY")?,
                cookies: cookies.lines().map(str::to_string).collect(),
                clients: arg("--clients").map_or(Ok(1000), |v| v.parse())?,
                subscribers: arg("--subscribers").map_or(Ok(50), |v| v.parse())?,
                seconds: arg("--seconds").map_or(Ok(20), |v| v.parse())?,
                server_pid: arg("--server-pid").context("--server-pid")?.parse()?,
                memory_cgroup: arg("--memory-cgroup"),
            })
            .await
        }
        // The kernel's own cost of one small write per loopback socket, as a floor for the
        // server's CPU per delivery (bench/write_floor.sh).
        Some("floor-server") => {
            floor_server(arg("--clients").map_or(Ok(10_000), |v| v.parse())?).await
        }
        Some("floor-client") => {
            floor_client(arg("--clients").map_or(Ok(10_000), |v| v.parse())?).await
        }
        _ => bail!(
            "usage: loadgen seed --data-dir DIR [--database-url URL] [--no-record] [--members K --cookies FILE] | loadgen run --url URL --event ID --cookie C --server-pid PID [--clients N] [--broadcasts K] [--metrics-token T] | loadgen media --url URL --event ID --key K --server-pid PID [--subscribers N] [--seconds S] | loadgen capacity --url URL --event ID --key K --cookies FILE --server-pid PID [--clients N] [--subscribers N] [--seconds S] [--memory-cgroup DIR]"
        ),
    }
}

/// A public event, live, and a session for its organizer, written straight into the
/// server's database through the same features the pages use; with `members`, that many
/// registered members too, their session cookies written to `cookies`, one a line.
async fn seed(
    data_dir: &str,
    database_url: Option<String>,
    record: bool,
    members: usize,
    cookies: Option<String>,
) -> anyhow::Result<()> {
    use meetstage::{
        config::{Config, Options},
        features::{events, registrations},
    };
    let config = Config::from_options(Options {
        data_dir: Some(data_dir.into()),
        database_url,
        ..Options::default()
    })
    .map_err(|e| anyhow::anyhow!(e.0))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = meetstage::App::build(config, listener).await?;
    let core = app.core().clone();
    let now = core.clock.now_ms();
    let (token, session) = signed_in(&core, "organizer", "Bench Presenter", now).await?;
    let start = (core.clock.now() + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M");
    let event = events::create(
        &core,
        &session,
        &events::EventInput {
            title: "Benchmark".into(),
            description: String::new(),
            start_local: start.to_string(),
            time_zone: "UTC".into(),
            duration_minutes: "480".into(),
            capacity: String::new(),
            visibility: "public".into(),
        },
    )
    .await?;
    if !record {
        events::set_recording(&core, &session, &event.id, false).await?;
    }
    let name = meetstage::http::context::session_cookie_name(&core.config);
    let mut lines = String::new();
    for i in 0..members {
        let (token, member) = signed_in(&core, "member", &format!("Member {i}"), now).await?;
        registrations::register(&core, &member, &event.id).await?;
        lines.push_str(&format!("{name}={token}\n"));
    }
    if let Some(path) = cookies {
        std::fs::write(path, lines)?;
    }
    for t in [
        events::Transition::OpenGreenRoom,
        events::Transition::GoLive,
    ] {
        events::transition(&core, &session, &event.id, t).await?;
    }
    // The organizer's stream key, for the media benchmark's publisher (WHIP).
    let who = meetstage::features::live::admit(&core, &event, Some(&session.user))
        .await
        .map_err(|_| anyhow::anyhow!("the organizer is not admitted to their room"))?;
    let key = meetstage::features::live::presenters::new_stream_key(&core, &who).await?;
    println!("{} {name}={token} {key}", event.id);
    Ok(())
}

/// A verified user with `role` and a session: its token and the session.
async fn signed_in(
    core: &meetstage::features::Core,
    role: &str,
    name: &str,
    now: i64,
) -> anyhow::Result<(String, meetstage::features::accounts::Session)> {
    use meetstage::{features::accounts, store::accounts::NewUser};
    let id = meetstage::features::new_id();
    core.store
        .insert_user(NewUser {
            id: &id,
            email: &format!("bench-{id}@example.org"),
            display_name: name,
            password_hash: "",
            role,
            email_verified_at: Some(now),
            now,
        })
        .await?;
    let token = accounts::create_session(core, &id).await?;
    match accounts::authenticate(core, &token).await? {
        accounts::SessionState::Active(s) => Ok((token, s)),
        _ => bail!("a new session is not active"),
    }
}

async fn wait_until(limit: Duration, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            bail!("gave up after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// User plus system CPU time of a process, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("stat format")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

/// Linux reports CPU times in USER_HZ, 100 per second on every mainstream build.
pub(crate) fn clock_ticks_per_sec() -> f64 {
    100.0
}

pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

const FLOOR_ADDR: &str = "127.0.0.1:19999";

/// Accepts N connections, then writes one 110-byte message to each, 20 times, on one thread;
/// prints the process's CPU time per write.
async fn floor_server(n: usize) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(FLOOR_ADDR).await?;
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let (s, _) = listener.accept().await?;
        s.set_nodelay(true)?;
        sockets.push(s);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let msg = [b'x'; 110];
    let pid = std::process::id();
    let before = cpu_ticks(pid)?;
    let mut writes = 0u64;
    for _ in 0..20 {
        for s in &sockets {
            if s.try_write(&msg).is_ok() {
                writes += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ticks = cpu_ticks(pid)? - before;
    let us = ticks as f64 * 1e6 / clock_ticks_per_sec() / writes as f64;
    println!(
        "kernel floor            {us:.2} µs of CPU per 110-byte write ({writes} writes to {n} sockets)"
    );
    Ok(())
}

/// Connects N sockets to the floor server and reads everything.
async fn floor_client(n: usize) -> anyhow::Result<()> {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(FLOOR_ADDR).await?;
        tasks.push(tokio::spawn(async move {
            let mut b = [0u8; 4096];
            while s.read(&mut b).await.unwrap_or(0) > 0 {}
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
