//! The live room's use cases. A socket's messages arrive as [`Action`]s with the sender's
//! [`Participant`] (computed by the server when the socket opened, never read from a
//! payload); each action checks who may do it, writes through one transaction and publishes a
//! [`Notice`]. Rooms turn notices back into messages with [`render`] and greet newcomers with
//! [`snapshot`] and [`you`].
//!
//! - [`clock`]: warnings, automatic stop and extending.
//! - [`questions`], [`hands`], [`chat`], [`moderation`]: the actions.
//! - [`stage`]: media tickets, and a remote stage's lifecycle as jobs.

mod admission;
pub mod chat;
pub mod clock;
pub mod hands;
pub mod moderation;
pub mod notice;
pub mod presenters;
pub mod protocol;
pub mod questions;
pub mod stage;
mod view;

pub use admission::{
    Door, Participant, Refusal, admit, connect_media, door, media_ticket, room_role,
};
pub use view::{Closing, Loaded, To, closing, person, present_elsewhere, render, snapshot, you};

pub use notice::{AccountChange, Notice, Phase, Scope};

use std::collections::HashSet;

pub use clock::{
    EndOfSession, auto_stop, end_jobs, end_warning, stop_at, stops_at, transition_unschedules,
};

use self::protocol::{Action, Out, Reason, Standing};
use super::{
    Core, Error, Result,
    events::{EventView, Status, get_row},
    ids::UserId,
};

/// The reactions a room offers, with the word shown beside each.
pub const REACTIONS: [(&str, &str); 6] = [
    ("👏", "Applause"),
    ("❤️", "Love"),
    ("😂", "Laugh"),
    ("🎉", "Celebrate"),
    ("🤔", "Hmm"),
    ("👍", "Agree"),
];

pub fn is_reaction(emoji: &str) -> bool {
    REACTIONS.iter().any(|(e, _)| *e == emoji)
}

/// Chat messages a newcomer sees.
pub const HISTORY: i64 = 200;

/// The owner and co-presenters of an event.
pub async fn presenter_ids(core: &Core, event_id: &str) -> Result<HashSet<String>> {
    Ok(core
        .store
        .presenter_ids(event_id)
        .await?
        .into_iter()
        .collect())
}

/// What an accepted action sends back to its sender alone (most send nothing: everyone,
/// the sender included, hears of the change from the room).
pub type Reply = Option<Out>;

/// Carries out one action of `who`. Refusals name a [`Reason`]; failures of our own are
/// logged once here and reported as `unavailable`.
pub async fn act(core: &Core, who: &Participant, action: Action) -> Result<Reply, Reason> {
    let name = action.name();
    match dispatch(core, who, action).await {
        Ok(reply) => {
            metrics::counter!("meetstage_room_actions_total", "action" => name).increment(1);
            Ok(reply)
        }
        Err(ActError::Refused(reason)) => Err(reason),
        Err(ActError::Failed(e)) => {
            tracing::error!(error = %e, action = name, event.id = %who.event_id, "room action failed");
            Err(Reason::Unavailable)
        }
    }
}

/// An action refused (the sender's doing) or failed (ours).
#[derive(Debug)]
pub enum ActError {
    Refused(Reason),
    Failed(Error),
}

impl From<Reason> for ActError {
    fn from(r: Reason) -> Self {
        ActError::Refused(r)
    }
}

impl From<Error> for ActError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => ActError::Refused(Reason::NotFound),
            other => ActError::Failed(other),
        }
    }
}

impl From<crate::store::StoreError> for ActError {
    fn from(e: crate::store::StoreError) -> Self {
        Error::from(e).into()
    }
}

pub type ActResult<T> = std::result::Result<T, ActError>;

/// What every action starts from: the sender, their event as it is now, and the time.
pub struct Ctx<'a> {
    pub core: &'a Core,
    pub who: &'a Participant,
    /// The sender's account; actions need one.
    pub user: &'a UserId,
    pub event: EventView,
    pub now: i64,
}

