//! The event page, the create/edit form, cancellation, "My events" and the organizer's
//! registration list with its CSV download.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Query, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{Layout, form_errors, render, see_other};
use crate::{
    features::{
        Error, FieldErrors, calendar, costs,
        events::{self, EventInput, EventView, PAGE_SIZE, Page, Transition},
        ids::EventId,
        live, recordings,
        registrations::{self, Registrant},
    },
    http::{
        AppState,
        context::{Authed, Ctx, IdPath},
        error::HttpError,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/new", get(new_page))
        .route("/events/create", post(create))
        .route("/events/{id}", get(show).post(update))
        .route("/events/{id}/edit", get(edit_page))
        .route("/events/{id}/cancel", post(cancel))
        .route("/events/{id}/green-room", post(open_green_room))
        .route("/events/{id}/go-live", post(go_live))
        .route("/events/{id}/end", post(end))
        .route("/events/{id}/recording", post(recording))
        .route("/events/{id}/viewer-cap", post(viewer_cap))
        .route("/events/{id}/registrations", get(registrants))
        .route("/events/{id}/registrations.csv", get(registrants_csv))
        .route("/my/events", get(mine))
        .route("/events/{id}/calendar.ics", get(event_ics))
        .route("/calendar.ics", get(feed_ics))
}

type PageResult = Result<Response, HttpError>;

#[derive(Template)]
#[template(path = "events/show.html")]
struct ShowPage {
    layout: Layout,
    e: EventView,
    my_status: Option<String>,
    can_manage: bool,
    /// A live session's automatic stop.
    stops_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The way into the room while the green room is open or the event is live.
    door: Option<live::Door>,
    /// The recording after the end, for its organizer.
    recording: Option<recordings::RecordingView>,
    /// What the event costs on Amazon IVS, for its organizer until it ends.
    costs: Option<costs::CostView>,
}

impl ShowPage {
    /// The description as HTML: escaped, with its web addresses as links.
    fn description_html(&self) -> String {
        super::linked(&self.e.description)
    }
}

async fn show(State(s): State<AppState>, ctx: Ctx, IdPath(id): IdPath<EventId>) -> PageResult {
    let e = events::get(&s.core, ctx.user(), &id).await?;
    let my_status = match &ctx.session {
        Some(session) => registrations::my_status(&s.core, session, &e.id).await?,
        None => None,
    };
    let can_manage = ctx.user().is_some_and(|u| e.can_manage(u));
    let stops_at = match e.status {
        events::Status::Live => live::stops_at(&s.core, &e.id).await?,
        _ => None,
    };
    let door = live::door(&s.core, &e, ctx.user()).await?;
    let recording = match can_manage {
        true => recordings::for_viewer(&s.core, ctx.user(), &e).await?,
        false => None,
    };
    let over = matches!(e.status, events::Status::Ended | events::Status::Cancelled);
    let costs = match can_manage && !over {
        true => costs::view(&s.core, &e).await?,
        false => None,
    };
    Ok(render(&ShowPage {
        layout: Layout::new(&s, &ctx, e.title.clone()),
        e,
        my_status,
        can_manage,
        stops_at,
        door,
        recording,
        costs,
    }))
}

// --- create and edit ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "events/form.html")]
struct FormPage {
    layout: Layout,
    /// None when creating.
    event_id: Option<String>,
    f: EventInput,
    errors: FieldErrors,
    /// Why the form could not be saved at all (the event moved on meanwhile).
    problem: Option<String>,
    time_zones: &'static [chrono_tz::Tz],
}

fn form_page(
    s: &AppState,
    ctx: &Ctx,
    event_id: Option<String>,
    f: EventInput,
    errors: FieldErrors,
    problem: Option<String>,
) -> Response {
    let title = if event_id.is_some() {
        "Edit event"
    } else {
        "New event"
    };
    render(&FormPage {
        layout: Layout::new(s, ctx, title),
        event_id,
        f,
        errors,
        problem,
        time_zones: &chrono_tz::TZ_VARIANTS,
    })
}

async fn new_page(State(s): State<AppState>, ctx: Ctx) -> PageResult {
    let session = ctx.require()?;
    if !session.user.can_organize() {
        return Err(HttpError(crate::features::forbidden(
            "Only organizers can create events. Ask an administrator.",
        )));
    }
    let blank = EventInput {
        time_zone: "UTC".into(),
        duration_minutes: "60".into(),
        visibility: "public".into(),
        ..EventInput::default()
    };
    Ok(form_page(
        &s,
        &ctx,
        None,
        blank,
        FieldErrors::default(),
        None,
    ))
}

async fn create(
    State(s): State<AppState>,
    ctx: Ctx,
    Authed(session): Authed,
    Form(f): Form<EventInput>,
) -> PageResult {
    match form_errors(events::create(&s.core, &session, &f).await)? {
        Ok(e) => Ok(see_other(&format!("/events/{}", e.id), "event_created")),
        Err(errors) => Ok(form_page(&s, &ctx, None, f, errors, None)),
    }
}

async fn edit_page(State(s): State<AppState>, ctx: Ctx, IdPath(id): IdPath<EventId>) -> PageResult {
    let session = ctx.require()?;
    let e = events::get_managed(&s.core, session, &id).await?;
    if !e.editable() {
        return Ok(see_other(&format!("/events/{}", e.id), "not_editable"));
    }
    Ok(form_page(
        &s,
        &ctx,
        Some(e.id.to_string()),
        e.to_input(),
        FieldErrors::default(),
        None,
    ))
}

async fn update(
    State(s): State<AppState>,
    ctx: Ctx,
    Authed(session): Authed,
    IdPath(id): IdPath<EventId>,
    Form(f): Form<EventInput>,
) -> PageResult {
    let result = events::update(&s.core, &session, &id, &f).await;
    // The event started or was cancelled while the form was open: keep what was typed and
    // say why it cannot be saved.
    if let Err(Error::Conflict(problem)) = result {
        return Ok(form_page(
            &s,
            &ctx,
            Some(id.to_string()),
            f,
            FieldErrors::default(),
            Some(problem),
        ));
    }
    match form_errors(result)? {
        Ok(e) => Ok(see_other(&format!("/events/{}", e.id), "event_updated")),
        Err(errors) => Ok(form_page(&s, &ctx, Some(id.to_string()), f, errors, None)),
    }
}

async fn cancel(State(s): State<AppState>, ctx: Ctx, IdPath(id): IdPath<EventId>) -> PageResult {
    let session = ctx.require()?;
    let e = events::cancel(&s.core, session, &id).await?;
    Ok(see_other(&format!("/events/{}", e.id), "event_cancelled"))
}

async fn open_green_room(s: State<AppState>, ctx: Ctx, id: IdPath<EventId>) -> PageResult {
    step(s, ctx, id, Transition::OpenGreenRoom).await
}

async fn go_live(s: State<AppState>, ctx: Ctx, id: IdPath<EventId>) -> PageResult {
    step(s, ctx, id, Transition::GoLive).await
}

async fn end(s: State<AppState>, ctx: Ctx, id: IdPath<EventId>) -> PageResult {
    step(s, ctx, id, Transition::End).await
}

async fn step(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
    t: Transition,
) -> PageResult {
    let e = events::transition(&s.core, ctx.require()?, &id, t).await?;
    let notice = match t {
        Transition::OpenGreenRoom => "green_room_open",
        Transition::GoLive => "went_live",
        Transition::End => "event_ended",
    };
    Ok(see_other(&format!("/events/{}", e.id), notice))
}

#[derive(Deserialize)]
struct RecordingForm {
    record: String,
}

/// The organizer's switch, before going live: record the event or not.
async fn recording(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
    Form(f): Form<RecordingForm>,
) -> PageResult {
    let on = match f.record.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            return Err(Error::Invalid(FieldErrors::single("record", "Choose on or off.")).into());
        }
    };
    let e = events::set_recording(&s.core, ctx.require()?, &id, on).await?;
    let notice = if on { "recording_on" } else { "recording_off" };
    Ok(see_other(&format!("/events/{}", e.id), notice))
}

