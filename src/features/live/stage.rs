//! The stage: how pages join the event's media (their ticket), and, on a remote provider
//! (Amazon IVS), the stage's lifecycle as durable jobs. Each change that moves a stage — the
//! green room opening, going live, the end (by hand, automatic or a cancel), a kick, ban or
//! revoke — writes its stage job in the same transaction, so a crash between the commit and
//! the AWS call only delays the call: the job runs after restart. Every step is idempotent and
//! records what it did in `stages`. A reconcile job runs every minute while a stage is open: it
//! disconnects anyone IVS reports connected whom the room's rules no longer allow, restarts a
//! recording IVS stopped, reports a failed one, and closes a stage whose event is over.
//!
//! An IVS Chat room (chat_provider = ivs) lives alongside: made with the stage, deleted with
//! it, and a kick or ban disconnects the person from it too.
//!
//! The embedded SFU and the built-in chat need none of this: their state lives in the process
//! and each instance acts on the room's notices (`realtime`), so with neither remote no stage
//! jobs are written.

use serde::{Deserialize, Serialize};

use crate::{
    features::{
        Core, Error, Result,
        events::{EventView, Status, Transition},
        ids::EventId,
    },
    jobs::Job,
    media::{
        IvsScreen, MediaProvider, StageRole, Ticket,
        ivs::{self, Composing, Ivs},
    },
    store::{NewJob, stages::StageRow},
};

use super::Participant;

/// How often an open stage is checked against the room's rules.
pub const RECONCILE_EVERY_MS: i64 = 60_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageJob {
    pub event_id: String,
    pub step: Step,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Create the stage (the green room opened).
    Open,
    /// Start the composed recording (the event went live).
    Record,
    /// Stop the recording and delete the stage (the event ended or was cancelled).
    Close,
    /// End every media connection of a person (kicked, banned, off the stage, account
    /// closed). `chat` (jobs written before `LeaveChat` existed): their chat connections too.
    Disconnect {
        user_id: String,
        reason: String,
        #[serde(default)]
        chat: bool,
    },
    /// End a person's connections to the event's chat room (kicked, banned, account closed).
    LeaveChat { user_id: String, reason: String },
    /// A person may no longer send (no longer speaking or presenting). IVS cannot take a
    /// participant's right to publish back, only end it for good, so their shared screens
    /// end at once (`cameras` false) and, after a grace for the page to exchange its token
    /// for one that only watches (`cameras` true), any camera participant still holding a
    /// publishing token ends too. A page that exchanged keeps watching.
    Unseat { user_id: String, cameras: bool },
    /// Check the stage against the room's rules; runs again while the stage is open.
    Reconcile,
}

impl Step {
    fn key(&self) -> String {
        match self {
            Step::Open => "open".into(),
            Step::Record => "record".into(),
            Step::Close => "close".into(),
            Step::Disconnect { user_id, .. } => format!("disconnect:{user_id}"),
            Step::LeaveChat { user_id, .. } => format!("leave_chat:{user_id}"),
            Step::Unseat { user_id, cameras } => format!("unseat:{cameras}:{user_id}"),
            Step::Reconcile => "reconcile".into(),
        }
    }
}

fn job(event_id: &str, step: Step, run_at: i64) -> NewJob {
    let key = format!("stage:{event_id}:{}", step.key());
    Job::Stage(StageJob {
        event_id: event_id.to_string(),
        step,
    })
    .at(run_at, Some(key))
}

/// The media provider whose stages are remote, if this instance has one.
fn remote(core: &Core) -> Option<&Ivs> {
    match &core.media {
        MediaProvider::Ivs(ivs) => Some(ivs),
        MediaProvider::Embedded(_) => None,
    }
}

/// Whether anything of an event lives outside this process (IVS stage or chat room).
fn any_remote(core: &Core) -> bool {
    remote(core).is_some() || core.chat.ivs().is_some()
}

/// The stage jobs a status change writes with it.
pub fn on_transition(core: &Core, event_id: &str, t: Transition, now: i64) -> Vec<NewJob> {
    if !any_remote(core) {
        return Vec::new();
    }
    match t {
        Transition::OpenGreenRoom => vec![job(event_id, Step::Open, now)],
        Transition::GoLive => vec![job(event_id, Step::Record, now)],
        Transition::End => vec![job(event_id, Step::Close, now)],
    }
}

/// The stage job a cancellation writes with it.
pub fn on_cancel(core: &Core, event_id: &str, now: i64) -> Vec<NewJob> {
    on_transition(core, event_id, Transition::End, now)
}

/// The stage job that ends a person's media connections on a remote stage (kicked, banned,
/// off the stage, account closed); written with the decision by the media reaction.
pub fn disconnect(event_id: &str, user: &str, reason: &str, now: i64) -> NewJob {
    let step = Step::Disconnect {
        user_id: user.to_string(),
        reason: reason.to_string(),
        chat: false,
    };
    job(event_id, step, now)
}

/// How long a page has to exchange its token after its person was sent off the stage.
pub const UNSEAT_GRACE_MS: i64 = 10_000;

/// The jobs that take a person off a remote stage while they keep watching ([`Step::Unseat`]).
pub fn unseat(event_id: &str, user: &str, now: i64) -> [NewJob; 2] {
    let step = |cameras| Step::Unseat {
        user_id: user.to_string(),
        cameras,
    };
    [
        job(event_id, step(false), now),
        job(event_id, step(true), now.saturating_add(UNSEAT_GRACE_MS)),
    ]
}

