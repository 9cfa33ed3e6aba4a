//! Two independent in-process workers over durable tables:
//!
//! - the **job runner** claims due rows of `jobs` (reminders, fan-outs, end-of-session warnings,
//!   the automatic stop, clean-up) and runs each through its feature's handler;
//! - the **mail worker** claims due rows of `outbox` and delivers them at the configured rate.
//!
//! A third worker composes recordings (jobs of kind [`kinds::RECORDING`]), which take minutes:
//! they never hold up a reminder either.
//!
//! They never wait for each other, so a backlog of any number of mails cannot delay a timer.
//! Each job and mail runs behind a panic guard: a panic is recorded as a failed attempt,
//! retried with backoff and dead-lettered after a few tries, and the worker goes on. Everything
//! is idempotent, so work interrupted by a crash is simply done again after restart.
//!
//! Tests start the app without the workers and drive them step by step with
//! [`run_next_job`], [`deliver_next`] and the `*_due` helpers.

mod kinds;

use std::{panic::AssertUnwindSafe, time::Duration};

use futures_util::FutureExt;

use crate::{
    features::{
        Core,
        email::{self, Rendered},
    },
    store::{jobs::JobRow, outbox::OutboxRow},
};

pub use kinds::{Job, RECORDING};

/// Which jobs a worker takes: everything but recordings, or recordings only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    General,
    Recordings,
}

/// How long a claimed job or mail is ours before another worker may take it over.
const LEASE_MS: i64 = 5 * 60_000;
/// After this many failed attempts a mail or a job is dead-lettered.
pub const MAX_ATTEMPTS: i32 = 6;
/// How often an idle worker looks for due work.
const TICK: Duration = Duration::from_millis(250);

/// The two background workers; dropping this stops nothing, [`Workers::stop`] does.
pub struct Workers {
    jobs: tokio::task::JoinHandle<()>,
    recordings: tokio::task::JoinHandle<()>,
    mail: tokio::task::JoinHandle<()>,
}

impl Workers {
    pub fn spawn(core: &Core) -> Workers {
        Workers {
            jobs: tokio::spawn(job_runner(core.clone(), Lane::General)),
            recordings: tokio::spawn(job_runner(core.clone(), Lane::Recordings)),
            mail: tokio::spawn(mail_worker(core.clone())),
        }
    }

    pub fn stop(self) {
        self.jobs.abort();
        self.recordings.abort();
        self.mail.abort();
    }
}

