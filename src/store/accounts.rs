//! Users, server-side sessions and single-use account tokens.

use super::{Store, StoreResult, Tx, affected, on_pool, on_tx};

/// The user columns, in the order [`UserRow`] reads them; a macro so `concat!` can splice it.
macro_rules! user_columns {
    () => {
        "u.id, u.email, u.display_name, u.password_hash, u.role, u.email_verified_at, \
         u.disabled_at, u.banned_at, u.ban_reason, u.deleted_at, u.failed_logins, \
         u.locked_until, u.created_at, u.updated_at"
    };
}
pub(crate) use user_columns;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub email_verified_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub banned_at: Option<i64>,
    pub ban_reason: Option<String>,
    pub deleted_at: Option<i64>,
    pub failed_logins: i32,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionUserRow {
    pub session_last_seen_at: i64,
    pub session_expires_at: i64,
    #[sqlx(flatten)]
    pub user: UserRow,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRow {
    pub user_id: String,
    pub new_email: Option<String>,
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub email_verified_at: Option<i64>,
    pub now: i64,
}

impl Store {
    /// Inserts a user in a transaction of its own (for the CLI and tests).
    pub async fn insert_user(&self, u: NewUser<'_>) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.insert_user(u).await?;
        tx.commit(&super::Effects::default()).await
    }

    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.email = $1"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(SQL)
            .bind(email)
            .fetch_optional(pool)
            .await?))
    }

    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>> {
        const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users u WHERE u.id = $1");
        on_pool!(self, |pool| Ok(sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Until when logins for this key (account and client) are locked, if they are now.
    pub async fn login_locked_until(&self, key: &str, now: i64) -> StoreResult<Option<i64>> {
        on_pool!(self, |pool| {
            let row: Option<(Option<i64>,)> = sqlx::query_as(
                "SELECT locked_until FROM login_failures WHERE key = $1 AND locked_until > $2",
            )
            .bind(key)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            Ok(row.and_then(|(t,)| t))
        })
    }

    /// Counts a failed login for `key` atomically (parallel attempts are all counted; a lock
    /// that has run out starts the count over). At `max` failures the key is locked until
    /// `lock_until`; returns the lock when this failure set it.
    pub async fn record_login_failure(
        &self,
        key: &str,
        now: i64,
        max: i32,
        lock_until: i64,
    ) -> StoreResult<Option<i64>> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let (failures,): (i32,) = sqlx::query_as(
                "INSERT INTO login_failures (key, failures, locked_until, updated_at) VALUES ($1, 1, NULL, $2) \
                 ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN login_failures.locked_until IS NULL \
                 THEN login_failures.failures + 1 ELSE 1 END, locked_until = NULL, updated_at = $2 \
                 RETURNING failures",
            )
            .bind(key)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let locked = failures >= max;
            if locked {
                sqlx::query("UPDATE login_failures SET locked_until = $2 WHERE key = $1")
                    .bind(key)
                    .bind(lock_until)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(locked.then_some(lock_until))
        })
    }

    /// A successful login forgets the failures of that key.
    pub async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM login_failures WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn set_display_name(&self, user_id: &str, name: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let r =
                sqlx::query("UPDATE users SET display_name = $2, updated_at = $3 WHERE id = $1")
                    .bind(user_id)
                    .bind(name)
                    .bind(now)
                    .execute(pool)
                    .await?;
            affected(r.rows_affected())
        })
    }

    // --- sessions ---------------------------------------------------------------------------

    pub async fn insert_session(
        &self,
        id_hash: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at) \
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(id_hash)
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The live session with its user, read together on every request so that a disabled
    /// account or a changed role takes effect at once.
    pub async fn session_user(
        &self,
        id_hash: &str,
        now: i64,
    ) -> StoreResult<Option<SessionUserRow>> {
        const SQL: &str = concat!(
            "SELECT s.last_seen_at AS session_last_seen_at, s.expires_at AS session_expires_at, ",
            user_columns!(),
            " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(SQL)
            .bind(id_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    pub async fn touch_session(&self, id_hash: &str, now: i64, expires_at: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1",
            )
            .bind(id_hash)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn delete_expired(&self, now: i64) -> StoreResult<u64> {
        on_pool!(self, |pool| {
            let a = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            let b = sqlx::query("DELETE FROM account_tokens WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            // Failure counts a day old no longer matter (a lock lasts minutes).
            let c = sqlx::query("DELETE FROM login_failures WHERE updated_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)")
                .bind(now - 86_400_000)
                .execute(pool)
                .await?;
            Ok(a.rows_affected() + b.rows_affected() + c.rows_affected())
        })
    }

    // --- single-use tokens ------------------------------------------------------------------
}

impl Store {
    /// (reminders, event news) switches of a user.
    pub async fn mail_preferences(&self, user_id: &str) -> StoreResult<(bool, bool)> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT mail_reminders, mail_event_news FROM users WHERE id = $1"
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await?
        .ok_or(super::StoreError::NotFound)?))
    }

    pub async fn set_mail_preferences(
        &self,
        user_id: &str,
        reminders: bool,
        event_news: bool,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let r = sqlx::query("UPDATE users SET mail_reminders = $2, mail_event_news = $3, updated_at = $4 WHERE id = $1")
                .bind(user_id)
                .bind(reminders)
                .bind(event_news)
                .bind(now)
                .execute(pool)
                .await?;
            affected(r.rows_affected())
        })
    }
}