#[derive(Deserialize)]
struct ViewerCapForm {
    #[serde(default)]
    viewer_cap: String,
}

/// The organizer's cap on how many watch the event's IVS stage at once (empty: none).
async fn viewer_cap(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
    Form(f): Form<ViewerCapForm>,
) -> PageResult {
    let given = f.viewer_cap.trim();
    let cap = match given {
        "" => None,
        n => Some(n.parse::<i32>().map_err(|_| {
            Error::Invalid(FieldErrors::single(
                "viewer_cap",
                "Give a whole number of viewers, or leave it empty for no cap.",
            ))
        })?),
    };
    let e = costs::set_viewer_cap(&s.core, ctx.require()?, &id, cap).await?;
    Ok(see_other(&format!("/events/{}", e.id), "viewer_cap_saved"))
}

// --- lists --------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "events/mine.html")]
struct MinePage {
    layout: Layout,
    page: Page<EventView>,
}

#[derive(Deserialize)]
struct CursorQuery {
    cursor: Option<String>,
}

async fn mine(State(s): State<AppState>, ctx: Ctx, Query(q): Query<CursorQuery>) -> PageResult {
    let session = ctx.require()?;
    let page = events::mine(&s.core, session, q.cursor.as_deref(), PAGE_SIZE).await?;
    Ok(render(&MinePage {
        layout: Layout::new(&s, &ctx, "My events"),
        page,
    }))
}

