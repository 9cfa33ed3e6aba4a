//! Events and their lifecycle. Every status change is a compare-and-set UPDATE, so two clicks
//! or two processes can never make two transitions.

use super::{Store, StoreResult, Tx, on_pool, on_tx};

/// Columns of [`EventRow`]: the event, its owner's name and its registration counts.
macro_rules! event_columns {
    () => {
        "e.id, e.owner_id, o.display_name AS owner_name, e.title, e.description, e.starts_at, \
         e.duration_minutes, e.time_zone, e.capacity, e.visibility, e.status, e.sequence, \
         e.created_at, e.updated_at, e.live_at, e.record, e.viewer_cap, \
         (SELECT COUNT(*) FROM registrations r WHERE r.event_id = e.id AND r.status = 'registered') AS registered_count, \
         (SELECT COUNT(*) FROM registrations r WHERE r.event_id = e.id AND r.status = 'waitlisted') AS waitlisted_count"
    };
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: String,
    pub owner_id: String,
    pub owner_name: String,
    pub title: String,
    pub description: String,
    pub starts_at: i64,
    pub duration_minutes: i32,
    pub time_zone: String,
    pub capacity: Option<i32>,
    pub visibility: String,
    pub status: String,
    pub sequence: i32,
    pub created_at: i64,
    pub updated_at: i64,
    pub live_at: Option<i64>,
    pub record: bool,
    pub viewer_cap: Option<i32>,
    pub registered_count: i64,
    pub waitlisted_count: i64,
}

/// The writable fields of an event, already validated by the features layer.
pub struct EventFields<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub starts_at: i64,
    pub duration_minutes: i32,
    pub time_zone: &'a str,
    pub capacity: Option<i32>,
    pub visibility: &'a str,
}

/// Which home-page section to list; each has its own order and keyset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Live,
    Upcoming,
    Past,
}

/// Position after the last row shown: (starts_at, id).
pub type Cursor = (i64, String);

impl Store {
    pub async fn event(&self, id: &str) -> StoreResult<Option<EventRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e JOIN users o ON o.id = e.owner_id WHERE e.id = $1"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// One page of a home-page section, keyset-paginated; returns up to `limit + 1` rows so
    /// the caller can tell whether another page exists.
    pub async fn list_events(
        &self,
        section: Section,
        include_members_only: bool,
        now: i64,
        after: Option<&Cursor>,
        limit: i64,
    ) -> StoreResult<Vec<EventRow>> {
        const LIVE: &str = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e JOIN users o ON o.id = e.owner_id \
             WHERE e.status IN ('staging', 'live') AND ($1 OR e.visibility = 'public') \
             AND (e.starts_at, e.id) > ($3, $4) ORDER BY e.starts_at, e.id LIMIT $5"
        );
        const UPCOMING: &str = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e JOIN users o ON o.id = e.owner_id \
             WHERE e.status = 'scheduled' AND e.starts_at + e.duration_minutes * 60000 > $2 \
             AND ($1 OR e.visibility = 'public') \
             AND (e.starts_at, e.id) > ($3, $4) ORDER BY e.starts_at, e.id LIMIT $5"
        );
        const PAST: &str = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e JOIN users o ON o.id = e.owner_id \
             WHERE (e.status = 'ended' OR (e.status = 'scheduled' AND e.starts_at + e.duration_minutes * 60000 <= $2)) \
             AND ($1 OR e.visibility = 'public') \
             AND (e.starts_at, e.id) < ($3, $4) ORDER BY e.starts_at DESC, e.id DESC LIMIT $5"
        );
        let (sql, default_cursor) = match section {
            Section::Live => (LIVE, (i64::MIN, String::new())),
            Section::Upcoming => (UPCOMING, (i64::MIN, String::new())),
            Section::Past => (PAST, (i64::MAX, String::new())),
        };
        let (at, id) = after.cloned().unwrap_or(default_cursor);
        on_pool!(self, |pool| Ok(sqlx::query_as(sql)
            .bind(include_members_only)
            .bind(now)
            .bind(at)
            .bind(id)
            .bind(limit + 1)
            .fetch_all(pool)
            .await?))
    }

    /// An organizer's own events, newest start first, cancelled included.
    pub async fn events_by_owner(
        &self,
        owner_id: &str,
        after: Option<&Cursor>,
        limit: i64,
    ) -> StoreResult<Vec<EventRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e JOIN users o ON o.id = e.owner_id WHERE e.owner_id = $1 \
             AND (e.starts_at, e.id) < ($2, $3) ORDER BY e.starts_at DESC, e.id DESC LIMIT $4"
        );
        let (at, id) = after.cloned().unwrap_or((i64::MAX, String::new()));
        on_pool!(self, |pool| Ok(sqlx::query_as(SQL)
            .bind(owner_id)
            .bind(at)
            .bind(id)
            .bind(limit + 1)
            .fetch_all(pool)
            .await?))
    }

    /// Ids of a person's events that have not ended or been cancelled.
    pub async fn open_events_of_owner(&self, owner_id: &str) -> StoreResult<Vec<String>> {
        on_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM events WHERE owner_id = $1 AND status IN ('scheduled', 'staging', 'live') ORDER BY id",
            )
            .bind(owner_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(id,)| id).collect())
        })
    }
}

