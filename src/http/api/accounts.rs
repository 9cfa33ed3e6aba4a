//! Accounts over JSON: sessions, sign-up, email confirmation, password reset and `/me`.

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiErrorBody, ApiJson};
use crate::{
    features::accounts::{self, User},
    http::{
        AppState,
        context::{Authed, Ctx, login_cookie, logout_cookie},
        error::HttpError,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/session", get(session).post(login).delete(logout))
        .route("/accounts", post(signup))
        .route("/accounts/verify", post(verify))
        .route("/accounts/verify/resend", post(resend_verification))
        .route("/accounts/password-reset", post(request_reset))
        .route("/accounts/password-reset/confirm", post(confirm_reset))
        .route("/me", get(me).patch(update_me).delete(delete_me))
        .route("/me/email", post(change_email))
        .route("/me/password", post(change_password))
}

type ApiResult = Result<Response, HttpError>;

/// A user as the API shows them.
#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// `member`, `organizer` or `admin`.
    pub role: String,
    pub email_verified: bool,
    pub disabled: bool,
    pub banned: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        UserOut {
            id: u.id.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role.as_str().into(),
            email_verified: u.verified,
            disabled: u.disabled,
            banned: u.banned,
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub user: Option<UserOut>,
    /// Send as `x-csrf-token` on state-changing calls made with the session cookie.
    pub csrf_token: String,
}

/// The current session (if any) and its CSRF token.
#[utoipa::path(get, path = "/api/v1/session", tag = "accounts", responses((status = 200, body = SessionInfo)))]
pub async fn session(ctx: Ctx) -> Json<SessionInfo> {
    Json(SessionInfo {
        user: ctx.user().map(UserOut::from),
        csrf_token: ctx.csrf_token.clone(),
    })
}

fn with_cookie(state: &AppState, status: StatusCode, user: &User, token: String) -> Response {
    let binding = accounts::token_hash(&token);
    let csrf_token = crate::http::security::csrf_token(&state.core, &binding);
    let mut res = (
        status,
        Json(SessionInfo {
            user: Some(user.into()),
            csrf_token,
        }),
    )
        .into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, login_cookie(&state.core.config, token));
    res
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Log in; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = SessionInfo), (status = 422, body = ApiErrorBody), (status = 423, description = "Locked after 5 failures", body = ApiErrorBody), (status = 429, body = ApiErrorBody)))]
pub async fn login(
    State(s): State<AppState>,
    ctx: Ctx,
    ApiJson(r): ApiJson<LoginRequest>,
) -> ApiResult {
    let (user, token) = accounts::login(&s.core, &r.email, &r.password, ctx.ip).await?;
    Ok(with_cookie(&s, StatusCode::OK, &user, token))
}

/// Log out this session.
#[utoipa::path(delete, path = "/api/v1/session", tag = "accounts", responses((status = 204)))]
pub async fn logout(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    if let Some(session) = &ctx.session {
        accounts::logout(&s.core, session).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, logout_cookie(&s.core.config));
    Ok(res)
}

#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    pub display_name: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub message: String,
}

/// Sign up: mails a confirmation link to the address. The answer is the same whether or not
/// the address already has an account (its owner is mailed instead); log in afterwards.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = SignupRequest,
    responses((status = 202, body = Accepted), (status = 422, body = ApiErrorBody)))]
pub async fn signup(State(s): State<AppState>, ApiJson(r): ApiJson<SignupRequest>) -> ApiResult {
    let input = accounts::SignupInput {
        email: &r.email,
        display_name: &r.display_name,
        password: &r.password,
    };
    accounts::signup(&s.core, input).await?;
    let body = Accepted {
        message: "We sent a link to that address. Open it to confirm, then log in.".into(),
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    pub token: String,
}

/// Confirm an email address with the token from the mailed link.
#[utoipa::path(post, path = "/api/v1/accounts/verify", tag = "accounts", request_body = TokenRequest,
    responses((status = 204), (status = 409, body = ApiErrorBody)))]
