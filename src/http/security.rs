//! The security baseline: CSRF tokens, per-IP rate limits, security headers and CORS.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::Response,
};
use bytes::BytesMut;
use futures_util::StreamExt;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::{
    AppState, BODY_LIMIT,
    context::Ctx,
    error::{ErrorInfo, is_api},
};
use crate::config::{Config, RateLimits};

// --- request bodies -----------------------------------------------------------------------

/// Past the limit, keep reading (and discarding) up to this much so the client, still
/// sending, receives the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 1024 * 1024;

fn too_large() -> Response {
    ErrorInfo::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "The request is too large: at most {} KiB is accepted.",
            BODY_LIMIT / 1024
        ),
    )
    .into_marker()
}

/// Refuses a query string whose decoded text holds a control character (NUL, CR, LF, …):
/// nothing a person types needs one, and a NUL would reach the database.
pub async fn refuse_control_characters(req: Request, next: Next) -> Response {
    let dirty = req.uri().query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k.chars().chain(v.chars()).any(char::is_control))
    });
    if dirty {
        return ErrorInfo::new(
            StatusCode::BAD_REQUEST,
            "control_characters",
            "This address contains control characters. Remove them and try again.",
        )
        .into_marker();
    }
    next.run(req).await
}

/// Reads every request body into memory, up to [`BODY_LIMIT`], before anything parses it.
pub async fn limit_body(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return ErrorInfo::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "The request body could not be read.",
            )
            .into_marker();
        };
        total += chunk.len();
        if total <= BODY_LIMIT {
            buf.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > BODY_LIMIT {
        return too_large();
    }
    next.run(Request::from_parts(parts, Body::from(buf.freeze())))
        .await
}

// --- CSRF ---------------------------------------------------------------------------------

/// The synchronizer token: an HMAC of the session (or, before login, of a random pre-session
/// cookie), so it needs no storage and a token from one session is useless in another.
pub fn csrf_token(core: &crate::features::Core, binding: &str) -> String {
    core.sign(&["csrf", binding])
}

fn forbidden_csrf() -> Response {
    ErrorInfo::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "This form has expired or did not come from this site. Go back, reload the page and try again.",
    )
    .into_marker()
}

