//! Registrations: verified members register and unregister; with a capacity, extra people
//! wait in line and move up in order when a seat frees. The store locks the event and counts
//! seats; the rules of who gets one live here.

use serde::Serialize;

use super::{
    Change, Core, Error, Result,
    accounts::Session,
    email,
    events::{self, EventView, Status},
    forbidden,
    ids::EventId,
};
use crate::{clock::from_ms, store::Tx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOutcome {
    Registered,
    /// Waiting for a seat; `position` 1 is next in line.
    Waitlisted {
        position: i64,
    },
    /// Nothing changed; the person already held this status.
    AlreadyRegistered,
    AlreadyWaitlisted,
}

impl RegisterOutcome {
    /// "registered" or "waitlisted": where the person stands now.
    pub fn status(self) -> &'static str {
        match self {
            RegisterOutcome::Registered | RegisterOutcome::AlreadyRegistered => "registered",
            RegisterOutcome::Waitlisted { .. } | RegisterOutcome::AlreadyWaitlisted => "waitlisted",
        }
    }
}

fn closed(status: Status) -> Error {
    Error::Conflict(match status {
        Status::Cancelled => "This event was cancelled, so registration is closed.".into(),
        _ => "This event has ended, so registration is closed.".into(),
    })
}

/// Opens a registration transaction on the event: its lock taken, its capacity read. An
/// event that closed between the read and the write reads as ended.
async fn lock_open(core: &Core, event_id: &str) -> Result<(Tx, Option<i32>)> {
    let mut tx = core.store.begin().await?;
    match tx.lock_open_event(event_id).await? {
        Some(capacity) => Ok((tx, capacity)),
        None => Err(closed(Status::Ended)),
    }
}

/// Gives free seats to the waitlist, longest waiting first, each with a confirmation in the
/// same transaction. Returns who moved up.
pub(crate) async fn fill_free_seats(
    tx: &mut Tx,
    event_id: &str,
    capacity: Option<i32>,
    change: &mut Change,
) -> Result<Vec<String>> {
    let mut promoted = Vec::new();
    loop {
        if let Some(cap) = capacity {
            let (taken, _) = tx.seat_counts(event_id).await?;
            if taken >= i64::from(cap) {
                break;
            }
        }
        let Some(user) = tx.promote_next_waitlisted(event_id).await? else {
            break;
        };
        change
            .effects
            .mails
            .push(email::confirmation(event_id, &user, change.effects.now));
        promoted.push(user);
    }
    Ok(promoted)
}

/// Registers, or waitlists when the event is full; idempotent.
pub async fn register(
    core: &Core,
    session: &Session,
    event_id: &EventId,
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
    let user = &session.user.id;
    let now = core.clock.now_ms();
    let mut change = Change::new(now);
    let (mut tx, capacity) = lock_open(core, &event.id).await?;
    let outcome = match tx.registration_status(&event.id, user).await?.as_deref() {
        Some("registered") => RegisterOutcome::AlreadyRegistered,
        Some(_) => RegisterOutcome::AlreadyWaitlisted,
        None => {
            let (taken, waiting) = tx.seat_counts(&event.id).await?;
            // Nobody jumps the queue: a free seat with people waiting goes to them first.
            let full = capacity.is_some_and(|c| taken >= i64::from(c) || waiting > 0);
            if full {
                tx.insert_registration(&event.id, user, "waitlisted", now)
                    .await?;
                let position = tx.waitlist_position(&event.id, user).await?;
                change
                    .effects
                    .mails
                    .push(email::waitlisted(&event.id, user, position, now));
                RegisterOutcome::Waitlisted { position }
            } else {
                tx.insert_registration(&event.id, user, "registered", now)
                    .await?;
                change
                    .effects
                    .mails
                    .push(email::confirmation(&event.id, user, now));
                RegisterOutcome::Registered
            }
        }
    };
    core.commit(tx, change).await?;
    Ok((
        events::get(core, Some(&session.user), &event.id).await?,
        outcome,
    ))
}

/// Leaves an event (or its waitlist); idempotent. Returns who moved up from the waitlist.
pub async fn unregister(
    core: &Core,
    session: &Session,
    event_id: &EventId,
) -> Result<(EventView, Vec<String>)> {
    let event = events::get(core, Some(&session.user), event_id).await?;
    if !event.status.accepts_registrations() {
        return Err(closed(event.status));
    }
    let mut change = Change::new(core.clock.now_ms());
    let (mut tx, capacity) = lock_open(core, &event.id).await?;
    tx.delete_registration(&event.id, &session.user.id).await?;
    let promoted = fill_free_seats(&mut tx, &event.id, capacity, &mut change).await?;
    core.commit(tx, change).await?;
    Ok((
        events::get(core, Some(&session.user), &event.id).await?,
        promoted,
    ))
}

pub async fn my_status(
    core: &Core,
    session: &Session,
    event_id: &EventId,
) -> Result<Option<String>> {
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
    event_id: &EventId,
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
            r.registered_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str(),
        ])
        .map_err(anyhow::Error::from)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    Ok(String::from_utf8(bytes).map_err(anyhow::Error::from)?)
}

pub(crate) fn defuse(cell: &str) -> String {
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
