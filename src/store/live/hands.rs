//! Raised hands.

use crate::store::{Store, StoreResult, Tx, on_pool, on_tx};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HandRow {
    pub user_id: String,
    pub name: String,
    pub raised_at: i64,
    pub acknowledged: bool,
}

const HAND: &str = "SELECT h.user_id, u.display_name AS name, h.raised_at, h.acknowledged \
     FROM hands h JOIN users u ON u.id = h.user_id";

impl Store {
    /// Raised hands in raise order.
    pub async fn hands(&self, event_id: &str) -> StoreResult<Vec<HandRow>> {
        let sql = format!("{HAND} WHERE h.event_id = $1 ORDER BY h.raised_at, h.user_id");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .fetch_all(pool)
            .await?))
    }

    pub async fn hand(&self, event_id: &str, user_id: &str) -> StoreResult<Option<HandRow>> {
        let sql = format!("{HAND} WHERE h.event_id = $1 AND h.user_id = $2");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?))
    }
}

impl Tx {
    /// Raises a hand; false when it was already up.
    pub async fn raise_hand(
        &mut self,
        event_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            Ok(sqlx::query(
            "INSERT INTO hands (event_id, user_id, raised_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0)
        })
    }

    /// Lowers one hand; false when it was not up.
    pub async fn lower_hand(&mut self, event_id: &str, user_id: &str) -> StoreResult<bool> {
        self.one_row(
            "DELETE FROM hands WHERE event_id = $1 AND user_id = $2",
            event_id,
            user_id,
        )
        .await
    }

    /// Lowers every hand; returns whose.
    pub async fn lower_all_hands(&mut self, event_id: &str) -> StoreResult<Vec<String>> {
        on_tx!(self, |conn| {
            let rows: Vec<(String,)> =
                sqlx::query_as("DELETE FROM hands WHERE event_id = $1 RETURNING user_id")
                    .bind(event_id)
                    .fetch_all(&mut **conn)
                    .await?;
            Ok(rows.into_iter().map(|(u,)| u).collect())
        })
    }

    /// Marks a raised hand as seen; false when it was not up.
    pub async fn acknowledge_hand(&mut self, event_id: &str, user_id: &str) -> StoreResult<bool> {
        self.one_row(
            "UPDATE hands SET acknowledged = TRUE WHERE event_id = $1 AND user_id = $2",
            event_id,
            user_id,
        )
        .await
    }
}