async fn job_runner(core: Core, lane: Lane) {
    loop {
        loop {
            // Guarded twice over: a handler's panic is a failed attempt inside run_next_job;
            // anything else that panicked here must not end the worker either.
            match guarded(run_next_job_in(&core, lane)).await {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error.cause_chain = ?e, "job runner step failed; retrying");
                    break;
                }
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

async fn mail_worker(core: Core) {
    let mut pacer = Pacer::new(core.config.mail_rate_per_second);
    loop {
        loop {
            pacer.ready().await;
            let started = tokio::time::Instant::now();
            match Box::pin(guarded(deliver_next(&core))).await {
                Ok(Some(d)) => pacer.record(d, started),
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error.cause_chain = ?e, "mail worker step failed; retrying");
                    break;
                }
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Keeps mail sends at most `rate` per second. Only mail that reached the transport counts;
/// the pause runs from the start of the previous send, so a slow transport is not slowed twice.
pub struct Pacer {
    pause: Duration,
    next: Option<tokio::time::Instant>,
}

impl Pacer {
    pub fn new(rate_per_second: f64) -> Pacer {
        Pacer {
            pause: Duration::from_secs_f64(1.0 / rate_per_second),
            next: None,
        }
    }

    /// Waits until another send is allowed (not at all when that time has passed: a deadline
    /// already behind us costs no timer tick).
    pub async fn ready(&mut self) {
        if let Some(at) = self.next.take()
            && at > tokio::time::Instant::now()
        {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Records what a delivery that began at `started` did.
    pub fn record(&mut self, delivery: Delivery, started: tokio::time::Instant) {
        if delivery.used_transport() {
            self.next = Some(started + self.pause);
        }
    }
}

/// What happened to one claimed job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Failed (an error or a panic); retried later, or dead when out of attempts.
    Failed {
        error: String,
        dead: bool,
    },
}

/// Claims the next due job (not a recording's) and runs it. None when no job is due.
pub async fn run_next_job(core: &Core) -> anyhow::Result<Option<(JobRow, JobOutcome)>> {
    run_next_job_in(core, Lane::General).await
}

/// Claims the next due job of `lane` and runs it, keeping its lease while it runs.
pub async fn run_next_job_in(
    core: &Core,
    lane: Lane,
) -> anyhow::Result<Option<(JobRow, JobOutcome)>> {
    let now = core.clock.now_ms();
    let only = lane == Lane::Recordings;
    let Some(row) = core
        .store
        .claim_job(now, now + LEASE_MS, RECORDING, only)
        .await?
    else {
        return Ok(None);
    };
    let work = async {
        match Job::decode(&row.kind, &row.payload) {
            Ok(job) => guarded(job.run(core)).await,
            Err(e) => Err(e),
        }
    };
    let keep = async {
        loop {
            tokio::time::sleep(Duration::from_millis(
                u64::try_from(LEASE_MS / 3).unwrap_or(60_000),
            ))
            .await;
            let until = core.clock.now_ms().saturating_add(LEASE_MS);
            if let Err(e) = core.store.extend_lease(&row.id, until).await {
                tracing::warn!(job.id = %row.id, error = %e, "job lease not extended");
            }
        }
    };
    let result = tokio::select! {
        r = work => r,
        () = keep => unreachable!("the lease keeper never ends"),
    };
    let outcome = match result {
        Ok(()) => {
            core.store.finish_job(&row.id, row.run_at).await?;
            JobOutcome::Done
        }
        Err(e) => {
            let error = format!("{e:#}");
            let dead = row.attempts >= MAX_ATTEMPTS;
            metrics::counter!("meetstage_jobs_failed_total", "kind" => row.kind.clone())
                .increment(1);
            let retry =
                (!dead).then(|| core.clock.now_ms().saturating_add(backoff_ms(row.attempts)));
            if dead {
                tracing::error!(job.id = %row.id, job.kind = %row.kind, job.attempts = row.attempts, error, "job dead-lettered");
            } else {
                tracing::warn!(job.id = %row.id, job.kind = %row.kind, job.attempts = row.attempts, error, "job failed; will retry");
            }
            core.store
                .fail_job(&row.id, retry, &error, core.clock.now_ms())
                .await?;
            JobOutcome::Failed { error, dead }
        }
    };
    Ok(Some((row, outcome)))
}

/// What happened to one claimed mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Not sent on purpose (event cancelled, account deleted, unsubscribed, …).
    Skipped,
    /// The transport or the renderer failed; retried later or dead.
    Failed {
        reached_transport: bool,
    },
}

impl Delivery {
    fn used_transport(self) -> bool {
        matches!(
            self,
            Delivery::Sent
                | Delivery::Failed {
                    reached_transport: true
                }
        )
    }
}

/// Claims the next due mail and delivers it (no pacing: the mail worker paces). None when
/// nothing is due.
pub async fn deliver_next(core: &Core) -> anyhow::Result<Option<Delivery>> {
    let now = core.clock.now_ms();
    let Some(row) = core.store.claim_mail(now, now + LEASE_MS).await? else {
        return Ok(None);
    };
    // Boxed: rendering and sending hold a large future (the mail transports).
    let delivery = match Box::pin(guarded(deliver(core, &row))).await {
        Ok(d) => d,
        Err(e) => {
            fail(core, &row, &format!("{e:#}"), false).await?;
            Delivery::Failed {
                reached_transport: false,
            }
        }
    };
    Ok(Some(delivery))
}

/// Runs every job that is due now, recordings last; returns how many ran. For tests and
/// the CLI.
pub async fn run_due_jobs(core: &Core) -> anyhow::Result<usize> {
    let mut n = 0;
    // Until both lanes are empty: a recording that becomes ready schedules general jobs.
    loop {
        let before = n;
        for lane in [Lane::General, Lane::Recordings] {
            while run_next_job_in(core, lane).await?.is_some() {
                n += 1;
            }
        }
        if n == before {
            return Ok(n);
        }
    }
}

/// Delivers every mail that is due now, unpaced; returns how many were handled.
pub async fn deliver_due(core: &Core) -> anyhow::Result<usize> {
    let mut n = 0;
    while deliver_next(core).await?.is_some() {
        n += 1;
    }
    Ok(n)
}

/// Runs a job, a delivery or a relay; a panic inside becomes an error like any other failure.
pub(crate) async fn guarded<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(anyhow::anyhow!("panicked: {what}"))
        }
    }
}

/// 30 s, 1 min, 2 min, … capped at an hour.
fn backoff_ms(attempts: i32) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    (30_000_i64 << exp).min(3_600_000)
}