/// The job that ends a person's connections to the event's IVS Chat room (kicked, banned,
/// account closed); written with the decision by the chat reaction.
pub fn leave_chat(event_id: &str, user: &str, reason: &str, now: i64) -> NewJob {
    let step = Step::LeaveChat {
        user_id: user.to_string(),
        reason: reason.to_string(),
    };
    job(event_id, step, now)
}

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
            if over {
                close_all(core, &j.event_id, now).await?;
            } else if let Some(stage) = core.store.stage(&j.event_id).await?
                && stage.closed_at.is_none()
            {
                reconcile(core, ivs, &stage, status == Some(Status::Live), now).await?;
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
    now: i64,
) -> anyhow::Result<()> {
    let event_id = &stage.event_id;
    let presenters = super::presenter_ids(core, event_id).await?;
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

/// The participant ids a page holds from its current ticket (IVS), to keep across a refresh.
#[derive(Clone, Copy, Debug, Default)]
pub struct Held<'a> {
    pub participant: Option<&'a str>,
    pub screen: Option<&'a str>,
}

/// How someone admitted to the room joins the event's media with `role`. On IVS the token is
/// minted here; `participant` (from the page's current ticket) keeps the same participant id
/// so the page exchanges its token in place (a refresh, or brought on stage and back).
pub async fn ticket(
    core: &Core,
    event: &EventView,
    who: &Participant,
    role: StageRole,
    held: Held<'_>,
) -> Result<Ticket> {
    let event_id: &EventId = &event.id;
    let Some(ivs) = remote(core) else {
        return Ok(Ticket::Embedded {
            role,
            publish: (role != StageRole::Subscriber)
                .then(|| format!("/events/{event_id}/live/publish")),
            watch: format!("/events/{event_id}/live/watch"),
        });
    };
    let stage = match core.store.stage(event_id).await? {
        Some(s) if s.closed_at.is_none() => s,
        _ => {
            return Err(Error::Conflict(
                "The stage is being prepared; try again in a few seconds.".into(),
            ));
        }
    };
    let user = who.user.as_ref().map(|u| u.as_str());
    let now = core.clock.now_ms();
    let sends = role != StageRole::Subscriber;
    let participant_id =
        participant_for(core, event_id, user, held.participant, false, sends, now).await?;
    let at = ivs::Stage {
        arn: stage.arn.clone(),
        whip_url: stage.whip_url.clone(),
        events_url: stage.events_url.clone(),
    };
    let secs = now / 1000;
    let mint = |p: &str, screen: bool| {
        ivs.signer()
            .mint(&at, p, user, role, screen, secs)
            .map_err(|e| Error::Internal(e.into()))
    };
    let token = mint(&participant_id, false)?;
    let screen = if role == StageRole::Subscriber {
        None
    } else {
        let p = participant_for(core, event_id, user, held.screen, true, true, now).await?;
        Some(IvsScreen {
            token: mint(&p, true)?,
            participant_id: p,
        })
    };
    // Who may be on stage now, by name: presenters, and attendees brought on stage.
    let mut names = std::collections::BTreeMap::new();
    names.insert(event.owner_id.clone(), event.owner_name.clone());
    for (id, name) in core.store.co_presenters(event_id).await? {
        names.insert(id, name);
    }
    for s in core.store.standings(event_id).await? {
        if s.can_speak && s.banned_at.is_none() {
            names.insert(s.user_id, s.name);
        }
    }
    Ok(Ticket::Ivs {
        names,
        role,
        participant_id,
        token,
        expires_at: (secs + ivs::token::LIFETIME_SECS) * 1000,
        screen,
        sdk: "/static/ivs-web-broadcast.js".into(),
    })
}

/// The participant id a token is minted for: the one the page holds, if it is this person's
/// (same kind: camera or screen), or a new one recorded for later disconnects.
/// The participant a token is minted for: the page's own (`held`), or a new one; either way
/// the record says whether its newest token lets it publish.
async fn participant_for(
    core: &Core,
    event_id: &EventId,
    user: Option<&str>,
    held: Option<&str>,
    screen: bool,
    publisher: bool,
    now: i64,
) -> Result<String> {
    match held {
        Some(p) => match core.store.stage_participant(event_id, p).await? {
            Some((owner, kind)) if owner.as_deref() == user && kind == screen => {
                core.store
                    .set_stage_publisher(event_id, p, publisher)
                    .await?;
                Ok(p.to_string())
            }
            _ => Err(crate::features::forbidden(
                "That stage connection is not yours.",
            )),
        },
        None => {
            let p = uuid::Uuid::now_v7().to_string();
            core.store
                .add_stage_participant(&p, event_id, user, screen, publisher, now)
                .await?;
            Ok(p)
        }
    }
}

/// Whether `user` may send on the event's stage now: a presenter, or (once live) someone a
/// presenter brought on stage and did not ban.
async fn may_send(core: &Core, event_id: &str, user: &str, live: bool) -> Result<bool> {
    if super::presenter_ids(core, event_id).await?.contains(user) {
        return Ok(true);
    }
    let standing = core.store.standing(event_id, user).await?;
    Ok(live && standing.is_some_and(|s| s.can_speak && s.banned_at.is_none()))
}

/// A notice in the presenters' chat, in a transaction of its own (a job's finding, not a
/// person's action).
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

async fn tell_presenters(core: &Core, event_id: &str, text: &str) -> Result<()> {
    let mut change = crate::features::Change::new(core.clock.now_ms());
    let mut tx = core.store.begin().await?;
    super::chat::presenters_notice(&mut tx, &mut change, event_id, text).await?;
    core.commit(tx, change).await?;
    Ok(())
}