impl Ctx<'_> {
    /// Refuses anyone who does not run the room.
    pub fn require_presenter(&self) -> ActResult<()> {
        if self.who.runs_room() {
            Ok(())
        } else {
            Err(Reason::NotAllowed.into())
        }
    }

    /// Attendees act while the event is live; presenters also in the green room.
    fn require_open(&self) -> ActResult<()> {
        let open = match self.event.status {
            Status::Live => true,
            Status::Staging => self.who.runs_room(),
            _ => false,
        };
        if open {
            Ok(())
        } else {
            Err(Reason::NotLive.into())
        }
    }

    /// The sender's standing, as presenters left it.
    pub async fn standing(&self) -> ActResult<Standing> {
        Ok(
            match self.core.store.standing(&self.event.id, self.user).await? {
                Some(row) => moderation::view(row)?.standing,
                None => Standing::default(),
            },
        )
    }
}

async fn dispatch(core: &Core, who: &Participant, action: Action) -> ActResult<Reply> {
    let Some(user) = &who.user else {
        return Err(Reason::SignIn.into());
    };
    let event = get_row(core, &who.event_id).await?;
    let cx = Ctx {
        core,
        who,
        user,
        event,
        now: core.clock.now_ms(),
    };
    cx.require_open()?;
    match action {
        Action::Ask(t) => questions::ask(&cx, &t.text).await,
        Action::Upvote(q) => questions::upvote(&cx, &q.question_id).await,
        Action::Answer(a) => questions::answer(&cx, &a.question_id, &a.text).await,
        Action::Dismiss(q) => questions::dismiss(&cx, &q.question_id).await,
        Action::Pin(q) => questions::pin(&cx, &q.question_id, true).await,
        Action::Unpin(q) => questions::pin(&cx, &q.question_id, false).await,
        Action::RaiseHand(_) => hands::raise(&cx).await,
        Action::LowerHand(_) => hands::lower_own(&cx).await,
        Action::AcknowledgeHand(p) => hands::acknowledge(&cx, &p.user_id).await,
        Action::DismissHand(p) => hands::dismiss(&cx, &p.user_id).await,
        Action::LowerAllHands(_) => hands::lower_all(&cx).await,
        Action::GrantSpeak(p) => moderation::speak(&cx, &p.user_id, true).await,
        Action::RevokeSpeak(p) => moderation::speak(&cx, &p.user_id, false).await,
        Action::Chat(t) => chat::post(&cx, &t.text).await,
        Action::Direct(t) => chat::direct(&cx, &t.text).await,
        Action::Reply(r) => chat::reply(&cx, &r.user_id, &r.text).await,
        Action::DeleteMessage(m) => chat::delete(&cx, &m.message_id).await,
        Action::SetChat(s) => chat::set_open(&cx, s.open).await,
        Action::Mute(p) => moderation::mute(&cx, &p.user_id, true).await,
        Action::Unmute(p) => moderation::mute(&cx, &p.user_id, false).await,
        Action::Restrict(r) => moderation::restrict(&cx, &r.user_id, r.chat, r.questions).await,
        Action::Kick(p) => moderation::kick(&cx, &p.user_id).await,
        Action::Ban(b) => moderation::ban(&cx, &b.user_id, &b.reason).await,
        Action::Unban(p) => moderation::unban(&cx, &p.user_id).await,
        Action::Extend(e) => clock::extend(&cx, e.minutes).await,
        Action::ShareScreen(s) => share_screen(&cx, s.open),
        // Reactions and resyncs never reach the database: the connection hands them to its
        // room.
        Action::React(_) | Action::Resync(_) => Ok(None),
    }
}

/// Shows the sender's screen on the stage, or stops showing it. The media server checks
/// they hold a seat there, which only those allowed to publish get.
fn share_screen(cx: &Ctx<'_>, on: bool) -> ActResult<Reply> {
    cx.core
        .media
        .share_screen(&cx.event.id, cx.user, on)
        .map_err(|_| Reason::NotOnStage)?;
    Ok(None)
}

/// Text a person typed: trimmed, not empty, at most `max` characters, no control characters
/// but line breaks and tabs.
pub fn text(raw: &str, max: usize) -> Result<String, Reason> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(Reason::Empty);
    }
    if t.chars().count() > max {
        return Err(Reason::TooLong);
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Reason::BadMessage);
    }
    Ok(t.to_string())
}

/// Parses a room-side id read from a row.
pub(crate) fn user_id(id: &str) -> Result<UserId> {
    id.parse().map_err(|_| super::corrupt("user id", id))
}
