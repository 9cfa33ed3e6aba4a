//! What an ended event leaves: its recap page, the organizer's attendance report with its CSV
//! download, and an attendee's printable certificate of attendance.

use askama::Template;
use axum::{Router, extract::State, response::Response, routing::get};

use super::{Layout, csv_download, render};
use crate::{
    features::{
        ids::EventId,
        recap::{self, Certificate, Recap, Report},
    },
    http::{
        AppState,
        context::{Ctx, IdPath},
        error::HttpError,
    },
};

type PageResult = Result<Response, HttpError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{id}/recap", get(recap_page))
        .route("/events/{id}/attendance", get(attendance))
        .route("/events/{id}/attendance.csv", get(attendance_csv))
        .route("/events/{id}/certificate", get(certificate))
}

#[derive(Template)]
#[template(path = "recap/recap.html")]
struct RecapPage {
    layout: Layout,
    r: Recap,
    can_manage: bool,
    /// The viewer was in the room while it was live: a certificate is theirs to print.
    attended: bool,
    /// hls.js is installed: the player loads it (else it plays the MP4).
    hls_js: bool,
}

async fn recap_page(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> PageResult {
    let r = recap::recap(&s.core, ctx.user(), &id).await?;
    let can_manage = ctx.user().is_some_and(|u| r.event.can_manage(u));
    // The recap already counted who watched: no second pass over the visits.
    let attended = ctx.user().is_some_and(|u| r.watched.contains(&u.id));
    Ok(render(&RecapPage {
        layout: Layout::new(&s, &ctx, format!("Recap: {}", r.event.title)),
        r,
        can_manage,
        attended,
        hls_js: crate::http::assets::hls_js().is_some(),
    }))
}

#[derive(Template)]
#[template(path = "recap/attendance.html")]
struct AttendancePage {
    layout: Layout,
    r: Report,
}

async fn attendance(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> PageResult {
    let session = ctx.require()?;
    let r = recap::attendance::report(&s.core, session, &id).await?;
    Ok(render(&AttendancePage {
        layout: Layout::new(&s, &ctx, format!("Attendance: {}", r.event.title)),
        r,
    }))
}

async fn attendance_csv(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> PageResult {
    let session = ctx.require()?;
    let r = recap::attendance::report(&s.core, session, &id).await?;
    let csv = recap::attendance::to_csv(&r.attendees)?;
    Ok(csv_download(csv, &format!("attendance-{}.csv", r.event.id)))
}

#[derive(Template)]
#[template(path = "recap/certificate.html")]
struct CertificatePage {
    layout: Layout,
    c: Certificate,
}

async fn certificate(
    State(s): State<AppState>,
    ctx: Ctx,
    IdPath(id): IdPath<EventId>,
) -> PageResult {
    let session = ctx.require()?;
    let c = recap::attendance::certificate(&s.core, &session.user, &id).await?;
    Ok(render(&CertificatePage {
        layout: Layout::new(&s, &ctx, format!("Certificate: {}", c.event.title)),
        c,
    }))
}
