//! The mail outbox: rows written in the same transaction as the change that causes them,
//! claimed by the delivery worker with a lease, and marked sent, retried or dead.

use super::{Store, StoreResult, on_pool};

macro_rules! outbox_columns {
    () => {
        "id, idempotency_key, purpose, user_id, event_id, to_address, payload, status, attempts, \
         next_attempt_at, last_error, created_at, sent_at"
    };
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub idempotency_key: String,
    pub purpose: String,
    pub user_id: String,
    pub event_id: Option<String>,
    pub to_address: Option<String>,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// A mail to send; `key` makes the write idempotent (one row per purpose and recipient).
#[derive(Clone, Debug)]
pub struct NewMail {
    pub key: String,
    pub purpose: &'static str,
    pub user_id: String,
    pub event_id: Option<String>,
    pub to_address: Option<String>,
    pub payload: String,
    pub now: i64,
}

/// Inserts a [`NewMail`] on any connection or transaction; a second row with the same key
/// is silently dropped.
macro_rules! insert_mail {
    ($conn:expr, $m:expr) => {
        sqlx::query(
            "INSERT INTO outbox (id, idempotency_key, purpose, user_id, event_id, to_address, payload, \
             status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&$m.key)
        .bind($m.purpose)
        .bind(&$m.user_id)
        .bind(&$m.event_id)
        .bind(&$m.to_address)
        .bind(&$m.payload)
        .bind($m.now)
        .execute(&mut *$conn)
        .await?
    };
}
pub(crate) use insert_mail;

impl Store {
    pub async fn enqueue_mail(&self, m: &NewMail) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            insert_mail!(conn, m);
        });
        Ok(())
    }

    /// Leases the next due mail until `lease_until`; None when nothing is due.
    pub async fn claim_mail(&self, now: i64, lease_until: i64) -> StoreResult<Option<OutboxRow>> {
        let sql = format!(
            "UPDATE outbox SET locked_until = $2 WHERE id = (SELECT id FROM outbox \
             WHERE status = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
             ORDER BY next_attempt_at, id LIMIT 1{}) \
             AND (locked_until IS NULL OR locked_until < $1) RETURNING {}",
            self.skip_locked(),
            outbox_columns!()
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(now)
            .bind(lease_until)
            .fetch_optional(pool)
            .await?))
    }

    /// Sent: the payload (which may hold a link token) is emptied.
    pub async fn mark_mail_sent(&self, id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox SET status = 'sent', payload = '{}', sent_at = $2, attempts = attempts + 1, \
                 locked_until = NULL, last_error = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Not sent on purpose (the event was cancelled, the account deleted, …).
    pub async fn mark_mail_skipped(&self, id: &str, reason: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox SET status = 'skipped', payload = '{}', locked_until = NULL, last_error = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(reason)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A failed attempt: retried at `retry_at`, or dead when that is None.
    pub async fn mark_mail_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2, locked_until = NULL, \
                 status = CASE WHEN $3 IS NULL THEN 'dead' ELSE 'pending' END, \
                 next_attempt_at = COALESCE($3, next_attempt_at) WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .bind(retry_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Outbox rows by status (all when None), newest first, for the admin page and tests.
    pub async fn outbox(
        &self,
        status: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            outbox_columns!(),
            " FROM outbox WHERE ($1 IS NULL OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(SQL)
            .bind(status)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?))
    }
}

impl Store {
    /// Puts a dead (or waiting) mail back in line now; false if it was already sent.
    pub async fn retry_mail(&self, id: &str, now: i64) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let r = sqlx::query(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, locked_until = NULL \
                 WHERE id = $1 AND status IN ('pending', 'dead')",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }
}