pub async fn verify(State(s): State<AppState>, ApiJson(r): ApiJson<TokenRequest>) -> ApiResult {
    accounts::verify_email(&s.core, &r.token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Send the confirmation link again.
#[utoipa::path(post, path = "/api/v1/accounts/verify/resend", tag = "accounts", responses((status = 202), (status = 401, body = ApiErrorBody)))]
pub async fn resend_verification(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let session = ctx.require()?;
    if !session.user.verified {
        accounts::send_verification(&s.core, &session.user).await?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct EmailRequest {
    pub email: String,
}

/// Mail a password-reset link, if an account uses the address (the answer is the same).
#[utoipa::path(post, path = "/api/v1/accounts/password-reset", tag = "accounts", request_body = EmailRequest, responses((status = 202)))]
pub async fn request_reset(
    State(s): State<AppState>,
    ApiJson(r): ApiJson<EmailRequest>,
) -> ApiResult {
    accounts::request_password_reset(&s.core, &r.email).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct ResetRequest {
    pub token: String,
    pub password: String,
}

/// Set a new password with a reset token; ends every session.
#[utoipa::path(post, path = "/api/v1/accounts/password-reset/confirm", tag = "accounts", request_body = ResetRequest,
    responses((status = 204), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn confirm_reset(
    State(s): State<AppState>,
    ApiJson(r): ApiJson<ResetRequest>,
) -> ApiResult {
    accounts::reset_password(&s.core, &r.token, &r.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", responses((status = 200, body = UserOut), (status = 401, body = ApiErrorBody)))]
pub async fn me(ctx: Ctx) -> Result<Json<UserOut>, HttpError> {
    Ok(Json(UserOut::from(&ctx.require()?.user)))
}

#[derive(Deserialize, ToSchema)]
pub struct ProfileRequest {
    pub display_name: String,
}

/// Change the display name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", request_body = ProfileRequest,
    responses((status = 200, body = UserOut), (status = 422, body = ApiErrorBody)))]
pub async fn update_me(
    State(s): State<AppState>,
    Authed(session): Authed,
    ApiJson(r): ApiJson<ProfileRequest>,
) -> Result<Json<UserOut>, HttpError> {
    accounts::change_display_name(&s.core, &session, &r.display_name).await?;
    let user = accounts::current_user(&s.core, &session).await?;
    Ok(Json(UserOut::from(&user)))
}

#[derive(Deserialize, ToSchema)]
pub struct EmailChangeRequest {
    pub current_password: String,
    pub email: String,
}

/// Start an email change; the new address receives a confirmation link.
#[utoipa::path(post, path = "/api/v1/me/email", tag = "accounts", request_body = EmailChangeRequest,
    responses((status = 202), (status = 422, body = ApiErrorBody)))]
pub async fn change_email(
    State(s): State<AppState>,
    Authed(session): Authed,
    ApiJson(r): ApiJson<EmailChangeRequest>,
) -> ApiResult {
    accounts::change_email(&s.core, &session, &r.current_password, &r.email).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Change the password; other sessions end.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", request_body = PasswordChangeRequest,
    responses((status = 204), (status = 422, body = ApiErrorBody)))]
pub async fn change_password(
    State(s): State<AppState>,
    Authed(session): Authed,
    ApiJson(r): ApiJson<PasswordChangeRequest>,
) -> ApiResult {
    accounts::change_password(&s.core, &session, &r.current_password, &r.new_password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct DeleteRequest {
    pub current_password: String,
}

/// Delete the account.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts", request_body = DeleteRequest,
    responses((status = 204), (status = 422, body = ApiErrorBody)))]
pub async fn delete_me(
    State(s): State<AppState>,
    Authed(session): Authed,
    ApiJson(r): ApiJson<DeleteRequest>,
) -> ApiResult {
    accounts::delete_account(&s.core, &session, &r.current_password).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, logout_cookie(&s.core.config));
    Ok(res)
}
