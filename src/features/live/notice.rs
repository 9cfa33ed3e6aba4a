//! What a committed change tells the rest of the system: [`Notice`]s, ids only, each with its
//! [`Scope`] (one event, or every event for an account's change). `Core::commit` hands them to
//! the reactions (rooms, media, chat) on every instance; rooms reload what they show from the
//! database, so a notice stays as small as a database notification.

use serde::{Deserialize, Serialize};

use crate::features::ids::{MessageId, QuestionId, UserId};

/// What changed in an event, as small as a database notification: the rooms reload the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Notice {
    /// The event's times changed (more minutes): reload the clock.
    Status,
    /// The event moved along its lifecycle: the rooms reload the clock, and the media and
    /// chat providers open, record or release what the event holds remotely.
    Lifecycle {
        to: Phase,
    },
    /// The event stops on its own at `ends_at` (ms since the epoch).
    EndingSoon {
        minutes_left: u32,
        ends_at: i64,
    },
    Question {
        id: QuestionId,
    },
    /// `user` voted for question `id`: the count changed, and their own view.
    Vote {
        id: QuestionId,
        user: UserId,
    },
    Hand {
        user: UserId,
    },
    Chat {
        id: MessageId,
    },
    ChatSettings,
    /// Presenters changed what `user` may do.
    Standing {
        user: UserId,
    },
    /// `user` became or stopped being a co-presenter: their sockets close so their pages load
    /// again in the new role.
    Role {
        user: UserId,
    },
    /// `user` was kicked (`banned` false) or banned: their sockets close.
    Removed {
        user: UserId,
        banned: bool,
    },
    /// `user` may no longer send on the stage: no longer speaking, banned from the event, or
    /// no longer a co-presenter.
    Unseated {
        user: UserId,
    },
    /// Something about `user`'s account changed, in every event at once (published with
    /// [`Scope::Everywhere`]).
    Account {
        user: UserId,
        change: AccountChange,
    },
    /// Someone joined or left on another instance.
    Presence {
        instance: String,
        user: Option<UserId>,
        joined: bool,
        anonymous: u64,
    },
    /// Reactions counted on one instance over the last interval.
    Reactions {
        instance: String,
        counts: Vec<(String, u64)>,
    },
}

/// Where an event's lifecycle step took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The green room opened: the stage exists from now on.
    GreenRoom,
    /// It went live: the recording starts.
    Live,
    /// It ended or was cancelled: nothing of it stays open.
    Over,
}

/// What changed about an account, for every room and stage the person is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "c", rename_all = "snake_case")]
pub enum AccountChange {
    /// Disabled, banned from the platform or deleted: out of every room, stage and chat.
    Closed,
    /// The site role changed (e.g. an admin no longer moderates): pages load again.
    Role,
    /// Sessions ended: only the one with this hash, all but the one with this hash, or all.
    SignedOut {
        only: Option<String>,
        except: Option<String>,
    },
}

impl AccountChange {
    /// Whether a socket opened with `session` (a session's hash; None for none) is affected.
    pub fn reaches(&self, session: Option<&str>) -> bool {
        match self {
            AccountChange::Closed | AccountChange::Role => true,
            AccountChange::SignedOut { only, except } => match (only, except) {
                (Some(only), _) => session == Some(only.as_str()),
                (None, Some(except)) => session != Some(except.as_str()),
                (None, None) => true,
            },
        }
    }
}

/// Where a notice goes: one event's room, stage and chat, or every event's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Event(String),
    Everywhere,
}

impl Scope {
    pub fn event(id: impl std::fmt::Display) -> Scope {
        Scope::Event(id.to_string())
    }

    /// The event, when the notice is about one.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Scope::Event(e) => Some(e),
            Scope::Everywhere => None,
        }
    }
}
