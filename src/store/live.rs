//! The live room's record: questions and votes, hands, chat, each person's standing,
//! co-presenters and attendance. Reads serve snapshots and the rooms' reloads; writes are
//! `Tx` methods so a feature commits them with their audit row and room notice.

use super::{Store, StoreResult, Tx, on_pool, on_tx};

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

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HandRow {
    pub user_id: String,
    pub name: String,
    pub raised_at: i64,
    pub acknowledged: bool,
}

const HAND: &str = "SELECT h.user_id, u.display_name AS name, h.raised_at, h.acknowledged \
     FROM hands h JOIN users u ON u.id = h.user_id";

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ChatRow {
    pub id: String,
    pub event_id: String,
    pub user_id: Option<String>,
    pub author: Option<String>,
    pub direct: bool,
    pub to_user: Option<String>,
    pub to_name: Option<String>,
    pub body: String,
    pub deleted: bool,
    pub created_at: i64,
}

const CHAT: &str = "SELECT m.id, m.event_id, m.user_id, a.display_name AS author, m.direct, \
     m.to_user, t.display_name AS to_name, m.body, m.deleted, m.created_at \
     FROM chat_messages m LEFT JOIN users a ON a.id = m.user_id \
     LEFT JOIN users t ON t.id = m.to_user";

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

/// A new chat message or system notice.
pub struct NewChat<'a> {
    pub id: &'a str,
    pub event_id: &'a str,
    pub user_id: Option<&'a str>,
    pub direct: bool,
    pub to_user: Option<&'a str>,
    pub body: &'a str,
    pub now: i64,
}

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

    /// Raised hands in raise order.
    pub async fn hands(&self, event_id: &str) -> StoreResult<Vec<HandRow>> {
        let sql = format!("{HAND} WHERE h.event_id = $1 ORDER BY h.raised_at, h.user_id");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .fetch_all(pool)
            .await?))
    }

    pub async fn hand(&self, event_id: &str, user_id: &str) -> StoreResult<Option<HandRow>> {
        let sql = format!("{HAND} WHERE h.event_id = $1 AND h.user_id = $2");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?))
    }

    /// The last `limit` group messages and notices, oldest first; with `direct`, direct
    /// messages too (for presenters).
    pub async fn recent_chat(
        &self,
        event_id: &str,
        direct: bool,
        limit: i64,
    ) -> StoreResult<Vec<ChatRow>> {
        let sql = format!(
            "SELECT * FROM ({CHAT} WHERE m.event_id = $1 AND m.deleted = FALSE \
             AND (m.direct = FALSE OR $2) ORDER BY m.created_at DESC, m.id DESC LIMIT $3) r \
             ORDER BY r.created_at, r.id"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .bind(direct)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Direct messages `user_id` sent to the presenters or received from one, oldest first.
    pub async fn direct_chat_of(
        &self,
        event_id: &str,
        user_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<ChatRow>> {
        let sql = format!(
            "SELECT * FROM ({CHAT} WHERE m.event_id = $1 AND m.deleted = FALSE AND m.direct = TRUE \
             AND (m.user_id = $2 OR m.to_user = $2) ORDER BY m.created_at DESC, m.id DESC LIMIT $3) r \
             ORDER BY r.created_at, r.id"
        );
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(event_id)
            .bind(user_id)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    pub async fn chat_message(&self, id: &str) -> StoreResult<Option<ChatRow>> {
        let sql = format!("{CHAT} WHERE m.id = $1");
        on_pool!(self, |pool| Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

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

    /// The owner and the co-presenters of an event, in one query.
    pub async fn presenter_ids(&self, event_id: &str) -> StoreResult<Vec<String>> {
        on_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT owner_id FROM events WHERE id = $1 \
                 UNION SELECT user_id FROM event_presenters WHERE event_id = $1",
            )
            .bind(event_id)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(id,)| id).collect())
        })
    }

    /// The co-presenters the owner named.
    pub async fn co_presenters(&self, event_id: &str) -> StoreResult<Vec<(String, String)>> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_as(
            "SELECT p.user_id, u.display_name FROM event_presenters p JOIN users u ON u.id = p.user_id \
             WHERE p.event_id = $1 ORDER BY p.created_at, p.user_id"
        )
        .bind(event_id)
        .fetch_all(pool)
        .await?)
        })
    }

    pub async fn is_co_presenter(&self, event_id: &str, user_id: &str) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let row: Option<(i32,)> = sqlx::query_as(
                "SELECT 1 FROM event_presenters WHERE event_id = $1 AND user_id = $2",
            )
            .bind(event_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }

    pub async fn chat_open(&self, event_id: &str) -> StoreResult<bool> {
        on_pool!(self, |pool| {
            let row: Option<(bool,)> = sqlx::query_as("SELECT chat_open FROM events WHERE id = $1")
                .bind(event_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.is_some_and(|(open,)| open))
        })
    }

    /// Someone started being in the room on this instance.
    pub async fn attendance_joined(
        &self,
        id: &str,
        event_id: &str,
        user_id: &str,
        instance: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO attendance (id, event_id, user_id, instance, joined_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(event_id)
            .bind(user_id)
            .bind(instance)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn attendance_left(&self, id: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE attendance SET left_at = $2 WHERE id = $1 AND left_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// This instance is alive at `now`.
    pub async fn instance_seen(&self, instance: &str, now: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO instances (id, seen_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(instance)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Closes the visits of instances not seen since `cutoff` (or never), as of when they
    /// were last seen, and forgets those instances. Returns the visits closed.
    pub async fn close_abandoned_visits(&self, cutoff: i64) -> StoreResult<u64> {
        on_pool!(self, |pool| {
            let closed = sqlx::query(
                "UPDATE attendance SET left_at = COALESCE(( \
                     SELECT CASE WHEN i.seen_at > attendance.joined_at THEN i.seen_at \
                            ELSE attendance.joined_at END \
                     FROM instances i WHERE i.id = attendance.instance), joined_at) \
                 WHERE left_at IS NULL \
                   AND instance NOT IN (SELECT id FROM instances WHERE seen_at >= $1)",
            )
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM instances WHERE seen_at < $1")
                .bind(cutoff)
                .execute(pool)
                .await?;
            Ok(closed)
        })
    }

    /// People in an event's room on other live instances: (instance, user id, display name,
    /// site role), from their open visits.
    pub async fn present_elsewhere(
        &self,
        event_id: &str,
        instance: &str,
    ) -> StoreResult<Vec<(String, String, String, String)>> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT DISTINCT a.instance, u.id, u.display_name, u.role \
             FROM attendance a JOIN users u ON u.id = a.user_id \
             JOIN instances i ON i.id = a.instance \
             WHERE a.event_id = $1 AND a.left_at IS NULL AND a.instance <> $2"
        )
        .bind(event_id)
        .bind(instance)
        .fetch_all(pool)
        .await?))
    }

    /// (user, joined_at, left_at) of every visit, for reports.
    pub async fn attendance(&self, event_id: &str) -> StoreResult<Vec<(String, i64, Option<i64>)>> {
        on_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT user_id, joined_at, left_at FROM attendance WHERE event_id = $1 \
             ORDER BY joined_at, id"
        )
        .bind(event_id)
        .fetch_all(pool)
        .await?))
    }
}

