//! The stage jobs as they run: open, record, close, disconnect, unseat, reconcile, each
//! idempotent and recorded in `stages`, so a job that runs again after a crash does what is
//! left. A step IVS refuses for its quota is said to the presenters and tried again.

use super::{RECONCILE_EVERY_MS, StageJob, Step, any_remote, job, may_send, remote};
use crate::{
    features::{Core, Result, costs, events::Status},
    media::ivs::{self, Composing, Ivs},
    store::stages::StageRow,
};

/// Job handler.
pub async fn run(core: &Core, j: StageJob) -> anyhow::Result<()> {
    if !any_remote(core) {
        // Written under a remote provider, run after a switch to the embedded ones: there is
        // no client to call, and the rows say what an operator must clean up.
        tracing::warn!(event.id = %j.event_id, "a stage job outlived the IVS provider; skipped");
        return Ok(());
    }
    let now = core.clock.now_ms();
    let Some(event) = core.store.event(&j.event_id).await? else {
        return Ok(());
    };
    let status = Status::parse(&event.status);
    let over = matches!(status, Some(Status::Ended | Status::Cancelled));
    let ivs = remote(core);
    let chat = core.chat.ivs();
    match j.step {
        Step::Open => {
            if matches!(status, Some(Status::Staging | Status::Live)) {
                if let Some(ivs) = ivs
                    && let Err(e) = open(core, ivs, &j.event_id, now).await
                {
                    return over_quota(core, &j, e, NO_STAGE, now).await;
                }
                if let Some(chat) = chat {
                    open_chat(core, chat, &j.event_id, now).await?;
                }
            }
        }
        Step::Record => {
            if let Some(ivs) = ivs
                && status == Some(Status::Live)
            {
                let stage = match open(core, ivs, &j.event_id, now).await {
                    Ok(stage) => stage,
                    Err(e) => return over_quota(core, &j, e, NO_STAGE, now).await,
                };
                if stage.composition_arn.is_none()
                    && let Err(e) = record(core, ivs, &stage, &format!("{}-live", j.event_id)).await
                {
                    return over_quota(core, &j, e, NO_RECORDING, now).await;
                }
            }
        }
        Step::Close => close_all(core, &j.event_id, now).await?,
        Step::Disconnect {
            user_id,
            reason,
            chat: from_chat,
        } => {
            if let Some(ivs) = ivs
                && let Some(stage) = core.store.stage(&j.event_id).await?
                && stage.closed_at.is_none()
            {
                for p in core
                    .store
                    .stage_participants_of(&j.event_id, &user_id, stage.created_at)
                    .await?
                {
                    ivs.disconnect(&stage.arn, &p, &reason).await?;
                }
            }
            if let Some(chat) = chat
                && from_chat
                && let Some(room) = core.store.chat_room(&j.event_id).await?
            {
                chat.disconnect(&room, &user_id, &reason).await?;
            }
        }
        Step::Unseat { user_id, cameras } => {
            if let Some(ivs) = ivs
                && let Some(stage) = core.store.stage(&j.event_id).await?
                && stage.closed_at.is_none()
                && !may_send(core, &j.event_id, &user_id, status == Some(Status::Live)).await?
            {
                for (p, screen, publisher) in core
                    .store
                    .stage_participants_with(&j.event_id, &user_id, stage.created_at)
                    .await?
                {
                    if publisher && (screen || cameras) {
                        ivs.disconnect(&stage.arn, &p, "no longer on stage").await?;
                        core.store
                            .set_stage_publisher(&j.event_id, &p, false)
                            .await?;
                    }
                }
            }
        }
        Step::LeaveChat { user_id, reason } => {
            if let Some(chat) = chat
                && let Some(room) = core.store.chat_room(&j.event_id).await?
            {
                chat.disconnect(&room, &user_id, &reason).await?;
            }
        }
        Step::Reconcile => {
            let Some(ivs) = ivs else { return Ok(()) };
            report_open_stages(core).await?;
            if over {
                close_all(core, &j.event_id, now).await?;
            } else if let Some(stage) = core.store.stage(&j.event_id).await?
                && stage.closed_at.is_none()
            {
                let live = status == Some(Status::Live);
                reconcile(core, ivs, &stage, live, event.viewer_cap, now).await?;
                core.store
                    .schedule_job(
                        &job(&j.event_id, Step::Reconcile, now + RECONCILE_EVERY_MS),
                        now,
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

/// How many stages are open (all instances'), for the alarm that warns before the account's
/// stage quota runs out; reported by every reconcile, so it follows stages opened and closed.
async fn report_open_stages(core: &Core) -> anyhow::Result<()> {
    let open = core.store.count_open_stages().await?;
    metrics::gauge!("meetstage_ivs_stages_open").set(open as f64);
    Ok(())
}

/// The event's open stage, created now if it has none.
async fn open(core: &Core, ivs: &Ivs, event_id: &str, now: i64) -> anyhow::Result<StageRow> {
    if let Some(stage) = core.store.stage(event_id).await?
        && stage.closed_at.is_none()
    {
        return Ok(stage);
    }
    let made = ivs.create_stage(event_id).await?;
    let row = StageRow {
        event_id: event_id.to_string(),
        arn: made.arn,
        whip_url: made.whip_url,
        events_url: made.events_url,
        composition_arn: None,
        created_at: now,
        closed_at: None,
    };
    if let Err(e) = core.store.put_stage(&row).await {
        // Unrecorded, nothing would ever delete it; the job's retry makes another.
        if let Err(d) = ivs.delete_stage(&row.arn).await {
            tracing::warn!(error = %d, stage.arn = %row.arn, "deleting an unrecorded IVS stage failed");
        }
        return Err(e.into());
    }
    tracing::info!(event.id = %event_id, stage.arn = %row.arn, "IVS stage created");
    core.store
        .schedule_job(
            &job(event_id, Step::Reconcile, now + RECONCILE_EVERY_MS),
            now,
        )
        .await?;
    Ok(row)
}

/// Starts a new composition from reconcile; one IVS refuses for its quota is said once to the
/// presenters and tried again at the next look.
async fn record_or_say(core: &Core, ivs: &Ivs, stage: &StageRow, now: i64) -> anyhow::Result<()> {
    let idempotency = format!("{}-{now}", stage.event_id);
    match record(core, ivs, stage, &idempotency).await {
        Err(e) if matches!(e.downcast_ref(), Some(ivs::IvsError::Quota(_))) => {
            tell_presenters_once(core, &stage.event_id, NO_RECORDING).await?;
            Ok(())
        }
        other => other,
    }
}

async fn record(core: &Core, ivs: &Ivs, stage: &StageRow, idempotency: &str) -> anyhow::Result<()> {
    // The organizer turned recording off before going live: no composition at all.
    if !core
        .store
        .event(&stage.event_id)
        .await?
        .is_some_and(|e| e.record)
    {
        return Ok(());
    }
    let Some(arn) = ivs
        .start_composition(&stage.arn, &stage.event_id, idempotency)
        .await?
    else {
        tracing::info!(event.id = %stage.event_id, "live; no IVS storage configuration, so not recorded");
        return Ok(());
    };
    core.store
        .set_composition(&stage.event_id, Some(&arn))
        .await?;
    // Every composition is kept: after the end their outputs are joined into the recording.
    core.store
        .add_composition(&arn, &stage.event_id, &stage.arn, core.clock.now_ms())
        .await?;
    tracing::info!(event.id = %stage.event_id, composition.arn = %arn, "recording started");
    Ok(())
}

/// The event's chat room on IVS, created now if it has none.
async fn open_chat(
    core: &Core,
    chat: &crate::chat::ivs::IvsChat,
    event_id: &str,
    now: i64,
) -> anyhow::Result<()> {
    if core.store.chat_room(event_id).await?.is_none() {
        let arn = chat.create_room(event_id).await?;
        if let Err(e) = core.store.put_chat_room(event_id, &arn, now).await {
            // As with a stage: an unrecorded room would be left behind.
            if let Err(d) = chat.delete_room(&arn).await {
                tracing::warn!(error = %d, room.arn = %arn, "deleting an unrecorded IVS chat room failed");
            }
            return Err(e.into());
        }
        tracing::info!(event.id = %event_id, room.arn = %arn, "IVS chat room created");
    }
    Ok(())
}

/// Everything remote of an event, gone: its stage and its chat room.
async fn close_all(core: &Core, event_id: &str, now: i64) -> anyhow::Result<()> {
    if let Some(ivs) = remote(core) {
        close(core, ivs, event_id, now).await?;
    }
    if let Some(chat) = core.chat.ivs()
        && let Some(room) = core.store.chat_room(event_id).await?
    {
        chat.delete_room(&room).await?;
        core.store.close_chat_room(event_id, now).await?;
        tracing::info!(event.id = %event_id, room.arn = %room, "IVS chat room deleted");
    }
    Ok(())
}

/// Stops the recording and deletes the stage; nothing is left running (or billed).
async fn close(core: &Core, ivs: &Ivs, event_id: &str, now: i64) -> anyhow::Result<()> {
    let Some(stage) = core.store.stage(event_id).await? else {
        return Ok(());
    };
    if stage.closed_at.is_some() {
        return Ok(());
    }
    if let Some(arn) = &stage.composition_arn {
        ivs.stop_composition(arn).await?;
    }
    ivs.delete_stage(&stage.arn).await?;
    // The minutes since the last look, as many still connected as then.
    sample(core, &stage, None, now).await?;
    core.store.close_stage(event_id, now).await?;
    tracing::info!(event.id = %event_id, stage.arn = %stage.arn, "IVS stage deleted");
    Ok(())
}

/// Disconnects whoever IVS reports connected but the room's rules no longer admit (banned),
/// or publishing without leave to; then looks after the recording.
async fn reconcile(
    core: &Core,
    ivs: &Ivs,
    stage: &StageRow,
    live: bool,
    viewer_cap: Option<i32>,
    now: i64,
) -> anyhow::Result<()> {
    let event_id = &stage.event_id;
    let presenters = super::super::presenter_ids(core, event_id).await?;
    // Everyone with a standing other than the default (banned, speaking, …), in one query,
    // however many are connected.
    let standings: std::collections::HashMap<String, _> = core
        .store
        .standings(event_id)
        .await?
        .into_iter()
        .map(|s| (s.user_id.clone(), s))
        .collect();
    // What each participant's newest token allows, as we minted it. IVS's `published` only
    // says a participant ever published: a speaker sent back to the audience whose page
    // exchanged its token watches on, and is neither cut off nor counted as sending.
    let minted = core
        .store
        .stage_publishers(event_id, stage.created_at)
        .await?;
    let connected = ivs.connected(&stage.arn).await?;
    sample(core, stage, Some(connected.len()), now).await?;
    if viewer_cap.is_some() {
        free_places(core, stage, &connected, now).await?;
    }
    let mut anyone_sending = false;
    for p in &connected {
        let standing = standings.get(&p.user_id);
        let banned = standing.is_some_and(|s| s.banned_at.is_some());
        let may_send =
            presenters.contains(&p.user_id) || (live && standing.is_some_and(|s| s.can_speak));
        // One we did not mint (or no longer know) is held to what IVS reports.
        let (screen, publisher) = minted
            .get(&p.participant_id)
            .copied()
            .unwrap_or((false, true));
        let reason = if banned {
            Some("banned from this event")
        } else if !may_send && (screen || (p.published && publisher)) {
            Some("not allowed to send on this stage")
        } else {
            None
        };
        match reason {
            Some(reason) => {
                tracing::warn!(event.id = %event_id, participant = %p.participant_id, reason, "disconnecting a participant the room does not admit");
                ivs.disconnect(&stage.arn, &p.participant_id, reason)
                    .await?;
            }
            None => anyone_sending |= p.published && may_send && publisher,
        }
    }
    if !live {
        return Ok(());
    }
    match &stage.composition_arn {
        Some(arn) => match ivs.composition(arn).await {
            Ok(Composing::Running) => {}
            // IVS stops a composition after a minute with nobody sending; a new one starts
            // when someone sends again (the recording comes in parts).
            Ok(Composing::Stopped) | Err(ivs::IvsError::NotFound) => {
                core.store.set_composition(event_id, None).await?;
                if anyone_sending {
                    record_or_say(core, ivs, stage, now).await?;
                }
            }
            Ok(Composing::Failed) => {
                metrics::counter!("meetstage_ivs_compositions_failed_total").increment(1);
                tracing::error!(event.id = %event_id, composition.arn = %arn, "IVS composition failed; the event is not being recorded");
                core.store.set_composition(event_id, None).await?;
                tell_presenters(
                    core,
                    event_id,
                    "Recording failed on Amazon IVS: this part of the event is not being recorded. \
                     It starts again when someone sends.",
                )
                .await?;
            }
            Err(e) => return Err(e.into()),
        },
        None if anyone_sending && ivs.records() => {
            record_or_say(core, ivs, stage, now).await?;
        }
        None => {}
    }
    Ok(())
}

/// Adds what the stage used since its last look to the month's usage (the costs the organizer
/// sees and the operator's ceiling): everyone connected, viewers too, as IVS bills.
async fn sample(core: &Core, stage: &StageRow, connected: Option<usize>, now: i64) -> Result<()> {
    let (month, ..) = costs::month_of(now);
    let count = connected.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut tx = core.store.begin().await?;
    tx.sample_stage(
        &stage.event_id,
        &month,
        now,
        count,
        stage.composition_arn.is_some(),
        costs::MAX_SAMPLE_GAP_MS,
    )
    .await?;
    core.commit(tx, crate::features::Change::new(now)).await?;
    Ok(())
}

/// How long a newly minted token may take to show up connected before its place is freed.
const JOIN_GRACE_MS: i64 = 2 * 60_000;

/// Frees the places under the viewer cap of watchers IVS no longer reports connected.
async fn free_places(
    core: &Core,
    stage: &StageRow,
    connected: &[ivs::Connected],
    now: i64,
) -> Result<()> {
    let here: std::collections::HashSet<&str> = connected
        .iter()
        .map(|p| p.participant_id.as_str())
        .collect();
    for (p, issued_at) in core.store.seats(&stage.event_id, stage.created_at).await? {
        if !here.contains(p.as_str()) && issued_at < now.saturating_sub(JOIN_GRACE_MS) {
            core.store.set_left(&stage.event_id, &p, Some(now)).await?;
        }
    }
    Ok(())
}

/// Tells the presenters (only them) what IVS would not do for their event, once: a quota
/// that is used up is retried every minute, and said the first time.
async fn tell_presenters_once(core: &Core, event_id: &str, text: &str) -> Result<()> {
    if core.store.presenters_told(event_id, text).await? {
        return Ok(());
    }
    tell_presenters(core, event_id, text).await
}

/// What the presenters are told when IVS's account quota stops a stage or a recording.
pub const NO_STAGE: &str = "Amazon IVS has no stage left for this event: this AWS account \
     runs as many stages as its quota allows. Media starts as soon as one is free (another \
     event ends) or the operator raises the quota; we keep trying every minute.";
pub const NO_RECORDING: &str = "Amazon IVS cannot record this event now: this AWS account \
     records as many events at once as its quota allows (5). Recording starts as soon as \
     another event's ends or the operator raises the quota; we keep trying every minute.";

/// How often a step IVS refused for its quota is tried again.
const QUOTA_RETRY_MS: i64 = 60_000;

/// A step IVS refused because the account's quota is used up: the presenters are told (once)
/// and the step runs again in a minute; any other failure fails the job (retried with backoff).
async fn over_quota(
    core: &Core,
    j: &StageJob,
    e: anyhow::Error,
    text: &str,
    now: i64,
) -> anyhow::Result<()> {
    if !matches!(e.downcast_ref(), Some(ivs::IvsError::Quota(_))) {
        return Err(e);
    }
    tracing::warn!(event.id = %j.event_id, error = %e, "IVS quota used up; trying again in a minute");
    tell_presenters_once(core, &j.event_id, text).await?;
    let again = job(
        &j.event_id,
        j.step.clone(),
        now.saturating_add(QUOTA_RETRY_MS),
    );
    core.store.schedule_job(&again, now).await?;
    Ok(())
}

/// A notice in the presenters' chat, in a transaction of its own (a job's finding, not a
/// person's action).
async fn tell_presenters(core: &Core, event_id: &str, text: &str) -> Result<()> {
    let mut change = crate::features::Change::new(core.clock.now_ms());
    let mut tx = core.store.begin().await?;
    super::super::chat::presenters_notice(&mut tx, &mut change, event_id, text).await?;
    core.commit(tx, change).await?;
    Ok(())
}
