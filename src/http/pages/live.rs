//! The live room: the page (the presenter dashboard for those who run the room, the attendee
//! room for everyone else) and its WebSocket. The socket is opened by the page with the
//! session cookie; the server decides who the person is and what they may do.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{Layout, form_errors, render, see_other};
use crate::{
    features::{
        Error,
        events::{self, EventView, Status},
        forbidden,
        ids::{EventId, UserId},
        live::{self, Participant, REACTIONS, Refusal, presenters},
    },
    http::{
        AppState,
        context::{Authed, Ctx, IdPath},
        error::HttpError,
    },
    realtime::{connection, wire},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{id}/live", get(page))
        .route("/events/{id}/live/socket", get(socket))
        .route("/events/{id}/presenters", post(add_presenter))
        .route("/events/{id}/presenters/remove", post(remove_presenter))
}

pub(super) fn refused(r: Refusal) -> HttpError {
    HttpError(match r {
        Refusal::NotFound => Error::NotFound,
        Refusal::SignIn => Error::Unauthenticated,
        Refusal::Banned(reason) if reason.is_empty() => {
            forbidden("The presenters removed you from this event.")
        }
        Refusal::Banned(reason) => forbidden(format!(
            "The presenters removed you from this event: {reason}"
        )),
        Refusal::Failed(e) => e,
    })
}

#[derive(Template)]
#[template(path = "events/live.html")]
struct LivePage {
    layout: Layout,
    e: EventView,
    who: Participant,
    reactions: &'static [(&'static str, &'static str)],
    extensions: &'static [u32],
    /// For the organizer (or an admin): the co-presenters, and why naming one failed.
    co_presenters: Option<Vec<(String, String)>>,
    problem: Option<String>,
    /// People who may send at once, and whether a shared screen takes one of those places.
    seats: usize,
    screen_takes_a_place: bool,
    /// In the green room, for the organizer: what going live will cost on Amazon IVS.
    costs: Option<crate::features::costs::CostView>,
}

impl LivePage {
    fn runs_room(&self) -> bool {
        self.who.runs_room()
    }

    fn signed_in(&self) -> bool {
        self.who.user.is_some()
    }

    fn can_manage(&self) -> bool {
        self.layout
            .user
            .as_ref()
            .is_some_and(|_| self.who.role == crate::features::live::protocol::RoomRole::Presenter)
    }

    fn role_name(&self) -> &'static str {
        use crate::features::live::protocol::RoomRole;
        match self.who.role {
            RoomRole::Presenter => "presenter",
            RoomRole::Moderator => "moderator",
            RoomRole::Attendee => "attendee",
            RoomRole::Viewer => "viewer",
        }
    }

    fn status(&self) -> &'static str {
        self.e.status.as_str()
    }
}

async fn page(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> Result<Response, HttpError> {
    live_page(&s, &ctx, &id, None).await
}

async fn live_page(
    s: &AppState,
    ctx: &Ctx,
    id: &EventId,
    problem: Option<String>,
) -> Result<Response, HttpError> {
    let e = events::get(&s.core, ctx.user(), id).await?;
    let who = live::admit(&s.core, &e, ctx.user())
        .await
        .map_err(refused)?;
    let title = if who.runs_room() {
        format!("Dashboard: {}", e.title)
    } else {
        e.title.clone()
    };
    let co_presenters = match ctx.user() {
        Some(u) if e.can_manage(u) => Some(presenters::list(&s.core, &e).await?),
        _ => None,
    };
    let costs =
        match co_presenters.is_some() && matches!(e.status, Status::Scheduled | Status::Staging) {
            true => crate::features::costs::view(&s.core, &e).await?,
            false => None,
        };
    Ok(render(&LivePage {
        layout: Layout::new(s, ctx, title),
        e,
        who,
        reactions: &REACTIONS,
        extensions: &live::clock::EXTENSIONS,
        co_presenters,
        problem,
        seats: s.core.media.seats(),
        screen_takes_a_place: s.core.media.screen_takes_a_place(),
        costs,
    }))
}

#[derive(Deserialize)]
struct PresenterForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    user_id: String,
}

async fn add_presenter(
    State(s): State<AppState>,
    ctx: Ctx,
    Authed(session): Authed,
    IdPath(id): IdPath<EventId>,
    Form(f): Form<PresenterForm>,
) -> Result<Response, HttpError> {
    match form_errors(presenters::add(&s.core, &session, &id, &f.email).await)? {
        Ok(()) => Ok(see_other(&format!("/events/{id}/live"), "presenter_added")),
        Err(errors) => live_page(&s, &ctx, &id, Some(errors.to_string())).await,
    }
}

async fn remove_presenter(
    State(s): State<AppState>,
    Authed(session): Authed,
    IdPath(id): IdPath<EventId>,
    Form(f): Form<PresenterForm>,
) -> Result<Response, HttpError> {
    let user: UserId = f.user_id.parse().map_err(|_| HttpError(Error::NotFound))?;
    presenters::remove(&s.core, &session, &id, &user).await?;
    Ok(see_other(
        &format!("/events/{id}/live"),
        "presenter_removed",
    ))
}

/// The WebSocket upgrade. Cookies ride along on cross-site WebSocket requests and CSRF
/// tokens do not cover a GET, so the `Origin` must be this site's (or a configured one).
async fn socket(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
    mut req: Request,
) -> Result<Response, HttpError> {
    let headers = req.headers();
    if !origin_allowed(&s, headers) {
        metrics::counter!("meetstage_room_refused_total", "why" => "origin").increment(1);
        return Err(HttpError(forbidden(
            "This page may not open a live-room connection.",
        )));
    }
    let Some(accept) = handshake(headers) else {
        return Ok((
            StatusCode::BAD_REQUEST,
            [(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            )],
            "This address takes WebSocket connections (version 13) only.",
        )
            .into_response());
    };
    let e = events::get(&s.core, ctx.user(), &id).await?;
    if e.status == Status::Cancelled {
        return Err(HttpError(Error::NotFound));
    }
    let mut who = live::admit(&s.core, &e, ctx.user())
        .await
        .map_err(refused)?;
    who.session = ctx.session.as_ref().map(|s| s.id_hash.clone());
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (core, hub) = (s.core.clone(), s.hub.clone());
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => connection::run(core, hub, upgraded, who).await,
            Err(e) => tracing::debug!(error = %e, "live-room upgrade failed"),
        }
    });
    Ok((
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (
                header::SEC_WEBSOCKET_ACCEPT,
                HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
            ),
        ],
    )
        .into_response())
}

fn origin_allowed(s: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    let own = s.core.config.base_url.origin().ascii_serialization();
    origin == own || s.core.config.cors_origins.iter().any(|o| o == origin)
}

/// The `Sec-WebSocket-Accept` for a valid version-13 upgrade request.
fn handshake(headers: &HeaderMap) -> Option<String> {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return None;
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION)? != "13" {
        return None;
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?.to_str().ok()?;
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(key).ok()?;
    (raw.len() == 16).then(|| wire::accept_key(key))
}
