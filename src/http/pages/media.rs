//! Live media signaling: a browser posts its SDP offer to send (`publish`) or to watch
//! (`watch`) and gets the answer (WHIP/WHEP style, authorized by the session like the room);
//! OBS and other WHIP clients publish with a presenter's stream key instead. Each answer
//! names its connection (`Location`), which its owner may end with `DELETE`.

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde_json::json;

use super::live::refused;
use crate::{
    features::{
        Error,
        events::{self, EventView},
        ids::EventId,
        live::{self, Participant, presenters},
        validation::FieldErrors,
    },
    http::{
        AppState,
        context::{Ctx, IdPath},
        error::HttpError,
    },
    media::MediaRole,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{id}/live/media", get(ticket))
        .route("/events/{id}/live/chat", get(chat_ticket))
        .route("/events/{id}/live/publish", post(publish))
        .route("/events/{id}/live/watch", post(watch))
        .route("/events/{id}/live/media/{conn}", delete(hang_up))
        .route("/events/{id}/live/whip", post(whip))
        .route("/events/{id}/live/whip/{conn}", delete(whip_hang_up))
        .route("/events/{id}/live/stream-key", post(stream_key))
}

/// Largest SDP offer taken: a browser's, with every codec and candidate, is a few KiB.
const MAX_OFFER: usize = 64 * 1024;

/// The participant ids an IVS page holds, to keep them when its ticket is refreshed.
#[derive(serde::Deserialize)]
struct HeldIds {
    participant: Option<String>,
    screen: Option<String>,
}

/// How this person's page joins the stage's media (which provider, what they may do).
async fn ticket(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
    Query(held): Query<HeldIds>,
) -> Result<Response, HttpError> {
    // Participant ids are ours (UUIDs): anything else is refused before it reaches a query.
    let valid = |v: &Option<String>| {
        v.as_deref().is_none_or(|p| {
            p.len() <= 64 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    if !valid(&held.participant) || !valid(&held.screen) {
        return Err(HttpError(
            FieldErrors::single(
                "participant",
                "A participant id is up to 64 letters, digits and dashes.",
            )
            .into(),
        ));
    }
    let (e, who) = admitted(&s, &ctx, &id).await?;
    let held = live::stage::Held {
        participant: held.participant.as_deref(),
        screen: held.screen.as_deref(),
    };
    Ok(Json(live::media_ticket(&s.core, &e, &who, held).await?).into_response())
}

/// How this person's page receives the group chat (the live-room socket, or IVS Chat).
async fn chat_ticket(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Response, HttpError> {
    let (e, who) = admitted(&s, &ctx, &id).await?;
    Ok(Json(live::chat::ticket(&s.core, &e.id, &who).await?).into_response())
}

/// The browser posts its SDP offer to send audio and video; the answer comes back.
async fn publish(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
    offer: String,
) -> Result<Response, HttpError> {
    let (e, who) = admitted(&s, &ctx, &id).await?;
    offer_answer(&s, &e, &who, MediaRole::Publisher, &offer, "media").await
}

/// The browser posts its SDP offer to receive the stage's audio and video.
async fn watch(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
    offer: String,
) -> Result<Response, HttpError> {
    let (e, who) = admitted(&s, &ctx, &id).await?;
    offer_answer(&s, &e, &who, MediaRole::Subscriber, &offer, "media").await
}

/// The page leaves the stage: its connection ends now rather than when it times out.
async fn hang_up(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((id, conn)): Path<(String, u64)>,
) -> Result<StatusCode, HttpError> {
    let id: EventId = id.parse().map_err(|_| HttpError(Error::NotFound))?;
    let (_, who) = admitted(&s, &ctx, &id).await?;
    Ok(end(&s, &id, &who, conn))
}

/// OBS (or any WHIP client) publishes as the presenter whose stream key it bears.
async fn whip(
    State(s): State<AppState>,
    IdPath(id): IdPath<EventId>,
    headers: HeaderMap,
    offer: String,
) -> Result<Response, HttpError> {
    let (e, who) = key_holder(&s, &id, &headers).await?;
    offer_answer(&s, &e, &who, MediaRole::Publisher, &offer, "whip").await
}

async fn whip_hang_up(
    State(s): State<AppState>,
    Path((id, conn)): Path<(String, u64)>,
    headers: HeaderMap,
) -> Result<StatusCode, HttpError> {
    let id: EventId = id.parse().map_err(|_| HttpError(Error::NotFound))?;
    let (_, who) = key_holder(&s, &id, &headers).await?;
    Ok(end(&s, &id, &who, conn))
}

/// Ends connection `conn` if it is `who`'s; anyone else's is left alone, and said the same.
fn end(s: &AppState, id: &EventId, who: &Participant, conn: u64) -> StatusCode {
    if let Some(user) = &who.user {
        s.core.media.hang_up(id, user, conn);
    }
    StatusCode::NO_CONTENT
}

/// A new stream key for the presenter asking; the one before stops working.
async fn stream_key(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Response, HttpError> {
    let (_, who) = admitted(&s, &ctx, &id).await?;
    let key = presenters::new_stream_key(&s.core, &who).await?;
    let server = format!(
        "{}/events/{id}/live/whip",
        s.core.config.base_url.as_str().trim_end_matches('/')
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({ "server": server, "key": key })),
    )
        .into_response())
}

/// The event and the person, through the same checks as the room.
async fn admitted(
    s: &AppState,
    ctx: &Ctx,
    id: &EventId,
) -> Result<(EventView, Participant), HttpError> {
    let e = events::get(&s.core, ctx.user(), id).await?;
    let mut who = live::admit(&s.core, &e, ctx.user())
        .await
        .map_err(refused)?;
    who.address = Some(ctx.ip);
    Ok((e, who))
}

async fn key_holder(
    s: &AppState,
    id: &EventId,
    headers: &HeaderMap,
) -> Result<(EventView, Participant), HttpError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(HttpError(Error::Unauthenticated))?;
    let e = events::get_row(&s.core, id).await?;
    let who = presenters::stream_key_holder(&s.core, &e, key.trim()).await?;
    Ok((e, who))
}

async fn offer_answer(
    s: &AppState,
    e: &EventView,
    who: &Participant,
    role: MediaRole,
    offer: &str,
    resource: &str,
) -> Result<Response, HttpError> {
    if offer.len() > MAX_OFFER {
        return Err(HttpError(Error::Invalid(FieldErrors::single(
            "offer",
            format!("A connection offer is at most {MAX_OFFER} bytes."),
        ))));
    }
    let connected = live::connect_media(&s.core, e, who, role, offer).await?;
    let location = format!("/events/{}/live/{resource}/{}", e.id, connected.id);
    let location =
        HeaderValue::from_str(&location).map_err(|e| HttpError(Error::Internal(e.into())))?;
    Ok((
        StatusCode::CREATED,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/sdp"),
            ),
            (header::LOCATION, location),
        ],
        connected.answer,
    )
        .into_response())
}