/// Every state-changing request carries the token: forms in a `csrf` field, scripts in the
/// `x-csrf-token` header. API calls without a session cookie have no ambient authority to
/// abuse and need none.
pub async fn csrf(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let Some(ctx) = req.extensions().get::<Ctx>().cloned() else {
        return forbidden_csrf();
    };
    if is_api(&ctx.path) && ctx.session.is_none() {
        return next.run(req).await;
    }
    // Mail clients POST one-click unsubscribes (RFC 8058); the signed URL authorizes them.
    if ctx.path == "/unsubscribe" {
        return next.run(req).await;
    }
    // The hmac crate compares the token with the one this session should carry in constant
    // time.
    let genuine = |token: &[u8]| {
        std::str::from_utf8(token).is_ok_and(|t| state.core.verify(&["csrf", &ctx.csrf_binding], t))
    };
    if let Some(h) = req.headers().get("x-csrf-token") {
        return if genuine(h.as_bytes()) {
            next.run(req).await
        } else {
            forbidden_csrf()
        };
    }
    let is_form = req.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    });
    if !is_form {
        return forbidden_csrf();
    }
    // Read the form to find its token, then hand the same bytes on to the handler.
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return too_large();
    };
    let ok = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .is_some_and(|(_, v)| genuine(v.as_bytes()));
    if !ok {
        return forbidden_csrf();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

// --- rate limits --------------------------------------------------------------------------

pub struct RateLimiters {
    anonymous: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    user: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    auth: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

fn per_minute(n: u32) -> Arc<DefaultKeyedRateLimiter<IpAddr>> {
    Arc::new(RateLimiter::keyed(Quota::per_minute(
        NonZeroU32::new(n.max(1)).expect("at least one"),
    )))
}

impl RateLimiters {
    pub fn new(l: &RateLimits) -> Self {
        RateLimiters {
            anonymous: per_minute(l.anonymous_per_min),
            user: per_minute(l.user_per_min),
            auth: per_minute(l.auth_per_min),
        }
    }

    /// Forgets addresses that have been quiet, so the tables do not grow without bound.
    pub fn prune(&self) {
        for l in [&self.anonymous, &self.user, &self.auth] {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Routes that check a password or send mail to an address: limited much harder.
fn is_auth_route(method: &Method, path: &str) -> bool {
    *method == Method::POST
        && matches!(
            path,
            "/login"
                | "/signup"
                | "/account/forgot"
                | "/account/reset"
                | "/api/v1/session"
                | "/api/v1/accounts"
                | "/api/v1/accounts/password-reset"
                | "/api/v1/accounts/password-reset/confirm"
        )
}

fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    ErrorInfo {
        details: Some(json!({ "retry_after_seconds": secs })),
        ..ErrorInfo::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "Too many requests from your address. Please wait {secs} second{} and try again.",
                if secs == 1 { "" } else { "s" }
            ),
        )
    }
    .into_marker()
}

pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(ctx) = req.extensions().get::<Ctx>() else {
        return next.run(req).await;
    };
    let ip = ctx.ip;
    let general = if ctx.session.is_some() {
        &state.limits.user
    } else {
        &state.limits.anonymous
    };
    let mut checks = vec![general];
    if is_auth_route(req.method(), req.uri().path()) {
        checks.push(&state.limits.auth);
    }
    for limiter in checks {
        if let Err(not_until) = limiter.check_key(&ip) {
            metrics::counter!("http_rate_limited_total").increment(1);
            return too_many(not_until.wait_time_from(DefaultClock::default().now()));
        }
    }
    next.run(req).await
}

// --- headers and CORS ---------------------------------------------------------------------

/// The content security policy: only this site, plus the media and chat services pages
/// connect to when the providers are remote (`connect`: origins, e.g. `wss://edge.ivschat…`).
/// With IVS media (`ivs_media`) the IVS Web Broadcast SDK may also run WebAssembly, start its
/// media workers from blobs; every page may play blob media (the replay's hls.js).
fn csp(connect: &[String], media: Option<&str>, ivs_media: bool) -> HeaderValue {
    let mut sources = vec!["'self'".to_string()];
    sources.extend(connect.iter().cloned());
    // The replay's hls.js plays through Media Source Extensions (a blob: URL); the browser's
    // own HLS and the MP4 fetch from the CDN when recordings are delivered through one.
    let media = match media {
        Some(cdn) => format!(" media-src 'self' blob: {cdn};"),
        None => " media-src 'self' blob:;".into(),
    };
    let (script, extra) = if ivs_media {
        (
            "'self' 'wasm-unsafe-eval'",
            format!(" worker-src 'self' blob:;{media}"),
        )
    } else {
        ("'self'", media)
    };
    let value = format!(
        "default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data: https:; \
         connect-src {};{extra} font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
        sources.join(" ")
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

/// Adds the security headers to every response; HSTS only when served over https.
pub fn headers(
    https: bool,
    connect: &[String],
    media: Option<&str>,
    ivs_media: bool,
) -> impl Fn(Response) -> Response + Clone + Send + Sync + 'static + use<> {
    let policy = csp(connect, media, ivs_media);
    move |mut res: Response| {
        let h = res.headers_mut();
        h.insert(header::CONTENT_SECURITY_POLICY, policy.clone());
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        h.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
        h.insert(
            "permissions-policy",
            HeaderValue::from_static(
                "camera=(self), microphone=(self), display-capture=(self), geolocation=()",
            ),
        );
        if https {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            );
        }
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        res
    }
}

/// CORS for the API, limited to the configured origins (none by default).
pub fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            "x-csrf-token".parse().expect("header name"),
        ])
        .allow_credentials(true)
        .max_age(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_opens_only_the_remote_services_in_use() {
        let plain = csp(&[], None, false);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("connect-src 'self';"), "{plain}");
        assert!(!plain.contains("worker-src"), "{plain}");
        let chat_only = csp(
            &["wss://edge.ivschat.eu-west-1.amazonaws.com".into()],
            None,
            false,
        );
        let chat_only = chat_only.to_str().unwrap();
        assert!(
            !chat_only.contains("worker-src") && !chat_only.contains("wasm"),
            "{chat_only}"
        );
        let ivs = csp(
            &[
                "wss://*.live-video.net".into(),
                "wss://edge.ivschat.eu-west-1.amazonaws.com".into(),
            ],
            None,
            true,
        );
        let ivs = ivs.to_str().unwrap();
        assert!(
            ivs.contains(
                "connect-src 'self' wss://*.live-video.net wss://edge.ivschat.eu-west-1.amazonaws.com;"
            ),
            "{ivs}"
        );
        assert!(ivs.contains("worker-src 'self' blob:"), "{ivs}");
        assert!(ivs.contains("media-src 'self' blob:"), "{ivs}");
        assert!(
            ivs.contains("script-src 'self' 'wasm-unsafe-eval';") && !ivs.contains("unsafe-inline"),
            "{ivs}"
        );
        // Replays from a CDN: its origin may be fetched (hls.js) and played (native HLS, MP4).
        let cdn = csp(
            &["https://media.example.org".into()],
            Some("https://media.example.org"),
            false,
        );
        let cdn = cdn.to_str().unwrap();
        assert!(
            cdn.contains("connect-src 'self' https://media.example.org;")
                && cdn.contains("media-src 'self' blob: https://media.example.org;"),
            "{cdn}"
        );
    }
}