/// Renders and sends one mail.
async fn deliver(core: &Core, row: &OutboxRow) -> anyhow::Result<Delivery> {
    let rendered = match email::render(core, row).await {
        Ok(r) => r,
        Err(e) => {
            fail(core, row, &format!("could not render: {e}"), false).await?;
            return Ok(Delivery::Failed {
                reached_transport: false,
            });
        }
    };
    let (to, content) = match rendered {
        Rendered::Skip(reason) => {
            core.store.mark_mail_skipped(&row.id, reason).await?;
            return Ok(Delivery::Skipped);
        }
        Rendered::Send { to, content } => (to, content),
    };
    match core.mailer.send(&core.config, &row.id, &to, *content).await {
        Ok(()) => {
            core.store
                .mark_mail_sent(&row.id, core.clock.now_ms())
                .await?;
            Ok(Delivery::Sent)
        }
        Err(e) => {
            fail(core, row, &e.to_string(), e.is_permanent()).await?;
            Ok(Delivery::Failed {
                reached_transport: true,
            })
        }
    }
}

async fn fail(core: &Core, row: &OutboxRow, error: &str, permanent: bool) -> anyhow::Result<()> {
    let attempts = row.attempts.saturating_add(1);
    let retry = (attempts < MAX_ATTEMPTS && !permanent)
        .then(|| core.clock.now_ms().saturating_add(backoff_ms(attempts)));
    tracing::warn!(mail.id = %row.id, mail.purpose = %row.purpose, mail.attempts = attempts, error, "mail delivery failed");
    if retry.is_none() {
        metrics::counter!("meetstage_mail_dead_total").increment(1);
    }
    core.store.mark_mail_failed(&row.id, error, retry).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error() {
        let r: anyhow::Result<()> = guarded(async { panic!("poisoned row") }).await;
        assert_eq!(r.unwrap_err().to_string(), "panicked: poisoned row");
        let r = guarded(async { Ok(7) }).await;
        assert_eq!(r.unwrap(), 7);
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(6), 960_000);
        assert_eq!(backoff_ms(100), 3_600_000);
    }

    /// Six sends at 5 per second span at least a second of (paused, virtual) time; skipped
    /// mail does not count against the rate.
    #[tokio::test(start_paused = true)]
    async fn the_pacer_keeps_to_the_rate() {
        let mut pacer = Pacer::new(5.0);
        let start = tokio::time::Instant::now();
        for _ in 0..6 {
            pacer.ready().await;
            pacer.record(Delivery::Sent, tokio::time::Instant::now());
            pacer.ready().await;
            pacer.record(Delivery::Skipped, tokio::time::Instant::now());
        }
        let spent = start.elapsed();
        assert!(spent >= Duration::from_millis(1000), "{spent:?}");
        assert!(spent < Duration::from_millis(1300), "{spent:?}");

        // A send slower than the pause is not slowed down again.
        let mut pacer = Pacer::new(5.0);
        let started = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        pacer.record(Delivery::Sent, started);
        let before = tokio::time::Instant::now();
        pacer.ready().await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
