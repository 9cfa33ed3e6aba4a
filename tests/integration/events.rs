//! Events end to end: creation with validation, time zones, the event page, editing,
//! cancelling, lists and cursors, authorization and the compare-and-set lifecycle.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestApp},
};
use meetstage::features::events::{self, Transition};

both!(
    create_show_and_list,
    creation_rejects_bad_input,
    authorization_rules,
    edit_and_cancel,
    unknown_events_are_404,
    pagination_with_cursors,
    members_only_visibility,
    lifecycle_transitions_are_compare_and_set
);

fn form_fields<'a>(
    title: &'a str,
    start: &'a str,
    tz: &'a str,
    duration: &'a str,
    capacity: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("description", ""),
        ("start_local", start),
        ("time_zone", tz),
        ("duration_minutes", duration),
        ("capacity", capacity),
        ("visibility", "public"),
    ]
}

async fn create_show_and_list(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let description = "Line one\nLine two <script>alert(1)</script>";
    let r = app
        .form(
            &org,
            "/events/create",
            &[
                ("title", "Rust & WebRTC"),
                ("description", description),
                ("start_local", "2030-07-01T18:00"),
                ("time_zone", "Europe/Berlin"),
                ("duration_minutes", "90"),
                ("capacity", ""),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/events/")
        .split('?')
        .next()
        .unwrap()
        .to_string();

    // Stored in UTC: 18:00 in Berlin in July is 16:00Z.
    let e: serde_json::Value = app
        .browser()
        .get(app.url(&format!("/api/v1/events/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e["starts_at"], "2030-07-01T16:00:00Z");
    assert_eq!(e["ends_at"], "2030-07-01T17:30:00Z");
    assert_eq!(e["status"], "scheduled");
    assert_eq!(e["description"], description, "line breaks are kept");

    // The page escapes the description and keeps its line breaks for display.
    let (status, page) = app.text(&app.browser(), &format!("/events/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Rust &#38; WebRTC"));
    assert!(page.contains("Line one\nLine two &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>alert(1)"));
    assert!(
        page.contains("datetime=\"2030-07-01T16:00:00+00:00\""),
        "time element for local rendering"
    );
    assert!(page.contains("data-countdown="));
    assert!(page.contains("Log in to register"));

    // Listed under Upcoming on the home page and in the organizer's own list only.
    let (_, home) = app.text(&app.browser(), "/").await;
    assert!(home.contains(&format!("/events/{id}")));
    let (_, mine) = app.text(&org, "/my/events").await;
    assert!(mine.contains("Rust &#38; WebRTC"));
    let other = app.organizer("other@example.org", "Otto").await;
    let (_, theirs) = app.text(&other, "/my/events").await;
    assert!(!theirs.contains("Rust &#38; WebRTC"));
    let j: serde_json::Value = app
        .api(&other, Method::GET, "/api/v1/events/mine", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(j["items"].as_array().unwrap().len(), 0);

    // The organizer got no error and the API can create too, with numbers as numbers.
    let r = app
        .api(&org, Method::POST, "/api/v1/events", Some(json!({
            "title": "Via API", "start_local": "2030-08-01T10:00", "time_zone": "UTC", "duration_minutes": 30, "capacity": 10
        })))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["capacity"], 10);
    assert_eq!(j["members_only"], false);
}

async fn creation_rejects_bad_input(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let long = "t".repeat(201);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            form_fields(&long, "2030-07-01T18:00", "UTC", "60", ""),
            "Title must be at most 200 characters.",
        ),
        (
            form_fields("", "2030-07-01T18:00", "UTC", "60", ""),
            "Title is required.",
        ),
        (
            form_fields("Past", "2020-01-01T10:00", "UTC", "60", ""),
            "The start must be in the future.",
        ),
        (
            form_fields("Zero", "2030-07-01T18:00", "UTC", "0", ""),
            "Duration must be a whole number of minutes from 15 to 480.",
        ),
        (
            form_fields("Long", "2030-07-01T18:00", "UTC", "481", ""),
            "Duration must be a whole number of minutes from 15 to 480.",
        ),
        (
            form_fields("Zone", "2030-07-01T18:00", "Mars/Olympus", "60", ""),
            "Choose a time zone from the list.",
        ),
        (
            form_fields("Gap", "2030-03-31T02:30", "Europe/Berlin", "60", ""),
            "the clocks change then",
        ),
        (
            form_fields("Cap", "2030-07-01T18:00", "UTC", "60", "-1"),
            "Capacity must be empty or a number",
        ),
        (
            form_fields("Date", "tomorrow", "UTC", "60", ""),
            "Enter a date and time like",
        ),
        (
            form_fields("Far", "+262142-12-31T20:00", "UTC", "480", ""),
            "The start must be within 3 years from now.",
        ),
        (
            form_fields("Later", "2033-02-01T10:00", "UTC", "60", ""),
            "The start must be within 3 years from now.",
        ),
    ];
    for (fields, message) in cases {
        let r = app.form(&org, "/events/create", &fields).await;
        assert_eq!(r.status(), StatusCode::OK, "{message}");
        let body = r.text().await.unwrap();
        assert!(body.contains(message), "expected {message:?} in form");
        let title = fields[0].1;
        assert!(
            body.contains(&format!("value=\"{title}\"")),
            "typed title is kept"
        );
    }
    let r = app
        .form(
            &org,
            "/events/create",
            &form_fields("Desc", "2030-07-01T18:00", "UTC", "60", ""),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut too_long = form_fields("Desc", "2030-07-01T18:00", "UTC", "60", "");
    let d = "d".repeat(5001);
    too_long[1] = ("description", &d);
    let r = app.form(&org, "/events/create", &too_long).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Description must be at most 5000 characters.")
    );

    // API: JSON error body with field details.
    let r = app
        .api(
            &org,
            Method::POST,
            "/api/v1/events",
            Some(
                json!({"title": "", "start_local": "x", "time_zone": "UTC", "duration_minutes": 0}),
            ),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let j: serde_json::Value = r.json().await.unwrap();
    let fields: Vec<&str> = j["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "start_local", "duration_minutes"]);
}

async fn authorization_rules(b: Backend) {
    let app = TestApp::spawn(b).await;
    let member = app.member("mem@example.org", "Mem").await;
    assert_eq!(
        app.get(&member, "/events/new").await.status(),
        StatusCode::FORBIDDEN
    );
    let r = app
        .form(
            &member,
            "/events/create",
            &form_fields("Nope", "2030-07-01T18:00", "UTC", "60", ""),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.api(&member, Method::POST, "/api/v1/events", Some(json!({"title": "Nope", "start_local": "2030-07-01T18:00", "time_zone": "UTC", "duration_minutes": 60}))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "forbidden"
    );

    // Anonymous API calls are 401 JSON; anonymous pages redirect to login.
    let r = app
        .browser()
        .post(app.url("/api/v1/events"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get(&app.browser(), "/events/new").await.status(),
        StatusCode::SEE_OTHER
    );

    // An organizer cannot edit, cancel or see registrations of another organizer's event.
    let owner = app.organizer("own@example.org", "Owner").await;
    let id = app.create_event(&owner, "Owned", "").await;
    let intruder = app.organizer("int@example.org", "Intruder").await;
    assert_eq!(
        app.get(&intruder, &format!("/events/{id}/edit"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = app
        .form(
            &intruder,
            &format!("/events/{id}"),
            &form_fields("Hijacked", "2030-07-01T18:00", "UTC", "60", ""),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.form(&intruder, &format!("/events/{id}/cancel"), &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&intruder, &format!("/events/{id}/registrations"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&intruder, &format!("/events/{id}/registrations.csv"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = app.api(&intruder, Method::PUT, &format!("/api/v1/events/{id}"), Some(json!({"title": "Hijacked", "start_local": "2030-07-01T18:00", "time_zone": "UTC", "duration_minutes": 60}))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (_, page) = app.text(&app.browser(), &format!("/events/{id}")).await;
    assert!(page.contains("Owned") && !page.contains("Hijacked"));

    // An unconfirmed organizer cannot create events either.
    let unconfirmed = app.signup("unc@example.org", "Unc").await;
    let uid = app.user_id("unc@example.org").await;
    app.core
        .store
        .set_role_unaudited(&uid, "organizer", app.clock.now_ms())
        .await
        .unwrap();
    let r = app
        .form(
            &unconfirmed,
            "/events/create",
            &form_fields("Early", "2030-07-01T18:00", "UTC", "60", ""),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn edit_and_cancel(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let id = app.create_event(&org, "Before", "").await;
    let (status, form) = app.text(&org, &format!("/events/{id}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("value=\"Before\""));

    let r = app
        .form(
            &org,
            &format!("/events/{id}"),
            &form_fields("After", "2030-09-01T09:30", "America/New_York", "120", "50"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let e: serde_json::Value = app
        .browser()
        .get(app.url(&format!("/api/v1/events/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e["title"], "After");
    assert_eq!(e["starts_at"], "2030-09-01T13:30:00Z");
    assert_eq!(e["time_zone"], "America/New_York");
    assert_eq!(e["capacity"], 50);

    let r = app.form(&org, &format!("/events/{id}/cancel"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.text(&org, &format!("/events/{id}")).await;
    assert!(page.contains("This event was cancelled."));
    // Hidden from lists, cannot be cancelled twice or edited.
    let (_, home) = app.text(&app.browser(), "/").await;
    assert!(!home.contains(&id));
    let r = app.form(&org, &format!("/events/{id}/cancel"), &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("already been cancelled"));
    // The edit form no longer opens; it sends to the event page, which says why.
    let r = app.get(&org, &format!("/events/{id}/edit")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        format!("/events/{id}?notice=not_editable")
    );
    // A form left open elsewhere: saving keeps what was typed and says why it was not saved.
    let r = app
        .form(
            &org,
            &format!("/events/{id}"),
            &form_fields("Again", "2030-09-01T09:30", "UTC", "60", ""),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("A cancelled event can no longer be edited."),
        "{page}"
    );
    assert!(page.contains("value=\"Again\""), "typed title kept");
    let r = app
        .api(
            &org,
            reqwest::Method::PUT,
            &format!("/api/v1/events/{id}"),
            Some(json!({"title": "Again", "start_local": "2030-09-01T09:30", "time_zone": "UTC", "duration_minutes": 60})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Links in a description are links, and only real web addresses are.
    let linked = app.create_event(&org, "Linked", "").await;
    let mut fields = form_fields("Linked", "2030-09-01T09:30", "UTC", "60", "");
    fields[1] = (
        "description",
        "Slides: https://slides.example/talk. <script>alert(1)</script>",
    );
    let r = app.form(&org, &format!("/events/{linked}"), &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.text(&org, &format!("/events/{linked}")).await;
    assert!(page.contains(
        "<a href=\"https://slides.example/talk\" rel=\"nofollow noopener noreferrer\" target=\"_blank\">https://slides.example/talk</a>."
    ));
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !page.contains("<script>alert")
    );
}

async fn unknown_events_are_404(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.browser();
    for path in [
        "/events/00000000-0000-7000-8000-000000000000",
        "/events/not-a-uuid",
        "/events/%27%20OR%201=1",
        "/no/such/page",
    ] {
        let r = app.get(&c, path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = r.text().await.unwrap();
        assert!(
            body.contains("<h1>Not Found</h1>") && body.contains("Go to the events"),
            "finished page for {path}"
        );
    }
    let r = app
        .get(&c, "/api/v1/events/00000000-0000-7000-8000-000000000000")
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["error"], "not_found");
    assert!(j["message"].as_str().unwrap().len() > 10);

    // Every route with an id in its path: text that is no id is not found, before anything
    // looks it up, for every kind of id and every method.
    let admin = app.admin("root@example.org", "Root").await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/events/x"),
        (reqwest::Method::GET, "/events/x/calendar.ics"),
        (reqwest::Method::GET, "/events/x/registrations.csv"),
        (reqwest::Method::PUT, "/api/v1/events/x/registration"),
        (reqwest::Method::POST, "/api/v1/events/x/go-live"),
        (reqwest::Method::POST, "/api/v1/admin/users/x/disable"),
        (reqwest::Method::POST, "/api/v1/admin/outbox/x/retry"),
    ] {
        let r = app.api(&admin, method.clone(), path, None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    for path in [
        "/events/x/register",
        "/admin/users/x/disable",
        "/admin/outbox/x/retry",
    ] {
        let r = app.form(&admin, path, &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
}

async fn pagination_with_cursors(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let mut created = Vec::new();
    for i in 0..23 {
        let start = (app.clock.now() + chrono::Duration::days(1 + i))
            .format("%Y-%m-%dT%H:%M")
            .to_string();
        let r = app.api(&org, Method::POST, "/api/v1/events", Some(json!({"title": format!("E{i}"), "start_local": start, "time_zone": "UTC", "duration_minutes": 60}))).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        created.push(
            r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let c = app.browser();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(cur) => format!("/api/v1/events?section=upcoming&limit=10&cursor={cur}"),
            None => "/api/v1/events?section=upcoming&limit=10".into(),
        };
        let j: serde_json::Value = app.get(&c, &path).await.json().await.unwrap();
        seen.extend(
            j["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        cursor = j["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, created, "every event once, in start order");

    // The page version links to the next page the same way.
    let (_, home) = app.text(&c, "/").await;
    assert!(home.contains("More upcoming events"));
    let r = app.get(&c, "/api/v1/events?cursor=!!!").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get(&c, "/events?section=upcoming&cursor=!!!")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get(&c, "/api/v1/events?limit=0").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get(&c, "/api/v1/events?section=sideways")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Events whose end has passed move to Past.
    app.clock.advance(chrono::Duration::days(40));
    let j: serde_json::Value = app
        .get(&c, "/api/v1/events?section=past&limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(j["items"].as_array().unwrap().len(), 23);
}

async fn members_only_visibility(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let r = app.api(&org, Method::POST, "/api/v1/events", Some(json!({"title": "Club night", "start_local": "2030-07-01T18:00", "time_zone": "UTC", "duration_minutes": 60, "visibility": "members"}))).await;
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let anon = app.browser();
    let (_, home) = app.text(&anon, "/").await;
    assert!(!home.contains("Club night"));
    assert_eq!(
        app.get(&anon, &format!("/events/{id}")).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get(&anon, &format!("/api/v1/events/{id}"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let member = app.member("mem@example.org", "Mem").await;
    let (_, home) = app.text(&member, "/").await;
    assert!(home.contains("Club night") && home.contains("Members only"));
    assert_eq!(
        app.get(&member, &format!("/events/{id}")).await.status(),
        StatusCode::OK
    );
}

async fn lifecycle_transitions_are_compare_and_set(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let id = app.create_event(&org, "Lifecycle", "").await;
    let session = app.session_of(&app.user_id("org@example.org").await).await;
    // Ten simultaneous "open the green room" clicks: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (core, session, id) = (app.core.clone(), session.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            events::transition(
                &core,
                &session,
                &id.parse().unwrap(),
                Transition::OpenGreenRoom,
            )
            .await
            .is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    // Out-of-order transitions are refused with a clear reason.
    let err = events::transition(&app.core, &session, &id.parse().unwrap(), Transition::End)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("The event is staging, so it cannot become ended."),
        "{err}"
    );
    events::transition(
        &app.core,
        &session,
        &id.parse().unwrap(),
        Transition::GoLive,
    )
    .await
    .unwrap();
    let (_, home) = app.text(&app.browser(), "/").await;
    assert!(home.contains("Live now"));
    events::transition(&app.core, &session, &id.parse().unwrap(), Transition::End)
        .await
        .unwrap();
    // Ended events cannot be cancelled.
    assert_eq!(
        app.form(&org, &format!("/events/{id}/cancel"), &[])
            .await
            .status(),
        StatusCode::CONFLICT
    );
}
