//! The home page (Live now / Upcoming / Past) and the paginated section listings.

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    response::Response,
    routing::get,
};
use serde::Deserialize;

use super::{Layout, render};
use crate::{
    features::events::{self, EventView, PAGE_SIZE, Page, Section},
    http::{AppState, context::Ctx, error::HttpError},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/events", get(section))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    live: Page<EventView>,
    upcoming: Page<EventView>,
    past: Page<EventView>,
    /// The feed with the `webcal:` scheme, which calendar apps open as a subscription.
    webcal: String,
    /// Event titles sit under the section headings (h2).
    card_heading: u8,
}

async fn home(State(s): State<AppState>, ctx: Ctx) -> Result<Response, HttpError> {
    let viewer = ctx.user();
    let (live, upcoming, past) = tokio::try_join!(
        events::list(&s.core, viewer, Section::Live, None, PAGE_SIZE),
        events::list(&s.core, viewer, Section::Upcoming, None, PAGE_SIZE),
        events::list(&s.core, viewer, Section::Past, None, 6),
    )?;
    let feed = s.core.config.link("/calendar.ics");
    let webcal = feed
        .replacen("https://", "webcal://", 1)
        .replacen("http://", "webcal://", 1);
    Ok(render(&HomePage {
        layout: Layout::new(&s, &ctx, "Events"),
        live,
        upcoming,
        past,
        webcal,
        card_heading: 3,
    }))
}

#[derive(Deserialize)]
struct SectionQuery {
    section: Option<String>,
    cursor: Option<String>,
}

pub fn section_name(s: Section) -> &'static str {
    match s {
        Section::Live => "live",
        Section::Upcoming => "upcoming",
        Section::Past => "past",
    }
}

#[derive(Template)]
#[template(path = "events/list.html")]
struct SectionPage {
    layout: Layout,
    heading: &'static str,
    section: &'static str,
    page: Page<EventView>,
    /// Event titles sit right under the page heading (h1).
    card_heading: u8,
}

async fn section(
    State(s): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SectionQuery>,
) -> Result<Response, HttpError> {
    let section = events::parse_section(q.section.as_deref())
        .ok_or(HttpError(crate::features::Error::NotFound))?;
    let page = events::list(&s.core, ctx.user(), section, q.cursor.as_deref(), PAGE_SIZE).await?;
    let heading = match section {
        Section::Live => "Live now",
        Section::Upcoming => "Upcoming events",
        Section::Past => "Past events",
    };
    Ok(render(&SectionPage {
        layout: Layout::new(&s, &ctx, heading),
        heading,
        section: section_name(section),
        page,
        card_heading: 2,
    }))
}
