//! Operations endpoints: health, readiness, metrics, the OpenAPI document, static assets.

use reqwest::StatusCode;

use crate::{
    both,
    helpers::{Backend, TestApp},
};

both!(health_ready_metrics_and_openapi);

/// Without a configured token there is no metrics endpoint at all.
#[tokio::test]
async fn metrics_are_off_without_a_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, _) = app.text(&app.browser(), "/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Without ffmpeg the server is still ready, and says recordings cannot be processed; the
/// image installs it (and git, for the published archive).
#[tokio::test]
async fn readiness_says_whether_recordings_can_be_processed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |o| {
        o.ffmpeg = Some("/nonexistent/ffmpeg".into());
    })
    .await;
    let (status, ready) = app.text(&app.browser(), "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ready.starts_with("ready\nrecording: not available (/nonexistent/ffmpeg cannot be run"),
        "{ready}"
    );
    let dockerfile = include_str!("../../Dockerfile");
    let runtime = dockerfile.split("\nFROM ").last().expect("a runtime stage");
    assert!(runtime.contains("ca-certificates ffmpeg git"), "{runtime}");
}

/// The image creates and owns its data directory before declaring it a volume, so a fresh
/// named volume is writable by the unprivileged user (no container engine runs here, so the
/// Dockerfile is read, in order).
#[test]
fn the_image_owns_its_data_volume() {
    let dockerfile = include_str!("../../Dockerfile");
    let runtime = dockerfile.split("\nFROM ").last().expect("a runtime stage");
    let creates = runtime
        .find("install -d -o meetstage -g meetstage -m 0750 /var/lib/meetstage/data")
        .expect("the data directory is created for meetstage");
    let user = runtime.find("\nUSER meetstage").expect("runs unprivileged");
    let volume = runtime
        .find("VOLUME [\"/var/lib/meetstage/data\"]")
        .expect("declares the volume");
    assert!(creates < user && user < volume);
}

const METRICS_TOKEN: &str = "scrape-me-0123456789";

async fn health_ready_metrics_and_openapi(b: Backend) {
    let app = TestApp::spawn_with(b, |o| {
        o.metrics_token = Some(meetstage::config::Secret::new(METRICS_TOKEN));
    })
    .await;
    let c = app.browser();
    assert_eq!(
        app.text(&c, "/healthz").await,
        (StatusCode::OK, "ok".to_string())
    );
    let (status, ready) = app.text(&c, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ready.starts_with("ready\nrecording: available (ffmpeg version "),
        "{ready}"
    );
    app.get(&c, "/events/00000000-0000-7000-8000-000000000000")
        .await;

    // Only Prometheus, with the configured token, reads the metrics.
    let r = app.get(&c, "/metrics").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = c
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let metrics = r.text().await.unwrap();
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
