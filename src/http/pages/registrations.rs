//! Register and unregister buttons on the event page.

use axum::{Router, extract::State, response::Response, routing::post};

use super::see_other;
use crate::{
    features::{ids::EventId, registrations},
    http::{
        AppState,
        context::{Ctx, IdPath},
        error::HttpError,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{id}/register", post(register))
        .route("/events/{id}/unregister", post(unregister))
}

async fn register(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Response, HttpError> {
    let session = ctx.require()?;
    let (e, outcome) = registrations::register(&s.core, session, &id).await?;
    let notice = outcome.status();
    Ok(see_other(&format!("/events/{}", e.id), notice))
}

async fn unregister(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Response, HttpError> {
    let session = ctx.require()?;
    let (e, _) = registrations::unregister(&s.core, session, &id).await?;
    Ok(see_other(&format!("/events/{}", e.id), "unregistered"))
}
