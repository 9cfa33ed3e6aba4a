//! The live room's record: questions and votes, hands, chat, each person's standing,
//! co-presenters and attendance, one file per feature as in `features::live`. Reads serve
//! snapshots and the rooms' reloads; writes are `Tx` methods so a feature commits them with
//! their audit row and room notice.

mod attendance;
mod chat;
mod clock;
mod hands;
mod moderation;
mod presenters;
mod questions;

pub use chat::{ChatRow, NewChat};
pub use hands::HandRow;
pub use moderation::{StandingChange, StandingRow};
pub use questions::QuestionRow;

use super::{StoreResult, Tx, on_tx};

impl Tx {
    /// Runs a statement on one person's row of an event (`$1` the event, `$2` the person);
    /// true when it changed a row.
    async fn one_row(
        &mut self,
        sql: &'static str,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| Ok(sqlx::query(sql)
            .bind(event_id)
            .bind(user_id)
            .execute(&mut **conn)
            .await?
            .rows_affected()
            > 0))
    }

    /// One audit-log row, written with the change it describes.
    pub async fn audit(
        &mut self,
        actor_id: &str,
        action: &str,
        target_id: Option<&str>,
        detail: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO audit_log (id, actor_id, action, target_id, detail, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(actor_id)
            .bind(action)
            .bind(target_id)
            .bind(detail)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }
}