/// Event writes, inside a feature's transaction.
impl Tx {
    pub async fn insert_event(
        &mut self,
        id: &str,
        owner_id: &str,
        f: &EventFields<'_>,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO events (id, owner_id, title, description, starts_at, duration_minutes, \
                 time_zone, capacity, visibility, status, sequence, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'scheduled', 0, $10, $10)",
            )
            .bind(id)
            .bind(owner_id)
            .bind(f.title)
            .bind(f.description)
            .bind(f.starts_at)
            .bind(f.duration_minutes)
            .bind(f.time_zone)
            .bind(f.capacity)
            .bind(f.visibility)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// Updates an event that has not ended; raises SEQUENCE when the time changes (calendar
    /// clients use it to replace the old invite). False if the event is no longer editable.
    pub async fn update_event(
        &mut self,
        id: &str,
        f: &EventFields<'_>,
        now: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE events SET title = $2, description = $3, \
                 sequence = sequence + CASE WHEN starts_at <> $4 OR duration_minutes <> $5 THEN 1 ELSE 0 END, \
                 starts_at = $4, duration_minutes = $5, time_zone = $6, capacity = $7, \
                 visibility = $8, updated_at = $9 \
                 WHERE id = $1 AND status IN ('scheduled', 'staging')",
            )
            .bind(id)
            .bind(f.title)
            .bind(f.description)
            .bind(f.starts_at)
            .bind(f.duration_minutes)
            .bind(f.time_zone)
            .bind(f.capacity)
            .bind(f.visibility)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            let updated = r.rows_affected() == 1;
            Ok(updated)
        })
    }

    /// Moves an event from `from` to `to` only if it is still in `from`; true for the caller
    /// that won.
    pub async fn transition_event(
        &mut self,
        id: &str,
        from: &str,
        to: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE events SET status = $3, updated_at = $4, \
                 live_at = CASE WHEN $3 = 'live' THEN $4 ELSE live_at END, \
                 ended_at = CASE WHEN $3 = 'ended' THEN $4 ELSE ended_at END \
                 WHERE id = $1 AND status = $2",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            let moved = r.rows_affected() == 1;
            Ok(moved)
        })
    }

    /// Turns recording on or off while the event has not gone live; false once it has.
    pub async fn set_record(&mut self, id: &str, record: bool, now: i64) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE events SET record = $2, updated_at = $3 \
                 WHERE id = $1 AND status IN ('scheduled', 'staging')",
            )
            .bind(id)
            .bind(record)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    /// Cancels from any state before `ended`, with its effects; true for the caller that won.
    pub async fn cancel_event(&mut self, id: &str, now: i64) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let r = sqlx::query(
                "UPDATE events SET status = 'cancelled', sequence = sequence + 1, updated_at = $2 \
                 WHERE id = $1 AND status IN ('scheduled', 'staging', 'live')",
            )
            .bind(id)
            .bind(now)
            .execute(&mut **conn)
            .await?;
            let cancelled = r.rows_affected() == 1;
            Ok(cancelled)
        })
    }
}
