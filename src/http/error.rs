//! Errors at the HTTP boundary. Handlers return [`HttpError`], which becomes a status plus an
//! [`ErrorInfo`] marker; [`render_error_pages`] then renders the marker once, as JSON under
//! `/api/` and as a branded page elsewhere. Causes of 5xx are logged here, once, and never
//! shown.

use askama::Template;
use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;

use super::{
    AppState,
    context::Ctx,
    pages::{Layout, render},
};
use crate::features::Error;

#[derive(Debug)]
pub struct HttpError(pub Error);

impl<E: Into<Error>> From<E> for HttpError {
    fn from(e: E) -> Self {
        HttpError(e.into())
    }
}

/// What went wrong, in words fit for the person who asked.
#[derive(Clone, Debug)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ErrorInfo {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ErrorInfo {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The response carrying this marker; the body is filled in by `render_error_pages`.
    pub fn into_marker(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(self);
        res
    }

    /// A generic message for statuses raised by the framework rather than by us.
    fn for_status(status: StatusCode, body: String) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "There is nothing at this address.".to_string()),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "This address does not accept that method.".into(),
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "timeout",
                "The request took too long. Please try again.".into(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request is too large.".into())
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                if body.is_empty() {
                    "Send the request as application/json.".into()
                } else {
                    body
                },
            ),
            s if s.is_server_error() => (
                "internal",
                "Something went wrong on our side. Please try again.".into(),
            ),
            _ => (
                "bad_request",
                if body.is_empty() {
                    "The request could not be understood.".into()
                } else {
                    body
                },
            ),
        };
        ErrorInfo::new(status, code, message)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let info = match self.0 {
            Error::Invalid(fields) => ErrorInfo {
                details: Some(json!({ "fields": fields })),
                ..ErrorInfo::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_input",
                    format!("Please correct the input: {fields}"),
                )
            },
            Error::Unauthenticated => ErrorInfo::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Log in to continue.",
            ),
            Error::Forbidden(m) => ErrorInfo::new(StatusCode::FORBIDDEN, "forbidden", m),
            Error::NotFound => ErrorInfo::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "We could not find that. It may have been removed, or the link is wrong.",
            ),
            Error::Conflict(m) => ErrorInfo::new(StatusCode::CONFLICT, "conflict", m),
            Error::Unavailable(m) => {
                ErrorInfo::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            e @ Error::Locked { until, .. } => ErrorInfo {
                details: Some(json!({ "locked_until": until })),
                ..ErrorInfo::new(StatusCode::LOCKED, "account_locked", e.to_string())
            },
            Error::Internal(cause) => {
                tracing::error!(error.cause_chain = ?cause, "request failed");
                ErrorInfo::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on our side. It has been logged; please try again.",
                )
            }
        };
        info.into_marker()
    }
}

pub async fn not_found() -> Response {
    HttpError(Error::NotFound).into_response()
}

/// Answered with JSON errors rather than pages: the API, and live-room sockets (a socket has no
/// page to show, and a redirect to the login page would mean nothing to it).
pub fn is_api(path: &str) -> bool {
    // Everything under an event's room page is for its scripts and media clients.
    path.starts_with("/api/") || path.contains("/live/")
}

/// Gives every error response its body: JSON `{error, message, details}` for the API, a
/// finished page (or a redirect to log in) for people.
pub async fn render_error_pages(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let ctx = req.extensions().get::<Ctx>().cloned();
    let query = req.uri().query().map(str::to_string);
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    // Keep what inner layers attached (the route tag for metrics) on the new response.
    let extensions = res.extensions().clone();
    let info = match res.extensions().get::<ErrorInfo>().cloned() {
        Some(info) => info,
        None => {
            let plain = res
                .headers()
                .get(header::CONTENT_TYPE)
                .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
            if !plain {
                return res;
            }
            let body = axum::body::to_bytes(res.into_body(), 4096)
                .await
                .unwrap_or_default();
            ErrorInfo::for_status(status, String::from_utf8_lossy(&body).trim().to_string())
        }
    };
    let Some(ctx) = ctx else {
        return (info.status, info.message).into_response();
    };
    let mut out = if is_api(&ctx.path) {
        let body = json!({ "error": info.code, "message": info.message, "details": info.details });
        (info.status, Json(body)).into_response()
    } else if info.status == StatusCode::UNAUTHORIZED {
        let here = match query {
            Some(q) => format!("{}?{q}", ctx.path),
            None => ctx.path.clone(),
        };
        let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        let why = ctx
            .ended
            .map(|e| format!("&notice={}", e.notice()))
            .unwrap_or_default();
        Redirect::to(&format!("/login?next={next}{why}")).into_response()
    } else {
        let page = ErrorPage {
            layout: Layout::new(&state, &ctx, "Error"),
            info: &info,
        };
        let mut r = render(&page);
        *r.status_mut() = info.status;
        r
    };
    out.extensions_mut().extend(extensions);
    if let Some(retry) = res_retry_after(&info) {
        out.headers_mut().insert(header::RETRY_AFTER, retry);
    }
    out
}

fn res_retry_after(info: &ErrorInfo) -> Option<HeaderValue> {
    info.details
        .as_ref()
        .and_then(|d| d.get("retry_after_seconds"))
        .and_then(|v| v.as_u64())
        .map(HeaderValue::from)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    info: &'a ErrorInfo,
}
