//! The HTTP layer: one route list, the middleware stack, pages and the JSON API. Handlers
//! only extract, call a feature, and render.

pub mod api;
pub mod assets;
pub mod context;
pub mod error;
pub mod ops;
pub mod pages;
pub mod security;
pub mod serve;

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::DefaultBodyLimit,
    http::{HeaderName, Request, StatusCode},
    middleware,
    response::Response,
};
use tower::{Service, ServiceBuilder, util::MapResponseLayer};
use tower_http::{
    catch_panic::CatchPanicLayer,
    map_response_body::MapResponseBodyLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::features::Core;

/// Largest request body accepted anywhere (the event description is the biggest field).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything a handler can reach. One `State`, no `Extension` layers that could be missing.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub core: Core,
    /// This instance's live rooms.
    pub hub: crate::realtime::Hub,
    pub limits: security::RateLimiters,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Whether recordings can be processed here (ffmpeg), found at start.
    pub recording: crate::media::recording::Processing,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        core: Core,
        hub: crate::realtime::Hub,
        recording: crate::media::recording::Processing,
    ) -> Self {
        let limits = security::RateLimiters::new(&core.config.rate_limits);
        AppState(Arc::new(Inner {
            core,
            hub,
            limits,
            metrics: crate::telemetry::metrics_handle(),
            recording,
        }))
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole service: routes inside, then the middleware stack around them once (not per
/// route). Layers listed first run first. The `from_fn` layers sit innermost because each
/// clones the service beneath it on every request, and beneath them is only the router.
pub fn service(
    state: AppState,
) -> impl Clone
+ Service<Request<Body>, Response = Response, Error = Infallible, Future: Send>
+ Send
+ Sync
+ 'static {
    let config = state.core.config.clone();
    let routes = Router::new()
        .merge(pages::router())
        .nest("/api/v1", api::router().layer(security::cors(&config)))
        .merge(ops::router())
        .merge(assets::router())
        .route_layer(middleware::from_fn(ops::tag_route))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state.clone());

    ServiceBuilder::new()
        .layer(MapResponseBodyLayer::new(Body::new))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<Body>| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(ops::on_response),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(MapResponseLayer::new(security::headers(
            config.is_https(),
            &config.remote_origins(),
            config.media_origin().as_deref(),
            matches!(config.media, crate::config::MediaKind::Ivs(_)),
        )))
        .layer(middleware::from_fn_with_state(state.clone(), context::resolve))
        .layer(middleware::from_fn_with_state(state.clone(), error::render_error_pages))
        .layer(middleware::from_fn_with_state(state.clone(), security::rate_limit))
        .layer(middleware::from_fn(security::refuse_control_characters))
        .layer(middleware::from_fn(security::limit_body))
        .layer(middleware::from_fn_with_state(state.clone(), security::csrf))
        .service(routes)
}
