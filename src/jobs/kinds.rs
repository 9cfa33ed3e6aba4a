//! Every kind of job, with its typed payload. A row's `kind` and `payload` columns are this
//! enum encoded; a row that does not decode fails loudly (and is dead-lettered), it never
//! runs as something else. Each handler lives with its feature.

use anyhow::Context;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    features::{
        Core, accounts,
        email::{self, FanOut},
        live::{self, EndOfSession, stage::StageJob},
        recordings,
    },
    store::NewJob,
};

/// The kind of the jobs that compose recordings: they run on a worker of their own.
pub const RECORDING: &str = "recording";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// Deletes expired sessions and account tokens, then schedules itself again.
    Cleanup,
    /// A reminder to every registrant; dropped once the event started or moved.
    Reminder(FanOut),
    /// A mail to every registrant now (changed, cancelled, we're live, recap).
    NotifyRegistrants(FanOut),
    /// "N minutes left" to the live room.
    EndWarning(EndOfSession),
    /// Ends the live session at its end.
    AutoStop(EndOfSession),
    /// One step of a remote stage's lifecycle (create, record, close, disconnect, reconcile).
    Stage(StageJob),
    /// Writes (and pushes) the static archive of past public events again.
    Publish,
    /// Composes an event's recording after the end (its own worker: it takes minutes).
    Recording(recordings::Process),
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Cleanup => "cleanup",
            Job::Reminder(_) => "reminder",
            Job::NotifyRegistrants(_) => "notify_registrants",
            Job::EndWarning(_) => "end_warning",
            Job::AutoStop(_) => "auto_stop",
            Job::Stage(_) => "stage",
            Job::Publish => "publish",
            Job::Recording(_) => RECORDING,
        }
    }

    fn payload(&self) -> String {
        fn json(v: &impl Serialize) -> String {
            serde_json::to_string(v).expect("job payloads are plain data")
        }
        match self {
            Job::Cleanup | Job::Publish => "{}".into(),
            Job::Reminder(f) | Job::NotifyRegistrants(f) => json(f),
            Job::EndWarning(p) | Job::AutoStop(p) => json(p),
            Job::Stage(s) => json(s),
            Job::Recording(r) => json(r),
        }
    }

    /// The job as a row to schedule at `run_at`; with a dedupe key, scheduling again replaces
    /// the earlier row.
    pub fn at(&self, run_at: i64, dedupe_key: Option<String>) -> NewJob {
        NewJob {
            kind: self.kind(),
            dedupe_key,
            payload: self.payload(),
            run_at,
        }
    }

    pub fn decode(kind: &str, payload: &str) -> anyhow::Result<Job> {
        fn parse<T: DeserializeOwned>(kind: &str, payload: &str) -> anyhow::Result<T> {
            serde_json::from_str(payload).with_context(|| format!("{kind} job payload"))
        }
        Ok(match kind {
            "cleanup" => Job::Cleanup,
            "reminder" => Job::Reminder(parse(kind, payload)?),
            "notify_registrants" => Job::NotifyRegistrants(parse(kind, payload)?),
            "end_warning" => Job::EndWarning(parse(kind, payload)?),
            "auto_stop" => Job::AutoStop(parse(kind, payload)?),
            "stage" => Job::Stage(parse(kind, payload)?),
            "publish" => Job::Publish,
            RECORDING => Job::Recording(parse(kind, payload)?),
            other => anyhow::bail!("unknown job kind {other:?}"),
        })
    }

    pub(super) async fn run(self, core: &Core) -> anyhow::Result<()> {
        match self {
            Job::Cleanup => accounts::cleanup(core).await,
            Job::Reminder(f) => email::fan_out(core, f, true).await,
            Job::NotifyRegistrants(f) => email::fan_out(core, f, false).await,
            Job::EndWarning(p) => live::end_warning(core, p).await,
            Job::AutoStop(p) => live::auto_stop(core, p).await,
            Job::Stage(s) => live::stage::run(core, s).await,
            Job::Recording(r) => recordings::process(core, r).await,
            Job::Publish => match &core.config.publish {
                Some(target) => {
                    let done = crate::publish::run(core, target).await?;
                    tracing::info!(
                        events = done.events,
                        pushed = done.pushed,
                        "archive published"
                    );
                    Ok(())
                }
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_garbage_is_refused() {
        let fan = FanOut {
            event_id: "e".into(),
            purpose: email::Purpose::Reminder1h,
            version: 3,
            starts_at: Some(9),
        };
        let end = EndOfSession {
            event_id: "e".into(),
            ends_at: 5,
            minutes_left: 1,
        };
        for job in [
            Job::Cleanup,
            Job::Publish,
            Job::Recording(recordings::Process {
                event_id: "e".into(),
            }),
            Job::Reminder(fan.clone()),
            Job::NotifyRegistrants(fan),
            Job::EndWarning(end.clone()),
            Job::AutoStop(end),
            Job::Stage(StageJob {
                event_id: "e".into(),
                step: live::stage::Step::Disconnect {
                    user_id: "u".into(),
                    reason: "kicked".into(),
                    chat: true,
                },
            }),
        ] {
            let row = job.at(0, None);
            assert_eq!(Job::decode(row.kind, &row.payload).unwrap(), job);
        }
        assert!(Job::decode("reminder", "{}").is_err());
        assert!(Job::decode("launch_rockets", "{}").is_err());
    }
}
