//! Remote stages (Amazon IVS) and the participant ids minted for them. Written by the stage
//! jobs as each AWS call succeeds, so a job that runs again after a crash knows what is done.

use crate::store::{Store, StoreResult, Tx, on_pool, on_tx};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StageRow {
    pub event_id: String,
    pub arn: String,
    pub whip_url: String,
    pub events_url: String,
    pub composition_arn: Option<String>,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str = "event_id, arn, whip_url, events_url, composition_arn, created_at, closed_at";

impl Store {
    /// The event's stage, open or closed.
    pub async fn stage(&self, event_id: &str) -> StoreResult<Option<StageRow>> {
        on_pool!(self, |pool| {
            Ok(
                sqlx::query_as(&format!("SELECT {COLUMNS} FROM stages WHERE event_id = $1"))
                    .bind(event_id)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Stages not yet closed, oldest first.
    pub async fn open_stages(&self, limit: i64) -> StoreResult<Vec<StageRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM stages WHERE closed_at IS NULL \
                 ORDER BY created_at, event_id LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// How many stages are open, across all instances.
    pub async fn count_open_stages(&self) -> StoreResult<i64> {
        on_pool!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT COUNT(*) FROM stages WHERE closed_at IS NULL")
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    /// Records a stage IVS created for the event; a stage recorded before (a closed one, for an
    /// event that went back to the green room) is replaced.
    pub async fn put_stage(&self, row: &StageRow) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO stages (event_id, arn, whip_url, events_url, composition_arn, \
                 created_at, closed_at) VALUES ($1, $2, $3, $4, NULL, $5, NULL) \
                 ON CONFLICT (event_id) DO UPDATE SET arn = excluded.arn, \
                 whip_url = excluded.whip_url, events_url = excluded.events_url, \
                 composition_arn = NULL, created_at = excluded.created_at, closed_at = NULL",
            )
            .bind(&row.event_id)
            .bind(&row.arn)
            .bind(&row.whip_url)
            .bind(&row.events_url)
            .bind(row.created_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    pub async fn set_composition(&self, event_id: &str, arn: Option<&str>) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE stages SET composition_arn = $2 WHERE event_id = $1")
                .bind(event_id)
                .bind(arn)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Marks the stage closed and forgets the participant ids minted for it (no one can
    /// be disconnected from a stage that is gone).
    pub async fn close_stage(&self, event_id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE stages SET closed_at = $2, composition_arn = NULL \
                 WHERE event_id = $1 AND closed_at IS NULL",
            )
            .bind(event_id)
            .bind(now)
            .execute(pool)
            .await?;
            sqlx::query("DELETE FROM stage_participants WHERE event_id = $1")
                .bind(event_id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    pub async fn add_stage_participant(
        &self,
        participant_id: &str,
        event_id: &str,
        user_id: Option<&str>,
        screen: bool,
        publisher: bool,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO stage_participants (participant_id, event_id, user_id, screen, \
                 issued_at, publisher) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(participant_id)
            .bind(event_id)
            .bind(user_id)
            .bind(screen)
            .bind(now)
            .bind(publisher)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Records whether the newest token minted for a participant lets it publish.
    pub async fn set_stage_publisher(
        &self,
        event_id: &str,
        participant_id: &str,
        publisher: bool,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE stage_participants SET publisher = $3 \
                 WHERE event_id = $1 AND participant_id = $2",
            )
            .bind(event_id)
            .bind(participant_id)
            .bind(publisher)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Every participant minted for the event's stage since `since`: whether each is a shared
    /// screen, and whether its newest token lets it publish.
    pub async fn stage_publishers(
        &self,
        event_id: &str,
        since: i64,
    ) -> StoreResult<std::collections::HashMap<String, (bool, bool)>> {
        on_pool!(self, |pool| {
            let rows: Vec<(String, bool, bool)> = sqlx::query_as(
                "SELECT participant_id, screen, publisher FROM stage_participants \
                 WHERE event_id = $1 AND issued_at >= $2",
            )
            .bind(event_id)
            .bind(since)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(p, s, x)| (p, (s, x))).collect())
        })
    }

    /// Who a participant id was minted for: `Some((user, screen))`, the user None for a guest.
    pub async fn stage_participant(
        &self,
        event_id: &str,
        participant_id: &str,
    ) -> StoreResult<Option<(Option<String>, bool)>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT user_id, screen FROM stage_participants \
                 WHERE event_id = $1 AND participant_id = $2",
            )
            .bind(event_id)
            .bind(participant_id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The participant ids minted for a person on an event's stage since `since`, the newest
    /// 50 (a page mints one per load; older ones left long ago).
    pub async fn stage_participants_of(
        &self,
        event_id: &str,
        user_id: &str,
        since: i64,
    ) -> StoreResult<Vec<String>> {
        Ok(self
            .stage_participants_with(event_id, user_id, since)
            .await?
            .into_iter()
            .map(|(p, _, _)| p)
            .collect())
    }

    /// Like [`Store::stage_participants_of`], with whether each is a screen and a publisher.
    pub async fn stage_participants_with(
        &self,
        event_id: &str,
        user_id: &str,
        since: i64,
    ) -> StoreResult<Vec<(String, bool, bool)>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT participant_id, screen, publisher FROM stage_participants \
                 WHERE event_id = $1 AND user_id = $2 AND issued_at >= $3 \
                 ORDER BY issued_at DESC, participant_id DESC LIMIT 50",
            )
            .bind(event_id)
            .bind(user_id)
            .bind(since)
            .fetch_all(pool)
            .await?)
        })
    }
}

impl Tx {
    /// Events whose open remote stage has a participant id minted for `user`, and those
    /// whose open chat room they have been in: where a closed account must be disconnected.
    pub async fn remote_presence_of(
        &mut self,
        user_id: &str,
    ) -> StoreResult<(Vec<String>, Vec<String>)> {
        on_tx!(self, |conn| {
            let stages: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT s.event_id FROM stages s \
                 JOIN stage_participants p ON p.event_id = s.event_id \
                 WHERE s.closed_at IS NULL AND p.user_id = $1 AND p.issued_at >= s.created_at",
            )
            .bind(user_id)
            .fetch_all(&mut **conn)
            .await?;
            let rooms: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT r.event_id FROM chat_rooms r \
                 JOIN attendance a ON a.event_id = r.event_id \
                 WHERE r.closed_at IS NULL AND a.user_id = $1",
            )
            .bind(user_id)
            .fetch_all(&mut **conn)
            .await?;
            Ok((
                stages.into_iter().map(|(e,)| e).collect(),
                rooms.into_iter().map(|(e,)| e).collect(),
            ))
        })
    }
}

