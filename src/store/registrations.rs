//! Registrations and the waitlist. Writes that depend on the seat count first touch the event
//! row: on Postgres that takes the row lock, on SQLite the write lock, so seat counting is
//! serialised per event on both backends without dialect-specific SQL.

use super::{Store, StoreResult, Tx, on_pool, on_tx};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RegistrantRow {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub status: String,
    pub created_at: i64,
}

/// Registration writes: the store locks and counts; the registrations feature decides who
/// gets a seat.
impl Tx {
    /// Takes the per-event lock (see module docs) and returns the capacity (`Some(None)`: no
    /// limit), or None if the event is not open for registration changes.
    pub async fn lock_open_event(&mut self, event_id: &str) -> StoreResult<Option<Option<i32>>> {
        on_tx!(self, |conn| {
            let row: Option<(Option<i32>,)> = sqlx::query_as(
                "UPDATE events SET updated_at = updated_at WHERE id = $1 \
                 AND status IN ('scheduled', 'staging', 'live') RETURNING capacity",
            )
            .bind(event_id)
            .fetch_optional(&mut **conn)
            .await?;
            Ok(row.map(|(c,)| c))
        })
    }

    /// (registered, waitlisted) for an event.
    pub async fn seat_counts(&mut self, event_id: &str) -> StoreResult<(i64, i64)> {
        on_tx!(self, |conn| Ok(sqlx::query_as(
            "SELECT \
             (SELECT COUNT(*) FROM registrations WHERE event_id = $1 AND status = 'registered'), \
             (SELECT COUNT(*) FROM registrations WHERE event_id = $1 AND status = 'waitlisted')",
        )
        .bind(event_id)
        .fetch_one(&mut **conn)
        .await?))
    }

    pub async fn registration_status(
        &mut self,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<String>> {
        on_tx!(self, |conn| {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT status FROM registrations WHERE event_id = $1 AND user_id = $2",
            )
            .bind(event_id)
            .bind(user_id)
            .fetch_optional(&mut **conn)
            .await?;
            Ok(row.map(|(s,)| s))
        })
    }

    pub async fn insert_registration(
        &mut self,
        event_id: &str,
        user_id: &str,
        status: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO registrations (event_id, user_id, status, created_at, seq) VALUES ($1, $2, $3, $4, \
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM registrations WHERE event_id = $1))",
            )
            .bind(event_id)
            .bind(user_id)
            .bind(status)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// True if there was a registration (or waitlist place) to remove.
    pub async fn delete_registration(
        &mut self,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query("DELETE FROM registrations WHERE event_id = $1 AND user_id = $2")
                .bind(event_id)
                .bind(user_id)
                .execute(&mut **conn)
                .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Gives the seat to whoever has waited longest; returns who, or None if nobody waits.
    pub async fn promote_next_waitlisted(&mut self, event_id: &str) -> StoreResult<Option<String>> {
        on_tx!(self, |conn| {
            let next: Option<(String,)> = sqlx::query_as(
                "UPDATE registrations SET status = 'registered' WHERE event_id = $1 AND user_id = \
                 (SELECT user_id FROM registrations WHERE event_id = $1 AND status = 'waitlisted' \
                  ORDER BY seq, created_at, user_id LIMIT 1) RETURNING user_id",
            )
            .bind(event_id)
            .fetch_optional(&mut **conn)
            .await?;
            Ok(next.map(|(u,)| u))
        })
    }

    /// A waitlisted person's place in line (1 = next).
    pub async fn waitlist_position(&mut self, event_id: &str, user_id: &str) -> StoreResult<i64> {
        on_tx!(self, |conn| {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM registrations w, registrations me \
                 WHERE me.event_id = $1 AND me.user_id = $2 AND w.event_id = $1 AND w.status = 'waitlisted' \
                 AND (w.seq, w.created_at, w.user_id) <= (me.seq, me.created_at, me.user_id)",
            )
            .bind(event_id)
            .bind(user_id)
            .fetch_one(&mut **conn)
            .await?;
            Ok(n)
        })
    }
}

impl Store {
    pub async fn registration_status(
        &self,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<String>> {
        on_pool!(self, |pool| {
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
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT r.user_id, u.display_name, u.email, r.status, r.created_at \
             FROM registrations r JOIN users u ON u.id = r.user_id WHERE r.event_id = $1 \
             ORDER BY CASE r.status WHEN 'registered' THEN 0 ELSE 1 END, r.seq, r.created_at, r.user_id",
        )
        .bind(event_id)
        .fetch_all(pool)
        .await?)
        })
    }
}
