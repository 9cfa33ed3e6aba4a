//! IVS Chat rooms, one per event (chat_provider = ivs).

use crate::store::{Store, StoreResult, on_pool};

impl Store {
    /// The event's open chat room's ARN.
    pub async fn chat_room(&self, event_id: &str) -> StoreResult<Option<String>> {
        on_pool!(self, |pool| {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT arn FROM chat_rooms WHERE event_id = $1 AND closed_at IS NULL",
            )
            .bind(event_id)
            .fetch_optional(pool)
            .await?;
            Ok(row.map(|(a,)| a))
        })
    }

    pub async fn put_chat_room(&self, event_id: &str, arn: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO chat_rooms (event_id, arn, created_at, closed_at) \
                 VALUES ($1, $2, $3, NULL) ON CONFLICT (event_id) DO UPDATE SET \
                 arn = excluded.arn, created_at = excluded.created_at, closed_at = NULL",
            )
            .bind(event_id)
            .bind(arn)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    pub async fn close_chat_room(&self, event_id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE chat_rooms SET closed_at = $2 WHERE event_id = $1 AND closed_at IS NULL",
            )
            .bind(event_id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }
}