#[derive(Template)]
#[template(path = "events/registrants.html")]
struct RegistrantsPage {
    layout: Layout,
    e: EventView,
    list: Vec<Registrant>,
}

async fn registrants(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> PageResult {
    let session = ctx.require()?;
    let (e, list) = registrations::registrants(&s.core, session, &id).await?;
    Ok(render(&RegistrantsPage {
        layout: Layout::new(&s, &ctx, format!("Registrations: {}", e.title)),
        e,
        list,
    }))
}

async fn registrants_csv(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> PageResult {
    let session = ctx.require()?;
    let (e, list) = registrations::registrants(&s.core, session, &id).await?;
    let csv = registrations::to_csv(&list)?;
    Ok(super::csv_download(
        csv,
        &format!("registrations-{}.csv", e.id),
    ))
}

// --- calendar files -----------------------------------------------------------------------

/// A calendar file; `shared` only when anyone may see it (a members-only event must not sit
/// in a shared cache).
fn ics_response(body: String, filename: &str, shared: bool) -> Response {
    let disposition = format!("inline; filename=\"{filename}\"");
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("ascii name"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(if shared {
                    "public, max-age=300"
                } else {
                    "private, max-age=300"
                }),
            ),
        ],
        body,
    )
        .into_response()
}

/// One event for "Add to calendar".
async fn event_ics(State(s): State<AppState>, ctx: Ctx, IdPath(id): IdPath<EventId>) -> PageResult {
    let e = events::get(&s.core, ctx.user(), &id).await?;
    let body = calendar::event_ics(
        &s.core.config,
        &e,
        calendar::Method::Publish,
        None,
        s.core.clock.now(),
    );
    Ok(ics_response(
        body,
        &format!("event-{}.ics", e.id),
        !e.members_only,
    ))
}

/// The subscribable feed (`webcal://…/calendar.ics`): upcoming public events.
async fn feed_ics(State(s): State<AppState>) -> PageResult {
    let page = events::list(&s.core, None, events::Section::Upcoming, None, 500).await?;
    let body = calendar::feed(&s.core.config, &page.items, s.core.clock.now());
    Ok(ics_response(body, "calendar.ics", true))
}
