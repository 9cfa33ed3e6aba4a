//! Events other services send: Amazon EventBridge forwards IVS's composition events here
//! (an API destination with the configured token), so a recording is fetched as soon as IVS
//! finished writing it.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::json;

use super::ApiJson;
use crate::{
    config::MediaKind,
    features::recordings::ivs::{self, IvsEvent},
    http::{AppState, error::HttpError},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/hooks/ivs", post(ivs_event))
}

/// 202 with whether the event concerned one of our recordings; 401 without the token; 404
/// when no token is configured (the hook is off).
async fn ivs_event(
    State(s): State<AppState>,
    headers: HeaderMap,
    ApiJson(event): ApiJson<IvsEvent>,
) -> Result<Response, HttpError> {
    use sha2::{Digest, Sha256};
    let MediaKind::Ivs(settings) = &s.core.config.media else {
        return Ok(super::super::error::not_found().await);
    };
    let Some(expected) = &settings.events_token else {
        return Ok(super::super::error::not_found().await);
    };
    let given = headers
        .get("x-meetstage-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    // Comparing digests takes the same time wherever the tokens differ.
    if Sha256::digest(given) != Sha256::digest(expected.expose()) {
        let body = json!({
            "error": "unauthorized",
            "message": "Send the configured IVS events token in x-meetstage-token.",
        });
        return Ok((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    let ours = ivs::heard(&s.core, &event).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "ours": ours }))).into_response())
}
