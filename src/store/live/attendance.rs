//! Visits to a room (who was there, from when to when, through which instance) and the
//! instances' heartbeats that close the visits a crashed instance left open.

use crate::store::{Store, StoreResult, on_pool};

impl Store {
    /// Someone started being in the room on this instance.
    pub async fn attendance_joined(
        &self,
        id: &str,
        event_id: &str,
        user_id: &str,
        instance: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO attendance (id, event_id, user_id, instance, joined_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(event_id)
            .bind(user_id)
            .bind(instance)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn attendance_left(&self, id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE attendance SET left_at = $2 WHERE id = $1 AND left_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// This instance is alive at `now`.
    pub async fn instance_seen(&self, instance: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO instances (id, seen_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(instance)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Closes the visits of instances not seen since `cutoff` (or never), as of when they
    /// were last seen, and forgets those instances. Returns the visits closed.
    pub async fn close_abandoned_visits(&self, cutoff: i64) -> StoreResult<u64> {
        on_pool!(self, |pool| {
            let closed = sqlx::query(
                "UPDATE attendance SET left_at = COALESCE(( \
                     SELECT CASE WHEN i.seen_at > attendance.joined_at THEN i.seen_at \
                            ELSE attendance.joined_at END \
                     FROM instances i WHERE i.id = attendance.instance), joined_at) \
                 WHERE left_at IS NULL \
                   AND instance NOT IN (SELECT id FROM instances WHERE seen_at >= $1)",
            )
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM instances WHERE seen_at < $1")
                .bind(cutoff)
                .execute(pool)
                .await?;
            Ok(closed)
        })
    }

    /// People in an event's room on other live instances: (instance, user id, display name,
    /// site role), from their open visits.
    pub async fn present_elsewhere(
        &self,
        event_id: &str,
        instance: &str,
    ) -> StoreResult<Vec<(String, String, String, String)>> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT DISTINCT a.instance, u.id, u.display_name, u.role \
             FROM attendance a JOIN users u ON u.id = a.user_id \
             JOIN instances i ON i.id = a.instance \
             WHERE a.event_id = $1 AND a.left_at IS NULL AND a.instance <> $2"
        )
        .bind(event_id)
        .bind(instance)
        .fetch_all(pool)
        .await?))
    }

    /// (user, joined_at, left_at) of every visit, for reports.
    pub async fn attendance(&self, event_id: &str) -> StoreResult<Vec<(String, i64, Option<i64>)>> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT user_id, joined_at, left_at FROM attendance WHERE event_id = $1 \
             ORDER BY joined_at, id"
        )
        .bind(event_id)
        .fetch_all(pool)
        .await?))
    }
}
