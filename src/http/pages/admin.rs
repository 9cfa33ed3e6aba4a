//! /admin: user search with disable, enable, role and ban actions, and the audit log.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;

use super::{Layout, render, see_other};
use crate::{
    features::{
        FieldErrors,
        accounts::{Role, User},
        admin::{self, Action, AuditEntry},
        ids::{MailId, UserId},
    },
    http::{
        AppState,
        context::{Authed, Ctx, IdPath},
        error::HttpError,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(users))
        .route("/admin/audit", get(audit))
        .route("/admin/users/{id}/{action}", post(act))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/{id}/retry", post(retry_mail))
        .route("/admin/recordings", get(recordings))
}

#[derive(Template)]
#[template(path = "admin/recordings.html")]
struct RecordingsPage {
    layout: Layout,
    entries: Vec<crate::features::recordings::Unfinished>,
}

/// Recordings not done yet: waiting, processing, failed (and given up), each with a retry.
async fn recordings(State(s): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    let session = ctx.require()?;
    let entries = crate::features::recordings::unfinished(&s.core, session).await?;
    Ok(render(&RecordingsPage {
        layout: Layout::new(&s, &ctx, "Admin: recordings"),
        entries,
    }))
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    /// The admin looking at the page; their own row has no actions.
    me: String,
    q: String,
    users: Vec<User>,
    offset: i64,
    more: bool,
}

impl UsersPage {
    /// Where the pager's links go: this search, another offset.
    fn pager_base(&self) -> String {
        let q: String = url::form_urlencoded::byte_serialize(self.q.as_bytes()).collect();
        format!("/admin?q={q}&")
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    offset: i64,
}

async fn users(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SearchQuery>,
) -> Result<Response, HttpError> {
    let session = ctx.require()?;
    let (users, more) = admin::search(&s.core, session, &q.q, q.offset).await?;
    Ok(render(&UsersPage {
        layout: Layout::new(&s, &ctx, "Admin: users"),
        me: session.user.id.clone(),
        q: q.q,
        users,
        offset: q.offset.max(0),
        more,
    }))
}

#[derive(Deserialize)]
struct ActForm {
    role: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    q: String,
}

async fn act(
    State(s): State<AppState>,
    Authed(session): Authed,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ActForm>,
) -> Result<Response, HttpError> {
    let action = match action.as_str() {
        "role" => Action::SetRole(f.role.as_deref().and_then(Role::parse).ok_or_else(|| {
            HttpError(FieldErrors::single("role", "Choose member, organizer or admin.").into())
        })?),
        "disable" => Action::Disable,
        "enable" => Action::Enable,
        "ban" => Action::Ban(f.reason.unwrap_or_default()),
        "unban" => Action::Unban,
        _ => return Err(HttpError(crate::features::Error::NotFound)),
    };
    let id: UserId = id
        .parse()
        .map_err(|_| HttpError(crate::features::Error::NotFound))?;
    admin::act(&s.core, &session, &id, action).await?;
    let q: String = url::form_urlencoded::byte_serialize(f.q.as_bytes()).collect();
    Ok(see_other(&format!("/admin?q={q}"), "user_updated"))
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<AuditEntry>,
    offset: i64,
    more: bool,
}

async fn audit(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SearchQuery>,
) -> Result<Response, HttpError> {
    let session = ctx.require()?;
    let (entries, more) = admin::audit_log(&s.core, session, q.offset).await?;
    Ok(render(&AuditPage {
        layout: Layout::new(&s, &ctx, "Admin: audit log"),
        entries,
        offset: q.offset.max(0),
        more,
    }))
}

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    layout: Layout,
    /// How mail leaves (SES's sandbox said plainly).
    mail: crate::mail::MailStatus,
    entries: Vec<admin::OutboxEntry>,
    status: String,
    offset: i64,
    more: bool,
}

impl OutboxPage {
    /// Where the pager's links go: this filter, another offset.
    fn pager_base(&self) -> String {
        let s: String = url::form_urlencoded::byte_serialize(self.status.as_bytes()).collect();
        format!("/admin/outbox?status={s}&")
    }
}

#[derive(Deserialize)]
struct OutboxQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    offset: i64,
}

async fn outbox(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<OutboxQuery>,
) -> Result<Response, HttpError> {
    let session = ctx.require()?;
    let status = Some(q.status.as_str()).filter(|s| !s.is_empty());
    let (entries, more) = admin::outbox(&s.core, session, status, q.offset).await?;
    let mail = admin::mail_status(&s.core, session).await?;
    Ok(render(&OutboxPage {
        layout: Layout::new(&s, &ctx, "Admin: mail outbox"),
        mail,
        entries,
        status: q.status,
        offset: q.offset.max(0),
        more,
    }))
}

async fn retry_mail(
    State(s): State<AppState>,
    Authed(session): Authed,
    IdPath(id): IdPath<MailId>,
) -> Result<Response, HttpError> {
    admin::retry_mail(&s.core, &session, &id).await?;
    Ok(see_other("/admin/outbox?status=pending", "mail_retried"))
}
