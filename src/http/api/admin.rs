//! Administration over JSON.

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiErrorBody, accounts::UserOut};
use crate::{
    features::{
        FieldErrors,
        accounts::Role,
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
        .route("/admin/users", get(users))
        .route("/admin/users/{id}/{action}", post(act))
        .route("/admin/audit", get(audit))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/{id}/retry", post(retry_mail))
}

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Part of a name or email.
    #[serde(default)]
    q: String,
    #[serde(default)]
    offset: i64,
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserOut>,
    pub more: bool,
}

/// Search users.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", params(SearchQuery),
    responses((status = 200, body = UserList), (status = 403, body = ApiErrorBody)))]
pub async fn users(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SearchQuery>,
) -> Result<Json<UserList>, HttpError> {
    let (users, more) = admin::search(&s.core, ctx.require()?, &q.q, q.offset).await?;
    Ok(Json(UserList {
        users: users.iter().map(UserOut::from).collect(),
        more,
    }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ActRequest {
    /// For `role`: member, organizer or admin.
    pub role: Option<String>,
    /// For `ban`: why, shown in the audit log.
    pub reason: Option<String>,
}

/// Act on a user: `role`, `disable`, `enable`, `ban` or `unban`. Logged in the audit log.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/{action}", tag = "admin",
    params(("id" = String, Path), ("action" = String, Path, description = "role, disable, enable, ban or unban")),
    request_body(content = ActRequest, description = "Needed for role and ban"),
    responses((status = 200, body = UserOut), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn act(
    State(s): State<AppState>,
    Authed(session): Authed,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<ActRequest>>,
) -> Result<Json<UserOut>, HttpError> {
    let r = body.map(|Json(r)| r).unwrap_or_default();
    let action = match action.as_str() {
        "role" => Action::SetRole(r.role.as_deref().and_then(Role::parse).ok_or_else(|| {
            HttpError(
                FieldErrors::single("role", "role must be member, organizer or admin.").into(),
            )
        })?),
        "disable" => Action::Disable,
        "enable" => Action::Enable,
        "ban" => Action::Ban(r.reason.unwrap_or_default()),
        "unban" => Action::Unban,
        _ => return Err(HttpError(crate::features::Error::NotFound)),
    };
    let id: UserId = id
        .parse()
        .map_err(|_| HttpError(crate::features::Error::NotFound))?;
    let user = admin::act(&s.core, &session, &id, action).await?;
    Ok(Json(UserOut::from(&user)))
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
    pub more: bool,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(SearchQuery),
    responses((status = 200, body = AuditList), (status = 403, body = ApiErrorBody)))]
pub async fn audit(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SearchQuery>,
) -> Result<Json<AuditList>, HttpError> {
    let (entries, more) = admin::audit_log(&s.core, ctx.require()?, q.offset).await?;
    Ok(Json(AuditList { entries, more }))
}

#[derive(Deserialize, IntoParams)]
pub struct OutboxQuery {
    /// `pending`, `sent`, `dead` or `skipped`; all when absent.
    status: Option<String>,
    #[serde(default)]
    offset: i64,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxList {
    pub entries: Vec<admin::OutboxEntry>,
    pub more: bool,
}

/// The mail outbox, newest first.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin", params(OutboxQuery),
    responses((status = 200, body = OutboxList), (status = 403, body = ApiErrorBody)))]
pub async fn outbox(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<OutboxList>, HttpError> {
    let (entries, more) =
        admin::outbox(&s.core, ctx.require()?, q.status.as_deref(), q.offset).await?;
    Ok(Json(OutboxList { entries, more }))
}

/// Send a dead or waiting mail again now.
#[utoipa::path(post, path = "/api/v1/admin/outbox/{id}/retry", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
pub async fn retry_mail(
    State(s): State<AppState>,
    Authed(session): Authed,
    IdPath(id): IdPath<MailId>,
) -> Result<StatusCode, HttpError> {
    admin::retry_mail(&s.core, &session, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
