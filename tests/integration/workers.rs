//! The job runner and the mail worker keep going whatever one row holds: a row that fails,
//! does not decode or describes an impossible date is recorded, retried, dead-lettered, and
//! never stops other work or the pages.

use meetstage::{
    features::email,
    store::{Effects, NewJob, events::EventFields},
};
use reqwest::StatusCode;

use crate::{
    both,
    helpers::{Backend, TestApp},
};

both!(a_poisoned_row_stops_nothing, a_broken_job_is_dead_lettered);

/// An event at the far end of what the date types hold (as an old row, or one written by
/// hand, could be) with its "event created" mail and reminders: every page still answers and
/// every other mail and job still goes out.
async fn a_poisoned_row_stops_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let org_id = app.user_id("org@example.org").await;
    let now = app.clock.now_ms();
    // 31 December 262142, 20:00 UTC: an eight-hour session would end past year 262143.
    let far = chrono::NaiveDate::from_ymd_opt(262_142, 12, 31)
        .unwrap()
        .and_hms_opt(20, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let poisoned = meetstage::features::new_id();
    let (jobs, _) = email::reminders(&poisoned, far, now);
    let mut tx = app.core.store.begin().await.unwrap();
    tx.insert_event(
        &poisoned,
        &org_id,
        &EventFields {
            title: "Far future",
            description: "",
            starts_at: far,
            duration_minutes: 480,
            time_zone: "Pacific/Kiritimati",
            capacity: None,
            visibility: "public",
        },
        now,
    )
    .await
    .unwrap();
    tx.commit(&Effects {
        mails: vec![email::event_mail(
            email::Purpose::EventCreated,
            &poisoned,
            &org_id,
            0,
            now,
        )],
        jobs,
        now,
        ..Effects::default()
    })
    .await
    .unwrap();

    for path in [
        "/",
        "/events?section=upcoming",
        "/api/v1/events",
        "/calendar.ics",
        "/my/events",
        &format!("/events/{poisoned}"),
        &format!("/events/{poisoned}/calendar.ics"),
        &format!("/api/v1/events/{poisoned}"),
    ] {
        let (status, _) = app.text(&org, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }

    // A normal event made after it gets its mail; the poisoned one's mail is handled too.
    app.create_event(&org, "Next week", "").await;
    app.deliver().await;
    let subjects: Vec<String> = app
        .mails_to("org@example.org")
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects.contains(&"Event created: Next week".to_string()),
        "{subjects:?}"
    );
    let open: Vec<_> = app
        .core
        .store
        .outbox(Some("pending"), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.next_attempt_at <= app.clock.now_ms())
        .collect();
    assert!(open.is_empty(), "nothing due is left behind: {open:?}");
}

/// A job whose payload does not decode fails loudly, is retried with backoff and then
/// dead-lettered; a job due at the same time still runs, every time.
async fn a_broken_job_is_dead_lettered(b: Backend) {
    let app = TestApp::spawn(b).await;
    let now = app.clock.now_ms();
    let broken = NewJob {
        kind: "reminder",
        dedupe_key: Some("broken".into()),
        payload: "{\"event_id\": 7}".into(),
        run_at: now,
    };
    app.core.store.schedule_job(&broken, now).await.unwrap();
    for attempt in 1..=meetstage::jobs::MAX_ATTEMPTS {
        // Something healthy is due alongside it each time.
        let recap = email::notify_registrants(
            &meetstage::features::new_id(),
            email::Purpose::Recap,
            0,
            now,
        );
        app.core.store.schedule_job(&recap, now).await.unwrap();
        let mut outcomes = Vec::new();
        while let Some((row, outcome)) = meetstage::jobs::run_next_job(&app.core).await.unwrap() {
            outcomes.push((row.kind, row.attempts, outcome));
        }
        let dead = attempt == meetstage::jobs::MAX_ATTEMPTS;
        assert!(
            outcomes.contains(&(
                "notify_registrants".into(),
                1,
                meetstage::jobs::JobOutcome::Done
            )),
            "{outcomes:?}"
        );
        assert!(
            outcomes.iter().any(|(kind, n, o)| kind == "reminder"
                && *n == attempt
                && matches!(o, meetstage::jobs::JobOutcome::Failed { error, dead: d }
                    if error.contains("reminder job payload") && *d == dead)),
            "attempt {attempt}: {outcomes:?}"
        );
        app.clock.advance(chrono::Duration::hours(2));
    }
    let dead = app.core.store.dead_jobs().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].dedupe_key.as_deref(), Some("broken"));
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("reminder job payload")
    );
    app.clock.advance(chrono::Duration::days(1));
    assert_eq!(
        app.run_jobs().await,
        1,
        "only the clean-up; the dead job stays"
    );
}
