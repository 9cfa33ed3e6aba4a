//! Calendar files: the download, the invites attached to mail and the feed parse as
//! iCalendar and follow RFC 5545 (stable UID, rising SEQUENCE, UTC, escaping, folding).

use std::str::FromStr;

use chrono::Duration;
use icalendar::{Calendar, Component};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestApp},
};

both!(
    download_follows_the_rules,
    invites_travel_with_the_mail,
    feed_lists_upcoming_public_events
);

const TITLE: &str = "Rust-Treffen: Ünïcödé, Asynchrone Programmierung; Fehlerbehandlung \\ und viel mehr — mit Gästen";
const DESCRIPTION: &str =
    "Erste Zeile, mit Komma; und Semikolon\nZweite Zeile mit Backslash \\ und Emoji 🦀";

/// Every physical line ends in CRLF and is at most 75 octets (RFC 5545 §3.1).
fn assert_folded(ics: &str) {
    assert!(ics.ends_with("\r\n"));
    for line in ics.trim_end_matches("\r\n").split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        assert!(!line.contains('\n'), "bare LF in {line:?}");
    }
}

fn parse(ics: &str) -> Calendar {
    Calendar::from_str(ics).unwrap_or_else(|e| panic!("not iCalendar ({e}):\n{ics}"))
}

async fn create(app: &TestApp, org: &reqwest::Client, title: &str, visibility: &str) -> String {
    let start = (app.clock.now() + Duration::days(3))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = app
        .api(org, Method::POST, "/api/v1/events", Some(json!({"title": title, "description": DESCRIPTION, "start_local": start, "time_zone": "Europe/Berlin", "duration_minutes": 90, "visibility": visibility})))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn download_follows_the_rules(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let id = create(&app, &org, TITLE, "public").await;
    let r = app
        .get(&app.browser(), &format!("/events/{id}/calendar.ics"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/calendar; charset=utf-8");
    let ics = r.text().await.unwrap();
    assert_folded(&ics);
    assert!(ics.contains("METHOD:PUBLISH\r\n"));
    let unfolded = ics.replace("\r\n ", "");
    assert!(
        unfolded.contains("DESCRIPTION:Erste Zeile\\, mit Komma\\; und Semikolon\\nZweite Zeile mit Backslash \\\\ und Emoji 🦀"),
        "TEXT escaping: {unfolded}"
    );
    let cal = parse(&ics);
    let event = cal.events().next().expect("one VEVENT");
    assert_eq!(event.get_summary(), Some(TITLE));
    assert!(event.get_description().unwrap().starts_with(DESCRIPTION));
    let host = url::Url::parse(&app.base)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    assert_eq!(event.get_uid(), Some(format!("{id}@{host}").as_str()));
    assert_eq!(event.get_sequence(), Some(0));
    let dtstart = event.property_value("DTSTART").unwrap();
    assert!(dtstart.ends_with('Z'), "UTC: {dtstart}");

    // Moving the start keeps the UID and raises SEQUENCE; a title change alone does not.
    let start = (app.clock.now() + Duration::days(4))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = app.api(&org, Method::PUT, &format!("/api/v1/events/{id}"), Some(json!({"title": TITLE, "description": DESCRIPTION, "start_local": start, "time_zone": "Europe/Berlin", "duration_minutes": 90}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let ics = app
        .text(&app.browser(), &format!("/events/{id}/calendar.ics"))
        .await
        .1;
    let cal = parse(&ics);
    let event = cal.events().next().unwrap();
    assert_eq!(event.get_uid(), Some(format!("{id}@{host}").as_str()));
    assert_eq!(event.get_sequence(), Some(1));
}

async fn invites_travel_with_the_mail(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let id = create(&app, &org, TITLE, "public").await;
    let ann = app.member("ann@example.org", "Ann Attendee").await;
    let r = app
        .api(
            &ann,
            Method::PUT,
            &format!("/api/v1/events/{id}/registration"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let confirmation = app.last_mail_to("ann@example.org").await;
    let (method, ics) = confirmation.ics.expect("invite attached");
    assert_eq!(method, "REQUEST");
    assert_folded(&ics);
    assert!(ics.contains("METHOD:REQUEST\r\n"));
    assert!(ics.contains("mailto:ann@example.org"), "ATTENDEE: {ics}");
    let cal = parse(&ics);
    assert_eq!(cal.events().next().unwrap().get_summary(), Some(TITLE));

    let r = app
        .api(
            &org,
            Method::POST,
            &format!("/api/v1/events/{id}/cancel"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cancelled = app.last_mail_to("ann@example.org").await;
    assert!(cancelled.subject.starts_with("Cancelled:"));
    let (method, ics) = cancelled.ics.expect("cancellation attached");
    assert_eq!(method, "CANCEL");
    assert!(ics.contains("METHOD:CANCEL\r\n") && ics.contains("STATUS:CANCELLED\r\n"));
    let event = parse(&ics).events().next().unwrap().clone();
    assert_eq!(event.get_sequence(), Some(1), "cancelling raises SEQUENCE");
}

async fn feed_lists_upcoming_public_events(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let public = create(&app, &org, "Public talk", "public").await;
    let members = create(&app, &org, "Members talk", "members").await;
    let gone = create(&app, &org, "Cancelled talk", "public").await;
    app.api(
        &org,
        Method::POST,
        &format!("/api/v1/events/{gone}/cancel"),
        None,
    )
    .await;
    let (status, ics) = app.text(&app.browser(), "/calendar.ics").await;
    assert_eq!(status, StatusCode::OK);
    assert_folded(&ics);
    let cal = parse(&ics);
    let summaries: Vec<&str> = cal.events().filter_map(|e| e.get_summary()).collect();
    assert_eq!(summaries, ["Public talk"]);
    assert!(ics.contains(&public) && !ics.contains(&members) && !ics.contains(&gone));
    let (_, home) = app.text(&app.browser(), "/").await;
    assert!(home.contains(&format!(
        "webcal://{}/calendar.ics",
        app.base.trim_start_matches("http://")
    )));
}
