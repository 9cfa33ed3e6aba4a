//! Registrations: verified members register and unregister; with a capacity, extra people
//! wait in line and move up in order when a seat frees.

use serde::Serialize;

use super::{
    Core, Error, Result,
    accounts::Session,
    email,
    events::{self, EventView, Status},
    forbidden,
};
use crate::{
    clock::from_ms,
    store::{StoreError, registrations::RegisterOutcome},
};

fn closed(status: Status) -> Error {
    Error::Conflict(match status {
        Status::Cancelled => "This event was cancelled, so registration is closed.".into(),
        _ => "This event has ended, so registration is closed.".into(),
    })
}

pub async fn register(
    core: &Core,
    session: &Session,
    event_id: &str,
) -> Result<(EventView, RegisterOutcome)> {
    if !session.user.verified {
        return Err(forbidden(
            "Confirm your email address before registering. We sent you a link.",
        ));
    }
    let event = events::get(core, Some(&session.user), event_id).await?;
    if !event.status.accepts_registrations() {
        return Err(closed(event.status));
    }
    let outcome = match core
        .store
        .register(
            &event.id,
            &session.user.id,
            core.clock.now_ms(),
            &email::confirmation(event.id.clone(), core.clock.now_ms()),
        )
        .await
    {
        // The event closed between the read and the write.
        Err(StoreError::NotFound) => return Err(closed(Status::Ended)),
        other => other?,
    };
    Ok((
        events::get(core, Some(&session.user), &event.id).await?,
        outcome,
    ))
}

/// Leaves an event (or its waitlist); idempotent. Returns who moved up from the waitlist.
pub async fn unregister(
    core: &Core,
    session: &Session,
    event_id: &str,
) -> Result<(EventView, Vec<String>)> {
    let event = events::get(core, Some(&session.user), event_id).await?;
    if !event.status.accepts_registrations() {
        return Err(closed(event.status));
    }
    let (_, promoted) = match core
        .store
        .unregister(
            &event.id,
            &session.user.id,
            &email::confirmation(event.id.clone(), core.clock.now_ms()),
        )
        .await
    {
        Err(StoreError::NotFound) => return Err(closed(Status::Ended)),
        other => other?,
    };
    Ok((
        events::get(core, Some(&session.user), &event.id).await?,
        promoted,
    ))
}

pub async fn my_status(core: &Core, session: &Session, event_id: &str) -> Result<Option<String>> {
    Ok(core
        .store
        .registration_status(event_id, &session.user.id)
        .await?)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Registrant {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub status: String,
    pub registered_at: chrono::DateTime<chrono::Utc>,
}

/// The registration list, for the event's organizer (or an admin) only.
pub async fn registrants(
    core: &Core,
    session: &Session,
    event_id: &str,
) -> Result<(EventView, Vec<Registrant>)> {
    let event = events::get_managed(core, session, event_id).await?;
    let rows = core.store.registrants(&event.id).await?;
    let list = rows
        .into_iter()
        .map(|r| Registrant {
            user_id: r.user_id,
            display_name: r.display_name,
            email: r.email,
            status: r.status,
            registered_at: from_ms(r.created_at),
        })
        .collect();
    Ok((event, list))
}

/// The list as CSV. Cells that a spreadsheet would run as a formula are prefixed with `'`.
pub fn to_csv(list: &[Registrant]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["name", "email", "status", "registered_at"])
        .map_err(anyhow::Error::from)?;
    for r in list {
        w.write_record([
            defuse(&r.display_name).as_str(),
            defuse(&r.email).as_str(),
            r.status.as_str(),
            r.registered_at.to_rfc3339().as_str(),
        ])
        .map_err(anyhow::Error::from)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    Ok(String::from_utf8(bytes).map_err(anyhow::Error::from)?)
}

fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn spreadsheet_formulas_are_defused() {
        assert_eq!(super::defuse("=1+1"), "'=1+1");
        assert_eq!(super::defuse("@cmd"), "'@cmd");
        assert_eq!(super::defuse("Ada"), "Ada");
    }
}
