//! Moderation by presenters: mute, restrict chat and questions, grant and revoke speaking,
//! kick and ban. Each decision belongs to the person and the event (a reconnect keeps it),
//! goes to the audit log, and reaches the person's sockets through their room.

use super::{ActResult, Ctx, Reply, chat, user_id};
use crate::{
    features::live::{
        Notice,
        protocol::{ParticipantView, Reason, Standing},
    },
    features::{
        Change, Result,
        ids::{EventId, UserId},
    },
    media::MediaProvider,
    store::{
        Store,
        live::{StandingChange, StandingRow},
    },
};

pub const MAX_BAN_REASON: usize = 200;

/// Brings this instance's media in line with what presenters decided about `user`: muted
/// audio stops being forwarded, and someone no longer allowed to speak stops publishing.
pub async fn enforce_media(store: &Store, media: &MediaProvider, event: &EventId, user: &UserId) {
    let decided = async {
        let standing = store.standing(event, user).await?;
        let presenter = store
            .presenter_ids(event)
            .await?
            .iter()
            .any(|p| p == user.as_str());
        Ok::<_, crate::store::StoreError>((standing, presenter))
    };
    match decided.await {
        Ok((standing, presenter)) => {
            let muted = standing.as_ref().is_some_and(|s| s.muted);
            let may_publish = presenter || standing.is_some_and(|s| s.can_speak);
            media.restrict(event, user, muted, may_publish);
        }
        Err(e) => tracing::error!(error = %e, "loading a standing for media failed"),
    }
}

pub fn view(row: StandingRow) -> Result<ParticipantView> {
    Ok(ParticipantView {
        user_id: user_id(&row.user_id)?,
        name: row.name,
        standing: Standing {
            muted: row.muted,
            chat_restricted: row.chat_restricted,
            questions_restricted: row.questions_restricted,
            can_speak: row.can_speak,
            banned: row.banned_at.is_some(),
        },
        ban_reason: row.ban_reason,
    })
}

/// The person a presenter acts on: someone who has been in this event's room, not a
/// presenter, not the sender. Returns their name.
async fn target(cx: &Ctx<'_>, user: &UserId) -> ActResult<String> {
    cx.require_presenter()?;
    if user == cx.user {
        return Err(Reason::Presenter.into());
    }
    if !cx.core.store.attended(&cx.event.id, user).await? {
        return Err(Reason::NotPresent.into());
    }
    let presenters = super::presenter_ids(cx.core, &cx.event.id).await?;
    if presenters.contains(user.as_str()) {
        return Err(Reason::Presenter.into());
    }
    let person = cx
        .core
        .store
        .user_by_id(user)
        .await?
        .ok_or(Reason::NotPresent)?;
    Ok(person.display_name)
}

/// Writes a standing change with its audit row, an optional notice in the chat, and the
/// room notices; `removed` also closes the person's sockets.
async fn apply(
    cx: &Ctx<'_>,
    user: &UserId,
    c: StandingChange<'_>,
    action: &str,
    said: Option<String>,
    removed: Option<bool>,
) -> ActResult<Reply> {
    let event_id = cx.event.id.to_string();
    let mut change = Change::new(cx.now);
    change.notify(event_id.clone(), Notice::Standing { user: user.clone() });
    if let Some(banned) = removed {
        change.notify(
            event_id.clone(),
            Notice::Removed {
                user: user.clone(),
                banned,
            },
        );
    }
    // Off the stage: no longer speaking, or banned (the media and chat reactions act on it).
    if c.can_speak == Some(false) || removed == Some(true) {
        change.notify(event_id.clone(), Notice::Unseated { user: user.clone() });
    }
    let mut tx = cx.core.store.begin().await?;
    tx.change_standing(&event_id, user, c, cx.now).await?;
    if c.can_speak == Some(true) && tx.lower_hand(&event_id, user).await? {
        change.notify(event_id.clone(), Notice::Hand { user: user.clone() });
    }
    if let Some(text) = said {
        chat::system(&mut tx, &mut change, &event_id, &text).await?;
    }
    tx.audit(cx.user, action, Some(user), &event_id, cx.now)
        .await?;
    cx.core.commit(tx, change).await?;
    Ok(None)
}

/// Mute now records and shows the decision; the media layer enforces it.
pub async fn mute(cx: &Ctx<'_>, user: &UserId, muted: bool) -> ActResult<Reply> {
    let name = target(cx, user).await?;
    let c = StandingChange {
        muted: Some(muted),
        ..Default::default()
    };
    let (action, said) = if muted {
        ("room.mute", format!("A presenter muted {name}."))
    } else {
        ("room.unmute", format!("{name} may unmute."))
    };
    apply(cx, user, c, action, Some(said), None).await
}

pub async fn restrict(
    cx: &Ctx<'_>,
    user: &UserId,
    chat: bool,
    questions: bool,
) -> ActResult<Reply> {
    target(cx, user).await?;
    let c = StandingChange {
        chat_restricted: Some(chat),
        questions_restricted: Some(questions),
        ..Default::default()
    };
    apply(cx, user, c, "room.restrict", None, None).await
}

/// Permission to speak; granting lowers the person's hand. Nobody is brought on a stage that
/// has no place left for them (presenters and speakers together, as the provider counts).
pub async fn speak(cx: &Ctx<'_>, user: &UserId, allowed: bool) -> ActResult<Reply> {
    let name = target(cx, user).await?;
    if allowed {
        let presenters = super::presenter_ids(cx.core, &cx.event.id).await?.len();
        let speakers = cx
            .core
            .store
            .standings(&cx.event.id)
            .await?
            .iter()
            .filter(|s| s.can_speak && s.banned_at.is_none() && s.user_id != user.as_str())
            .count();
        if presenters.saturating_add(speakers) >= cx.core.media.seats() {
            return Err(Reason::StageFull.into());
        }
    }
    let c = StandingChange {
        can_speak: Some(allowed),
        ..Default::default()
    };
    let (action, said) = if allowed {
        ("room.speak.grant", format!("{name} was invited to speak."))
    } else {
        (
            "room.speak.revoke",
            format!("{name} is no longer speaking."),
        )
    };
    apply(cx, user, c, action, Some(said), None).await
}

/// Closes the person's sockets now; they may come back.
pub async fn kick(cx: &Ctx<'_>, user: &UserId) -> ActResult<Reply> {
    let name = target(cx, user).await?;
    let said = format!("{name} was removed by a presenter.");
    apply(
        cx,
        user,
        StandingChange::default(),
        "room.kick",
        Some(said),
        Some(false),
    )
    .await
}

/// Closes the person's sockets and keeps them out of this event.
pub async fn ban(cx: &Ctx<'_>, user: &UserId, reason: &str) -> ActResult<Reply> {
    let reason = if reason.trim().is_empty() {
        String::new()
    } else {
        super::text(reason, MAX_BAN_REASON)?
    };
    let name = target(cx, user).await?;
    let c = StandingChange {
        ban: Some(Some(&reason)),
        can_speak: Some(false),
        ..Default::default()
    };
    let said = format!("{name} was banned from this event.");
    apply(cx, user, c, "room.ban", Some(said), Some(true)).await
}

pub async fn unban(cx: &Ctx<'_>, user: &UserId) -> ActResult<Reply> {
    target(cx, user).await?;
    let c = StandingChange {
        ban: Some(None),
        ..Default::default()
    };
    apply(cx, user, c, "room.unban", None, None).await
}
