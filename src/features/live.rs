//! The live event's clock: warnings 5 and 1 minutes before the scheduled end and the automatic
//! stop at the end, as jobs scheduled when the event goes live. The live room shows the
//! warnings; the stop ends the event even if nobody is left to press the button.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Core, Result,
    email::cancel_reminders,
    events::{EventView, Status, Transition, apply_transition},
};
use crate::{clock::from_ms, realtime::Notice, store::NewJob};

pub const JOB_END_WARNING: &str = "end_warning";
pub const JOB_AUTO_STOP: &str = "auto_stop";
const WARNINGS_MINUTES: [u32; 2] = [5, 1];
/// Going live after the scheduled end still gives the session this long.
pub const LATE_START_GRACE_MS: i64 = 5 * 60_000;

#[derive(Debug, Serialize, Deserialize)]
struct EndPayload {
    event_id: String,
    ends_at: i64,
    #[serde(default)]
    minutes_left: u32,
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
        let run_at = ends_at - i64::from(minutes) * 60_000;
        let k = key(JOB_END_WARNING, event_id, minutes);
        if run_at > now {
            jobs.push(NewJob {
                kind: JOB_END_WARNING,
                dedupe_key: Some(k),
                payload: json!(EndPayload {
                    event_id: event_id.into(),
                    ends_at,
                    minutes_left: minutes,
                })
                .to_string(),
                run_at,
            });
        } else {
            stale.push(k);
        }
    }
    jobs.push(NewJob {
        kind: JOB_AUTO_STOP,
        dedupe_key: Some(key(JOB_AUTO_STOP, event_id, 0)),
        payload: json!(EndPayload {
            event_id: event_id.into(),
            ends_at,
            minutes_left: 0,
        })
        .to_string(),
        run_at: ends_at,
    });
    (jobs, stale)
}

/// Keys of every end job of an event, to drop them when it ends or is cancelled.
pub fn cancel_end_jobs(event_id: &str) -> Vec<String> {
    WARNINGS_MINUTES
        .iter()
        .map(|m| key(JOB_END_WARNING, event_id, *m))
        .chain([key(JOB_AUTO_STOP, event_id, 0)])
        .collect()
}

/// When a live session stops on its own: its scheduled end, or later after a late start.
pub async fn stops_at(core: &Core, event_id: &str) -> Result<Option<DateTime<Utc>>> {
    let at = core
        .store
        .job_run_at(&key(JOB_AUTO_STOP, event_id, 0))
        .await?;
    Ok(at.map(from_ms))
}

/// Job handler: tells the room how long is left, if the session is still live.
pub async fn end_warning(core: &Core, payload: &str) -> anyhow::Result<()> {
    let p: EndPayload = serde_json::from_str(payload)?;
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
pub async fn auto_stop(core: &Core, payload: &str) -> anyhow::Result<()> {
    let p: EndPayload = serde_json::from_str(payload)?;
    let Some(row) = core.store.event(&p.event_id).await? else {
        return Ok(());
    };
    if apply_transition(core, &EventView::from(row), Transition::End).await? {
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

pub(crate) fn announce(core: &Core, event_id: &str, status: Status) {
    core.hub.publish(
        event_id,
        Notice::Status {
            status: status.as_str().to_string(),
        },
    );
}
