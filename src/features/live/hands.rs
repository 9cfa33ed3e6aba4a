//! Raised hands: one per person, in raise order. The person raises and lowers their own;
//! presenters acknowledge (the person sees it), dismiss one or lower all.

use super::{ActResult, Ctx, Reply, user_id};
use crate::{
    features::live::{
        Notice,
        protocol::{HandView, Reason},
    },
    features::{Change, Result, ids::UserId},
    store::live::HandRow,
};

pub fn view(h: HandRow) -> Result<HandView> {
    Ok(HandView {
        user_id: user_id(&h.user_id)?,
        name: h.name,
        raised_at: h.raised_at,
        acknowledged: h.acknowledged,
    })
}

fn notice(cx: &Ctx<'_>, change: &mut Change, user: &UserId) {
    change.notify(cx.event.id.to_string(), Notice::Hand { user: user.clone() });
}

pub async fn raise(cx: &Ctx<'_>) -> ActResult<Reply> {
    let mut change = Change::new(cx.now);
    notice(cx, &mut change, cx.user);
    let mut tx = cx.core.store.begin().await?;
    // Raising a raised hand changes nothing, and says nothing.
    if tx.raise_hand(&cx.event.id, cx.user, cx.now).await? {
        cx.core.commit(tx, change).await?;
    }
    Ok(None)
}

pub async fn lower_own(cx: &Ctx<'_>) -> ActResult<Reply> {
    lower(cx, cx.user, None).await
}

pub async fn dismiss(cx: &Ctx<'_>, user: &UserId) -> ActResult<Reply> {
    cx.require_presenter()?;
    lower(cx, user, Some("room.hand.dismiss")).await
}

async fn lower(cx: &Ctx<'_>, user: &UserId, audit: Option<&str>) -> ActResult<Reply> {
    let mut change = Change::new(cx.now);
    notice(cx, &mut change, user);
    let mut tx = cx.core.store.begin().await?;
    if !tx.lower_hand(&cx.event.id, user).await? {
        return Err(Reason::NotFound.into());
    }
    if let Some(action) = audit {
        tx.audit(cx.user, action, Some(user), &cx.event.id, cx.now)
            .await?;
    }
    cx.core.commit(tx, change).await?;
    Ok(None)
}

pub async fn acknowledge(cx: &Ctx<'_>, user: &UserId) -> ActResult<Reply> {
    cx.require_presenter()?;
    let mut change = Change::new(cx.now);
    notice(cx, &mut change, user);
    let mut tx = cx.core.store.begin().await?;
    if !tx.acknowledge_hand(&cx.event.id, user).await? {
        return Err(Reason::NotFound.into());
    }
    cx.core.commit(tx, change).await?;
    Ok(None)
}

pub async fn lower_all(cx: &Ctx<'_>) -> ActResult<Reply> {
    cx.require_presenter()?;
    let mut change = Change::new(cx.now);
    let mut tx = cx.core.store.begin().await?;
    for user in tx.lower_all_hands(&cx.event.id).await? {
        notice(cx, &mut change, &user_id(&user)?);
    }
    tx.audit(cx.user, "room.hand.lower_all", None, &cx.event.id, cx.now)
        .await?;
    cx.core.commit(tx, change).await?;
    Ok(None)
}
