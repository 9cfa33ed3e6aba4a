//! The live event's clock: warnings 5 and 1 minutes before the end and the automatic stop at
//! the end, as jobs scheduled when the event goes live. The live room shows the warnings; the
//! stop ends the event even if nobody is left to press the button. Presenters may extend a
//! live event by 15, 30 or 60 minutes at a time, to 8 hours in all; that moves the jobs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ActResult, Ctx, Reply, chat};
use crate::{
    clock::from_ms,
    features::live::{
        Notice,
        protocol::{ClockView, Reason},
    },
    features::{
        Change, Core, Result,
        email::cancel_reminders,
        events::{EventView, Status, Transition, apply_transition},
    },
    jobs::Job,
    store::NewJob,
};

/// The longest an event may run, extensions included.
pub const MAX_MINUTES: i32 = 480;
/// What presenters may add at a time.
pub const EXTENSIONS: [u32; 3] = [15, 30, 60];

const END_WARNING: &str = "end_warning";
const AUTO_STOP: &str = "auto_stop";
const WARNINGS_MINUTES: [u32; 2] = [5, 1];
/// Going live after the scheduled end still gives the session this long.
pub const LATE_START_GRACE_MS: i64 = 5 * 60_000;

/// The payload of the warning and stop jobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndOfSession {
    pub event_id: String,
    pub ends_at: i64,
    #[serde(default)]
    pub minutes_left: u32,
}

fn key(kind: &str, event_id: &str, minutes: u32) -> String {
    format!("{kind}:{minutes}:{event_id}")
}

/// When a session of `minutes` that goes live `now` stops: at its scheduled end, or sooner
/// when it starts early (it runs its length, not longer), or after the grace period when it
/// starts that late.
pub fn stop_at(scheduled_end: i64, minutes: i32, now: i64) -> i64 {
    let length = i64::from(minutes).saturating_mul(60_000);
    scheduled_end
        .min(now.saturating_add(length))
        .max(now.saturating_add(LATE_START_GRACE_MS))
}

/// The warning and stop jobs for a session ending at `ends_at`; warnings already past are
/// left out. Scheduling again with another end replaces them (same keys).
pub fn end_jobs(event_id: &str, ends_at: i64, now: i64) -> (Vec<NewJob>, Vec<String>) {
    let mut jobs = Vec::new();
    let mut stale = Vec::new();
    for minutes in WARNINGS_MINUTES {
        let run_at = ends_at.saturating_sub(i64::from(minutes) * 60_000);
        let k = key(END_WARNING, event_id, minutes);
        if run_at > now {
            let warning = EndOfSession {
                event_id: event_id.into(),
                ends_at,
                minutes_left: minutes,
            };
            jobs.push(Job::EndWarning(warning).at(run_at, Some(k)));
        } else {
            stale.push(k);
        }
    }
    let stop = EndOfSession {
        event_id: event_id.into(),
        ends_at,
        minutes_left: 0,
    };
    jobs.push(Job::AutoStop(stop).at(ends_at, Some(key(AUTO_STOP, event_id, 0))));
    (jobs, stale)
}

/// Keys of every end job of an event, to drop them when it ends or is cancelled.
pub fn cancel_end_jobs(event_id: &str) -> Vec<String> {
    WARNINGS_MINUTES
        .iter()
        .map(|m| key(END_WARNING, event_id, *m))
        .chain([key(AUTO_STOP, event_id, 0)])
        .collect()
}

/// When a live session stops on its own: its scheduled end, or later after a late start.
pub async fn stops_at(core: &Core, event_id: &str) -> Result<Option<DateTime<Utc>>> {
    let at = core.store.job_run_at(&key(AUTO_STOP, event_id, 0)).await?;
    Ok(at.map(from_ms))
}

