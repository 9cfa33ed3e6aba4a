//! Operations endpoints: health, readiness, metrics, the OpenAPI document, static assets.

use reqwest::StatusCode;

use crate::{
    both,
    helpers::{Backend, TestApp},
};

both!(health_ready_metrics_and_openapi);

async fn health_ready_metrics_and_openapi(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.browser();
    assert_eq!(
        app.text(&c, "/healthz").await,
        (StatusCode::OK, "ok".to_string())
    );
    assert_eq!(
        app.text(&c, "/readyz").await,
        (StatusCode::OK, "ready".to_string())
    );
    app.get(&c, "/events/00000000-0000-7000-8000-000000000000")
        .await;

    let (status, metrics) = app.text(&c, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains("http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/events/{id}\",status=\"404\""),
        "routes are labelled by template"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));

    let doc: serde_json::Value = app.get(&c, "/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/events",
        "/api/v1/events/{id}/registration",
        "/api/v1/session",
        "/api/v1/admin/users/{id}/{action}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI documents {path}");
    }
    assert!(doc["components"]["schemas"].get("EventView").is_some());

    // Assets are served from the binary; the theme carries the configured accent colour.
    let (status, css) = app.text(&c, "/static/theme.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains("--accent: #2f6fde"));
    assert_eq!(
        app.get(&c, "/static/app.js").await.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        app.get(&c, "/static/nope.js").await.status(),
        StatusCode::NOT_FOUND
    );
}
