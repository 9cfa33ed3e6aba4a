//! The live event's lifecycle through the organizer's buttons, and the clock the job loop
//! keeps for it: warnings 5 and 1 minutes before the end, then the automatic stop.

use chrono::Duration;
use meetstage::features::email;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestApp},
    room_client::Ws,
};

/// The organizer's own live-room socket, greeted.
async fn room_of(app: &TestApp, email: &str, event: &str) -> Ws {
    let me = app.cookie_of(app.user_id(email).await).await;
    let mut ws = app.ws(event, Some(&me)).await;
    ws.greeting().await;
    ws
}

/// Waits for the room's clock to show `status`.
async fn status(room: &mut Ws, status: &str) {
    room.until_with("clock", |c| c["status"] == status).await;
}

/// Waits for a warning; returns (minutes_left, ends_at).
async fn warning(room: &mut Ws) -> (i64, i64) {
    let w = room.until("ending_soon").await;
    (
        w["minutes_left"].as_i64().unwrap(),
        w["ends_at"].as_i64().unwrap(),
    )
}

/// (run_at, kind) of this event's end jobs.
async fn end_jobs(app: &TestApp, event: &str) -> Vec<(i64, String, String)> {
    let mut out = Vec::new();
    for kind in ["end_warning", "auto_stop"] {
        for j in app.core.store.jobs_by_kind(kind).await.unwrap() {
            if j.payload.contains(event) {
                out.push((j.run_at, j.kind, j.dedupe_key.unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

async fn event_status(app: &TestApp, event: &str) -> String {
    let c = app.browser();
    let v: serde_json::Value = app
        .get(&c, &format!("/api/v1/events/{event}"))
        .await
        .json()
        .await
        .unwrap();
    v["status"].as_str().unwrap().to_string()
}

/// Sessions outlive the week the clock jumps forward.
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |o| o.session_idle_hours = Some(24 * 30)).await
}

async fn lifecycle_buttons_warnings_and_auto_stop(backend: Backend) {
    let app = spawn(backend).await;
    let org = app.organizer("org@example.org", "Org").await;
    let event = app.create_event(&org, "Live night", "").await;
    let mut room = room_of(&app, "org@example.org", &event).await;
    let page = format!("/events/{event}");

    // Only the organizer sees the controls and may use them.
    let member = app.member("m@example.org", "Member").await;
    let (_, html) = app.text(&member, &page).await;
    assert!(!html.contains("Open green room"));
    let r = app
        .api(
            &member,
            Method::POST,
            &format!("/api/v1/events/{event}/green-room"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let other = app.organizer("other@example.org", "Other").await;
    let r = app.form(&other, &format!("{page}/green-room"), &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Scheduled → staging → live through the page's buttons.
    let (_, html) = app.text(&org, &page).await;
    assert!(html.contains("Open green room") && !html.contains(">Go live<"));
    let r = app.form(&org, &format!("{page}/green-room"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    status(&mut room, "staging").await;
    let (_, html) = app
        .text(&org, r.headers()["location"].to_str().unwrap())
        .await;
    assert!(html.contains("The green room is open"));
    assert!(html.contains(">Go live<"), "{html}");
    // Going live before the green room, or twice, is a clear conflict.
    let r = app
        .api(
            &org,
            Method::POST,
            &format!("/api/v1/events/{event}/end"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app.form(&org, &format!("{page}/go-live"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    status(&mut room, "live").await;
    let r = app
        .api(
            &org,
            Method::POST,
            &format!("/api/v1/events/{event}/go-live"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["message"],
        "The event is live, so it cannot become live."
    );
    let (_, html) = app.text(&org, &page).await;
    assert!(html.contains("End event") && html.contains("stops automatically"));

    // The session's clock: warnings at end − 5 min and − 1 min, the stop at the end. It
    // went live a week early, so it runs its 60 minutes from now, not until a week later.
    let ends_at = (app.clock.now() + Duration::minutes(60)).timestamp_millis();
    let jobs = end_jobs(&app, &event).await;
    assert_eq!(
        jobs.iter().map(|j| (j.0, j.1.as_str())).collect::<Vec<_>>(),
        [
            (ends_at - 5 * 60_000, "end_warning"),
            (ends_at - 60_000, "end_warning"),
            (ends_at, "auto_stop"),
        ]
    );
    let now = app.clock.now_ms();
    app.clock
        .advance(Duration::milliseconds(ends_at - 5 * 60_000 - now));
    // One minute early, nothing runs.
    app.clock.advance(Duration::minutes(-1));
    app.run_jobs().await;
    assert!(
        !room
            .settle()
            .await
            .iter()
            .any(|m| m["type"] == "ending_soon")
    );
    app.clock.advance(Duration::minutes(1));
    assert_eq!(app.run_jobs().await, 1, "the 5-minute warning");
    assert_eq!(end_jobs(&app, &event).await.len(), 2);
    assert_eq!(warning(&mut room).await, (5, ends_at));
    let notice = room.until_with("chat", |m| m["kind"] == "system").await;
    assert_eq!(notice["text"], "5 minutes left.");
    app.clock.advance(Duration::minutes(4));
    assert_eq!(app.run_jobs().await, 1, "the 1-minute warning");
    assert_eq!(warning(&mut room).await, (1, ends_at));
    assert_eq!(event_status(&app, &event).await, "live");
    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        app.run_jobs().await,
        3,
        "the automatic stop, the recording's job (nothing recorded), then the recap mail"
    );
    status(&mut room, "ended").await;
    assert_eq!(event_status(&app, &event).await, "ended");
    assert!(end_jobs(&app, &event).await.is_empty(), "no end job left");
    let (_, html) = app.text(&org, &page).await;
    assert!(html.contains("This event has ended.") && !html.contains("End event"));
}

async fn late_start_and_manual_end(backend: Backend) {
    let app = spawn(backend).await;
    let org = app.organizer("org@example.org", "Org").await;
    let event = app.create_event(&org, "Late night", "").await;
    let go = |step: &'static str| {
        let (app, org, event) = (&app, &org, &event);
        async move {
            app.api(
                org,
                Method::POST,
                &format!("/api/v1/events/{event}/{step}"),
                None,
            )
            .await
            .status()
        }
    };
    assert_eq!(go("green-room").await, StatusCode::OK);
    // The presenters were very late: the scheduled end has passed when they go live. The
    // session still gets five minutes, so no 5-minute warning, a 1-minute one, and the stop.
    app.clock.advance(Duration::days(8));
    assert_eq!(go("go-live").await, StatusCode::OK);
    let now = app.clock.now_ms();
    let jobs = end_jobs(&app, &event).await;
    assert_eq!(
        jobs.iter().map(|j| (j.0, j.1.as_str())).collect::<Vec<_>>(),
        [
            (now + 4 * 60_000, "end_warning"),
            (now + 5 * 60_000, "auto_stop")
        ]
    );
    assert!(jobs[0].2.starts_with("end_warning:1:"));
    // The page counts down to the real stop, not to the scheduled end already past.
    let stop = meetstage::clock::from_ms(now + 5 * 60_000).to_rfc3339();
    let (_, html) = app.text(&org, &format!("/events/{event}")).await;
    assert!(
        html.contains(&format!("data-countdown=\"{stop}\"")),
        "{html}"
    );

    // Ended by hand: the pending stop and warning go with it, and nothing ends it twice.
    let mut room = room_of(&app, "org@example.org", &event).await;
    assert_eq!(go("end").await, StatusCode::OK);
    status(&mut room, "ended").await;
    // The end's own notice comes last; with Postgres, the go-live's may still be arriving.
    room.until_with("chat", |m| {
        m["text"] == "The event has ended. Thank you for joining!"
    })
    .await;
    assert!(end_jobs(&app, &event).await.is_empty());
    assert_eq!(go("end").await, StatusCode::CONFLICT);
    app.clock.advance(Duration::minutes(10));
    app.run_jobs().await;
    let after = room.settle().await;
    assert!(
        !after
            .iter()
            .any(|m| m["type"] == "ending_soon" || m["type"] == "clock"),
        "no notice after the end: {after:?}"
    );
    room.send("chat", json!({ "text": "anyone?" })).await;
    assert_eq!(room.error().await, "not_live");
}

/// A mail backlog of any size never holds the session's clock back: with the server's own
/// workers running at the default mail rate and 3,000 mails waiting, the warning and the stop
/// still come when due, while the backlog is still being worked off.
async fn a_mail_backlog_never_delays_the_clock(backend: Backend) {
    let app = TestApp::spawn_with_workers(backend, |o| {
        o.session_idle_hours = Some(24 * 30);
        o.mail_rate = Some(14.0);
    })
    .await;
    let org = app.organizer("org@example.org", "Org").await;
    let event = app.create_event(&org, "Busy night", "").await;
    for step in ["green-room", "go-live"] {
        let r = app
            .api(
                &org,
                Method::POST,
                &format!("/api/v1/events/{event}/{step}"),
                None,
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let org_id = app.user_id("org@example.org").await;
    let now = app.clock.now_ms();
    let backlog: Vec<_> = (0..3_000)
        .map(|i| email::event_mail(email::Purpose::EventCreated, &event, &org_id, i, now))
        .collect();
    app.core.store.enqueue_mails(&backlog).await.unwrap();

    let mut room = room_of(&app, "org@example.org", &event).await;
    let (stop_at, _, _) = end_jobs(&app, &event).await.pop().unwrap();
    app.clock
        .advance(Duration::milliseconds(stop_at - 5 * 60_000 - now));
    assert_eq!(warning(&mut room).await, (5, stop_at));
    app.clock.advance(Duration::minutes(5));
    // The 1-minute warning was due too; the stop follows it.
    assert_eq!(warning(&mut room).await.0, 1);
    status(&mut room, "ended").await;
    let pending = app
        .core
        .store
        .outbox(Some("pending"), 0, 5_000)
        .await
        .unwrap();
    assert!(
        pending.len() > 2_500,
        "the backlog was still being delivered ({} left)",
        pending.len()
    );
}

both!(
    lifecycle_buttons_warnings_and_auto_stop,
    late_start_and_manual_end,
    a_mail_backlog_never_delays_the_clock
);
