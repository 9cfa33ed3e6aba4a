//! What an event leaves behind: the visits of its room (attendance), the room's figures, the
//! answered questions and the group chat the recap draws its links from.

use super::{Store, StoreResult, on_pool};

/// One visit to the room: a person, from when to when (`left_at` None while still there).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VisitRow {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub joined_at: i64,
    pub left_at: Option<i64>,
}

/// The room's figures that are not visits.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct RoomFigures {
    pub live_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub peak_attendees: i32,
    pub guest_visits: i32,
}

/// An answered question, with its answer and who asked it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AnsweredRow {
    pub body: String,
    pub answer: Option<String>,
    pub asked_by: String,
    pub votes: i32,
    /// When it was answered (the last change, for questions answered before that was kept).
    pub answered_at: i64,
}

/// How much one person took part: questions asked, of them answered, chat messages.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TakingPart {
    pub user_id: String,
    pub asked: i64,
    pub answered: i64,
    pub messages: i64,
}

impl Store {
    /// Every visit to an event's room, earliest first.
    pub async fn visits(&self, event_id: &str) -> StoreResult<Vec<VisitRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT a.user_id, u.display_name, u.email, a.joined_at, a.left_at \
                 FROM attendance a JOIN users u ON u.id = a.user_id \
                 WHERE a.event_id = $1 ORDER BY a.joined_at, a.id",
            )
            .bind(event_id)
            .fetch_all(pool)
            .await?)
        })
    }

    pub async fn room_figures(&self, event_id: &str) -> StoreResult<RoomFigures> {
        on_pool!(self, |pool| {
            let row: Option<RoomFigures> = sqlx::query_as(
                "SELECT live_at, ended_at, peak_attendees, guest_visits FROM events WHERE id = $1",
            )
            .bind(event_id)
            .fetch_optional(pool)
            .await?;
            row.ok_or(super::StoreError::NotFound)
        })
    }

    /// Raises the room's largest audience to `count` if it is larger (each instance reports
    /// the total it sees; the largest wins).
    pub async fn raise_peak(&self, event_id: &str, count: i32) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE events SET peak_attendees = $2 WHERE id = $1 AND peak_attendees < $2",
            )
            .bind(event_id)
            .bind(count)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Counts `more` guests' arrivals.
    pub async fn add_guest_visits(&self, event_id: &str, more: i32) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE events SET guest_visits = guest_visits + $2 WHERE id = $1")
                .bind(event_id)
                .bind(more)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The answered questions, most voted first.
    pub async fn answered_questions(&self, event_id: &str) -> StoreResult<Vec<AnsweredRow>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT q.body, q.answer, u.display_name AS asked_by, q.votes, \
                 COALESCE(q.answered_at, q.updated_at) AS answered_at \
                 FROM questions q JOIN users u ON u.id = q.user_id \
                 WHERE q.event_id = $1 AND q.status = 'answered' \
                 ORDER BY q.votes DESC, q.created_at, q.id",
            )
            .bind(event_id)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The group chat's messages from people (not direct ones, not deleted, not the
    /// room's own notices), oldest first, at most `limit`.
    pub async fn group_chat_bodies(&self, event_id: &str, limit: i64) -> StoreResult<Vec<String>> {
        on_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT body FROM chat_messages \
                 WHERE event_id = $1 AND NOT direct AND NOT deleted AND user_id IS NOT NULL \
                 ORDER BY created_at, id LIMIT $2",
            )
            .bind(event_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(b,)| b).collect())
        })
    }

    /// Questions and chat messages per person who wrote any.
    pub async fn taking_part(&self, event_id: &str) -> StoreResult<Vec<TakingPart>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT user_id, CAST(SUM(asked) AS BIGINT) AS asked, \
                        CAST(SUM(answered) AS BIGINT) AS answered, \
                        CAST(SUM(messages) AS BIGINT) AS messages FROM ( \
                   SELECT user_id, COUNT(*) AS asked, \
                          SUM(CASE WHEN status = 'answered' THEN 1 ELSE 0 END) AS answered, \
                          0 AS messages \
                   FROM questions WHERE event_id = $1 GROUP BY user_id \
                   UNION ALL \
                   SELECT user_id, 0, 0, COUNT(*) FROM chat_messages \
                   WHERE event_id = $1 AND user_id IS NOT NULL AND NOT deleted GROUP BY user_id \
                 ) t GROUP BY user_id",
            )
            .bind(event_id)
            .fetch_all(pool)
            .await?)
        })
    }
}
