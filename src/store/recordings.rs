//! An event's recording after the end: its state while a job composes it, what people play,
//! and whether the organizer published it.

use super::{Store, StoreResult, Tx, on_pool, on_tx};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordingRow {
    pub event_id: String,
    /// waiting, processing, ready, empty, failed, refused (never started) or deleted.
    pub state: String,
    /// 0 to 100 while processing.
    pub progress: i32,
    pub duration_ms: Option<i64>,
    pub published: bool,
    /// The chapters, as JSON (`[{"at_ms":0,"title":"Live"}]`).
    pub chapters: String,
    pub error: Option<String>,
    pub updated_at: i64,
}

/// A recording that is not done yet, with its event's title.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UnfinishedRow {
    #[sqlx(flatten)]
    pub recording: RecordingRow,
    pub title: String,
}

const COLUMNS: &str =
    "event_id, state, progress, duration_ms, published, chapters, error, updated_at";

impl Tx {
    pub async fn set_recording_published(
        &mut self,
        event_id: &str,
        published: bool,
        now: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE recordings SET published = $2, updated_at = $3 \
                 WHERE event_id = $1 AND state = 'ready'",
            )
            .bind(event_id)
            .bind(published)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    /// The organizer deleted the recording (not while it is being composed). False when
    /// there is none to delete.
    pub async fn recording_deleted(&mut self, event_id: &str, now: i64) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE recordings SET state = 'deleted', progress = 0, published = FALSE, \
                 chapters = '[]', error = NULL, updated_at = $2 \
                 WHERE event_id = $1 AND state NOT IN ('deleted', 'processing')",
            )
            .bind(event_id)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    /// The event ended with a recording to compose: it waits for its job (again, after an
    /// event that went live twice). Nothing changes for a recording deleted by its organizer.
    pub async fn recording_waiting(&mut self, event_id: &str, now: i64) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO recordings (event_id, state, progress, updated_at) \
                 VALUES ($1, 'waiting', 0, $2) ON CONFLICT (event_id) DO UPDATE SET \
                 state = 'waiting', progress = 0, error = NULL, updated_at = excluded.updated_at \
                 WHERE recordings.state <> 'deleted'",
            )
            .bind(event_id)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// The recording did not start, for `reason` (the organizer reads it on the event page).
    pub async fn recording_refused(
        &mut self,
        event_id: &str,
        reason: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO recordings (event_id, state, progress, error, updated_at) \
                 VALUES ($1, 'refused', 0, $2, $3) ON CONFLICT (event_id) DO UPDATE SET \
                 state = 'refused', progress = 0, error = excluded.error, \
                 updated_at = excluded.updated_at WHERE recordings.state <> 'deleted'",
            )
            .bind(event_id)
            .bind(reason)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// A failed recording waits for its job again; false if it had not failed.
    pub async fn recording_retry(&mut self, event_id: &str, now: i64) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE recordings SET state = 'waiting', progress = 0, error = NULL, \
                 updated_at = $2 WHERE event_id = $1 AND state = 'failed'",
            )
            .bind(event_id)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// What the end of an event means for its recording.
    pub async fn end_facts(&mut self, event_id: &str) -> StoreResult<Option<EndFacts>> {
        on_tx!(self, |conn| {
            let row: Option<(String, Option<i64>, bool)> =
                sqlx::query_as("SELECT status, live_at, record FROM events WHERE id = $1")
                    .bind(event_id)
                    .fetch_optional(&mut **conn)
                    .await?;
            Ok(row.map(|(status, live_at, record)| EndFacts {
                ended: status == "ended",
                live_at,
                record,
            }))
        })
    }
}

/// Whether an event that just left the stage has a recording to compose.
#[derive(Clone, Copy, Debug)]
pub struct EndFacts {
    pub ended: bool,
    pub live_at: Option<i64>,
    pub record: bool,
}

impl Store {
    pub async fn recording(&self, event_id: &str) -> StoreResult<Option<RecordingRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM recordings WHERE event_id = $1"
            ))
            .bind(event_id)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Recordings that are not ready, failed ones first, with their event's title (the
    /// admin's list), at most `limit`.
    pub async fn unfinished_recordings(&self, limit: i64) -> StoreResult<Vec<UnfinishedRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT r.event_id, r.state, r.progress, r.duration_ms, r.published, r.chapters, \
                 r.error, r.updated_at, e.title FROM recordings r JOIN events e ON e.id = r.event_id \
                 WHERE r.state IN ('waiting', 'processing', 'failed') \
                 ORDER BY CASE WHEN r.state = 'failed' THEN 0 ELSE 1 END, r.updated_at DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Moves the recording to `state` with its progress; a deleted one stays deleted.
    pub async fn set_recording_state(
        &self,
        event_id: &str,
        state: &str,
        progress: i32,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let r = sqlx::query(
                "UPDATE recordings SET state = $2, progress = $3, error = $4, updated_at = $5 \
                 WHERE event_id = $1 AND state <> 'deleted'",
            )
            .bind(event_id)
            .bind(state)
            .bind(progress)
            .bind(error)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    /// The composed recording is in the store: ready to play.
    pub async fn recording_ready(
        &self,
        event_id: &str,
        duration_ms: i64,
        chapters: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let r = sqlx::query(
                "UPDATE recordings SET state = 'ready', progress = 100, duration_ms = $2, \
                 chapters = $3, error = NULL, updated_at = $4 \
                 WHERE event_id = $1 AND state <> 'deleted'",
            )
            .bind(event_id)
            .bind(duration_ms)
            .bind(chapters)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(r.rows_affected() > 0)
        })
    }
}
