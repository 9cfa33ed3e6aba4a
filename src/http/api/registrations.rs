//! Registrations over JSON.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, put},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiErrorBody;
use crate::{
    features::{
        events::EventView,
        ids::EventId,
        registrations::{self, Registrant},
    },
    http::{
        AppState,
        context::{Ctx, IdPath},
        error::HttpError,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/events/{id}/registration",
            put(register).delete(unregister),
        )
        .route("/events/{id}/registrations", get(list))
}

#[derive(Serialize, ToSchema)]
pub struct RegistrationOut {
    /// `registered`, `waitlisted` or null (not registered).
    pub status: Option<String>,
    pub event: EventView,
}

/// Register (or join the waitlist when full). Idempotent.
#[utoipa::path(put, path = "/api/v1/events/{id}/registration", tag = "registrations", params(("id" = String, Path)),
    responses((status = 200, body = RegistrationOut), (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
pub async fn register(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Json<RegistrationOut>, HttpError> {
    let (event, outcome) = registrations::register(&s.core, ctx.require()?, &id).await?;
    let status = outcome.status();
    Ok(Json(RegistrationOut {
        status: Some(status.into()),
        event,
    }))
}

/// Unregister (or leave the waitlist). Idempotent.
#[utoipa::path(delete, path = "/api/v1/events/{id}/registration", tag = "registrations", params(("id" = String, Path)),
    responses((status = 200, body = RegistrationOut), (status = 409, body = ApiErrorBody)))]
pub async fn unregister(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Json<RegistrationOut>, HttpError> {
    let (event, _) = registrations::unregister(&s.core, ctx.require()?, &id).await?;
    Ok(Json(RegistrationOut {
        status: None,
        event,
    }))
}

/// The registration list (the event's organizer or an admin).
#[utoipa::path(get, path = "/api/v1/events/{id}/registrations", tag = "registrations", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Registrant>), (status = 403, body = ApiErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Json<Vec<Registrant>>, HttpError> {
    let (_, list) = registrations::registrants(&s.core, ctx.require()?, &id).await?;
    Ok(Json(list))
}
