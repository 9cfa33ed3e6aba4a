//! The HTTP layer: one route list, the middleware stack, pages and the JSON API. Handlers
//! only extract, call a feature, and render.

pub mod api;
pub mod assets;
pub mod context;
pub mod error;
pub mod ops;
pub mod pages;
pub mod security;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, Request},
    middleware,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use tracing::Level;

use crate::features::Core;

/// Largest request body accepted anywhere (the event description is the biggest field).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything a handler can reach. One `State`, no `Extension` layers that could be missing.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub core: Core,
    pub limits: security::RateLimiters,
    pub csrf_key: [u8; 32],
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(core: Core, csrf_key: [u8; 32]) -> Self {
        let limits = security::RateLimiters::new(&core.config.rate_limits);
        AppState(Arc::new(Inner {
            core,
            limits,
            csrf_key,
            metrics: crate::telemetry::metrics_handle(),
        }))
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(pages::router())
        .nest("/api/v1", api::router())
        .merge(ops::router())
        .merge(assets::router())
        .fallback(error::not_found);

    // `.layer` wraps everything above it, so the last layer runs first: ids and tracing see
    // every request; the session is resolved before error pages, limits and CSRF need it.
    routes
        .layer(middleware::from_fn(security::csrf))
        .layer(middleware::from_fn(security::limit_body))
        .layer(middleware::from_fn_with_state(state.clone(), security::rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), error::render_error_pages))
        .layer(middleware::from_fn_with_state(state.clone(), context::resolve))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(security::cors(&state.core.config))
        .layer(middleware::from_fn_with_state(state.clone(), security::headers))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::new())
        .layer(middleware::from_fn(ops::record_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }).on_response(DefaultOnResponse::new().level(Level::INFO)))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}