/// A composition IVS recorded an event with.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct CompositionRow {
    pub arn: String,
    pub event_id: String,
    pub stage_arn: String,
    pub started_at: i64,
    /// When IVS said it ended (its EventBridge event).
    pub ended_at: Option<i64>,
    /// Where its output was found in the bucket.
    pub prefix: Option<String>,
}

impl Store {
    /// Records a composition IVS started for the event (once; a retried job finds it there).
    pub async fn add_composition(
        &self,
        arn: &str,
        event_id: &str,
        stage_arn: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO ivs_compositions (arn, event_id, stage_arn, started_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (arn) DO NOTHING",
            )
            .bind(arn)
            .bind(event_id)
            .bind(stage_arn)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The event's compositions, in the order they started.
    pub async fn compositions(&self, event_id: &str) -> StoreResult<Vec<CompositionRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT arn, event_id, stage_arn, started_at, ended_at, prefix \
                 FROM ivs_compositions WHERE event_id = $1 ORDER BY started_at, arn",
            )
            .bind(event_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// IVS said the composition ended; its event, if it is one of ours.
    pub async fn composition_ended(&self, arn: &str, now: i64) -> StoreResult<Option<String>> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE ivs_compositions SET ended_at = $2 WHERE arn = $1 AND ended_at IS NULL",
            )
            .bind(arn)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(
                sqlx::query_scalar("SELECT event_id FROM ivs_compositions WHERE arn = $1")
                    .bind(arn)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Where the composition's output is in the bucket.
    pub async fn set_composition_prefix(&self, arn: &str, prefix: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE ivs_compositions SET prefix = $2 WHERE arn = $1")
                .bind(arn)
                .bind(prefix)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}
