//! Static files, compiled into the binary so one file is the whole server. The theme
//! stylesheet carries the configured accent colour (inline styles are barred by the CSP).

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{AppState, error::not_found};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../static/favicon.svg"),
    ),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/theme.css", get(theme))
        .route("/static/{file}", get(file))
        .route(
            "/favicon.ico",
            get(|| file(Path("favicon.svg".to_string()))),
        )
}

fn cached(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, ct, body)) => cached(ct, (*body).to_string()),
        None => not_found().await,
    }
}

async fn theme(State(s): State<AppState>) -> Response {
    // The colour was validated as #rrggbb when the configuration was read.
    let accent = &s.core.config.branding.accent_color;
    cached(
        "text/css; charset=utf-8",
        format!(":root {{ --accent: {accent}; }}\n"),
    )
}
