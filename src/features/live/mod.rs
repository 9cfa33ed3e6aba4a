//! The live room's use cases. A socket's messages arrive as [`Action`]s with the sender's
//! [`Participant`] (computed by the server when the socket opened, never read from a
//! payload); each action checks who may do it, writes through one transaction and publishes a
//! [`Notice`]. Rooms turn notices back into messages with [`render`] and greet newcomers with
//! [`snapshot`] and [`you`].
//!
//! - [`clock`]: warnings, automatic stop and extending.
//! - [`questions`], [`hands`], [`chat`], [`moderation`]: the actions.
//! - [`stage`]: media tickets, and a remote stage's lifecycle as jobs.

pub mod chat;
pub mod clock;
pub mod hands;
pub mod moderation;
pub mod notice;
pub mod presenters;
pub mod protocol;
pub mod questions;
pub mod stage;

pub use notice::{AccountChange, Notice, Scope};

use std::collections::HashSet;

pub use clock::{
    EndOfSession, auto_stop, end_jobs, end_warning, stop_at, stops_at, transition_unschedules,
};

use self::protocol::{
    Action, Close, EndingSoonView, Gone, Out, ParticipantView, Person, Reason, RoomRole, Snapshot,
    Standing, VoteView, You,
};
use super::{
    Core, Error, Result,
    accounts::User,
    events::{EventView, Status, get_row},
    ids::{EventId, UserId},
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

/// One connection's sender, as the server established it.
#[derive(Clone, Debug)]
pub struct Participant {
    pub event_id: EventId,
    /// None for a guest watching a public event.
    pub user: Option<UserId>,
    pub name: String,
    pub role: RoomRole,
    /// The hash of the session the connection was opened with (none for guests and OBS):
    /// signing out closes that session's sockets.
    pub session: Option<String>,
    /// The client's address, as the edge saw it: guests' media is counted per address.
    pub address: Option<std::net::IpAddr>,
}

impl Participant {
    pub fn runs_room(&self) -> bool {
        self.role.runs_room()
    }
}

/// Why a room would not let someone in.
#[derive(Debug)]
pub enum Refusal {
    NotFound,
    SignIn,
    Banned(String),
    /// Ours, not theirs: the database failed.
    Failed(Error),
}

/// Who `user` is in `event`'s room: the owner and named co-presenters present, site admins
/// moderate, everyone else signed in attends, and guests may only watch public events.
pub async fn admit(
    core: &Core,
    event: &EventView,
    user: Option<&User>,
) -> Result<Participant, Refusal> {
    if event.status == Status::Cancelled {
        return Err(Refusal::NotFound);
    }
    let Some(user) = user else {
        if event.members_only {
            return Err(Refusal::SignIn);
        }
        return Ok(Participant {
            event_id: event.id.clone(),
            user: None,
            name: "Guest".into(),
            role: RoomRole::Viewer,
            session: None,
            address: None,
        });
    };
    let user_id: UserId = user
        .id
        .parse()
        .map_err(|_| Refusal::Failed(super::corrupt("user id", &user.id)))?;
    let role = role_of(core, event, user).await.map_err(Refusal::Failed)?;
    if !role.runs_room() {
        let standing = core
            .store
            .standing(&event.id, &user.id)
            .await
            .map_err(|e| Refusal::Failed(e.into()))?;
        if let Some(s) = standing.filter(|s| s.banned_at.is_some()) {
            return Err(Refusal::Banned(s.ban_reason.unwrap_or_default()));
        }
    }
    Ok(Participant {
        event_id: event.id.clone(),
        user: Some(user_id),
        name: user.display_name.clone(),
        role,
        session: None,
        address: None,
    })
}

/// The way into an event's room from a page that shows the event, worded for the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Door {
    pub href: String,
    pub label: &'static str,
    /// What is going on inside, beside the button.
    pub note: &'static str,
}

