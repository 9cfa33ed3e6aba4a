//! Admin writes: each change to a user and its audit-log row commit in one transaction, so
//! the log can never miss an action that happened.

use super::{
    Store, StoreResult, Tx,
    accounts::{UserRow, user_columns},
    affected, on_pool, on_tx,
};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub target_id: Option<String>,
    pub detail: String,
    pub created_at: i64,
}

/// Who did what to whom; written next to the change it describes.
pub struct Audit<'a> {
    pub id: &'a str,
    pub actor_id: &'a str,
    pub action: &'a str,
    pub target_id: &'a str,
    pub detail: &'a str,
    pub now: i64,
}

/// The changes an admin can make to an account.
#[derive(Clone, Copy, Debug)]
pub enum UserChange<'a> {
    Role(&'a str),
    Disabled(bool),
    Banned(Option<&'a str>),
}

impl Store {
    /// Users whose email or name contains `query` (case-insensitive), newest first.
    pub async fn search_users(
        &self,
        query: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<UserRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.deleted_at IS NULL AND (LOWER(u.email) LIKE $1 ESCAPE '\\' \
             OR LOWER(u.display_name) LIKE $1 ESCAPE '\\') \
             ORDER BY u.created_at DESC, u.id DESC LIMIT $2 OFFSET $3"
        );
        let escaped = query
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        on_pool!(self, |pool| Ok(sqlx::query_as(SQL)
            .bind(pattern)
            .bind(limit + 1)
            .bind(offset)
            .fetch_all(pool)
            .await?))
    }
}

impl Tx {
    /// Applies one change and logs it. A disabled or banned account's sessions are refused from
    /// the next request on (and say why, once); enabling or unbanning deletes them, so no old
    /// session comes back to life.
    pub async fn change_user(
        &mut self,
        user_id: &str,
        change: UserChange<'_>,
        audit: Audit<'_>,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            let q = match change {
                UserChange::Role(role) => sqlx::query(
                    "UPDATE users SET role = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(user_id)
                .bind(role)
                .bind(audit.now),
                UserChange::Disabled(on) => sqlx::query(
                    "UPDATE users SET disabled_at = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(user_id)
                .bind(on.then_some(audit.now))
                .bind(audit.now),
                UserChange::Banned(reason) => sqlx::query(
                    "UPDATE users SET banned_at = $2, updated_at = $3, ban_reason = $4 \
                     WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(user_id)
                .bind(reason.map(|_| audit.now))
                .bind(audit.now)
                .bind(reason),
            };
            affected(q.execute(&mut **conn).await?.rows_affected())?;
            if matches!(
                change,
                UserChange::Disabled(false) | UserChange::Banned(None)
            ) {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut **conn)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO audit_log (id, actor_id, action, target_id, detail, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(audit.id)
            .bind(audit.actor_id)
            .bind(audit.action)
            .bind(audit.target_id)
            .bind(audit.detail)
            .bind(audit.now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }
}

impl Store {
    pub async fn audit_log(&self, offset: i64, limit: i64) -> StoreResult<Vec<AuditRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT a.id, a.actor_id, u.display_name AS actor_name, a.action, a.target_id, a.detail, \
             a.created_at FROM audit_log a JOIN users u ON u.id = a.actor_id \
             ORDER BY a.created_at DESC, a.id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit + 1)
        .bind(offset)
        .fetch_all(pool)
        .await?)
        })
    }

    /// Role set by the command line (`meetstage admin create`), logged as a system action.
    pub async fn set_role_unaudited(&self, user_id: &str, role: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let r = sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
                .bind(user_id)
                .bind(role)
                .bind(now)
                .execute(pool)
                .await?;
            affected(r.rows_affected())
        })
    }
}
