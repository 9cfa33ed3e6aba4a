//! The admin area: find users, disable or enable them, change roles, ban platform-wide, and
//! read the audit log of all of it.

use serde::Serialize;

use super::{
    Change, Core, Error, FieldErrors, Result,
    accounts::{Role, Session, User},
    forbidden,
    ids::{MailId, UserId},
    new_id, paging,
    validation::single_line,
};
use crate::{
    clock::from_ms,
    features::live::{AccountChange, Notice},
    store::admin::{Audit, UserChange},
};

pub const PAGE_SIZE: i64 = 50;

pub(crate) fn require_admin(session: &Session) -> Result<()> {
    if session.user.is_admin() {
        Ok(())
    } else {
        Err(forbidden("Only administrators can do that."))
    }
}

pub async fn search(
    core: &Core,
    session: &Session,
    query: &str,
    offset: i64,
) -> Result<(Vec<User>, bool)> {
    require_admin(session)?;
    let query = query.trim();
    if query.chars().count() > 200 {
        return Err(FieldErrors::single("q", "Search for at most 200 characters.").into());
    }
    let rows = core
        .store
        .search_users(query, offset.max(0), PAGE_SIZE)
        .await?;
    let (rows, more) = paging::split(rows, PAGE_SIZE);
    let users = rows.iter().map(User::try_from).collect::<Result<_>>()?;
    Ok((users, more))
}

#[derive(Clone, Debug)]
pub enum Action {
    SetRole(Role),
    Disable,
    Enable,
    Ban(String),
    Unban,
}

/// Applies an admin action to another user and records it in the audit log.
pub async fn act(
    core: &Core,
    session: &Session,
    target_id: &UserId,
    action: Action,
) -> Result<User> {
    require_admin(session)?;
    if target_id.as_str() == session.user.id {
        return Err(forbidden(
            "You cannot change your own account from the admin area.",
        ));
    }
    let target = core
        .store
        .user_by_id(target_id)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or(Error::NotFound)?;
    let reason;
    let (change, name, detail) = match &action {
        Action::SetRole(r) => (
            UserChange::Role(r.as_str()),
            "set_role",
            format!("{} \u{2192} {}", target.role, r.as_str()),
        ),
        Action::Disable => (UserChange::Disabled(true), "disable", String::new()),
        Action::Enable => (UserChange::Disabled(false), "enable", String::new()),
        Action::Ban(r) => {
            reason = single_line(r, "Reason", 500).map_err(|m| FieldErrors::single("reason", m))?;
            (UserChange::Banned(Some(&reason)), "ban", String::new())
        }
        Action::Unban => (UserChange::Banned(None), "unban", String::new()),
    };
    // Every entry names the person as they were then (names change; deleted accounts are
    // anonymised), followed by what changed.
    let who = format!("{} ({})", target.display_name, target.email);
    let detail = match &action {
        Action::Ban(r) => format!("{who}: reason: {}", r.trim()),
        _ if detail.is_empty() => who,
        _ => format!("{who}: {detail}"),
    };
    let audit = Audit {
        id: &new_id(),
        actor_id: &session.user.id,
        action: name,
        target_id: &target.id,
        detail: &detail,
        now: core.clock.now_ms(),
    };
    // Every open connection of theirs follows: a closed account leaves every room, stage and
    // chat; a new role reloads their pages.
    let account = match &action {
        Action::Disable | Action::Ban(_) => Some(AccountChange::Closed),
        Action::SetRole(r) if r.as_str() != target.role => Some(AccountChange::Role),
        _ => None,
    };
    let mut c = Change::new(audit.now);
    if let Some(account) = account {
        c.notify_everywhere(Notice::Account {
            user: target_id.clone(),
            change: account,
        });
    }
    let mut tx = core.store.begin().await?;
    tx.change_user(&target.id, change, audit).await?;
    core.commit(tx, c).await?;
    let row = core
        .store
        .user_by_id(&target.id)
        .await?
        .ok_or(Error::NotFound)?;
    User::try_from(&row)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub target_id: Option<String>,
    pub detail: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub async fn audit_log(
    core: &Core,
    session: &Session,
    offset: i64,
) -> Result<(Vec<AuditEntry>, bool)> {
    require_admin(session)?;
    let rows = core.store.audit_log(offset.max(0), PAGE_SIZE).await?;
    let (rows, more) = paging::split(rows, PAGE_SIZE);
    Ok((
        rows.into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                actor_id: r.actor_id,
                actor_name: r.actor_name,
                action: r.action,
                target_id: r.target_id,
                detail: r.detail,
                at: from_ms(r.created_at),
            })
            .collect(),
        more,
    ))
}

