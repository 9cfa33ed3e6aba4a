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
    let cases: Vec<(&'static str, NewMail)> = vec![
        (
            email::VERIFY_EMAIL,
            email::account_mail(
                email::VERIFY_EMAIL,
                &ann_id,
                None,
                token.clone(),
                "s1".into(),
                now,
            ),
        ),
        (
            email::CHANGE_EMAIL,
            email::account_mail(
                email::CHANGE_EMAIL,
                &ann_id,
                Some("ann@new.example"),
                token.clone(),
                "s2".into(),
                now,
            ),
        ),
        (
            email::RESET_PASSWORD,
            email::account_mail(
                email::RESET_PASSWORD,
                &ann_id,
                None,
                token,
                "s3".into(),
                now,
            ),
        ),
        (
            email::ACCOUNT_LOCKED,
            email::account_mail(
                email::ACCOUNT_LOCKED,
                &ann_id,
                None,
                until,
                "s4".into(),
                now,
            ),
        ),
        (
            email::ACCOUNT_EXISTS,
            email::account_mail(
                email::ACCOUNT_EXISTS,
                &ann_id,
                None,
                Payload::default(),
                "s5".into(),
                now,
            ),
        ),
        (
            email::EVENT_CREATED,
            email::event_mail(email::EVENT_CREATED, &event, &ann_id, "s", now),
        ),
        (
            email::WAITLISTED,
            email::waitlisted(&event, &bea_id, 1, now),
        ),
        (
            email::REGISTRATION_CONFIRMED,
            email::event_mail(email::REGISTRATION_CONFIRMED, &event, &ann_id, "s", now),
        ),
        (
            email::REMINDER_24H,
            email::event_mail(email::REMINDER_24H, &event, &ann_id, "s", now),
        ),
        (
            email::REMINDER_1H,
            email::event_mail(email::REMINDER_1H, &event, &ann_id, "s", now),
        ),
        (
            email::EVENT_UPDATED,
            email::event_mail(email::EVENT_UPDATED, &event, &ann_id, "s", now),
        ),
        (
            email::RECAP,
            email::event_mail(email::RECAP, &event, &ann_id, "s", now),
        ),
        (
            email::EVENT_CANCELLED,
            email::event_mail(email::EVENT_CANCELLED, &event, &ann_id, "s", now),
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
    for (name, mail) in cases {
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
