//! Registrations and the waitlist. Writes that depend on the seat count first touch the event
//! row: on Postgres that takes the row lock, on SQLite the write lock, so seat counting is
//! serialised per event on both backends without dialect-specific SQL.

use super::{
    Store, StoreError, StoreResult, on_pool,
    outbox::{NewMail, insert_mail},
};

/// Builds the confirmation mail for a user who got a seat (registered or promoted).
pub type Confirmation<'a> = &'a (dyn Fn(&str) -> NewMail + Send + Sync);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOutcome {
    Registered,
    Waitlisted,
    /// Nothing changed; the person already held this status.
    AlreadyRegistered,
    AlreadyWaitlisted,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RegistrantRow {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub status: String,
    pub created_at: i64,
}

/// Takes the per-event lock (see module docs) and returns the capacity, or None if the event
/// is not open for registration changes.
macro_rules! lock_open_event {
    ($tx:expr, $event_id:expr) => {
        sqlx::query_as::<_, (Option<i32>,)>(
            "UPDATE events SET updated_at = updated_at WHERE id = $1 \
             AND status IN ('scheduled', 'staging', 'live') RETURNING capacity",
        )
        .bind($event_id)
        .fetch_optional(&mut *$tx)
        .await?
        .map(|(c,)| c)
    };
}

/// Moves waitlisted people up, oldest first, while seats are free; returns who moved.
macro_rules! promote_waitlisted {
    ($tx:expr, $event_id:expr, $capacity:expr, $confirm:expr) => {{
        let mut promoted = Vec::new();
        loop {
            if let Some(cap) = $capacity {
                let (taken,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM registrations WHERE event_id = $1 AND status = 'registered'",
                )
                .bind($event_id)
                .fetch_one(&mut *$tx)
                .await?;
                if taken >= i64::from(cap) {
                    break;
                }
            }
            let next: Option<(String,)> = sqlx::query_as(
                "UPDATE registrations SET status = 'registered' WHERE event_id = $1 AND user_id = \
                 (SELECT user_id FROM registrations WHERE event_id = $1 AND status = 'waitlisted' \
                  ORDER BY created_at, user_id LIMIT 1) RETURNING user_id",
            )
            .bind($event_id)
            .fetch_optional(&mut *$tx)
            .await?;
            match next {
                Some((user,)) => {
                    let mail = $confirm(&user);
                    insert_mail!($tx, mail);
                    promoted.push(user);
                }
                None => break,
            }
        }
        promoted
    }};
}

impl Store {
    /// Registers, or waitlists when the event is full; idempotent. NotFound if the event is
    /// not open (the features layer reports why).
    pub async fn register(
        &self,
        event_id: &str,
        user_id: &str,
        now: i64,
        confirm: Confirmation<'_>,
    ) -> StoreResult<RegisterOutcome> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let capacity = lock_open_event!(tx, event_id).ok_or(StoreError::NotFound)?;
            let existing: Option<(String,)> = sqlx::query_as(
                "SELECT status FROM registrations WHERE event_id = $1 AND user_id = $2",
            )
            .bind(event_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((status,)) = existing {
                tx.commit().await?;
                return Ok(if status == "registered" {
                    RegisterOutcome::AlreadyRegistered
                } else {
                    RegisterOutcome::AlreadyWaitlisted
                });
            }
            let (taken, waiting): (i64, i64) = sqlx::query_as(
                "SELECT \
                 (SELECT COUNT(*) FROM registrations WHERE event_id = $1 AND status = 'registered'), \
                 (SELECT COUNT(*) FROM registrations WHERE event_id = $1 AND status = 'waitlisted')",
            )
            .bind(event_id)
            .fetch_one(&mut *tx)
            .await?;
            // Nobody jumps the queue: a free seat with people waiting goes to them first.
            let full = capacity.is_some_and(|c| taken >= i64::from(c) || waiting > 0);
            let status = if full { "waitlisted" } else { "registered" };
            sqlx::query(
                "INSERT INTO registrations (event_id, user_id, status, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(event_id)
            .bind(user_id)
            .bind(status)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if !full {
                let mail = confirm(user_id);
                insert_mail!(tx, mail);
            }
            tx.commit().await?;
            Ok(if full { RegisterOutcome::Waitlisted } else { RegisterOutcome::Registered })
        })
    }

    /// Removes a registration and promotes from the waitlist; returns whether anything was
    /// removed and who was promoted. NotFound if the event is not open.
    pub async fn unregister(
        &self,
        event_id: &str,
        user_id: &str,
        confirm: Confirmation<'_>,
    ) -> StoreResult<(bool, Vec<String>)> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let capacity = lock_open_event!(tx, event_id).ok_or(StoreError::NotFound)?;
            let removed = sqlx::query("DELETE FROM registrations WHERE event_id = $1 AND user_id = $2")
                .bind(event_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            let promoted = promote_waitlisted!(tx, event_id, capacity, confirm);
            tx.commit().await?;
            Ok((removed, promoted))
        })
    }

    /// Fills free seats from the waitlist (after a capacity rise or an account deletion).
    pub async fn promote_waitlist(
        &self,
        event_id: &str,
        confirm: Confirmation<'_>,
    ) -> StoreResult<Vec<String>> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let Some(capacity) = lock_open_event!(tx, event_id) else {
                tx.commit().await?;
                return Ok(Vec::new());
            };
            let promoted = promote_waitlisted!(tx, event_id, capacity, confirm);
            tx.commit().await?;
            Ok(promoted)
        })
    }

    pub async fn registration_status(
        &self,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<String>> {
        on_pool!(self, pool => {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT status FROM registrations WHERE event_id = $1 AND user_id = $2",
            )
            .bind(event_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(s,)| s))
        })
    }

    /// Everyone registered or waiting, registered first, each group in arrival order.
    pub async fn registrants(&self, event_id: &str) -> StoreResult<Vec<RegistrantRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT r.user_id, u.display_name, u.email, r.status, r.created_at \
             FROM registrations r JOIN users u ON u.id = r.user_id WHERE r.event_id = $1 \
             ORDER BY CASE r.status WHEN 'registered' THEN 0 ELSE 1 END, r.created_at, r.user_id",
        )
        .bind(event_id)
        .fetch_all(pool)
        .await?))
    }
}
