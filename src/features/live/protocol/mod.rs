//! The live room's messages, named once. Every message is one envelope,
//! `{"type": …, "seq": …, "data": …}`; `seq` numbers the room's stream (absent on messages for
//! one person only). The browser's names come from [`javascript`], generated from these enums,
//! so the server and the pages cannot disagree on a name. `docs/PROTOCOL.md` describes each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::features::ids::{MessageId, QuestionId, UserId};

/// An enum whose variants each carry one data type and have one wire name, listed in `NAMES`.
macro_rules! messages {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident($data:ty) = $wire:literal,)*
    }) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant($data),)*
        }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($wire),*];

            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $wire,)*
                }
            }
        }
    };
}

/// A message without fields; `data` is `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnQuestion {
    pub question_id: QuestionId,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerData {
    pub question_id: QuestionId,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnPerson {
    pub user_id: UserId,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyData {
    pub user_id: UserId,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnMessage {
    pub message_id: MessageId,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub open: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactData {
    pub emoji: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestrictData {
    pub user_id: UserId,
    pub chat: bool,
    pub questions: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanData {
    pub user_id: UserId,
    #[serde(default)]
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendData {
    pub minutes: u32,
}

messages! {
    /// What a browser may send. Who may send which is checked by the server on every message.
    #[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
    #[serde(tag = "type", content = "data", deny_unknown_fields)]
    pub enum Action {
        Ask(Text) = "ask",
        Upvote(OnQuestion) = "upvote",
        Answer(AnswerData) = "answer",
        Dismiss(OnQuestion) = "dismiss",
        Pin(OnQuestion) = "pin",
        Unpin(OnQuestion) = "unpin",
        RaiseHand(Empty) = "raise_hand",
        LowerHand(Empty) = "lower_hand",
        AcknowledgeHand(OnPerson) = "acknowledge_hand",
        DismissHand(OnPerson) = "dismiss_hand",
        LowerAllHands(Empty) = "lower_all_hands",
        GrantSpeak(OnPerson) = "grant_speak",
        RevokeSpeak(OnPerson) = "revoke_speak",
        Chat(Text) = "chat",
        Direct(Text) = "direct",
        Reply(ReplyData) = "reply",
        DeleteMessage(OnMessage) = "delete_message",
        SetChat(Switch) = "set_chat",
        React(ReactData) = "react",
        Mute(OnPerson) = "mute",
        Unmute(OnPerson) = "unmute",
        Restrict(RestrictData) = "restrict",
        Kick(OnPerson) = "kick",
        Ban(BanData) = "ban",
        Unban(OnPerson) = "unban",
        Extend(ExtendData) = "extend",
        ShareScreen(Switch) = "share_screen",
        Resync(Empty) = "resync",
    }
}

/// The room's roles, computed by the server from the session and the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomRole {
    /// The owner and the co-presenters they name.
    Presenter,
    /// A site admin in someone else's room: moderates, does not present.
    Moderator,
    /// Signed in.
    Attendee,
    /// Not signed in, on a public event: receives only.
    Viewer,
}

impl RoomRole {
    /// Presenters and moderators run the room: they see everything and may moderate.
    pub fn runs_room(self) -> bool {
        matches!(self, RoomRole::Presenter | RoomRole::Moderator)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Person {
    pub user_id: UserId,
    pub name: String,
    pub role: RoomRole,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuestionView {
    pub id: QuestionId,
    pub author_id: UserId,
    pub author: String,
    pub text: String,
    /// `queued`, `answered` or `dismissed`.
    pub status: String,
    pub answer: Option<String>,
    pub pinned: bool,
    pub votes: i64,
    pub asked_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HandView {
    pub user_id: UserId,
    pub name: String,
    pub raised_at: i64,
    pub acknowledged: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatView {
    pub id: MessageId,
    /// `group`, `direct` (to the presenters, or a presenter's reply) or `system`.
    pub kind: String,
    pub author_id: Option<UserId>,
    pub author: String,
    pub author_role: Option<RoomRole>,
    /// For a presenter's reply: the one attendee it is for.
    pub to_id: Option<UserId>,
    pub to: Option<String>,
    pub text: String,
    pub sent_at: i64,
    /// With IVS Chat: the id IVS gave the message, which its `aws:DELETE_MESSAGE` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_id: Option<String>,
}

/// What presenters decided about one person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub muted: bool,
    pub chat_restricted: bool,
    pub questions_restricted: bool,
    pub can_speak: bool,
    pub banned: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParticipantView {
    pub user_id: UserId,
    pub name: String,
    #[serde(flatten)]
    pub standing: Standing,
    pub ban_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClockView {
    pub status: String,
    pub starts_at: i64,
    /// When it went live: elapsed time counts from here.
    pub live_at: Option<i64>,
    /// The scheduled end.
    pub ends_at: i64,
    /// When the session stops on its own, once it is live.
    pub stops_at: Option<i64>,
    /// How long it may still be extended, in minutes.
    pub extendable_minutes: u32,
    /// It is live and being recorded: every page shows so.
    pub recording: bool,
    /// The server's time when this was sent, so pages count from the server's clock and not
    /// from a computer's clock that may be minutes off.
    pub server_now: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndingSoonView {
    pub minutes_left: u32,
    pub ends_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresenceView {
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gone {
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VoteView {
    pub question_id: QuestionId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatSettings {
    pub open: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reactions {
    pub counts: BTreeMap<String, u64>,
}

/// The room as one person sees it when they connect, or after falling behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub event_id: String,
    pub title: String,
    pub clock: ClockView,
    pub chat_open: bool,
    pub presence: u64,
    /// Presenters only: who is here.
    pub people: Option<Vec<Person>>,
    /// Who sends audio and video, seat by seat (this instance's media server).
    pub stage: crate::media::Roster,
    pub questions: Vec<QuestionView>,
    /// Presenters only: raised hands in raise order.
    pub hands: Option<Vec<HandView>>,
    /// The last group messages and system notices (and, for presenters, direct messages).
    pub chat: Vec<ChatView>,
    /// Presenters only: everyone with a restriction, a mute, speaking rights or a ban.
    pub participants: Option<Vec<ParticipantView>>,
}

/// One person's own view: who they are, their standing, hand, votes, dismissed questions
/// and direct messages. Sent after each snapshot and whenever it changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct You {
    pub user_id: Option<UserId>,
    pub name: String,
    pub role: RoomRole,
    pub standing: Standing,
    pub hand: Option<HandView>,
    pub votes: Vec<QuestionId>,
    /// Their own questions, whatever the status (others see only queued and answered).
    pub questions: Vec<QuestionView>,
    /// Direct messages they sent or received.
    pub direct: Vec<ChatView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemovedView {
    pub banned: bool,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorView {
    /// The action refused, when the message could be read.
    pub action: Option<String>,
    pub reason: Reason,
    pub message: String,
}

messages! {
    /// What the server sends.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
    #[serde(tag = "type", content = "data")]
    pub enum Out {
        Snapshot(Box<Snapshot>) = "snapshot",
        You(Box<You>) = "you",
        Clock(ClockView) = "clock",
        EndingSoon(EndingSoonView) = "ending_soon",
        Presence(PresenceView) = "presence",
        PersonJoined(Person) = "person_joined",
        PersonLeft(Gone) = "person_left",
        Question(QuestionView) = "question",
        QuestionRemoved(Gone) = "question_removed",
        Voted(VoteView) = "voted",
        Hand(HandView) = "hand",
        HandLowered(Gone) = "hand_lowered",
        Chat(ChatView) = "chat",
        ChatDeleted(Gone) = "chat_deleted",
        ChatSettings(ChatSettings) = "chat_settings",
        Reactions(Reactions) = "reactions",
        Participant(ParticipantView) = "participant",
        Removed(RemovedView) = "removed",
        Stage(crate::media::Roster) = "stage",
        Error(ErrorView) = "error",
    }
}

macro_rules! reasons {
    ($($variant:ident = $wire:literal: $text:literal,)*) => {
        /// Why an action was refused; each goes back to the sender only.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
        pub enum Reason {
            $(#[serde(rename = $wire)] $variant,)*
        }

        impl Reason {
            pub const NAMES: &'static [&'static str] = &[$($wire),*];

            /// What the person is told, in plain words.
            pub fn message(self) -> &'static str {
                match self {
                    $(Reason::$variant => $text,)*
                }
            }
        }
    };
}

reasons! {
    BadMessage = "bad_message": "That message could not be read.",
    SignIn = "sign_in": "Log in to take part; as a guest you can watch and listen.",
    NotAllowed = "not_allowed": "Only the presenters can do that.",
    NotLive = "not_live": "That can only be done while the event is live.",
    NotFound = "not_found": "That is no longer in this room.",
    Restricted = "restricted": "A presenter has restricted this for you.",
    ChatClosed = "chat_closed": "The presenters have turned group chat off.",
    RateLimited = "rate_limited": "You are doing that too fast; wait a moment.",
    Empty = "empty": "Write something first.",
    TooLong = "too_long": "That is too long.",
    Blocked = "blocked": "Messages cannot contain data URIs, long encoded blobs or links to blocked sites.",
    OwnQuestion = "own_question": "You cannot upvote your own question.",
    AlreadyVoted = "already_voted": "You already upvoted that question.",
    NotPresent = "not_present": "That person is not in this room.",
    Presenter = "presenter": "Presenters cannot be moderated.",
    BadEmoji = "bad_emoji": "That reaction is not offered.",
    BadDuration = "bad_duration": "Extend by 15, 30 or 60 minutes.",
    TooLate = "too_late": "The event cannot run longer than 8 hours.",
    NotOnStage = "not_on_stage": "Connect your camera or microphone to the stage before sharing a screen.",
    StageFull = "stage_full": "The stage is full: send someone back to the audience first.",
    Unavailable = "unavailable": "Something went wrong on our side; try again.",
}

impl Out {
    /// The message as JSON, `seq` spliced in so the body is serialized once (the room
    /// wraps it in a WebSocket frame: `realtime::wire::frame`).
    pub fn json(&self, seq: Option<u64>) -> Vec<u8> {
        let mut json = serde_json::to_vec(self).expect("room messages always serialize");
        if let Some(seq) = seq {
            // The adjacently tagged form ends with `}`; reopen it for one more field.
            json.pop();
            json.extend_from_slice(b",\"seq\":");
            json.extend_from_slice(seq.to_string().as_bytes());
            json.push(b'}');
        }
        json
    }

    pub fn error(action: Option<&str>, reason: Reason) -> Out {
        Out::Error(ErrorView {
            action: action.map(str::to_string),
            reason,
            message: reason.message().to_string(),
        })
    }
}

/// Reads a browser message: the envelope first, so a refusal can name the action.
pub fn parse(text: &str) -> Result<Action, (Option<String>, Reason)> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_str::<Action>(text).map_err(|_| {
        let kind = serde_json::from_str::<Head>(text)
            .ok()
            .map(|h| h.kind)
            .filter(|k| Action::NAMES.contains(&k.as_str()));
        (kind, Reason::BadMessage)
    })
}

/// Close codes of our own (4000–4999 are for applications): why the server ended a room
/// socket, so the page knows whether to reload, stop or reconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The person's role changed (co-presenter named or removed, site role): load the page
    /// again in the new role.
    Role,
    /// Kicked by a presenter; may come back.
    Kicked,
    /// Banned from this event.
    Banned,
    /// The account was disabled, banned from the platform or deleted.
    Account,
    /// The session the socket was opened with ended (logout, password change or reset).
    SignedOut,
}

impl Close {
    pub const ALL: [Close; 5] = [
        Close::Role,
        Close::Kicked,
        Close::Banned,
        Close::Account,
        Close::SignedOut,
    ];

    pub fn code(self) -> u16 {
        match self {
            Close::Role => 4000,
            Close::Kicked => 4001,
            Close::Banned => 4003,
            Close::Account => 4004,
            Close::SignedOut => 4005,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Close::Role => "role",
            Close::Kicked => "kicked",
            Close::Banned => "banned",
            Close::Account => "account",
            Close::SignedOut => "signed_out",
        }
    }

    /// The reason sent with the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            Close::Role => "your role changed",
            Close::Kicked => "removed by a presenter",
            Close::Banned => "banned from this event",
            Close::Account => "your account can no longer take part",
            Close::SignedOut => "signed out",
        }
    }
}

mod js;
pub use js::javascript;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_name_parses_as_itself() {
        for name in Action::NAMES {
            // Wrong data still names the action; an unknown name does not.
            let refused = parse(&format!(r#"{{"type":"{name}","data":{{"x":1}}}}"#)).unwrap_err();
            assert_eq!(refused.0.as_deref(), Some(*name));
        }
        assert_eq!(parse(r#"{"type":"nope","data":{}}"#).unwrap_err().0, None);
        assert_eq!(
            parse(r#"{"type":"raise_hand","data":{}}"#).unwrap(),
            Action::RaiseHand(Empty {})
        );
        let ask = parse(r#"{"type":"ask","data":{"text":"Why?"}}"#).unwrap();
        assert_eq!(ask.name(), "ask");
        // A payload cannot carry an identity: unknown fields are refused.
        assert!(parse(r#"{"type":"ask","data":{"text":"x","user_id":"u"}}"#).is_err());
        assert!(parse(r#"{"type":"upvote","data":{"question_id":"1 OR 1=1"}}"#).is_err());
    }

    #[test]
    fn frames_carry_type_seq_and_data() {
        let out = Out::Presence(PresenceView { count: 3 });
        let json: serde_json::Value = serde_json::from_slice(&out.json(Some(42))).unwrap();
        assert_eq!(json["type"], "presence");
        assert_eq!(json["seq"], 42);
        assert_eq!(json["data"]["count"], 3);
        assert_eq!(out.name(), "presence");
        let personal = Out::error(Some("ask"), Reason::TooLong).json(None);
        let json: serde_json::Value = serde_json::from_slice(&personal).unwrap();
        assert_eq!(json["data"]["reason"], "too_long");
        assert!(json.get("seq").is_none());
    }

    #[test]
    fn the_protocol_document_names_every_message_and_reason() {
        let doc = include_str!("../../../../docs/PROTOCOL.md");
        for name in Action::NAMES.iter().chain(Out::NAMES).chain(Reason::NAMES) {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/PROTOCOL.md lacks `{name}`"
            );
        }
    }

    #[test]
    fn the_protocol_document_and_browser_module_list_every_close_code() {
        let doc = include_str!("../../../../docs/PROTOCOL.md");
        let js = javascript();
        for c in Close::ALL {
            assert!(
                doc.contains(&format!("**{}", c.code())),
                "docs/PROTOCOL.md lacks close code {}",
                c.code()
            );
            assert!(js.contains(&format!("{}: {},", c.name().to_uppercase(), c.code())));
        }
    }
}
