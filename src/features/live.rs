//! The live event's clock: warnings 5 and 1 minutes before the scheduled end and the automatic
//! stop at the end, as jobs scheduled when the event goes live. The live room shows the
//! warnings; the stop ends the event even if nobody is left to press the button.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Core, Result,
    email::cancel_reminders,
    events::{EventView, Status, Transition, apply_transition},
};
use crate::{clock::from_ms, jobs::Job, realtime::Notice, store::NewJob};

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

/// When a session that goes live `now` stops: at its scheduled end, or after the grace
/// period when it starts that late.
pub fn stop_at(scheduled_end: i64, now: i64) -> i64 {
    scheduled_end.max(now + LATE_START_GRACE_MS)
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
    let heard = core.hub.publish(
        &p.event_id,
        Notice::EndingSoon {
            minutes_left: p.minutes_left,
            ends_at: p.ends_at,
        },
    );
    tracing::info!(event.id = %p.event_id, minutes_left = p.minutes_left, heard, "end warning");
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
pub(crate) fn transition_unschedules(event_id: &str, t: Transition) -> Vec<String> {
    match t {
        Transition::OpenGreenRoom => Vec::new(),
        Transition::GoLive => cancel_reminders(event_id),
        Transition::End => cancel_reminders(event_id)
            .into_iter()
            .chain(cancel_end_jobs(event_id))
            .collect(),
    }
}

/// What a live room is told when its event changes status.
pub(crate) fn status_notice(event_id: &str, status: Status) -> (String, Notice) {
    (
        event_id.to_string(),
        Notice::Status {
            status: status.as_str().to_string(),
        },
    )
}
