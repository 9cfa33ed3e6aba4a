//! The JSON API under `/api/v1`: everything the pages do, with the same features, the same
//! authorization and errors as `{ "error", "message", "details" }`. The OpenAPI document at
//! `/api/openapi.json` is generated from the annotations on these handlers.

mod accounts;
mod admin;
mod events;
mod hooks;
mod registrations;

use axum::{
    Json, Router,
    extract::{FromRequest, Request, rejection::JsonRejection},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;

use super::{AppState, error::ErrorInfo};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(accounts::router())
        .merge(events::router())
        .merge(registrations::router())
        .merge(admin::router())
        .merge(hooks::router())
}

/// `Json` whose rejections (wrong content type, too large, malformed) use our error format.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(rejection_response(rejection)),
        }
    }
}

fn rejection_response(r: JsonRejection) -> Response {
    let code = match &r {
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::JsonSyntaxError(_) => "malformed_json",
        JsonRejection::JsonDataError(_) => "invalid_input",
        _ if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        _ => "bad_request",
    };
    ErrorInfo::new(r.status(), code, r.body_text()).into_marker()
}

/// The `{error, message, details}` body of every API error.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    pub error: String,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "meetstage API", description = "Accounts, events and registrations. Cookie-authenticated calls that change state send the `x-csrf-token` header (from `GET /api/v1/session`)."),
    paths(
        accounts::session, accounts::login, accounts::logout, accounts::signup, accounts::verify,
        accounts::resend_verification, accounts::request_reset, accounts::confirm_reset,
        accounts::me, accounts::update_me, accounts::change_email, accounts::change_password,
        accounts::delete_me,
        events::list, events::create, events::mine, events::show, events::update, events::cancel,
        events::open_green_room, events::go_live, events::end,
        registrations::register, registrations::unregister, registrations::list,
        admin::users, admin::act, admin::audit, admin::outbox, admin::retry_mail,
    ),
    components(schemas(ApiErrorBody)),
    tags(
        (name = "accounts", description = "Sign-up, login, sessions and profile"),
        (name = "events", description = "Events and their lifecycle"),
        (name = "registrations", description = "Registering for events"),
        (name = "admin", description = "Administration"),
    )
)]
pub struct ApiDoc;

pub async fn openapi_json() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
