//! Q&A: attendees ask and upvote; presenters answer, dismiss, pin and unpin. Others see
//! queued and answered questions; the asker also sees their own dismissed ones.

use super::{ActResult, Ctx, Reply, To, user_id};
use crate::{
    features::live::{
        Notice,
        protocol::{Gone, Out, QuestionView, Reason},
    },
    features::{Change, Core, Result, corrupt, ids::QuestionId},
    store::live::QuestionRow,
};

pub const MAX_QUESTION: usize = 1_000;
pub const MAX_ANSWER: usize = 2_000;
pub const QUEUED: &str = "queued";
pub const ANSWERED: &str = "answered";
pub const DISMISSED: &str = "dismissed";

pub fn view(q: QuestionRow) -> Result<QuestionView> {
    if ![QUEUED, ANSWERED, DISMISSED].contains(&q.status.as_str()) {
        return Err(corrupt("question status", &q.status));
    }
    Ok(QuestionView {
        id: q.id.parse().map_err(|_| corrupt("question id", &q.id))?,
        author_id: user_id(&q.user_id)?,
        author: q.author,
        text: q.body,
        status: q.status,
        answer: q.answer,
        pinned: q.pinned,
        votes: q.votes,
        asked_at: q.created_at,
    })
}

pub(super) async fn render(core: &Core, id: &QuestionId, out: &mut Vec<(To, Out)>) -> Result<()> {
    let Some(row) = core.store.question(id).await? else {
        return Ok(());
    };
    let q = view(row)?;
    out.push((To::Presenters, Out::Question(q.clone())));
    if q.status == DISMISSED {
        out.push((
            To::Attendees,
            Out::QuestionRemoved(Gone { id: id.to_string() }),
        ));
        out.push((To::Person(q.author_id.clone()), Out::Question(q)));
    } else {
        out.push((To::Attendees, Out::Question(q)));
    }
    Ok(())
}

/// A question of this event, or not found (an id from another event is not found either).
async fn of_event(cx: &Ctx<'_>, id: &QuestionId) -> ActResult<QuestionRow> {
    match cx.core.store.question(id).await? {
        Some(q) if q.event_id == cx.event.id.as_str() => Ok(q),
        _ => Err(Reason::NotFound.into()),
    }
}

fn notice(cx: &Ctx<'_>, change: &mut Change, id: &str) -> ActResult<()> {
    let id: QuestionId = id.parse().map_err(|_| corrupt("question id", id))?;
    change.notify(cx.event.id.to_string(), Notice::Question { id });
    Ok(())
}

pub async fn ask(cx: &Ctx<'_>, raw: &str) -> ActResult<Reply> {
    let body = super::text(raw, MAX_QUESTION)?;
    super::chat::screen(cx, &body)?;
    if cx.standing().await?.questions_restricted {
        return Err(Reason::Restricted.into());
    }
    let id = QuestionId::new();
    let mut change = Change::new(cx.now);
    notice(cx, &mut change, &id)?;
    let mut tx = cx.core.store.begin().await?;
    tx.insert_question(&id, &cx.event.id, cx.user, &body, cx.now)
        .await?;
    cx.core.commit(tx, change).await?;
    Ok(None)
}

pub async fn upvote(cx: &Ctx<'_>, id: &QuestionId) -> ActResult<Reply> {
    let q = of_event(cx, id).await?;
    if q.user_id == cx.user.as_str() {
        return Err(Reason::OwnQuestion.into());
    }
    if q.status == DISMISSED {
        return Err(Reason::NotFound.into());
    }
    let mut change = Change::new(cx.now);
    change.notify(
        cx.event.id.to_string(),
        Notice::Vote {
            id: id.clone(),
            user: cx.user.clone(),
        },
    );
    let mut tx = cx.core.store.begin().await?;
    if !tx.vote(id, cx.user, cx.now).await? {
        return Err(Reason::AlreadyVoted.into());
    }
    cx.core.commit(tx, change).await?;
    Ok(None)
}

pub async fn answer(cx: &Ctx<'_>, id: &QuestionId, raw: &str) -> ActResult<Reply> {
    cx.require_presenter()?;
    let text = super::text(raw, MAX_ANSWER)?;
    settle(cx, id, ANSWERED, Some(&text)).await
}

pub async fn dismiss(cx: &Ctx<'_>, id: &QuestionId) -> ActResult<Reply> {
    cx.require_presenter()?;
    settle(cx, id, DISMISSED, None).await
}

async fn settle(
    cx: &Ctx<'_>,
    id: &QuestionId,
    status: &str,
    answer: Option<&str>,
) -> ActResult<Reply> {
    of_event(cx, id).await?;
    let mut change = Change::new(cx.now);
    notice(cx, &mut change, id)?;
    let mut tx = cx.core.store.begin().await?;
    tx.settle_question(id, status, answer, cx.user, cx.now)
        .await?;
    tx.audit(
        cx.user,
        &format!("room.question.{status}"),
        Some(id),
        "",
        cx.now,
    )
    .await?;
    cx.core.commit(tx, change).await?;
    Ok(None)
}

/// Pins one question for everyone (any other pin is lifted) or unpins it.
pub async fn pin(cx: &Ctx<'_>, id: &QuestionId, pinned: bool) -> ActResult<Reply> {
    cx.require_presenter()?;
    let q = of_event(cx, id).await?;
    if pinned && q.status == DISMISSED {
        return Err(Reason::NotFound.into());
    }
    let mut change = Change::new(cx.now);
    let mut tx = cx.core.store.begin().await?;
    for changed in tx.pin_question(&cx.event.id, id, pinned, cx.now).await? {
        notice(cx, &mut change, &changed)?;
    }
    cx.core.commit(tx, change).await?;
    Ok(None)
}
