//! Who presents an event: its owner and the co-presenters they name, and the keys they send
//! from OBS with.

use crate::store::{Store, StoreResult, Tx, on_pool, on_tx};

impl Store {
    /// The owner and the co-presenters of an event, in one query.
    pub async fn presenter_ids(&self, event_id: &str) -> StoreResult<Vec<String>> {
        on_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT owner_id FROM events WHERE id = $1 \
                 UNION SELECT user_id FROM event_presenters WHERE event_id = $1",
            )
            .bind(event_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(id,)| id).collect())
        })
    }

    /// The co-presenters the owner named.
    pub async fn co_presenters(&self, event_id: &str) -> StoreResult<Vec<(String, String)>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT p.user_id, u.display_name FROM event_presenters p JOIN users u ON u.id = p.user_id \
             WHERE p.event_id = $1 ORDER BY p.created_at, p.user_id"
        )
        .bind(event_id)
        .fetch_all(pool)
        .await?)
        })
    }

    /// Whose stream key for this event has this hash.
    pub async fn stream_key_owner(
        &self,
        event_id: &str,
        key_hash: &str,
    ) -> StoreResult<Option<String>> {
        on_pool!(self, |pool| {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT user_id FROM stream_keys WHERE event_id = $1 AND key_hash = $2",
            )
            .bind(event_id)
            .bind(key_hash)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(id,)| id))
        })
    }

    pub async fn is_co_presenter(&self, event_id: &str, user_id: &str) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let row: Option<(i32,)> = sqlx::query_as(
                "SELECT 1 FROM event_presenters WHERE event_id = $1 AND user_id = $2",
            )
            .bind(event_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }
}

impl Tx {
    pub async fn add_co_presenter(
        &mut self,
        event_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| Ok(sqlx::query(
            "INSERT INTO event_presenters (event_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING"
        )
        .bind(event_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0))
    }

    /// Keeps `key_hash` as the person's one stream key for the event, replacing any other.
    pub async fn replace_stream_key(
        &mut self,
        event_id: &str,
        user_id: &str,
        key_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO stream_keys (event_id, user_id, key_hash, created_at)                  VALUES ($1, $2, $3, $4) ON CONFLICT (event_id, user_id)                  DO UPDATE SET key_hash = excluded.key_hash, created_at = excluded.created_at",
            )
            .bind(event_id)
            .bind(user_id)
            .bind(key_hash)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            Ok(())
        })
    }

    pub async fn remove_co_presenter(
        &mut self,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        // Their key stops with their role.
        self.one_row(
            "DELETE FROM stream_keys WHERE event_id = $1 AND user_id = $2",
            event_id,
            user_id,
        )
        .await?;
        self.one_row(
            "DELETE FROM event_presenters WHERE event_id = $1 AND user_id = $2",
            event_id,
            user_id,
        )
        .await
    }
}