/// Live-room writes.
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
                 pinned = FALSE, updated_at = $5 WHERE id = $1",
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

    /// Raises a hand; false when it was already up.
    pub async fn raise_hand(
        &mut self,
        event_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            Ok(sqlx::query(
            "INSERT INTO hands (event_id, user_id, raised_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0)
        })
    }

    /// Lowers one hand; false when it was not up.
    pub async fn lower_hand(&mut self, event_id: &str, user_id: &str) -> StoreResult<bool> {
        on_tx!(self, |conn| Ok(sqlx::query(
            "DELETE FROM hands WHERE event_id = $1 AND user_id = $2"
        )
        .bind(event_id)
        .bind(user_id)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0))
    }

    /// Lowers every hand; returns whose.
    pub async fn lower_all_hands(&mut self, event_id: &str) -> StoreResult<Vec<String>> {
        on_tx!(self, |conn| {
            let rows: Vec<(String,)> =
                sqlx::query_as("DELETE FROM hands WHERE event_id = $1 RETURNING user_id")
                    .bind(event_id)
                    .fetch_all(&mut **conn)
                    .await?;
            Ok(rows.into_iter().map(|(u,)| u).collect())
        })
    }

    /// Marks a raised hand as seen; false when it was not up.
    pub async fn acknowledge_hand(&mut self, event_id: &str, user_id: &str) -> StoreResult<bool> {
        on_tx!(self, |conn| Ok(sqlx::query(
            "UPDATE hands SET acknowledged = TRUE WHERE event_id = $1 AND user_id = $2"
        )
        .bind(event_id)
        .bind(user_id)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0))
    }

    pub async fn insert_chat(&mut self, m: NewChat<'_>) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO chat_messages (id, event_id, user_id, direct, to_user, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(m.id)
            .bind(m.event_id)
            .bind(m.user_id)
            .bind(m.direct)
            .bind(m.to_user)
            .bind(m.body)
            .bind(m.now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    /// Hides a message; false when it was not there (or already deleted).
    pub async fn delete_chat(&mut self, event_id: &str, id: &str) -> StoreResult<bool> {
        on_tx!(self, |conn| {
            Ok(sqlx::query(
            "UPDATE chat_messages SET deleted = TRUE WHERE id = $1 AND event_id = $2 AND deleted = FALSE"
        )
        .bind(id)
        .bind(event_id)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0)
        })
    }

    pub async fn set_chat_open(&mut self, event_id: &str, open: bool, now: i64) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query("UPDATE events SET chat_open = $2, updated_at = $3 WHERE id = $1")
                .bind(event_id)
                .bind(open)
                .bind(now)
                .execute(&mut **conn)
                .await?;
        });
        Ok(())
    }

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

    /// Sets an event's length (the clock's extend).
    pub async fn set_duration(
        &mut self,
        event_id: &str,
        minutes: i32,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE events SET duration_minutes = $2, updated_at = $3, sequence = sequence + 1 \
                 WHERE id = $1",
            )
            .bind(event_id)
            .bind(minutes)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }

    pub async fn add_co_presenter(
        &mut self,
        event_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| Ok(sqlx::query(
            "INSERT INTO event_presenters (event_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING"
        )
        .bind(event_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0))
    }

    pub async fn remove_co_presenter(
        &mut self,
        event_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        on_tx!(self, |conn| Ok(sqlx::query(
            "DELETE FROM event_presenters WHERE event_id = $1 AND user_id = $2"
        )
        .bind(event_id)
        .bind(user_id)
        .execute(&mut **conn)
        .await?
        .rows_affected()
            > 0))
    }

    /// One audit-log row, written with the change it describes.
    pub async fn audit(
        &mut self,
        actor_id: &str,
        action: &str,
        target_id: Option<&str>,
        detail: &str,
        now: i64,
    ) -> StoreResult<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO audit_log (id, actor_id, action, target_id, detail, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(actor_id)
            .bind(action)
            .bind(target_id)
            .bind(detail)
            .bind(now)
            .execute(&mut **conn)
            .await?;
        });
        Ok(())
    }
}
