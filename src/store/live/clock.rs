//! The event clock's one write: a longer duration.

use crate::store::{StoreResult, Tx, on_tx};

impl Tx {
    /// Sets an event's length (the clock's extend).
    pub async fn set_duration(
        &mut self,
        event_id: &str,
        minutes: i32,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE events SET duration_minutes = $2, updated_at = $3, sequence = sequence + 1 \
                 WHERE id = $1",
            )
            .bind(event_id)
            .bind(minutes)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }
}
