//! The `jobs` table behind the in-process job loop. Claiming is atomic: a conditional UPDATE
//! with a lease (plus `FOR UPDATE SKIP LOCKED` on Postgres, so instances can share it).

use super::{Backend, NewJob, Store, StoreResult, on_pool};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub run_at: i64,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Schedules a job on any connection or transaction. With a dedupe key, scheduling again
/// replaces the earlier run time and payload (how reminders follow a moved start).
macro_rules! schedule_job {
    ($conn:expr, $job:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO jobs (id, kind, dedupe_key, payload, run_at, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6) \
             ON CONFLICT (dedupe_key) DO UPDATE SET kind = excluded.kind, payload = excluded.payload, \
             run_at = excluded.run_at, attempts = 0, locked_until = NULL, last_error = NULL, dead_at = NULL",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind($job.kind)
        .bind(&$job.dedupe_key)
        .bind(&$job.payload)
        .bind($job.run_at)
        .bind($now)
        .execute(&mut *$conn)
        .await?
    };
}
pub(crate) use schedule_job;

macro_rules! unschedule_jobs {
    ($conn:expr, $keys:expr) => {
        for key in $keys {
            sqlx::query("DELETE FROM jobs WHERE dedupe_key = $1")
                .bind(key)
                .execute(&mut *$conn)
                .await?;
        }
    };
}
pub(crate) use unschedule_jobs;

impl Store {
    pub async fn schedule_job(&self, job: &NewJob, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            schedule_job!(conn, job, now);
        });
        Ok(())
    }

    /// Leases the next due job until `lease_until`: of kind `kind` only, or (`only` false)
    /// of any other kind.
    pub async fn claim_job(
        &self,
        now: i64,
        lease_until: i64,
        kind: &str,
        only: bool,
    ) -> StoreResult<Option<JobRow>> {
        let sql = format!(
            "UPDATE jobs SET locked_until = $2, attempts = attempts + 1 WHERE id = \
             (SELECT id FROM jobs WHERE run_at <= $1 AND dead_at IS NULL \
              AND (kind = $3) = $4 \
              AND (locked_until IS NULL OR locked_until < $1) ORDER BY run_at, id LIMIT 1{}) \
             AND (locked_until IS NULL OR locked_until < $1) \
             RETURNING id, kind, dedupe_key, payload, run_at, attempts, last_error",
            self.skip_locked()
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(now)
            .bind(lease_until)
            .bind(kind)
            .bind(only)
            .fetch_optional(pool)
            .await?))
    }

    /// Keeps a running job's lease (a long job would otherwise be taken over as abandoned).
    pub async fn extend_lease(&self, id: &str, lease_until: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET locked_until = $2 WHERE id = $1 AND locked_until IS NOT NULL",
            )
            .bind(id)
            .bind(lease_until)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Done: the job is removed, unless it was rescheduled while it ran (its run time moved).
    pub async fn finish_job(&self, id: &str, claimed_run_at: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("DELETE FROM jobs WHERE id = $1 AND run_at = $2")
                .bind(id)
                .bind(claimed_run_at)
                .execute(pool)
                .await?;
            sqlx::query("UPDATE jobs SET locked_until = NULL WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A failed run: retried at `retry_at`, or dead-lettered (never claimed again) when None.
    pub async fn fail_job(
        &self,
        id: &str,
        retry_at: Option<i64>,
        error: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET run_at = COALESCE($2, run_at), last_error = $3, locked_until = NULL, \
                 dead_at = CASE WHEN $2 IS NULL THEN $4 ELSE NULL END WHERE id = $1",
            )
            .bind(id)
            .bind(retry_at)
            .bind(error)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Dead-lettered jobs, for operators and tests.
    pub async fn dead_jobs(&self) -> StoreResult<Vec<JobRow>> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT id, kind, dedupe_key, payload, run_at, attempts, last_error FROM jobs \
             WHERE dead_at IS NOT NULL ORDER BY run_at, id",
        )
        .fetch_all(pool)
        .await?))
    }

    /// When the job with this dedupe key runs, if it is scheduled.
    pub async fn job_run_at(&self, dedupe_key: &str) -> StoreResult<Option<i64>> {
        on_pool!(self, |pool| Ok(sqlx::query_scalar(
            "SELECT run_at FROM jobs WHERE dedupe_key = $1"
        )
        .bind(dedupe_key)
        .fetch_optional(pool)
        .await?))
    }

    pub async fn jobs_by_kind(&self, kind: &str) -> StoreResult<Vec<JobRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT id, kind, dedupe_key, payload, run_at, attempts, last_error FROM jobs WHERE kind = $1 ORDER BY run_at, id",
        )
        .bind(kind)
        .fetch_all(pool)
        .await?)
        })
    }

    /// User ids of registered people of an event after `after` (keyset), for fan-outs in
    /// batches that never hold the whole list.
    pub async fn registered_user_ids(
        &self,
        event_id: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        on_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT user_id FROM registrations WHERE event_id = $1 AND status = 'registered' \
                 AND user_id > $2 ORDER BY user_id LIMIT $3",
            )
            .bind(event_id)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(u,)| u).collect())
        })
    }

    /// Enqueues many mails in one transaction (a fan-out batch); duplicates are dropped.
    pub async fn enqueue_mails(&self, mails: &[super::outbox::NewMail]) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for m in mails {
                super::outbox::insert_mail!(tx, m);
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

impl Store {
    /// At start-up on SQLite (one process owns the file), work leased by a process that died
    /// is released at once instead of waiting for the lease to run out.
    pub async fn release_stale_leases(&self) -> StoreResult<()> {
        if self.backend() != Backend::Sqlite {
            return Ok(());
        }
        on_pool!(self, |pool| {
            sqlx::query("UPDATE jobs SET locked_until = NULL WHERE locked_until IS NOT NULL")
                .execute(pool)
                .await?;
            sqlx::query("UPDATE outbox SET locked_until = NULL WHERE locked_until IS NOT NULL")
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

impl Store {
    /// Jobs whose time has come, running or not (tests wait for these to drain).
    pub async fn due_jobs(&self, now: i64) -> StoreResult<i64> {
        on_pool!(self, |pool| {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE run_at <= $1")
                .bind(now)
                .fetch_one(pool)
                .await?;
            Ok(n)
        })
    }
}
