//! Each person's standing in an event (mutes, restrictions, speaking, bans) and
//! whether they have been in its room.

use crate::store::{Store, StoreResult, Tx, on_pool, on_tx};

#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct StandingRow {
    pub user_id: String,
    pub name: String,
    pub muted: bool,
    pub chat_restricted: bool,
    pub questions_restricted: bool,
    pub can_speak: bool,
    pub banned_at: Option<i64>,
    pub ban_reason: Option<String>,
}

const STANDING: &str = "SELECT p.user_id, u.display_name AS name, p.muted, p.chat_restricted, \
     p.questions_restricted, p.can_speak, p.banned_at, p.ban_reason \
     FROM participants p JOIN users u ON u.id = p.user_id";

/// One change to a person's standing; `None` leaves a field as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct StandingChange<'a> {
    pub muted: Option<bool>,
    pub chat_restricted: Option<bool>,
    pub questions_restricted: Option<bool>,
    pub can_speak: Option<bool>,
    /// `Some(Some(reason))` bans, `Some(None)` unbans.
    pub ban: Option<Option<&'a str>>,
}

impl Store {
    /// People of an event with any standing recorded (restricted, muted, speaking, banned).
    pub async fn standings(&self, event_id: &str) -> StoreResult<Vec<StandingRow>> {
        let sql = format!(
            "{STANDING} WHERE p.event_id = $1 AND (p.muted OR p.chat_restricted \
             OR p.questions_restricted OR p.can_speak OR p.banned_at IS NOT NULL) \
             ORDER BY u.display_name, p.user_id"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .fetch_all(pool)
            .await?))
    }

    pub async fn standing(
        &self,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<StandingRow>> {
        let sql = format!("{STANDING} WHERE p.event_id = $1 AND p.user_id = $2");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?))
    }

    /// Whether `user_id` has ever been in the event's room.
    pub async fn attended(&self, event_id: &str, user_id: &str) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let row: Option<(i32,)> = sqlx::query_as(
                "SELECT 1 FROM attendance WHERE event_id = $1 AND user_id = $2 LIMIT 1",
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
    /// Applies a standing change, creating the person's row on first use.
    pub async fn change_standing(
        &mut self,
        event_id: &str,
        user_id: &str,
        c: StandingChange<'_>,
        now: i64,
    ) -> StoreResult<()> {
        let (ban_set, banned_at, reason) = match c.ban {
            None => (false, None, None),
            Some(Some(reason)) => (true, Some(now), Some(reason)),
            Some(None) => (true, None, None),
        };
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO participants (event_id, user_id, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(event_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            sqlx::query(
                "UPDATE participants SET muted = COALESCE($3, muted), \
                 chat_restricted = COALESCE($4, chat_restricted), \
                 questions_restricted = COALESCE($5, questions_restricted), \
                 can_speak = COALESCE($6, can_speak), \
                 banned_at = CASE WHEN $7 THEN $8 ELSE banned_at END, \
                 ban_reason = CASE WHEN $7 THEN $9 ELSE ban_reason END, \
                 updated_at = $10 WHERE event_id = $1 AND user_id = $2",
            )
            .bind(event_id)
            .bind(user_id)
            .bind(c.muted)
            .bind(c.chat_restricted)
            .bind(c.questions_restricted)
            .bind(c.can_speak)
            .bind(ban_set)
            .bind(banned_at)
            .bind(reason)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }
}
