//! What events used on Amazon IVS, for the monthly ceiling and the figures organizers see,
//! and the places under an event's viewer cap.

use crate::store::{Store, StoreResult, Tx, on_pool, on_tx};

/// One event's usage in a month.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageRow {
    pub event_id: String,
    pub participant_ms: i64,
    pub composition_ms: i64,
    pub audience: i64,
}

impl Tx {
    /// Adds the time since the stage's last look to the month's usage: `count` people
    /// connected (None: as many as at the last look) and a composition if `composing`. The
    /// gap counted is at most `max_gap_ms`, so a stage nobody looked at for hours (a long
    /// outage) is not billed as if its last count stayed. False if the stage is closed or
    /// another look got there first.
    #[allow(clippy::too_many_arguments)]
    pub async fn sample_stage(
        &mut self,
        event_id: &str,
        month: &str,
        now: i64,
        count: Option<i64>,
        composing: bool,
        max_gap_ms: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let row: Option<(Option<i64>, i64, i64)> = sqlx::query_as(
                "SELECT sampled_at, sampled_count, created_at FROM stages \
                 WHERE event_id = $1 AND closed_at IS NULL",
            )
            .bind(event_id)
            .fetch_optional(&mut **conn)
            .await?;
            let Some((sampled_at, last, created_at)) = row else {
                return Ok(false);
            };
            let count = count.unwrap_or(last).max(0);
            let gap = now
                .saturating_sub(sampled_at.unwrap_or(created_at))
                .clamp(0, max_gap_ms);
            let moved = sqlx::query(
                "UPDATE stages SET sampled_at = $2, sampled_count = $3 \
                 WHERE event_id = $1 AND COALESCE(sampled_at, -1) = $4",
            )
            .bind(event_id)
            .bind(now)
            .bind(count)
            .bind(sampled_at.unwrap_or(-1))
            .execute(&mut **conn)
            .await?;
            if moved.rows_affected() != 1 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO ivs_usage (month, event_id, participant_ms, composition_ms, audience) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (month, event_id) DO UPDATE SET \
                 participant_ms = ivs_usage.participant_ms + excluded.participant_ms, \
                 composition_ms = ivs_usage.composition_ms + excluded.composition_ms, \
                 audience = CASE WHEN excluded.audience > ivs_usage.audience \
                 THEN excluded.audience ELSE ivs_usage.audience END",
            )
            .bind(month)
            .bind(event_id)
            .bind(count.saturating_mul(gap))
            .bind(if composing { gap } else { 0 })
            .bind(count)
            .execute(&mut **conn)
            .await?;
            Ok(true)
        })
    }

    /// Sets or clears the event's viewer cap while it has not ended; false once it has.
    pub async fn set_viewer_cap(
        &mut self,
        event_id: &str,
        cap: Option<i32>,
        now: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE events SET viewer_cap = $2, updated_at = $3 \
                 WHERE id = $1 AND status IN ('scheduled', 'staging', 'live')",
            )
            .bind(event_id)
            .bind(cap)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }
}

impl Store {
    /// Every event's usage in a month (`YYYY-MM`).
    pub async fn month_usage(&self, month: &str) -> StoreResult<Vec<UsageRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT event_id, participant_ms, composition_ms, audience FROM ivs_usage \
                 WHERE month = $1 ORDER BY event_id",
            )
            .bind(month)
            .fetch_all(pool)
            .await?)
        })
    }

    /// How many chat messages each event relayed through IVS Chat in `[from, to)`.
    pub async fn relayed_messages(&self, from: i64, to: i64) -> StoreResult<Vec<(String, i64)>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT event_id, COUNT(*) FROM chat_messages \
                 WHERE relay_id IS NOT NULL AND created_at >= $1 AND created_at < $2 \
                 GROUP BY event_id ORDER BY event_id",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?)
        })
    }

    /// How many watching participants hold a place on the stage created at
    /// `stage_created_at`, and whether `participant` holds one already.
    pub async fn seating(
        &self,
        event_id: &str,
        stage_created_at: i64,
        participant: Option<&str>,
    ) -> StoreResult<(i64, bool)> {
        on_pool!(self, |pool| {
            let (seated, held): (i64, i64) = sqlx::query_as(
                "SELECT COALESCE(SUM(CASE WHEN issued_at >= $2 AND NOT screen AND NOT publisher \
                 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN participant_id = $3 THEN 1 ELSE 0 END), 0) \
                 FROM stage_participants WHERE event_id = $1 AND left_at IS NULL",
            )
            .bind(event_id)
            .bind(stage_created_at)
            .bind(participant)
            .fetch_one(pool)
            .await?;
            Ok((seated, held == 1))
        })
    }

    /// The watching participants holding a place, with when their token was minted.
    pub async fn seats(
        &self,
        event_id: &str,
        stage_created_at: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT participant_id, issued_at FROM stage_participants WHERE event_id = $1 \
                 AND issued_at >= $2 AND NOT screen AND NOT publisher AND left_at IS NULL \
                 ORDER BY participant_id",
            )
            .bind(event_id)
            .bind(stage_created_at)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Frees a participant's place (`left` true: IVS no longer reports it) or takes it
    /// again; true if that changed anything.
    pub async fn set_left(
        &self,
        event_id: &str,
        participant_id: &str,
        left: Option<i64>,
    ) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let r = sqlx::query(
                "UPDATE stage_participants SET left_at = $3 \
                 WHERE event_id = $1 AND participant_id = $2 \
                 AND (left_at IS NULL) = ($3 IS NOT NULL)",
            )
            .bind(event_id)
            .bind(participant_id)
            .bind(left)
            .execute(pool)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }
}