/// The door into the room for `user` (None: a visitor) while the event is in its green room
/// or live; None when there is no room to enter, or they are banned from it.
pub async fn door(core: &Core, event: &EventView, user: Option<&User>) -> Result<Option<Door>> {
    let live = match event.status {
        Status::Live => true,
        Status::Staging => false,
        _ => return Ok(None),
    };
    let room = format!("/events/{}/live", event.id);
    let attend = |href: String| Door {
        href,
        label: if live {
            "Join the live event"
        } else {
            "Wait in the room"
        },
        note: if live {
            "It is on now: watch, chat and ask questions."
        } else {
            "The presenters are getting ready; the room opens when they go live."
        },
    };
    let Some(user) = user else {
        if event.members_only {
            let next: String = url::form_urlencoded::byte_serialize(room.as_bytes()).collect();
            return Ok(Some(Door {
                label: "Sign in to join",
                ..attend(format!("/login?next={next}"))
            }));
        }
        return Ok(Some(attend(room)));
    };
    match admit(core, event, Some(user)).await {
        Ok(who) if who.runs_room() => Ok(Some(Door {
            href: room,
            label: "Open the dashboard",
            note: if live {
                "You are live."
            } else {
                "The green room is open: check your camera and microphone before going live."
            },
        })),
        Ok(_) => Ok(Some(attend(room))),
        Err(Refusal::Failed(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

async fn role_of(core: &Core, event: &EventView, user: &User) -> Result<RoomRole> {
    let presents =
        user.id == event.owner_id || core.store.is_co_presenter(&event.id, &user.id).await?;
    Ok(room_role(presents, user.role))
}

/// Who someone is in a room, the one place it is decided: the event's presenters (owner and
/// co-presenters) run it, site admins moderate it, everyone else signed in attends.
pub fn room_role(presents: bool, site: super::accounts::Role) -> RoomRole {
    use super::accounts::Role;
    match (presents, site) {
        (true, _) => RoomRole::Presenter,
        (false, Role::Admin) => RoomRole::Moderator,
        (false, Role::Member | Role::Organizer) => RoomRole::Attendee,
    }
}

/// A site role read from a row; one no variant matches fails loudly.
fn site_role(role: &str) -> Result<super::accounts::Role> {
    super::accounts::Role::parse(role).ok_or_else(|| super::corrupt("user role", role))
}

/// The owner and co-presenters of an event.
pub async fn presenter_ids(core: &Core, event_id: &str) -> Result<HashSet<String>> {
    Ok(core
        .store
        .presenter_ids(event_id)
        .await?
        .into_iter()
        .collect())
}

/// How someone admitted to the room ([`admit`]) joins the event's media, by their role:
/// presenters from the green room on, speakers (brought on stage) and everyone else once live.
pub async fn media_ticket(
    core: &Core,
    event: &EventView,
    who: &Participant,
    held: stage::Held<'_>,
) -> std::result::Result<crate::media::Ticket, Error> {
    use crate::media::StageRole;
    media_open(event, who)?;
    let role = if who.runs_room() {
        StageRole::Presenter
    } else if may_speak(core, event, who).await? {
        StageRole::Speaker
    } else {
        StageRole::Subscriber
    };
    stage::ticket(core, event, who, role, held).await
}

fn media_open(event: &EventView, who: &Participant) -> std::result::Result<(), Error> {
    let open = match event.status {
        Status::Live => true,
        Status::Staging => who.runs_room(),
        _ => false,
    };
    if open {
        Ok(())
    } else {
        Err(Error::Conflict(
            "The event is not live, so there is nothing to watch yet.".into(),
        ))
    }
}

/// Whether a presenter let this attendee speak.
async fn may_speak(core: &Core, event: &EventView, who: &Participant) -> Result<bool> {
    Ok(match &who.user {
        Some(user) => core
            .store
            .standing(&event.id, user)
            .await?
            .is_some_and(|s| s.can_speak),
        None => false,
    })
}

/// Connects someone admitted to the room ([`admit`]) to the event's media: presenters
/// publish from the green room on; everyone else watches once the event is live.
pub async fn connect_media(
    core: &Core,
    event: &EventView,
    who: &Participant,
    role: crate::media::MediaRole,
    offer: &str,
) -> std::result::Result<crate::media::Connected, Error> {
    use crate::media::{MediaError, MediaRole};
    media_open(event, who)?;
    // Presenters publish; attendees once a presenter lets them speak, and never past a mute.
    let standing = match &who.user {
        Some(user) => core.store.standing(&event.id, user).await?,
        None => None,
    };
    let speaker = standing.as_ref().is_some_and(|s| s.can_speak);
    if role == MediaRole::Publisher && !who.runs_room() && !speaker {
        return Err(super::forbidden(
            "Only presenters, and people a presenter brings on stage, send audio and video.",
        ));
    }
    let admission = crate::media::Admission {
        user: who.user.as_ref(),
        name: &who.name,
        role,
        muted: standing.is_some_and(|s| s.muted),
        address: who.address,
    };
    core.media
        .connect(&event.id, &admission, offer)
        .await
        .map_err(|e| match e {
            MediaError::NotSdp | MediaError::BadOffer(_) => Error::Invalid(
                super::validation::FieldErrors::single("offer", format!("{e}.")),
            ),
            MediaError::Full
            | MediaError::StageFull
            | MediaError::TooMany
            | MediaError::TooManyGuests
            | MediaError::NotOnStage => Error::Conflict(format!("{e}.")),
            MediaError::Unavailable => Error::Internal(anyhow::anyhow!(e)),
            MediaError::Elsewhere => Error::Conflict(format!("{e}.")),
        })
}

/// Someone in the room as presenters see them, their role recomputed from the record.
pub async fn person(core: &Core, event_id: &str, user: &UserId) -> Result<Option<Person>> {
    let Some(row) = core.store.user_by_id(user).await? else {
        return Ok(None);
    };
    let presenters = presenter_ids(core, event_id).await?;
    let role = room_role(presenters.contains(user.as_str()), site_role(&row.role)?);
    Ok(Some(Person {
        user_id: user.clone(),
        name: row.display_name,
        role,
    }))
}

/// People in the room on other live instances, by instance, from their open visits: what a
/// room starting here needs to count them before their instances' next heartbeat.
pub async fn present_elsewhere(
    core: &Core,
    event_id: &str,
    instance: &str,
) -> Result<Vec<(String, Person)>> {
    let rows = core.store.present_elsewhere(event_id, instance).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let presenters = presenter_ids(core, event_id).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(instance, id, name, site_role_text)| {
            let role = room_role(presenters.contains(&id), site_role(&site_role_text).ok()?);
            let user_id = id.parse().ok()?;
            Some((
                instance,
                Person {
                    user_id,
                    name,
                    role,
                },
            ))
        })
        .collect())
}

/// The room's shared state, loaded from the database; the room adds presence.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub for_attendees: Snapshot,
    pub for_presenters: Snapshot,
}

/// What every newcomer sees, in two versions: attendees do not see dismissed questions,
/// raised hands, direct messages or anyone's standing.
pub async fn snapshot(core: &Core, event_id: &str) -> Result<Loaded> {
    let event = get_row(core, event_id).await?;
    let presenters = presenter_ids(core, event_id).await?;
    let clock = clock::view(core, &event).await?;
    let chat_open = core.store.chat_open(event_id).await?;
    let questions: Vec<_> = core
        .store
        .questions(event_id)
        .await?
        .into_iter()
        .map(questions::view)
        .collect::<Result<_>>()?;
    let hands = core.store.hands(event_id).await?;
    let public_chat = core.store.recent_chat(event_id, false, HISTORY).await?;
    let all_chat = core.store.recent_chat(event_id, true, HISTORY).await?;
    let participants = core.store.standings(event_id).await?;
    let base = Snapshot {
        event_id: event.id.to_string(),
        title: event.title.clone(),
        clock,
        chat_open,
        presence: 0,
        people: None,
        stage: Default::default(),
        questions: questions
            .iter()
            .filter(|q| q.status != questions::DISMISSED)
            .cloned()
            .collect(),
        hands: None,
        chat: public_chat
            .into_iter()
            .map(|m| chat::view(m, &presenters))
            .collect::<Result<_>>()?,
        participants: None,
    };
    let for_presenters = Snapshot {
        questions,
        hands: Some(hands.into_iter().map(hands::view).collect::<Result<_>>()?),
        chat: all_chat
            .into_iter()
            .map(|m| chat::view(m, &presenters))
            .collect::<Result<_>>()?,
        participants: Some(
            participants
                .into_iter()
                .map(moderation::view)
                .collect::<Result<_>>()?,
        ),
        people: Some(Vec::new()),
        ..base.clone()
    };
    Ok(Loaded {
        for_attendees: base,
        for_presenters,
    })
}

/// One person's own view of the room.
pub async fn you(core: &Core, who: &Participant) -> Result<You> {
    let mut you = You {
        user_id: who.user.clone(),
        name: who.name.clone(),
        role: who.role,
        standing: Standing::default(),
        hand: None,
        votes: Vec::new(),
        questions: Vec::new(),
        direct: Vec::new(),
    };
    let Some(user) = &who.user else {
        return Ok(you);
    };
    let presenters = presenter_ids(core, &who.event_id).await?;
    if let Some(s) = core.store.standing(&who.event_id, user).await? {
        you.standing = moderation::view(s)?.standing;
    }
    you.hand = core
        .store
        .hand(&who.event_id, user)
        .await?
        .map(hands::view)
        .transpose()?;
    you.votes = core
        .store
        .votes_of(&who.event_id, user)
        .await?
        .iter()
        .map(|id| id.parse().map_err(|_| super::corrupt("question id", id)))
        .collect::<Result<_>>()?;
    you.questions = core
        .store
        .questions_of(&who.event_id, user)
        .await?
        .into_iter()
        .map(questions::view)
        .collect::<Result<_>>()?;
    you.direct = core
        .store
        .direct_chat_of(&who.event_id, user, HISTORY)
        .await?
        .into_iter()
        .map(|m| chat::view(m, &presenters))
        .collect::<Result<_>>()?;
    Ok(you)
}

/// Sockets a notice closes: whose, with which code, after which last message; `account`
/// narrows it to the sessions an account change reaches (a logout closes that session's).
pub struct Closing {
    pub user: UserId,
    pub close: Close,
    pub last: Option<Out>,
    pub account: Option<notice::AccountChange>,
}

impl Closing {
    /// Whether a socket opened with `session` (its hash; None for none) closes.
    pub fn reaches(&self, session: Option<&str>) -> bool {
        self.account.as_ref().is_none_or(|a| a.reaches(session))
    }
}

/// The sockets a notice closes, if any: a kick or ban from the event, a new role, an account
/// closed or signed out.
pub fn closing(notice: &Notice) -> Option<Closing> {
    use notice::AccountChange;
    let (user, close, account) = match notice {
        Notice::Removed { user, banned } => {
            let close = if *banned {
                Close::Banned
            } else {
                Close::Kicked
            };
            let last = Out::Removed(protocol::RemovedView {
                banned: *banned,
                reason: close.reason().to_string(),
            });
            return Some(Closing {
                user: user.clone(),
                close,
                last: Some(last),
                account: None,
            });
        }
        Notice::Role { user } => (user, Close::Role, None),
        Notice::Account { user, change } => {
            let close = match change {
                AccountChange::Closed => Close::Account,
                AccountChange::Role => Close::Role,
                AccountChange::SignedOut { .. } => Close::SignedOut,
            };
            (user, close, Some(change.clone()))
        }
        _ => return None,
    };
    Some(Closing {
        user: user.clone(),
        close,
        last: None,
        account,
    })
}

/// Who a room message is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum To {
    Everyone,
    Attendees,
    Presenters,
    /// Every connection of one person.
    Person(UserId),
}

