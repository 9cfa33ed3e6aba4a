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
//! The jobs are planned by the media and chat reactions (`features::reactions`) from the
//! change's notices. The embedded SFU and the built-in chat need none of this: their state
//! lives in the process and each instance obeys the notices it hears, so with neither remote
//! no stage jobs are written.

use serde::{Deserialize, Serialize};

use crate::{
    features::{Core, Error, Result, events::EventView, ids::EventId},
    jobs::Job,
    media::{
        IvsScreen, MediaProvider, StageRole, Ticket,
        ivs::{self, Ivs},
    },
    store::NewJob,
};

use super::{Participant, Phase};

mod run;
pub use run::{NO_RECORDING, NO_STAGE, run};

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

/// The stage job an event's lifecycle step writes with it, planned by the media reaction (an
/// IVS stage) and the chat reaction (an IVS Chat room); the same key makes them one job.
pub fn lifecycle(event_id: &str, to: Phase, now: i64) -> NewJob {
    let step = match to {
        Phase::GreenRoom => Step::Open,
        Phase::Live => Step::Record,
        Phase::Over => Step::Close,
    };
    job(event_id, step, now)
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
        let who = who.user.as_ref().map_or("guest", |u| u.as_str());
        return Ok(Ticket::Embedded {
            role,
            publish: (role != StageRole::Subscriber)
                .then(|| format!("/events/{event_id}/live/publish")),
            watch: format!("/events/{event_id}/live/watch"),
            ice_servers: crate::media::turn::servers(
                core.config.turn.as_ref(),
                who,
                core.clock.now_ms() / 1000,
            ),
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
    if !sends && let Some(cap) = event.viewer_cap {
        take_a_place(core, event_id, &stage, held.participant, cap).await?;
    }
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

/// A watcher under the event's viewer cap: a page keeping its participant keeps its place
/// (taken again if it had been freed); a newcomer needs a free one. Two newcomers at the same
/// instant may both take the last place: the cap bounds cost, one over does not matter.
async fn take_a_place(
    core: &Core,
    event_id: &EventId,
    stage: &crate::store::stages::StageRow,
    held: Option<&str>,
    cap: i32,
) -> Result<()> {
    let (seated, holds) = core.store.seating(event_id, stage.created_at, held).await?;
    if holds {
        return Ok(());
    }
    if seated >= i64::from(cap) {
        return Err(crate::features::costs::full(cap));
    }
    if let Some(p) = held {
        core.store.set_left(event_id, p, None).await?;
    }
    Ok(())
}

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
