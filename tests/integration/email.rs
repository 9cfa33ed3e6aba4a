//! Lifecycle mail through the outbox and the job loop: confirmations, reminders on a
//! controlled clock, updates and cancellations to every registrant, retries and dead letters.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestApp},
};
use meetstage::features::email;

both!(
    confirmations_and_links_that_work,
    reminders_follow_the_clock,
    cancel_and_update_reach_every_registrant,
    failed_delivery_retries_then_dead_letters
);

/// An event starting `hours` from the test clock's now, created through the API.
async fn event_in(
    app: &TestApp,
    org: &reqwest::Client,
    hours: i64,
    capacity: Option<i64>,
) -> String {
    let start = (app.clock.now() + Duration::hours(hours))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = app
        .api(org, Method::POST, "/api/v1/events", Some(json!({"title": "Mail night", "start_local": start, "time_zone": "UTC", "duration_minutes": 60, "capacity": capacity})))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn register(app: &TestApp, c: &reqwest::Client, event: &str) {
    let r = app
        .api(
            c,
            Method::PUT,
            &format!("/api/v1/events/{event}/registration"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn confirmations_and_links_that_work(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = event_in(&app, &org, 72, Some(1)).await;

    let created = app.last_mail_to("org@example.org").await;
    assert_eq!(created.subject, "Event created: Mail night");
    let link = created.link("/events/");
    assert_eq!(link, app.url(&format!("/events/{event}")));
    assert_eq!(
        app.get(&app.browser(), link.trim_start_matches(&app.base))
            .await
            .status(),
        StatusCode::OK
    );

    let ann = app.member("ann@example.org", "Ann").await;
    let ben = app.member("ben@example.org", "Ben").await;
    register(&app, &ann, &event).await;
    register(&app, &ben, &event).await;
    let confirmed = app.last_mail_to("ann@example.org").await;
    assert_eq!(confirmed.subject, "You're registered: Mail night");
    assert!(confirmed.text.contains("You have a seat"));
    // Ben is waiting: no confirmation yet; registering again sends nothing new.
    assert!(
        app.mails_to("ben@example.org")
            .await
            .iter()
            .all(|m| !m.subject.starts_with("You're registered"))
    );
    register(&app, &ann, &event).await;
    let count = |mails: Vec<crate::helpers::Mail>| {
        mails
            .iter()
            .filter(|m| m.subject.starts_with("You're registered"))
            .count()
    };
    assert_eq!(count(app.mails_to("ann@example.org").await), 1);

    // Ann leaves: Ben moves up and is told.
    let r = app
        .api(
            &ann,
            Method::DELETE,
            &format!("/api/v1/events/{event}/registration"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(count(app.mails_to("ben@example.org").await), 1);

    // Every mail link points at the public base URL and opens a page.
    for mail in app.mails() {
        for word in mail
            .text
            .split_whitespace()
            .filter(|w| w.starts_with("http"))
        {
            assert!(
                word.starts_with(&app.base),
                "absolute link to the site: {word}"
            );
            let status = app
                .get(&app.browser(), word.trim_start_matches(&app.base))
                .await
                .status();
            assert_eq!(status, StatusCode::OK, "{word} in {:?}", mail.subject);
        }
    }
    // Sent rows no longer hold link tokens.
    let sent = app.core.store.outbox(Some("sent"), 0, 100).await.unwrap();
    assert!(!sent.is_empty() && sent.iter().all(|m| m.payload == "{}"));
}

async fn reminders_follow_the_clock(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = event_in(&app, &org, 72, None).await;
    let people = ["p1@example.org", "p2@example.org", "p3@example.org"];
    for p in people {
        let c = app.member(p, "P").await;
        register(&app, &c, &event).await;
    }
    let reminders = |subject_part: &'static str| {
        let app = &app;
        async move {
            let mut n = 0;
            for p in people {
                n += app
                    .mails_to(p)
                    .await
                    .iter()
                    .filter(|m| m.subject.contains(subject_part))
                    .count();
            }
            n
        }
    };
    // Nothing before its time.
    app.clock.advance(Duration::hours(47));
    assert_eq!(reminders("tomorrow").await, 0);
    // 24 h before: one each.
    app.clock.advance(Duration::hours(1) + Duration::minutes(1));
    assert_eq!(reminders("tomorrow").await, 3);
    assert_eq!(reminders("in an hour").await, 0);

    // The organizer moves the start 24 hours later: the 1 h reminder moves with it.
    let start = (app.clock.now() + Duration::hours(47))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = app.api(&org, Method::PUT, &format!("/api/v1/events/{event}"), Some(json!({"title": "Mail night", "start_local": start, "time_zone": "UTC", "duration_minutes": 60}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The old 1 h reminder time passes silently; the new 24 h reminder is due at the same
    // moment (47 h before the new start).
    app.clock.advance(Duration::hours(23));
    assert_eq!(reminders("in an hour").await, 0, "not at the old time");
    assert_eq!(
        reminders("Changed:").await,
        3,
        "everyone heard about the change"
    );
    assert_eq!(reminders("tomorrow").await, 6);
    app.clock.advance(Duration::hours(23));
    assert_eq!(reminders("in an hour").await, 3);
    app.deliver().await;
    assert_eq!(reminders("in an hour").await, 3, "never twice");

    // A cancelled event gets none; a late one is dropped, not sent late.
    let cancelled = event_in(&app, &org, 30, None).await;
    let late = event_in(&app, &org, 30, None).await;
    let c = app.member("q@example.org", "Q").await;
    register(&app, &c, &cancelled).await;
    register(&app, &c, &late).await;
    let r = app
        .api(
            &org,
            Method::POST,
            &format!("/api/v1/events/{cancelled}/cancel"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        app.core
            .store
            .jobs_by_kind("reminder")
            .await
            .unwrap()
            .iter()
            .all(|j| !j.payload.contains(&cancelled))
    );
    // The server was "down" for two days: the reminders for `late` fall due after its start.
    app.clock.advance(Duration::hours(48));
    let mails = app.mails_to("q@example.org").await;
    assert!(
        mails.iter().all(|m| !m.subject.starts_with("Reminder")),
        "{:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(mails.iter().any(|m| m.subject == "Cancelled: Mail night"));

    // An event created 3 hours ahead only gets the 1-hour reminder.
    let soon = event_in(&app, &org, 3, None).await;
    let jobs = app.core.store.jobs_by_kind("reminder").await.unwrap();
    let keys: Vec<String> = jobs
        .iter()
        .filter(|j| j.payload.contains(&soon))
        .filter_map(|j| j.dedupe_key.clone())
        .collect();
    assert_eq!(keys, [format!("reminder_1h:{soon}")]);
}

async fn cancel_and_update_reach_every_registrant(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = event_in(&app, &org, 72, None).await;
    // 120 registrants, made directly in the store; the cancel request writes one job.
    let mut emails = Vec::new();
    for i in 0..120 {
        let email_addr = format!("r{i}@example.org");
        let id = app.quick_member(&email_addr).await;
        app.seat(&event, &id).await;
        emails.push(email_addr);
    }
    app.deliver().await;
    let r = app
        .api(
            &org,
            Method::POST,
            &format!("/api/v1/events/{event}/cancel"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let pending = app
        .core
        .store
        .outbox(Some("pending"), 0, 1000)
        .await
        .unwrap();
    assert!(
        pending.is_empty(),
        "the request itself queues no per-person mail"
    );
    app.deliver().await;
    let mails = app.mails();
    for e in &emails {
        let n = mails
            .iter()
            .filter(|m| &m.to == e && m.subject == "Cancelled: Mail night")
            .count();
        assert_eq!(n, 1, "{e}");
    }
}

async fn failed_delivery_retries_then_dead_letters(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.deliver().await;
    // Break the transport: the mail directory becomes a file.
    std::fs::remove_dir_all(app.mail_dir()).unwrap();
    std::fs::write(app.mail_dir(), b"not a directory").unwrap();
    let c = app.browser();
    let r = app
        .form(
            &c,
            "/signup",
            &[
                ("email", "vic@example.org"),
                ("display_name", "Vic"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "sign-up does not wait for, or fail with, delivery"
    );
    for attempt in 1..=meetstage::jobs::MAX_ATTEMPTS {
        app.deliver().await;
        let rows = app.core.store.outbox(None, 0, 10).await.unwrap();
        let row = rows
            .into_iter()
            .find(|m| m.purpose == email::Purpose::VerifyEmail.as_str())
            .expect("the sign-up mail is in the outbox");
        assert_eq!(row.attempts, attempt, "one attempt per due time");
        assert!(
            row.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("could not write"),
            "{:?}",
            row.last_error
        );
        let expected = if attempt < meetstage::jobs::MAX_ATTEMPTS {
            "pending"
        } else {
            "dead"
        };
        assert_eq!(row.status, expected);
        app.clock.advance(Duration::hours(2));
    }

    // The transport is repaired; an admin sees the dead mail with its error and retries it.
    std::fs::remove_file(app.mail_dir()).unwrap();
    std::fs::create_dir(app.mail_dir()).unwrap();
    let admin = app.admin("root@example.org", "Root").await;
    let (status, page) = app.text(&admin, "/admin/outbox?status=dead").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("verify_email")
            && page.contains("could not write")
            && page.contains("Retry now")
    );
    let dead = app.core.store.outbox(Some("dead"), 0, 10).await.unwrap();
    let id = dead
        .iter()
        .find(|m| m.purpose == email::Purpose::VerifyEmail.as_str())
        .unwrap()
        .id
        .clone();
    let r = app
        .form(&admin, &format!("/admin/outbox/{id}/retry"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = app.last_mail_to("vic@example.org").await;
    assert!(mail.subject.starts_with("Confirm your email"));
    let r = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/admin/outbox/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "already sent");
    let j: serde_json::Value = app
        .api(
            &admin,
            Method::GET,
            "/api/v1/admin/outbox?status=sent",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.as_str())
    );
    // Members cannot see it.
    let member = app.member("mem@example.org", "Mem").await;
    assert_eq!(
        app.get(&member, "/admin/outbox").await.status(),
        StatusCode::FORBIDDEN
    );
}

both!(unsubscribe_and_preferences);

async fn unsubscribe_and_preferences(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = event_in(&app, &org, 72, None).await;
    let ann = app.member("ann@example.org", "Ann").await;
    register(&app, &ann, &event).await;

    // Account mail has no unsubscribe; event mail has the header, one-click, and a footer link.
    let mails = app.mails_to("ann@example.org").await;
    let verify = mails
        .iter()
        .find(|m| m.subject.starts_with("Confirm your email"))
        .unwrap();
    assert!(verify.list_unsubscribe.is_none());
    let confirmation = mails
        .iter()
        .find(|m| m.subject.starts_with("You're registered"))
        .unwrap();
    assert_eq!(
        confirmation.one_click.as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let header = confirmation.list_unsubscribe.clone().unwrap();
    let url = header
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    assert!(url.starts_with(&app.url("/unsubscribe?")), "{url}");
    assert!(
        confirmation.text.contains(&url),
        "footer link in the text part"
    );

    // Opening the link only asks; a tampered link is refused.
    let path = url.trim_start_matches(&app.base).to_string();
    let (status, page) = app.text(&app.browser(), &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Stop getting news about events"));
    let forged = path.replace("c=event_news", "c=reminders");
    let r = app
        .browser()
        .post(app.url(&forged))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The mail client's one-click POST: no cookie, no CSRF token.
    let r = app
        .browser()
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    let ann_id = app.user_id("ann@example.org").await;
    assert_eq!(
        app.core.store.mail_preferences(&ann_id).await.unwrap(),
        (true, false)
    );

    // News is skipped now; reminders still come.
    let r = app.api(&org, Method::PUT, &format!("/api/v1/events/{event}"), Some(json!({"title": "Mail night", "start_local": (app.clock.now() + Duration::hours(80)).format("%Y-%m-%dT%H:%M").to_string(), "time_zone": "UTC", "duration_minutes": 60}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    app.clock.advance(Duration::hours(57));
    let subjects: Vec<String> = app
        .mails_to("ann@example.org")
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        !subjects.iter().any(|s| s.starts_with("Changed:")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("tomorrow")),
        "{subjects:?}"
    );
    let skipped = app.core.store.outbox(Some("skipped"), 0, 10).await.unwrap();
    assert_eq!(
        skipped
            .iter()
            .map(|m| m.purpose.as_str())
            .collect::<Vec<_>>(),
        ["event_updated"]
    );

    // The preferences page switches it back on.
    let (status, page) = app.text(&ann, "/account/notifications").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("name=\"reminders\" value=\"on\" checked")
            && !page.contains("name=\"event_news\" value=\"on\" checked")
    );
    let r = app
        .form(
            &ann,
            "/account/notifications",
            &[("reminders", "on"), ("event_news", "on")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.core.store.mail_preferences(&ann_id).await.unwrap(),
        (true, true)
    );
}

both!(going_live_recap_and_cleanup);

async fn going_live_recap_and_cleanup(b: Backend) {
    use meetstage::features::events::{self, Transition};
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let event = event_in(&app, &org, 72, None).await;
    for p in ["a@example.org", "b@example.org"] {
        let c = app.member(p, "P").await;
        register(&app, &c, &event).await;
    }
    let row = app
        .core
        .store
        .user_by_email("org@example.org")
        .await
        .unwrap()
        .unwrap();
    let session = app.session_of(&row.id).await;
    events::transition(
        &app.core,
        &session,
        &event.parse().unwrap(),
        Transition::OpenGreenRoom,
    )
    .await
    .unwrap();
    events::transition(
        &app.core,
        &session,
        &event.parse().unwrap(),
        Transition::GoLive,
    )
    .await
    .unwrap();
    for p in ["a@example.org", "b@example.org"] {
        let live: Vec<_> = app
            .mails_to(p)
            .await
            .into_iter()
            .filter(|m| m.subject == "We're live: Mail night")
            .collect();
        assert_eq!(live.len(), 1, "{p}");
        assert!(
            live[0]
                .link("/events/")
                .ends_with(&format!("/events/{event}/live"))
        );
    }
    // Live events get no reminders.
    assert!(
        app.core
            .store
            .jobs_by_kind("reminder")
            .await
            .unwrap()
            .iter()
            .all(|j| !j.payload.contains(&event))
    );
    events::transition(
        &app.core,
        &session,
        &event.parse().unwrap(),
        Transition::End,
    )
    .await
    .unwrap();
    email::recording_published(&app.core, &event).await.unwrap();
    assert_eq!(
        app.mails_to("a@example.org")
            .await
            .iter()
            .filter(|m| m.subject == "Recap: Mail night")
            .count(),
        1
    );

    // (The end also left the recording's job: out of the way first.)
    app.run_jobs().await;
    // The clean-up job exists once and keeps rescheduling itself.
    let cleanup = app.core.store.jobs_by_kind("cleanup").await.unwrap();
    assert_eq!(cleanup.len(), 1);
    assert!(
        cleanup[0].run_at > app.clock.now_ms(),
        "ran at start-up and rescheduled"
    );
    app.clock.advance(Duration::minutes(11));
    let now = app.clock.now_ms();
    assert_eq!(app.run_jobs().await, 1, "the clean-up ran again");
    let jobs = app.core.store.jobs_by_kind("cleanup").await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].run_at > now, "and rescheduled itself");
}
