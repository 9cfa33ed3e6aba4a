//! An event's recording over HTTP: its files (with byte ranges, for the player and the
//! download), the organizer's progress poll, and publish, unpublish, delete and retry.

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::see_other;
use crate::{
    features::{
        Error, events,
        ids::EventId,
        recordings::{self, Served},
    },
    http::{
        AppState,
        context::{Ctx, IdPath},
        error::HttpError,
    },
    media::recording::storage::{self, Object},
};

type PageResult = Result<Response, HttpError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{id}/recording/status", get(status))
        .route("/events/{id}/recording/publish", post(publish))
        .route("/events/{id}/recording/unpublish", post(unpublish))
        .route("/events/{id}/recording/delete", post(delete))
        .route("/events/{id}/recording/retry", post(retry))
        .route("/events/{id}/recording/{file}", get(file))
}

/// A file of a ready recording, for whoever may watch it; anything else is a plain 404 (a
/// stranger learns nothing about what exists).
async fn file(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, name)): Path<(String, String)>,
    req: Request,
) -> PageResult {
    let id: EventId = id.parse().map_err(|_| HttpError(Error::NotFound))?;
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|r| r.len() <= 100)
        .map(str::to_string);
    let served = recordings::file(&s.core, ctx.user(), &id, &name, range.as_deref()).await?;
    let mut res = match served {
        Served::File(path) => {
            let res = ServeFile::new(&path)
                .oneshot(req)
                .await
                .map_err(|e| HttpError(Error::Internal(e.into())))?
                .into_response();
            if res.status() == StatusCode::NOT_FOUND {
                return Err(HttpError(Error::NotFound));
            }
            res
        }
        Served::Object(o) => object_response(&name, o)?,
        // The CDN's URL is good for a while and for this viewer only: never cached.
        Served::Redirect(url) => {
            let mut res = StatusCode::FOUND.into_response();
            res.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&url).map_err(|e| HttpError(Error::Internal(e.into())))?,
            );
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(res);
        }
        Served::Playlist(text) => {
            ([(header::CONTENT_TYPE, storage::content_type(&name))], text).into_response()
        }
    };
    let h = res.headers_mut();
    // Members-only replays must not sit in shared caches; a deleted one must stop soon.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    if name == "recording.mp4" {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{id}.mp4\""))
                .map_err(|e| HttpError(Error::Internal(e.into())))?,
        );
    }
    Ok(res)
}

/// A file from the bucket, streamed as it arrives: 206 with its range when one was asked.
fn object_response(name: &str, o: Object) -> PageResult {
    let internal = |e: axum::http::Error| HttpError(Error::Internal(e.into()));
    let mut b = Response::builder()
        .header(header::CONTENT_TYPE, storage::content_type(name))
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some(len) = o.content_length {
        b = b.header(header::CONTENT_LENGTH, len);
    }
    b = match &o.content_range {
        Some(range) => b
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, range),
        None => b.status(StatusCode::OK),
    };
    let body = futures_util::stream::unfold(o.body, |mut body| async move {
        body.next()
            .await
            .map(|chunk| (chunk.map_err(std::io::Error::other), body))
    });
    b.body(Body::from_stream(body)).map_err(internal)
}

/// How far processing got, for the organizer's event page while it waits.
async fn status(State(s): State<AppState>, ctx: Ctx, IdPath(id): IdPath<EventId>) -> PageResult {
    let session = ctx.require()?;
    let e = events::get_managed(&s.core, session, &id).await?;
    let r = recordings::for_viewer(&s.core, Some(&session.user), &e).await?;
    Ok(Json(match r {
        Some(r) => json!({
            "state": r.state,
            "progress": r.progress,
            "text": r.status_text(),
        }),
        None => json!({ "state": "none", "progress": 0, "text": "" }),
    })
    .into_response())
}

async fn publish(s: State<AppState>, ctx: Ctx, id: IdPath<EventId>) -> PageResult {
    set_published(s, ctx, id, true).await
}

async fn unpublish(s: State<AppState>, ctx: Ctx, id: IdPath<EventId>) -> PageResult {
    set_published(s, ctx, id, false).await
}

async fn set_published(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
    on: bool,
) -> PageResult {
    recordings::set_published(&s.core, ctx.require()?, &id, on).await?;
    let notice = if on {
        "recording_published"
    } else {
        "recording_unpublished"
    };
    Ok(see_other(&format!("/events/{id}"), notice))
}

async fn delete(State(s): State<AppState>, ctx: Ctx, IdPath(id): IdPath<EventId>) -> PageResult {
    recordings::delete(&s.core, ctx.require()?, &id).await?;
    Ok(see_other(&format!("/events/{id}"), "recording_deleted"))
}

async fn retry(State(s): State<AppState>, ctx: Ctx, IdPath(id): IdPath<EventId>) -> PageResult {
    recordings::retry(&s.core, ctx.require()?, &id).await?;
    Ok(see_other(&format!("/events/{id}"), "recording_retry"))
}