/// The messages a notice becomes, reloaded from the database (the record on every instance).
/// Presence, reactions and removals are the room's own business and render to nothing here.
pub async fn render(core: &Core, event_id: &str, notice: &Notice) -> Result<Vec<(To, Out)>> {
    let mut out = Vec::new();
    match notice {
        Notice::Status => {
            let event = get_row(core, event_id).await?;
            out.push((To::Everyone, Out::Clock(clock::view(core, &event).await?)));
        }
        Notice::EndingSoon {
            minutes_left,
            ends_at,
        } => {
            // The clock too, so every page counts down from the server's time.
            let event = get_row(core, event_id).await?;
            out.push((To::Everyone, Out::Clock(clock::view(core, &event).await?)));
            out.push((
                To::Everyone,
                Out::EndingSoon(EndingSoonView {
                    minutes_left: *minutes_left,
                    ends_at: *ends_at,
                }),
            ));
        }
        Notice::Question { id } => questions::render(core, id, &mut out).await?,
        Notice::Vote { id, user } => {
            questions::render(core, id, &mut out).await?;
            out.push((
                To::Person(user.clone()),
                Out::Voted(VoteView {
                    question_id: id.clone(),
                }),
            ));
        }
        Notice::Hand { user } => {
            let msg = match core.store.hand(event_id, user).await? {
                Some(h) => Out::Hand(hands::view(h)?),
                None => Out::HandLowered(Gone {
                    id: user.to_string(),
                }),
            };
            out.push((To::Presenters, msg.clone()));
            out.push((To::Person(user.clone()), msg));
        }
        Notice::Chat { id } => chat::render(core, event_id, id, &mut out).await?,
        Notice::ChatSettings => out.push((
            To::Everyone,
            Out::ChatSettings(crate::features::live::protocol::ChatSettings {
                open: core.store.chat_open(event_id).await?,
            }),
        )),
        Notice::Standing { user } => {
            if let Some(row) = core.store.standing(event_id, user).await? {
                let view: ParticipantView = moderation::view(row)?;
                out.push((To::Presenters, Out::Participant(view.clone())));
                out.push((To::Person(user.clone()), Out::Participant(view)));
            }
        }
        Notice::Removed { .. }
        | Notice::Role { .. }
        | Notice::Unseated { .. }
        | Notice::Account { .. }
        | Notice::Presence { .. }
        | Notice::Reactions { .. } => {}
    }
    Ok(out)
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
