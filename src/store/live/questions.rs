//! Questions and votes.

use crate::store::{Store, StoreResult, Tx, on_pool, on_tx};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct QuestionRow {
    pub id: String,
    pub event_id: String,
    pub user_id: String,
    pub author: String,
    pub body: String,
    pub status: String,
    pub answer: Option<String>,
    pub pinned: bool,
    pub votes: i64,
    pub created_at: i64,
}

const QUESTION: &str = "SELECT q.id, q.event_id, q.user_id, u.display_name AS author, q.body, \
     q.status, q.answer, q.pinned, CAST(q.votes AS BIGINT) AS votes, q.created_at \
     FROM questions q JOIN users u ON u.id = q.user_id";

impl Store {
    /// Every question of an event, oldest first.
    pub async fn questions(&self, event_id: &str) -> StoreResult<Vec<QuestionRow>> {
        let sql = format!("{QUESTION} WHERE q.event_id = $1 ORDER BY q.created_at, q.id");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .fetch_all(pool)
            .await?))
    }

    /// One person's questions in an event, oldest first.
    pub async fn questions_of(
        &self,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<Vec<QuestionRow>> {
        let sql = format!(
            "{QUESTION} WHERE q.event_id = $1 AND q.user_id = $2 ORDER BY q.created_at, q.id"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .bind(user_id)
            .fetch_all(pool)
            .await?))
    }

    pub async fn question(&self, id: &str) -> StoreResult<Option<QuestionRow>> {
        let sql = format!("{QUESTION} WHERE q.id = $1");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Questions of an event `user_id` voted for.
    pub async fn votes_of(&self, event_id: &str, user_id: &str) -> StoreResult<Vec<String>> {
        on_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT v.question_id FROM question_votes v JOIN questions q ON q.id = v.question_id \
                 WHERE q.event_id = $1 AND v.user_id = $2 ORDER BY v.created_at",
            )
            .bind(event_id)
            .bind(user_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(id,)| id).collect())
        })
    }
}

impl Tx {
    pub async fn insert_question(
        &mut self,
        id: &str,
        event_id: &str,
        user_id: &str,
        body: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO questions (id, event_id, user_id, body, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'queued', $5, $5)",
            )
            .bind(id)
            .bind(event_id)
            .bind(user_id)
            .bind(body)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// Counts one vote; false when `user_id` had already voted.
    pub async fn vote(&mut self, question_id: &str, user_id: &str, now: i64) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            let added = sqlx::query(
                "INSERT INTO question_votes (question_id, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(question_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut **conn)
            .await?
            .rows_affected()
                > 0;
            if added {
                sqlx::query(
                    "UPDATE questions SET votes = votes + 1, updated_at = $2 WHERE id = $1",
                )
                .bind(question_id)
                .bind(now)
                .execute(&mut **conn)
                .await?;
            }
            Ok(added)
        })
    }

    /// Answers (with text) or dismisses a question; an answered or dismissed question is no
    /// longer pinned.
    pub async fn settle_question(
        &mut self,
        id: &str,
        status: &str,
        answer: Option<&str>,
        by: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE questions SET status = $2, answer = COALESCE($3, answer), answered_by = $4, \
                 pinned = FALSE, updated_at = $5, answered_at = CASE WHEN $2 = 'answered' \
                 THEN COALESCE(answered_at, $5) ELSE answered_at END WHERE id = $1",
            )
            .bind(id)
            .bind(status)
            .bind(answer)
            .bind(by)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// Pins one question (unpinning any other of the event) or unpins it. Returns the ids whose
    /// pin changed.
    pub async fn pin_question(
        &mut self,
        event_id: &str,
        id: &str,
        pinned: bool,
        now: i64,
    ) -> StoreResult<Vec<String>> {
        on_tx!(self, |conn| {
            let mut changed: Vec<(String,)> = Vec::new();
            if pinned {
                changed = sqlx::query_as(
                    "UPDATE questions SET pinned = FALSE, updated_at = $3 \
                     WHERE event_id = $1 AND pinned = TRUE AND id <> $2 RETURNING id",
                )
                .bind(event_id)
                .bind(id)
                .bind(now)
                .fetch_all(&mut **conn)
                .await?;
            }
            sqlx::query("UPDATE questions SET pinned = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(pinned)
                .bind(now)
                .execute(&mut **conn)
                .await?;
            changed.push((id.to_string(),));
            Ok(changed.into_iter().map(|(id,)| id).collect())
        })
    }
}
