//! Events over JSON.

use axum::{
    Json, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiErrorBody, ApiJson};
use crate::{
    features::{
        FieldErrors,
        events::{self, EventInput, EventView, PAGE_SIZE, Page, Transition},
        ids::EventId,
        registrations,
    },
    http::{
        AppState,
        context::{Authed, Ctx, IdPath},
        error::HttpError,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(list).post(create))
        .route("/events/mine", get(mine))
        .route("/events/{id}", get(show).put(update))
        .route("/events/{id}/cancel", post(cancel))
        .route("/events/{id}/green-room", post(open_green_room))
        .route("/events/{id}/go-live", post(go_live))
        .route("/events/{id}/end", post(end))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// `live`, `upcoming` (default) or `past`.
    section: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<i64>,
}

fn limit(l: Option<i64>) -> Result<i64, HttpError> {
    match l {
        None => Ok(PAGE_SIZE),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(HttpError(
            FieldErrors::single("limit", "limit must be from 1 to 100.").into(),
        )),
    }
}

/// One page of a home-page section; cancelled events are never listed.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(ListQuery),
    responses((status = 200, body = Page<EventView>), (status = 422, body = ApiErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<EventView>>, HttpError> {
    let section = events::parse_section(q.section.as_deref()).ok_or_else(|| {
        HttpError(FieldErrors::single("section", "section must be live, upcoming or past.").into())
    })?;
    Ok(Json(
        events::list(
            &s.core,
            ctx.user(),
            section,
            q.cursor.as_deref(),
            limit(q.limit)?,
        )
        .await?,
    ))
}

/// Create an event (organizers with a confirmed email).
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = EventInput,
    responses((status = 201, body = EventView), (status = 403, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    Authed(session): Authed,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<Response, HttpError> {
    let e = events::create(&s.core, &session, &input).await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

#[derive(Deserialize, IntoParams)]
pub struct CursorQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

/// The caller's own events, newest first, cancelled included.
#[utoipa::path(get, path = "/api/v1/events/mine", tag = "events", params(CursorQuery),
    responses((status = 200, body = Page<EventView>), (status = 401, body = ApiErrorBody)))]
pub async fn mine(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<CursorQuery>,
) -> Result<Json<Page<EventView>>, HttpError> {
    Ok(Json(
        events::mine(
            &s.core,
            ctx.require()?,
            q.cursor.as_deref(),
            limit(q.limit)?,
        )
        .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventView,
    /// The caller's registration: `registered`, `waitlisted` or null.
    pub my_registration: Option<String>,
}

/// One event.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = EventDetail), (status = 404, body = ApiErrorBody)))]
pub async fn show(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Json<EventDetail>, HttpError> {
    let event = events::get(&s.core, ctx.user(), &id).await?;
    let my_registration = match &ctx.session {
        Some(session) => registrations::my_status(&s.core, session, &event.id).await?,
        None => None,
    };
    Ok(Json(EventDetail {
        event,
        my_registration,
    }))
}

/// Edit an event that has not started (owner or admin).
#[utoipa::path(put, path = "/api/v1/events/{id}", tag = "events", params(("id" = String, Path)), request_body = EventInput,
    responses((status = 200, body = EventView), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody), (status = 422, body = ApiErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Authed(session): Authed,
    IdPath(id): IdPath<EventId>,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<Json<EventView>, HttpError> {
    Ok(Json(events::update(&s.core, &session, &id, &input).await?))
}

/// Cancel an event that has not ended (owner or admin).
#[utoipa::path(post, path = "/api/v1/events/{id}/cancel", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = EventView), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
pub async fn cancel(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Json<EventView>, HttpError> {
    Ok(Json(events::cancel(&s.core, ctx.require()?, &id).await?))
}

/// Open the green room: presenters may join and rehearse; attendees wait (owner or admin).
#[utoipa::path(post, path = "/api/v1/events/{id}/green-room", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = EventView), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
pub async fn open_green_room(
    State(s): State<AppState>,
    Authed(session): Authed,
    IdPath(id): IdPath<EventId>,
) -> Result<Json<EventView>, HttpError> {
    let e = events::transition(&s.core, &session, &id, Transition::OpenGreenRoom).await?;
    Ok(Json(e))
}

/// Go live from the green room: registrants are mailed and the session stops on its own at
/// the scheduled end, with warnings 5 and 1 minutes before (owner or admin).
#[utoipa::path(post, path = "/api/v1/events/{id}/go-live", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = EventView), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
pub async fn go_live(
    State(s): State<AppState>,
    Authed(session): Authed,
    IdPath(id): IdPath<EventId>,
) -> Result<Json<EventView>, HttpError> {
    let e = events::transition(&s.core, &session, &id, Transition::GoLive).await?;
    Ok(Json(e))
}

/// End a live event now (owner or admin).
#[utoipa::path(post, path = "/api/v1/events/{id}/end", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = EventView), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
pub async fn end(
    State(s): State<AppState>,
    Authed(session): Authed,
    IdPath(id): IdPath<EventId>,
) -> Result<Json<EventView>, HttpError> {
    let e = events::transition(&s.core, &session, &id, Transition::End).await?;
    Ok(Json(e))
}
