//! The in-process job loop: one task that runs due jobs from the `jobs` table (reminders,
//! fan-outs, end-of-session warnings and the automatic stop) and delivers the mail outbox at
//! the configured rate. Everything it does is idempotent, so a job or mail interrupted by a
//! crash is simply done again after restart.

use std::time::Duration;

use anyhow::Context;

use crate::{
    features::{
        Core,
        email::{self, FanOut, JOB_NOTIFY_REGISTRANTS, JOB_REMINDER, Rendered},
        events::Status,
        live::{self, JOB_AUTO_STOP, JOB_END_WARNING},
    },
    store::outbox::NewMail,
};

/// How long a claimed job or mail is ours before another worker may take it over.
const LEASE_MS: i64 = 5 * 60_000;
/// After this many failed attempts a mail is dead-lettered.
pub const MAX_MAIL_ATTEMPTS: i32 = 6;
const FANOUT_BATCH: i64 = 500;
const TICK: Duration = Duration::from_millis(250);
/// Deletes expired sessions and account tokens, then schedules itself again.
pub const JOB_CLEANUP: &str = "cleanup";
const CLEANUP_EVERY_MS: i64 = 10 * 60_000;

/// Makes sure the recurring clean-up job exists (idempotent: one row, keyed `cleanup`).
pub async fn schedule_cleanup(core: &Core) -> anyhow::Result<()> {
    let now = core.clock.now_ms();
    core.store
        .schedule_job(JOB_CLEANUP, Some(JOB_CLEANUP), "{}", now, now)
        .await?;
    Ok(())
}

async fn cleanup(core: &Core) -> anyhow::Result<()> {
    let now = core.clock.now_ms();
    let removed = core.store.delete_expired(now).await?;
    if removed > 0 {
        tracing::info!(removed, "expired sessions and tokens deleted");
    }
    core.store
        .schedule_job(
            JOB_CLEANUP,
            Some(JOB_CLEANUP),
            "{}",
            now + CLEANUP_EVERY_MS,
            now,
        )
        .await?;
    Ok(())
}

/// Runs forever (until the task is aborted at shutdown).
pub async fn run(core: Core) {
    loop {
        if let Err(e) = run_due(&core).await {
            tracing::error!(error.cause_chain = ?e, "job loop failed; retrying");
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Runs every job that is due, then delivers every mail that is due. Returns how many of
/// each were handled; tests call it to drive the loop deterministically.
pub async fn run_due(core: &Core) -> anyhow::Result<(usize, usize)> {
    let mut jobs = 0;
    while let Some(job) = core
        .store
        .claim_job(core.clock.now_ms(), core.clock.now_ms() + LEASE_MS)
        .await?
    {
        jobs += 1;
        let outcome = match job.kind.as_str() {
            JOB_REMINDER | JOB_NOTIFY_REGISTRANTS => {
                fan_out(core, &job.payload, job.kind == JOB_REMINDER).await
            }
            JOB_END_WARNING => live::end_warning(core, &job.payload).await,
            JOB_AUTO_STOP => live::auto_stop(core, &job.payload).await,
            JOB_CLEANUP => cleanup(core).await,
            other => Err(anyhow::anyhow!("unknown job kind {other}")),
        };
        match outcome {
            Ok(()) => core.store.finish_job(&job.id, job.run_at).await?,
            Err(e) => {
                tracing::warn!(job.kind = %job.kind, job.attempts = job.attempts, error.cause_chain = ?e, "job failed; will retry");
                let retry = core.clock.now_ms() + backoff_ms(job.attempts);
                core.store
                    .retry_job(&job.id, retry, &format!("{e:#}"))
                    .await?;
            }
        }
    }
    let mut mails = 0;
    let pause = Duration::from_secs_f64(1.0 / core.config.mail_rate_per_second);
    while let Some(row) = core
        .store
        .claim_mail(core.clock.now_ms(), core.clock.now_ms() + LEASE_MS)
        .await?
    {
        mails += 1;
        // The rate limits what the transport sees; skipped mail costs it nothing. The pause
        // counts from the start of the send, so a slow transport is not slowed down twice.
        let started = tokio::time::Instant::now();
        if deliver(core, &row).await? {
            tokio::time::sleep_until(started + pause).await;
        }
    }
    Ok((jobs, mails))
}

/// 30 s, 1 min, 2 min, … capped at an hour.
fn backoff_ms(attempts: i32) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    (30_000_i64 << exp).min(3_600_000)
}

/// Mails every registered person of an event, in batches; an outbox row per person and
/// version, so running it again after a crash adds nothing twice.
async fn fan_out(core: &Core, payload: &str, is_reminder: bool) -> anyhow::Result<()> {
    let f: FanOut = serde_json::from_str(payload).context("fan-out payload")?;
    let Some(event) = core.store.event(&f.event_id).await? else {
        return Ok(());
    };
    if is_reminder {
        let now = core.clock.now_ms();
        // Never for a cancelled, started or ended event; never late.
        if event.status != Status::Scheduled.as_str()
            || f.starts_at != Some(event.starts_at)
            || now >= event.starts_at
        {
            return Ok(());
        }
    }
    let purpose = match f.purpose.as_str() {
        email::REMINDER_24H => email::REMINDER_24H,
        email::REMINDER_1H => email::REMINDER_1H,
        email::EVENT_UPDATED => email::EVENT_UPDATED,
        email::EVENT_CANCELLED => email::EVENT_CANCELLED,
        email::EVENT_STARTED => email::EVENT_STARTED,
        email::RECAP => email::RECAP,
        other => anyhow::bail!("no fan-out for {other}"),
    };
    let mut after = String::new();
    loop {
        let users = core
            .store
            .registered_user_ids(&f.event_id, &after, FANOUT_BATCH)
            .await?;
        let Some(last) = users.last().cloned() else {
            break;
        };
        let now = core.clock.now_ms();
        let mails: Vec<NewMail> = users
            .iter()
            .map(|u| email::event_mail(purpose, &f.event_id, u, f.version, now))
            .collect();
        core.store.enqueue_mails(&mails).await?;
        after = last;
    }
    Ok(())
}

/// Renders and sends one mail; true if the transport was used.
async fn deliver(core: &Core, row: &crate::store::outbox::OutboxRow) -> anyhow::Result<bool> {
    let rendered = match email::render(core, row).await {
        Ok(r) => r,
        Err(e) => {
            fail(core, row, &format!("could not render: {e}"), false).await?;
            return Ok(false);
        }
    };
    let (to, content) = match rendered {
        Rendered::Skip(reason) => {
            core.store.mark_mail_skipped(&row.id, reason).await?;
            return Ok(false);
        }
        Rendered::Send { to, content } => (to, content),
    };
    match core.mailer.send(&core.config, &row.id, &to, *content).await {
        Ok(()) => {
            core.store
                .mark_mail_sent(&row.id, core.clock.now_ms())
                .await?
        }
        Err(e) => fail(core, row, &e.to_string(), e.is_permanent()).await?,
    }
    Ok(true)
}

async fn fail(
    core: &Core,
    row: &crate::store::outbox::OutboxRow,
    error: &str,
    permanent: bool,
) -> anyhow::Result<()> {
    let attempts = row.attempts + 1;
    let retry = (attempts < MAX_MAIL_ATTEMPTS && !permanent)
        .then(|| core.clock.now_ms() + backoff_ms(attempts));
    tracing::warn!(mail.id = %row.id, mail.purpose = %row.purpose, mail.attempts = attempts, error, "mail delivery failed");
    core.store.mark_mail_failed(&row.id, error, retry).await?;
    Ok(())
}