/// What `meetstage admin create` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// A new administrator account.
    Created,
    /// An existing account became administrator; `password_set` if a password was given.
    Promoted { password_set: bool },
}

/// Makes `email` an administrator from the command line. An existing account is promoted
/// (its email counted as confirmed, and its password replaced when one is given); otherwise a
/// new one is created with `password`.
pub async fn bootstrap_admin(
    core: &Core,
    email: &str,
    display_name: Option<&str>,
    password: Option<&str>,
) -> Result<Bootstrap> {
    use super::accounts::{DisplayName, Email, Password};
    let email = Email::parse(email).map_err(|m| FieldErrors::single("email", m))?;
    let password = password
        .map(|p| Password::parse(p, Some(email.as_str())))
        .transpose()
        .map_err(|m| FieldErrors::single("password", m))?;
    let hash = match &password {
        Some(p) => Some(core.hasher.hash(p).await?),
        None => None,
    };
    let now = core.clock.now_ms();
    let existing = core
        .store
        .user_by_email(email.as_str())
        .await?
        .filter(|u| u.deleted_at.is_none());
    if let Some(row) = existing {
        core.store
            .set_role_unaudited(&row.id, Role::Admin.as_str(), now)
            .await?;
        let mut tx = core.store.begin().await?;
        tx.mark_email_verified(&row.id, now).await?;
        if let Some(hash) = &hash {
            tx.set_password_hash(&row.id, hash, now).await?;
            tx.delete_user_sessions(&row.id, None).await?;
        }
        let mut change = Change::new(now);
        if let Ok(user) = row.id.parse::<UserId>() {
            change.notify_everywhere(Notice::Account {
                user,
                change: if hash.is_some() {
                    AccountChange::SignedOut {
                        only: None,
                        except: None,
                    }
                } else {
                    AccountChange::Role
                },
            });
        }
        core.commit(tx, change).await?;
        return Ok(Bootstrap::Promoted {
            password_set: hash.is_some(),
        });
    }
    let Some(hash) = hash else {
        return Err(FieldErrors::single(
            "password",
            "No account uses this email; pass --password-stdin to create one.",
        )
        .into());
    };
    let name = DisplayName::parse(display_name.unwrap_or("Administrator"))
        .map_err(|m| FieldErrors::single("display_name", m))?;
    core.store
        .insert_user(crate::store::accounts::NewUser {
            id: &new_id(),
            email: email.as_str(),
            display_name: name.as_str(),
            password_hash: &hash,
            role: Role::Admin.as_str(),
            email_verified_at: Some(now),
            now,
        })
        .await?;
    Ok(Bootstrap::Created)
}

/// An outbox row as the admin page shows it (no payload: it may hold a link token).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxEntry {
    pub id: String,
    pub purpose: String,
    pub recipient_id: String,
    pub event_id: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
}

/// How mail leaves, for the admin: an SES account still in the sandbox (mail only to
/// verified addresses) or paused is said plainly.
pub async fn mail_status(core: &Core, session: &Session) -> Result<crate::mail::MailStatus> {
    require_admin(session)?;
    Ok(core.mailer.status().await)
}

/// The outbox, newest first, optionally only one status (`pending`, `sent`, `dead`, `skipped`).
pub async fn outbox(
    core: &Core,
    session: &Session,
    status: Option<&str>,
    offset: i64,
) -> Result<(Vec<OutboxEntry>, bool)> {
    require_admin(session)?;
    if let Some(s) = status
        && !["pending", "sent", "dead", "skipped"].contains(&s)
    {
        return Err(FieldErrors::single("status", "Choose pending, sent, dead or skipped.").into());
    }
    let rows = core
        .store
        .outbox(status, offset.max(0), PAGE_SIZE + 1)
        .await?;
    let (rows, more) = paging::split(rows, PAGE_SIZE);
    Ok((
        rows.into_iter()
            .map(|r| OutboxEntry {
                id: r.id,
                purpose: r.purpose,
                recipient_id: r.user_id,
                event_id: r.event_id,
                status: r.status,
                attempts: r.attempts,
                last_error: r.last_error,
                created_at: from_ms(r.created_at),
                next_attempt_at: from_ms(r.next_attempt_at),
            })
            .collect(),
        more,
    ))
}

/// Sends a dead or waiting mail again now.
pub async fn retry_mail(core: &Core, session: &Session, id: &MailId) -> Result<()> {
    require_admin(session)?;
    if core.store.retry_mail(id, core.clock.now_ms()).await? {
        Ok(())
    } else {
        Err(Error::Conflict(
            "This mail was already sent or does not exist.".into(),
        ))
    }
}
