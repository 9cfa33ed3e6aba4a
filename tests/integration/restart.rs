//! Crash safety of the outbox. 200 registrants, a reminder due; delivery stops after 20 mails
//! in exactly the state a crash leaves (one mail written by the transport but never marked
//! sent, one claimed and leased but not sent), and the server starts again on the same
//! database: everyone has exactly one reminder. Driven step by step, on both databases.

use chrono::Duration;
use meetstage::{
    features::email::{self, Rendered},
    jobs,
};

use crate::{
    both,
    helpers::{Backend, TestApp},
};

both!(a_crash_during_delivery_loses_and_doubles_nothing);

fn reminders(app: &TestApp) -> Vec<String> {
    let mut to: Vec<String> = app
        .mails()
        .into_iter()
        .filter(|m| m.subject.starts_with("Reminder:"))
        .map(|m| m.to)
        .collect();
    to.sort();
    to
}

async fn a_crash_during_delivery_loses_and_doubles_nothing(b: Backend) {
    let mut app = TestApp::spawn_with(b, |o| o.session_idle_hours = Some(24 * 30)).await;
    let org = app.organizer("org@example.org", "Org").await;
    let event = app.create_event(&org, "Crash test", "").await;
    let mut registrants = Vec::new();
    for i in 0..200 {
        let address = format!("r{i:03}@example.org");
        let id = app.quick_member(&address).await;
        app.seat(&event, &id).await;
        registrants.push(address);
    }
    app.deliver().await;

    // A day before the start the reminder fans out: 200 rows in the outbox.
    app.clock.advance(Duration::days(6));
    assert!(app.run_jobs().await >= 1);
    for _ in 0..20 {
        assert_eq!(
            jobs::deliver_next(&app.core).await.unwrap(),
            Some(jobs::Delivery::Sent)
        );
    }
    // The crash: one mail handed to the transport but not yet marked sent, one claimed and
    // leased but not yet sent.
    let now = app.clock.now_ms();
    let lease = now + 5 * 60_000;
    let written = app
        .core
        .store
        .claim_mail(now, lease)
        .await
        .unwrap()
        .unwrap();
    let Rendered::Send { to, content } = email::render(&app.core, &written).await.unwrap() else {
        panic!("a reminder to send")
    };
    app.core
        .mailer
        .send(&app.core.config, &written.id, &to, *content)
        .await
        .unwrap();
    app.core
        .store
        .claim_mail(now, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reminders(&app).len(), 21);

    app.restart().await;
    // SQLite is one process's file: its leases are released at start. On Postgres, other
    // instances may be alive, so a lease runs out instead.
    if b == Backend::Postgres {
        app.clock.advance(Duration::minutes(6));
    }
    app.deliver().await;
    assert_eq!(reminders(&app), registrants, "exactly one reminder each");
    let waiting = app
        .core
        .store
        .outbox(Some("pending"), 0, 500)
        .await
        .unwrap();
    assert!(waiting.is_empty(), "none left waiting: {waiting:?}");
}
