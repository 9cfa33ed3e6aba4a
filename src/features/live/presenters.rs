//! Co-presenters: people the organizer names to run the room with them. Naming or removing
//! someone changes their role, so their open sockets are closed with a code that makes the
//! page load again in the new role.

use super::{Participant, user_id};
use crate::{
    features::live::{Notice, protocol::RoomRole},
    features::{
        Change, Core, Error, FieldErrors, Result,
        accounts::{Email, Session, User, random_token, token_hash},
        events::{EventView, Status, get_managed, get_row},
        ids::{EventId, UserId},
    },
};

/// (user id, display name) of each co-presenter, in the order they were named.
pub async fn list(core: &Core, event: &EventView) -> Result<Vec<(String, String)>> {
    Ok(core.store.co_presenters(&event.id).await?)
}

async fn managed_open(core: &Core, session: &Session, id: &EventId) -> Result<EventView> {
    let event = get_managed(core, session, id).await?;
    if matches!(event.status, Status::Ended | Status::Cancelled) {
        return Err(Error::Conflict("The event is over.".into()));
    }
    Ok(event)
}

/// Names the member with this address a co-presenter.
pub async fn add(core: &Core, session: &Session, id: &EventId, email: &str) -> Result<()> {
    let event = managed_open(core, session, id).await?;
    let invalid = |msg: String| Error::Invalid(FieldErrors::single("email", msg));
    let email = Email::parse(email).map_err(invalid)?;
    let Some(user) = core.store.user_by_email(email.as_str()).await? else {
        return Err(invalid("No member has that address.".into()));
    };
    if user.id == event.owner_id {
        return Err(invalid("The organizer presents already.".into()));
    }
    change(core, session, &event, &user.id, true).await
}

pub async fn remove(core: &Core, session: &Session, id: &EventId, user: &UserId) -> Result<()> {
    let event = managed_open(core, session, id).await?;
    change(core, session, &event, user, false).await
}

async fn change(
    core: &Core,
    session: &Session,
    event: &EventView,
    user: &str,
    named: bool,
) -> Result<()> {
    let now = core.clock.now_ms();
    let user = user_id(user)?;
    let mut change = Change::new(now);
    change.notify(&event.id, Notice::Role { user: user.clone() });
    if !named {
        change.notify(&event.id, Notice::Unseated { user: user.clone() });
    }
    let mut tx = core.store.begin().await?;
    let changed = if named {
        tx.add_co_presenter(&event.id, &user, now).await?
    } else {
        tx.remove_co_presenter(&event.id, &user).await?
    };
    if !changed {
        return Ok(());
    }
    let action = if named {
        "event.presenter.add"
    } else {
        "event.presenter.remove"
    };
    tx.audit(&session.user.id, action, Some(&user), &event.id, now)
        .await?;
    core.commit(tx, change).await
}

// --- sending from OBS -------------------------------------------------------------------------

/// Longest stream key taken; ours are 43 characters.
const MAX_KEY: usize = 128;

/// Makes a presenter's key for sending into this event's stage from OBS (or any WHIP
/// client); the key made before stops working. It is returned once: only its hash is kept.
pub async fn new_stream_key(core: &Core, who: &Participant) -> Result<String> {
    let Some(user) = who
        .user
        .as_ref()
        .filter(|_| who.role == RoomRole::Presenter)
    else {
        return Err(crate::features::forbidden(
            "Only the event's presenters send from OBS.",
        ));
    };
    let event = get_row(core, &who.event_id).await?;
    if matches!(event.status, Status::Ended | Status::Cancelled) {
        return Err(Error::Conflict("The event is over.".into()));
    }
    let key = random_token();
    let now = core.clock.now_ms();
    let mut tx = core.store.begin().await?;
    tx.replace_stream_key(&event.id, user, &token_hash(&key), now)
        .await?;
    tx.audit(user, "event.stream_key", Some(user), &event.id, now)
        .await?;
    core.commit(tx, Change::new(now)).await?;
    Ok(key)
}

/// The presenter whose stream key this is, admitted as the room would admit them: a key
/// of someone no longer presenting, or whose account is closed, admits nobody.
pub async fn stream_key_holder(core: &Core, event: &EventView, key: &str) -> Result<Participant> {
    if key.is_empty() || key.len() > MAX_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Unauthenticated);
    }
    let Some(user_id) = core
        .store
        .stream_key_owner(&event.id, &token_hash(key))
        .await?
    else {
        return Err(Error::Unauthenticated);
    };
    let row = core.store.user_by_id(&user_id).await?;
    let user = match row.as_ref().map(User::try_from).transpose()? {
        Some(u) if !u.disabled && !u.banned && row.is_some_and(|r| r.deleted_at.is_none()) => u,
        _ => return Err(Error::Unauthenticated),
    };
    match super::admit(core, event, Some(&user)).await {
        Ok(who) if who.role == RoomRole::Presenter => Ok(who),
        _ => Err(crate::features::forbidden(
            "This key's owner no longer presents this event.",
        )),
    }
}
