//! What a room shows, reloaded from the database (the record on every instance): a
//! newcomer's snapshot, one person's own view, the messages a notice becomes, and the sockets
//! a notice closes.

use super::{
    HISTORY, Participant,
    admission::site_role,
    chat, clock, hands, moderation, notice,
    notice::Notice,
    presenter_ids, protocol,
    protocol::{
        Close, EndingSoonView, Gone, Out, ParticipantView, Person, Snapshot, Standing, VoteView,
        You,
    },
    questions, room_role,
};
use crate::features::{Core, Result, events::get_row, ids::UserId};

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
        .map(|id| {
            id.parse()
                .map_err(|_| crate::features::corrupt("question id", id))
        })
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
        Notice::Status | Notice::Lifecycle { .. } => {
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
