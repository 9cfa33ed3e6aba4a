//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document, and
//! the middleware that records request metrics.

use std::time::Duration;

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};

use super::{AppState, api};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(api::openapi_json))
}

/// Ready when the database answers; the second line says whether recordings can be
/// processed (ready either way: events run without it).
async fn readyz(State(s): State<AppState>) -> Response {
    match s.core.ready().await {
        Ok(()) => format!("ready\n{}\n", s.recording.describe()).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Prometheus scrapes with `Authorization: Bearer <metrics_token>`; without a configured
/// token the endpoint does not exist.
async fn metrics(State(s): State<AppState>, req: Request) -> Response {
    use sha2::{Digest, Sha256};
    let Some(expected) = &s.core.config.metrics_token else {
        return super::error::not_found().await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Comparing digests takes the same time wherever the strings differ.
    if Sha256::digest(given) != Sha256::digest(expected.expose()) {
        // JSON, so the page layer leaves it alone (a 401 page would redirect to the login).
        let body = serde_json::json!({
            "error": "unauthorized",
            "message": "Send the configured metrics token as a bearer token.",
        });
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(body),
        )
            .into_response();
    }
    let body = s.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

/// The route template and method of a matched request, put on the response so the metrics
/// recorded outside the router can use the template (not the raw path, so ids do not explode
/// the label set).
#[derive(Clone)]
struct RouteTag {
    method: Method,
    route: MatchedPath,
}

pub async fn tag_route(req: Request, next: Next) -> Response {
    let tag = req
        .extensions()
        .get::<MatchedPath>()
        .cloned()
        .map(|route| RouteTag {
            method: req.method().clone(),
            route,
        });
    let mut res = next.run(req).await;
    if let Some(tag) = tag {
        res.extensions_mut().insert(tag);
    }
    res
}

/// Called by the trace layer when a response is ready: one access-log line and the request
/// metrics.
pub fn on_response<B>(res: &axum::http::Response<B>, latency: Duration, _span: &tracing::Span) {
    let status = res.status().as_u16();
    tracing::info!(
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
    let (method, route) = match res.extensions().get::<RouteTag>() {
        Some(t) => (t.method.as_str().to_string(), t.route.as_str().to_string()),
        None => ("-".to_string(), "unmatched".to_string()),
    };
    let status = status.to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.clone()).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route, "status" => status).record(latency.as_secs_f64());
}