/// Job handler: tells the room how long is left, if the session is still live.
pub async fn end_warning(core: &Core, p: EndOfSession) -> anyhow::Result<()> {
    let Some(event) = core.store.event(&p.event_id).await? else {
        return Ok(());
    };
    if event.status != Status::Live.as_str() {
        return Ok(());
    }
    let now = core.clock.now_ms();
    let mut change = Change::new(now);
    change.notify(
        p.event_id.clone(),
        Notice::EndingSoon {
            minutes_left: p.minutes_left,
            ends_at: p.ends_at,
        },
    );
    let mut tx = core.store.begin().await?;
    let minutes = if p.minutes_left == 1 {
        "minute"
    } else {
        "minutes"
    };
    let text = format!("{} {minutes} left.", p.minutes_left);
    chat::system(&mut tx, &mut change, &p.event_id, &text).await?;
    core.commit(tx, change).await?;
    tracing::info!(event.id = %p.event_id, minutes_left = p.minutes_left, "end warning");
    Ok(())
}

/// Job handler: ends the session at its end. A session already ended (by hand, or by an
/// earlier run of this job) is left alone.
pub async fn auto_stop(core: &Core, p: EndOfSession) -> anyhow::Result<()> {
    let Some(row) = core.store.event(&p.event_id).await? else {
        return Ok(());
    };
    if apply_transition(core, &EventView::try_from(row)?, Transition::End).await? {
        tracing::info!(event.id = %p.event_id, "session stopped at its scheduled end");
    }
    Ok(())
}

/// Jobs a transition makes pointless.
pub fn transition_unschedules(event_id: &str, t: Transition) -> Vec<String> {
    match t {
        Transition::OpenGreenRoom => Vec::new(),
        Transition::GoLive => cancel_reminders(event_id),
        Transition::End => cancel_reminders(event_id)
            .into_iter()
            .chain(cancel_end_jobs(event_id))
            .collect(),
    }
}

/// The clock as the room shows it.
pub async fn view(core: &Core, event: &EventView) -> Result<ClockView> {
    let stops_at = match event.status {
        Status::Live => stops_at(core, &event.id)
            .await?
            .map(|t| t.timestamp_millis()),
        _ => None,
    };
    let left = MAX_MINUTES.saturating_sub(event.duration_minutes).max(0);
    Ok(ClockView {
        status: event.status.as_str().to_string(),
        starts_at: event.starts_at.timestamp_millis(),
        live_at: event.live_at.map(|t| t.timestamp_millis()),
        ends_at: event.ends_at.timestamp_millis(),
        stops_at,
        extendable_minutes: if event.status == Status::Live {
            u32::try_from(left).unwrap_or(0)
        } else {
            0
        },
        recording: event.status == Status::Live && event.record,
        server_now: core.clock.now_ms(),
    })
}

/// Adds `minutes` to a live event: its length, its automatic stop and its warnings move
/// together, in one transaction.
pub async fn extend(cx: &Ctx<'_>, minutes: u32) -> ActResult<Reply> {
    cx.require_presenter()?;
    if !EXTENSIONS.contains(&minutes) {
        return Err(Reason::BadDuration.into());
    }
    if cx.event.status != Status::Live {
        return Err(Reason::NotLive.into());
    }
    let added = i32::try_from(minutes).map_err(|_| Reason::BadDuration)?;
    let total = cx.event.duration_minutes.saturating_add(added);
    if total > MAX_MINUTES {
        return Err(Reason::TooLate.into());
    }
    let current = stops_at(cx.core, &cx.event.id)
        .await?
        .map_or(cx.event.ends_at.timestamp_millis(), |t| {
            t.timestamp_millis()
        });
    let ends_at = current.saturating_add(i64::from(minutes) * 60_000);
    let mut change = Change::new(cx.now);
    let (jobs, stale) = end_jobs(&cx.event.id, ends_at, cx.now);
    change.effects.jobs.extend(jobs);
    change.effects.unschedule.extend(stale);
    change.notify(&cx.event.id, Notice::Status);
    let mut tx = cx.core.store.begin().await?;
    tx.set_duration(&cx.event.id, total, cx.now).await?;
    let text = format!("{} added {minutes} minutes.", cx.who.name);
    chat::system(&mut tx, &mut change, &cx.event.id, &text).await?;
    tx.audit(
        cx.user,
        "room.extend",
        Some(&cx.event.id),
        &format!("+{minutes} min"),
        cx.now,
    )
    .await?;
    cx.core.commit(tx, change).await?;
    Ok(None)
}
