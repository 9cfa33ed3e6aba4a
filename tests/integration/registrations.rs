//! Registrations end to end: idempotent register/unregister, capacity and waitlist order,
//! closed events, the organizer's list and CSV, and seat counting under concurrency.

use reqwest::{Method, StatusCode};

use meetstage::features::registrations::{self, RegisterOutcome};

use crate::{
    both,
    helpers::{Backend, TestApp},
};

both!(
    register_waitlist_and_promotion,
    closed_and_unverified_are_refused,
    organizer_list_and_csv,
    concurrent_registrations_never_overbook
);

async fn status_of(app: &TestApp, c: &reqwest::Client, event: &str) -> serde_json::Value {
    app.api(c, Method::GET, &format!("/api/v1/events/{event}"), None)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["my_registration"]
        .clone()
}

async fn register_waitlist_and_promotion(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = app.create_event(&org, "Two seats", "2").await;
    let mut people = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        people.push(app.member(&format!("{name}@example.org"), name).await);
    }
    for (i, c) in people.iter().enumerate() {
        let r = app.form(c, &format!("/events/{event}/register"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let expected = if i < 2 {
            "notice=registered"
        } else {
            "notice=waitlisted"
        };
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .ends_with(expected),
            "person {i}"
        );
    }
    // Registering twice changes nothing.
    let r = app
        .api(
            &people[0],
            Method::PUT,
            &format!("/api/v1/events/{event}/registration"),
            None,
        )
        .await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "registered"
    );
    let r = app
        .api(
            &people[2],
            Method::PUT,
            &format!("/api/v1/events/{event}/registration"),
            None,
        )
        .await;
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["status"], "waitlisted");
    assert_eq!(j["event"]["registered_count"], 2);
    assert_eq!(j["event"]["waitlisted_count"], 2);

    // The page shows each person their own state.
    let (_, page) = app.text(&people[3], &format!("/events/{event}")).await;
    assert!(page.contains("You are on the waitlist."));
    assert!(page.contains("2 of 2") && page.contains("2 waiting"));

    // Ben leaves: Cat (first in line) moves up, Dan stays waiting.
    let r = app
        .form(&people[1], &format!("/events/{event}/unregister"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        status_of(&app, &people[1], &event).await,
        serde_json::Value::Null
    );
    assert_eq!(status_of(&app, &people[2], &event).await, "registered");
    assert_eq!(status_of(&app, &people[3], &event).await, "waitlisted");
    // Leaving twice is fine.
    let r = app
        .api(
            &people[1],
            Method::DELETE,
            &format!("/api/v1/events/{event}/registration"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Raising the capacity moves Dan up too.
    let start = (app.clock.now() + chrono::Duration::days(7))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = app
        .form(
            &org,
            &format!("/events/{event}"),
            &[
                ("title", "Three seats"),
                ("description", ""),
                ("start_local", &start),
                ("time_zone", "UTC"),
                ("duration_minutes", "60"),
                ("capacity", "3"),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app, &people[3], &event).await, "registered");
}

async fn closed_and_unverified_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = app.create_event(&org, "Soon cancelled", "").await;

    let unverified = app.signup("new@example.org", "New").await;
    let r = app
        .form(&unverified, &format!("/events/{event}/register"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Confirm your email address before registering.")
    );
    let (_, page) = app.text(&unverified, &format!("/events/{event}")).await;
    assert!(page.contains("Confirm your email address to register."));

    let anon = app.browser();
    let r = anon
        .put(app.url(&format!("/api/v1/events/{event}/registration")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let member = app.member("mem@example.org", "Mem").await;
    app.form(&org, &format!("/events/{event}/cancel"), &[])
        .await;
    let r = app
        .form(&member, &format!("/events/{event}/register"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This event was cancelled, so registration is closed.")
    );
    let r = app
        .api(
            &member,
            Method::PUT,
            &format!("/api/v1/events/{event}/registration"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "conflict"
    );
}

async fn organizer_list_and_csv(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = app.create_event(&org, "Listed", "1").await;
    let a = app.member("a@example.org", "=HYPERLINK(\"x\")").await;
    let z = app.member("z@example.org", "Zed").await;
    app.form(&a, &format!("/events/{event}/register"), &[])
        .await;
    // A registration a second and a half later still prints to the second, like every other.
    app.clock.advance(chrono::Duration::milliseconds(1_500));
    app.form(&z, &format!("/events/{event}/register"), &[])
        .await;
    // Joining the waitlist is confirmed by mail, with the place in line.
    let waiting = app.last_mail_to("z@example.org").await;
    assert_eq!(waiting.subject, "You're on the waitlist: Listed");
    assert!(waiting.text.contains("You are number 1 on the waitlist."));

    let (status, page) = app
        .text(&org, &format!("/events/{event}/registrations"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("a@example.org") && page.contains("Waitlisted"));

    let r = app
        .get(&org, &format!("/events/{event}/registrations.csv"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "name,email,status,registered_at");
    assert!(
        lines[1].starts_with("\"'=HYPERLINK(\"\"x\"\")\",a@example.org,registered,"),
        "formula defused: {}",
        lines[1]
    );
    assert!(lines[2].starts_with("Zed,z@example.org,waitlisted,"));
    assert_eq!(lines.len(), 3);
    let times: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(times, ["2030-01-15T12:00:00Z", "2030-01-15T12:00:01Z"]);

    // Members cannot read it.
    assert_eq!(
        app.get(&z, &format!("/events/{event}/registrations.csv"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = app
        .api(
            &z,
            Method::GET,
            &format!("/api/v1/events/{event}/registrations"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .api(
            &org,
            Method::GET,
            &format!("/api/v1/events/{event}/registrations"),
            None,
        )
        .await;
    assert_eq!(
        r.json::<serde_json::Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn concurrent_registrations_never_overbook(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = app.create_event(&org, "Five seats", "5").await;
    // Twenty people register at the same moment, through the features layer directly.
    let mut ids = Vec::new();
    for i in 0..20 {
        let email = format!("p{i}@example.org");
        let id = app.quick_member(&email).await;
        ids.push(id);
    }
    let mut sessions = Vec::new();
    for id in ids {
        sessions.push(app.session_of(&id).await);
    }
    let mut tasks = Vec::new();
    for session in sessions {
        let (core, event) = (app.core.clone(), event.clone());
        tasks.push(tokio::spawn(async move {
            registrations::register(&core, &session, &event.parse().unwrap())
                .await
                .unwrap()
                .1
        }));
    }
    let mut registered = 0;
    let mut positions = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            RegisterOutcome::Registered => registered += 1,
            RegisterOutcome::Waitlisted { position } => positions.push(position),
            other => panic!("{other:?}"),
        }
    }
    positions.sort();
    assert_eq!(positions, (1..=15).collect::<Vec<i64>>(), "one place each");
    assert_eq!(registered, 5);
    let e = app.core.store.event(&event).await.unwrap().unwrap();
    assert_eq!((e.registered_count, e.waitlisted_count), (5, 15));
}