/// Account writes, inside a feature's transaction.
impl Tx {
    pub async fn insert_user(&mut self, u: NewUser<'_>) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO users (id, email, display_name, password_hash, role, \
                 email_verified_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(u.id)
            .bind(u.email)
            .bind(u.display_name)
            .bind(u.password_hash)
            .bind(u.role)
            .bind(u.email_verified_at)
            .bind(u.now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    pub async fn mark_email_verified(&mut self, user_id: &str, now: i64) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), \
                 updated_at = $2 WHERE id = $1",
            )
            .bind(user_id)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// A new password; open reset links stop working (the old password may be what leaked).
    pub async fn set_password_hash(
        &mut self,
        user_id: &str,
        hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = 'reset_password' AND used_at IS NULL")
                .bind(user_id)
                .execute(&mut **conn)
                .await?;
            let r = sqlx::query(
                "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL, \
                 updated_at = $3 WHERE id = $1",
            )
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            affected(r.rows_affected())
        })
    }

    /// Sets a new (already verified) email; Conflict if another account holds it.
    pub async fn set_email(&mut self, user_id: &str, email: &str, now: i64) -> StoreResult<()> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE users SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1",
            )
            .bind(user_id)
            .bind(email)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            affected(r.rows_affected())
        })
    }

    /// Deletes an account by anonymising it: rows that point at it (events, audit) stay valid,
    /// while the person's data, sessions, tokens and registrations go.
    pub async fn anonymise_user(&mut self, user_id: &str, now: i64) -> StoreResult<Vec<String>> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE users SET email = $2, display_name = 'Deleted user', password_hash = '', \
                 deleted_at = $3, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(user_id)
            .bind(format!("deleted-{user_id}@invalid"))
            .bind(now)
            .execute(&mut **conn)
            .await?;
            affected(r.rows_affected())?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut **conn)
                .await?;
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut **conn)
                .await?;
            sqlx::query("DELETE FROM stream_keys WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut **conn)
                .await?;
            let events: Vec<(String,)> =
                sqlx::query_as("DELETE FROM registrations WHERE user_id = $1 RETURNING event_id")
                    .bind(user_id)
                    .fetch_all(&mut **conn)
                    .await?;
            Ok(events.into_iter().map(|(e,)| e).collect())
        })
    }

    /// Ends one session (logout).
    pub async fn delete_session(&mut self, id_hash: &str) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(&mut **conn)
                .await?;
        });
        Ok(())
    }

    /// Ends every session of a user, except `keep` (the one that made the change) if given.
    pub async fn delete_user_sessions(
        &mut self,
        user_id: &str,
        keep: Option<&str>,
    ) -> StoreResult<u64> {
        on_tx!(self, |conn| {
            let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id)
                .bind(keep.unwrap_or(""))
                .execute(&mut **conn)
                .await?;
            Ok(r.rows_affected())
        })
    }

    /// Stores a token hash; earlier unused tokens of the same purpose stop working.
    pub async fn insert_token(
        &mut self,
        token_hash: &str,
        user_id: &str,
        purpose: &str,
        new_email: Option<&str>,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2")
                .bind(user_id)
                .bind(purpose)
                .execute(&mut **conn)
                .await?;
            sqlx::query(
                "INSERT INTO account_tokens (token_hash, user_id, purpose, new_email, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(user_id)
            .bind(purpose)
            .bind(new_email)
            .bind(now)
            .bind(expires_at)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// Uses a token exactly once: the conditional UPDATE lets one caller win even if two
    /// clicks arrive together.
    pub async fn consume_token(
        &mut self,
        token_hash: &str,
        purpose: &str,
        now: i64,
    ) -> StoreResult<Option<TokenRow>> {
        on_tx!(self, |conn| Ok(sqlx::query_as(
            "UPDATE account_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING user_id, new_email",
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now)
        .fetch_optional(&mut **conn)
        .await?))
    }
}
