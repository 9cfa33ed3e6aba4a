//! Chat messages and whether group chat is open.

use crate::store::{Store, StoreResult, Tx, on_pool, on_tx};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChatRow {
    pub id: String,
    pub event_id: String,
    pub user_id: Option<String>,
    pub author: Option<String>,
    pub direct: bool,
    pub to_user: Option<String>,
    pub to_name: Option<String>,
    pub body: String,
    pub deleted: bool,
    pub created_at: i64,
    /// IVS Chat's id of the relayed message (chat_provider = ivs), once relayed.
    pub relay_id: Option<String>,
}

const CHAT: &str = "SELECT m.id, m.event_id, m.user_id, a.display_name AS author, m.direct, \
     m.to_user, t.display_name AS to_name, m.body, m.deleted, m.created_at, \
     m.relay_id \
     FROM chat_messages m LEFT JOIN users a ON a.id = m.user_id \
     LEFT JOIN users t ON t.id = m.to_user";

/// A new chat message or system notice.
pub struct NewChat<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    pub user_id: Option<&'a str>,
    pub direct: bool,
    pub to_user: Option<&'a str>,
    pub body: &'a str,
    pub now: i64,
}

impl Store {
    /// Whether the presenters of an event were already told `text` (a system notice kept for
    /// them alone).
    pub async fn presenters_told(&self, event_id: &str, text: &str) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT 1 FROM chat_messages WHERE event_id = $1 AND user_id IS NULL \
                 AND direct = TRUE AND to_user IS NULL AND body = $2 LIMIT 1",
            )
            .bind(event_id)
            .bind(text)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }

    /// The last `limit` group messages and notices, oldest first; with `direct`, direct
    /// messages too (for presenters).
    pub async fn recent_chat(
        &self,
        event_id: &str,
        direct: bool,
        limit: i64,
    ) -> StoreResult<Vec<ChatRow>> {
        let sql = format!(
            "SELECT * FROM ({CHAT} WHERE m.event_id = $1 AND m.deleted = FALSE \
             AND (m.direct = FALSE OR $2) ORDER BY m.created_at DESC, m.id DESC LIMIT $3) r \
             ORDER BY r.created_at, r.id"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .bind(direct)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Direct messages `user_id` sent to the presenters or received from one, oldest first.
    pub async fn direct_chat_of(
        &self,
        event_id: &str,
        user_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<ChatRow>> {
        let sql = format!(
            "SELECT * FROM ({CHAT} WHERE m.event_id = $1 AND m.deleted = FALSE AND m.direct = TRUE \
             AND (m.user_id = $2 OR m.to_user = $2) ORDER BY m.created_at DESC, m.id DESC LIMIT $3) r \
             ORDER BY r.created_at, r.id"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .bind(user_id)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    pub async fn chat_message(&self, id: &str) -> StoreResult<Option<ChatRow>> {
        let sql = format!("{CHAT} WHERE m.id = $1");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Keeps the id IVS Chat gave a relayed message.
    pub async fn set_chat_relay_id(&self, id: &str, relay_id: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE chat_messages SET relay_id = $2 WHERE id = $1")
                .bind(id)
                .bind(relay_id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    pub async fn chat_open(&self, event_id: &str) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let row: Option<(bool,)> = sqlx::query_as("SELECT chat_open FROM events WHERE id = $1")
                .bind(event_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.is_some_and(|(open,)| open))
        })
    }
}

impl Tx {
    pub async fn insert_chat(&mut self, m: NewChat<'_>) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO chat_messages (id, event_id, user_id, direct, to_user, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(m.id)
            .bind(m.event_id)
            .bind(m.user_id)
            .bind(m.direct)
            .bind(m.to_user)
            .bind(m.body)
            .bind(m.now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// Hides a message; false when it was not there (or already deleted).
    pub async fn delete_chat(&mut self, event_id: &str, id: &str) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            Ok(sqlx::query(
            "UPDATE chat_messages SET deleted = TRUE WHERE id = $1 AND event_id = $2 AND deleted = FALSE"
        )
        .bind(id)
        .bind(event_id)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0)
        })
    }

    pub async fn set_chat_open(&mut self, event_id: &str, open: bool, now: i64) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query("UPDATE events SET chat_open = $2, updated_at = $3 WHERE id = $1")
                .bind(event_id)
                .bind(open)
                .bind(now)
                .execute(&mut **conn)
                .await?;
        });
        Ok(())
    }
}
