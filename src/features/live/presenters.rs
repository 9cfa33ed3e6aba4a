//! Co-presenters: people the organizer names to run the room with them. Naming or removing
//! someone changes their role, so their open sockets are closed with a code that makes the
//! page load again in the new role.

use super::user_id;
use crate::{
    features::{
        Change, Core, Error, FieldErrors, Result,
        accounts::{Email, Session},
        events::{EventView, Status, get_managed},
        ids::{EventId, UserId},
    },
    realtime::Notice,
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
    change
        .notices
        .push((event.id.to_string(), Notice::Role { user: user.clone() }));
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
