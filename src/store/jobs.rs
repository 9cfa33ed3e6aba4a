//! The `jobs` table behind the in-process job loop. Claiming is atomic: a conditional UPDATE
//! with a lease (plus `FOR UPDATE SKIP LOCKED` on Postgres, so instances can share it).

use super::{Backend, Store, StoreResult, on_pool};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub run_at: i64,
    pub attempts: i32,
}

/// Schedules a job on any connection or transaction. With a dedupe key, scheduling again
/// replaces the earlier run time and payload (how reminders follow a moved start).
macro_rules! schedule_job {
    ($conn:expr, $kind:expr, $dedupe:expr, $payload:expr, $run_at:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO jobs (id, kind, dedupe_key, payload, run_at, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6) \
             ON CONFLICT (dedupe_key) DO UPDATE SET payload = excluded.payload, run_at = excluded.run_at, \
             attempts = 0, locked_until = NULL, last_error = NULL",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind($kind)
        .bind($dedupe)
        .bind($payload)
        .bind($run_at)
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
    pub async fn schedule_job(
        &self,
        kind: &str,
        dedupe_key: Option<&str>,
        payload: &str,
        run_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut conn = pool.acquire().await?;
            schedule_job!(conn, kind, dedupe_key, payload, run_at, now);
        });
        Ok(())
    }

    /// Leases the next due job until `lease_until`.
    pub async fn claim_job(&self, now: i64, lease_until: i64) -> StoreResult<Option<JobRow>> {
        const SQLITE: &str = "UPDATE jobs SET locked_until = $2, attempts = attempts + 1 WHERE id = \
             (SELECT id FROM jobs WHERE run_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
              ORDER BY run_at, id LIMIT 1) \
             AND (locked_until IS NULL OR locked_until < $1) \
             RETURNING id, kind, dedupe_key, payload, run_at, attempts";
        const POSTGRES: &str = "UPDATE jobs SET locked_until = $2, attempts = attempts + 1 WHERE id = \
             (SELECT id FROM jobs WHERE run_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
              ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             AND (locked_until IS NULL OR locked_until < $1) \
             RETURNING id, kind, dedupe_key, payload, run_at, attempts";
        let sql = match self.backend() {
            Backend::Sqlite => SQLITE,
            Backend::Postgres => POSTGRES,
        };
        on_pool!(self, pool => Ok(sqlx::query_as(sql).bind(now).bind(lease_until).fetch_optional(pool).await?))
    }

    /// Done: the job is removed, unless it was rescheduled while it ran (its run time moved).
    pub async fn finish_job(&self, id: &str, claimed_run_at: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM jobs WHERE id = $1 AND run_at = $2").bind(id).bind(claimed_run_at).execute(pool).await?;
            sqlx::query("UPDATE jobs SET locked_until = NULL WHERE id = $1").bind(id).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn retry_job(&self, id: &str, run_at: i64, error: &str) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE jobs SET run_at = $2, last_error = $3, locked_until = NULL WHERE id = $1")
                .bind(id)
                .bind(run_at)
                .bind(error)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// When the job with this dedupe key runs, if it is scheduled.
    pub async fn job_run_at(&self, dedupe_key: &str) -> StoreResult<Option<i64>> {
        on_pool!(self, pool => Ok(sqlx::query_scalar("SELECT run_at FROM jobs WHERE dedupe_key = $1")
            .bind(dedupe_key)
            .fetch_optional(pool)
            .await?))
    }

    pub async fn jobs_by_kind(&self, kind: &str) -> StoreResult<Vec<JobRow>> {
        on_pool!(self, pool => Ok(sqlx::query_as(
            "SELECT id, kind, dedupe_key, payload, run_at, attempts FROM jobs WHERE kind = $1 ORDER BY run_at, id",
        )
        .bind(kind)
        .fetch_all(pool)
        .await?))
    }

    /// User ids of registered people of an event after `after` (keyset), for fan-outs in
    /// batches that never hold the whole list.
    pub async fn registered_user_ids(
        &self,
        event_id: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        on_pool!(self, pool => {
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
        on_pool!(self, pool => {
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
        on_pool!(self, pool => {
            sqlx::query("UPDATE jobs SET locked_until = NULL WHERE locked_until IS NOT NULL").execute(pool).await?;
            sqlx::query("UPDATE outbox SET locked_until = NULL WHERE locked_until IS NOT NULL").execute(pool).await?;
        });
        Ok(())
    }
}

impl Store {
    /// Jobs whose time has come, running or not (tests wait for these to drain).
    pub async fn due_jobs(&self, now: i64) -> StoreResult<i64> {
        on_pool!(self, pool => {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE run_at <= $1").bind(now).fetch_one(pool).await?;
            Ok(n)
        })
    }
}
