//! Every email type rendered and compared with a reviewed snapshot (ids, hosts and signatures
//! redacted), so a change to any mail's wording or links shows up in review. ("We're live" is
//! only rendered for a live event; tests/integration/email.rs covers it.)
//! Update after an intended change: `INSTA_UPDATE=always cargo test --test integration snapshots`.

use chrono::Duration;
use meetstage::{
    features::email::{self, Payload, Rendered},
    store::outbox::NewMail,
};

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_email_type_matches_its_snapshot() {
    let app = TestApp::spawn_with(Backend::Sqlite, |o| {
        o.community_name = Some("Rust Group".into())
    })
    .await;
    let org = app.organizer("olga@example.org", "Olga Organizer").await;
    let start = (app.clock.now() + Duration::days(3))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = app
        .api(
            &org,
            reqwest::Method::POST,
            "/api/v1/events",
            Some(serde_json::json!({
                "title": "Async Rust & you", "description": "Talks.", "start_local": start,
                "time_zone": "Europe/Berlin", "duration_minutes": 90, "capacity": 1
            })),
        )
        .await;
    let event: String = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .into();
    let ann = app.member("ann@example.org", "Ann").await;
    app.api(
        &ann,
        reqwest::Method::PUT,
        &format!("/api/v1/events/{event}/registration"),
        None,
    )
    .await;
    let ann_id = app.user_id("ann@example.org").await;
    // The one seat is Ann's: Bea waits.
    let bea = app.member("bea@example.org", "Bea").await;
    app.api(
        &bea,
        reqwest::Method::PUT,
        &format!("/api/v1/events/{event}/registration"),
        None,
    )
    .await;
    let bea_id = app.user_id("bea@example.org").await;

    let now = app.clock.now_ms();
    let token = Payload {
        token: Some("TOKEN".into()),
        ..Payload::default()
    };
    let until = Payload {
        until: Some(now + 15 * 60_000),
        ..Payload::default()
    };
    let cases: Vec<(email::Purpose, NewMail)> = vec![
        (
            email::Purpose::VerifyEmail,
            email::account_mail(
                email::Purpose::VerifyEmail,
                &ann_id,
                None,
                token.clone(),
                "s1".into(),
                now,
            ),
        ),
        (
            email::Purpose::ChangeEmail,
            email::account_mail(
                email::Purpose::ChangeEmail,
                &ann_id,
                Some("ann@new.example"),
                token.clone(),
                "s2".into(),
                now,
            ),
        ),
        (
            email::Purpose::ResetPassword,
            email::account_mail(
                email::Purpose::ResetPassword,
                &ann_id,
                None,
                token,
                "s3".into(),
                now,
            ),
        ),
        (
            email::Purpose::AccountLocked,
            email::account_mail(
                email::Purpose::AccountLocked,
                &ann_id,
                None,
                until,
                "s4".into(),
                now,
            ),
        ),
        (
            email::Purpose::AccountExists,
            email::account_mail(
                email::Purpose::AccountExists,
                &ann_id,
                None,
                Payload::default(),
                "s5".into(),
                now,
            ),
        ),
        (
            email::Purpose::EventCreated,
            email::event_mail(email::Purpose::EventCreated, &event, &ann_id, "s", now),
        ),
        (
            email::Purpose::Waitlisted,
            email::waitlisted(&event, &bea_id, 1, now),
        ),
        (
            email::Purpose::RegistrationConfirmed,
            email::event_mail(
                email::Purpose::RegistrationConfirmed,
                &event,
                &ann_id,
                "s",
                now,
            ),
        ),
        (
            email::Purpose::Reminder24h,
            email::event_mail(email::Purpose::Reminder24h, &event, &ann_id, "s", now),
        ),
        (
            email::Purpose::Reminder1h,
            email::event_mail(email::Purpose::Reminder1h, &event, &ann_id, "s", now),
        ),
        (
            email::Purpose::EventUpdated,
            email::event_mail(email::Purpose::EventUpdated, &event, &ann_id, "s", now),
        ),
        (
            email::Purpose::EventCancelled,
            email::event_mail(email::Purpose::EventCancelled, &event, &ann_id, "s", now),
        ),
        // Last: the recap only renders once the event has ended (done below, in the loop).
        (
            email::Purpose::Recap,
            email::event_mail(email::Purpose::Recap, &event, &ann_id, "s", now),
        ),
    ];
    let filters = vec![
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[id]",
        ),
        (r"127\.0\.0\.1:\d+", "[host]"),
        (r"s=[A-Za-z0-9_-]{43}", "s=[signature]"),
    ];
    // Every purpose has its snapshot ("we're live" only renders for a live event; it has
    // its own test), so a new kind of mail cannot go out unreviewed.
    let mut covered: Vec<email::Purpose> = cases.iter().map(|(p, _)| *p).collect();
    covered.push(email::Purpose::EventStarted);
    covered.sort_by_key(|p| p.as_str());
    let mut all = email::Purpose::ALL.to_vec();
    all.sort_by_key(|p| p.as_str());
    assert_eq!(covered, all);
    for (purpose, mail) in cases {
        let name = purpose.as_str();
        if purpose == email::Purpose::Recap {
            for step in ["green-room", "go-live", "end"] {
                let path = format!("/api/v1/events/{event}/{step}");
                let r = app.api(&org, reqwest::Method::POST, &path, None).await;
                assert!(r.status().is_success(), "{step}: {}", r.status());
            }
        }
        app.core.store.enqueue_mail(&mail).await.unwrap();
        let row = app
            .core
            .store
            .outbox(Some("pending"), 0, 100)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.idempotency_key == mail.key)
            .expect("queued");
        let Rendered::Send { to, content } = email::render(&app.core, &row).await.unwrap() else {
            panic!("{name} was skipped");
        };
        let message = meetstage::mail::render(&app.core.config, &row.id, &to, &content).unwrap();
        let raw = message.formatted();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let shown = format!(
            "To: {to}\nSubject: {}\nAttachment: {}\n\n{}",
            content.subject,
            content
                .attachment
                .as_ref()
                .map_or("none", |a| a.filename.as_str()),
            parsed.body_text(0).unwrap()
        );
        insta::with_settings!({ filters => filters.clone(), snapshot_suffix => name }, {
            insta::assert_snapshot!(shown);
        });
    }
}
