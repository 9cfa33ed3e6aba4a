//! The store seam: the only module that knows sqlx. Every query is written once in portable
//! SQL (`$1` placeholders, `RETURNING`, `ON CONFLICT`, ids and times made in Rust) and run by
//! [`on_pool!`] on whichever backend is configured. Dialect-specific SQL, where it is
//! unavoidable, is named and kept side by side in the same function.

pub mod accounts;
pub mod admin;
pub mod chat_rooms;
pub mod costs;
pub mod events;
pub mod jobs;
pub mod live;
pub mod notify;
pub mod outbox;
pub mod recap;
pub mod recordings;
pub mod registrations;
pub mod stages;

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint refused the write; says which.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(ref d) if d.is_unique_violation() => {
                StoreError::Conflict(Conflict::of(d.as_ref()))
            }
            other => StoreError::Database(other),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which uniqueness rule refused a write, so a feature answers "email already taken" only
/// when that is what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    UserEmail,
    /// Any other; the database's message.
    Other(String),
}

impl Conflict {
    fn of(e: &dyn sqlx::error::DatabaseError) -> Conflict {
        // Postgres names the constraint; SQLite names table and column in its message.
        let name = e.constraint().unwrap_or_default();
        if name == "users_email_key" || e.message().ends_with("users.email") {
            Conflict::UserEmail
        } else {
            Conflict::Other(e.message().to_string())
        }
    }
}

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same block on whichever pool is configured; `pool` is bound to the concrete pool,
/// so one SQL text and one block of Rust serve both backends (the block is compiled once for
/// each). Written `on_pool!(self, |pool| …)`, closure-shaped so rustfmt formats the body.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

/// An open write transaction on either backend. Features begin one, make their changes
/// through its methods, and finish with [`Tx::commit`], which writes the change's
/// [`Effects`] (mail, jobs) in the same transaction. Dropped without commit, it rolls back.
pub struct Tx(TxInner);

pub(crate) enum TxInner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Like [`on_pool!`] for a [`Tx`]: `$conn` is the concrete `&mut Transaction`; queries run on
/// `&mut **$conn`.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match &mut $tx.0 {
            $crate::store::TxInner::Sqlite($conn) => $body,
            $crate::store::TxInner::Postgres($conn) => $body,
        }
    };
}
pub(crate) use on_tx;

impl Tx {
    /// Writes the effects, then commits: the change, its mail and its jobs, or none of them.
    pub async fn commit(mut self, effects: &Effects) -> StoreResult<()> {
        on_tx!(self, |conn| {
            apply_effects!(*conn, effects);
        });
        match self.0 {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Connects to `sqlite:…` (creating the file) or `postgres://…`.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            // No ping before each use: the file is local, and the ping is a round trip to the
            // connection's worker thread that would double the cost of every query.
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .test_before_acquire(false)
                .connect_with(opts)
                .await?;
            Db::Sqlite(pool)
        } else {
            // A broken connection shows up as an error and is replaced; pinging before every
            // query would add a network round trip to each.
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Db::Postgres(pool)
        };
        Ok(Store { db })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite(p) => SQLITE_MIGRATOR.run(p).await?,
            Db::Postgres(p) => POSTGRES_MIGRATOR.run(p).await?,
        }
        Ok(())
    }

    /// Readiness: the database answers a trivial query.
    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// The one dialect difference of the queue queries (jobs, outbox): on Postgres a claim
    /// skips rows another instance is claiming; SQLite serialises writers anyway.
    fn skip_locked(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Begins a write transaction (see [`Tx`]).
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(Tx(match &self.db {
            Db::Sqlite(p) => TxInner::Sqlite(p.begin().await?),
            Db::Postgres(p) => TxInner::Postgres(p.begin().await?),
        }))
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// A job to schedule as part of a write (see [`Effects`]).
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: &'static str,
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub run_at: i64,
}

/// What a write must also do, in its own transaction: mails to send, jobs to schedule, jobs
/// (by dedupe key) to cancel. Built by the features layer; applied by the store.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    pub mails: Vec<outbox::NewMail>,
    pub jobs: Vec<NewJob>,
    pub unschedule: Vec<String>,
    pub now: i64,
}

macro_rules! apply_effects {
    ($tx:expr, $e:expr) => {{
        let e: &$crate::store::Effects = $e;
        for m in &e.mails {
            $crate::store::outbox::insert_mail!($tx, m);
        }
        for j in &e.jobs {
            $crate::store::jobs::schedule_job!($tx, j, e.now);
        }
        $crate::store::jobs::unschedule_jobs!($tx, &e.unschedule);
    }};
}
pub(crate) use apply_effects;

/// Fails with NotFound when an UPDATE or DELETE matched nothing.
pub(crate) fn affected(rows: u64) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
