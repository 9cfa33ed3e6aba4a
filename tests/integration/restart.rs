//! Crash safety of the outbox: 200 registrants, a reminder due, the server killed with SIGKILL
//! in the middle of delivering it, started again: everyone has exactly one reminder.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use meetstage::{
    features::email,
    store::{Effects, Store, accounts::NewUser, events::EventFields},
};

use crate::helpers::{free_port, wait_ready};

const BIN: &str = env!("CARGO_BIN_EXE_meetstage");

fn start(data: &Path, port: u16) -> Child {
    Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("MEETSTAGE_MAIL_RATE", "40")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn reminder_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if text.contains("Subject: Reminder:") {
            let to = text
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap_or_default()
                .to_string();
            out.push(to);
        }
    }
    out
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_delivery_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let port = free_port();
    let mut server = start(dir.path(), port);
    // Wait until it is ready (migrated), then arrange the data directly in the same database.
    wait_ready(port).await;
    let store = Store::connect(
        &format!("sqlite://{}", dir.path().join("meetstage.db").display()),
        1,
    )
    .await
    .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    store
        .insert_user(NewUser {
            id: "00000000-0000-7000-8000-00000000000a",
            email: "org@example.org",
            display_name: "Org",
            password_hash: "",
            role: "organizer",
            email_verified_at: Some(0),
            now: 0,
        })
        .await
        .unwrap();
    let event = "00000000-0000-7000-8000-0000000000e1";
    // The event starts in 24 h and 50 ms, so its 24 h reminder is due almost at once.
    let starts_at = now + 24 * 3_600_000 + 50;
    let fields = EventFields {
        title: "Crash test",
        description: "",
        starts_at,
        duration_minutes: 60,
        time_zone: "UTC",
        capacity: None,
        visibility: "public",
    };
    let (jobs, _) = email::reminders(event, starts_at, now);
    let mut tx = store.begin().await.unwrap();
    tx.insert_event(event, "00000000-0000-7000-8000-00000000000a", &fields, now)
        .await
        .unwrap();
    tx.commit(&Effects {
        jobs,
        now,
        ..Effects::default()
    })
    .await
    .unwrap();
    let mut registrants = Vec::new();
    for i in 0..200 {
        let id = format!("00000000-0000-7000-8000-{:012}", 1000 + i);
        let email_addr = format!("r{i:03}@example.org");
        store
            .insert_user(NewUser {
                id: &id,
                email: &email_addr,
                display_name: "R",
                password_hash: "",
                role: "member",
                email_verified_at: Some(0),
                now: 0,
            })
            .await
            .unwrap();
        // Seats without confirmation mail, so only reminders go out.
        crate::helpers::seat(&store, event, &id, now).await;
        registrants.push(email_addr);
    }
    assert!(
        store
            .outbox(Some("pending"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Kill it while the reminders are going out.
    wait_until("some reminders", Duration::from_secs(30), || {
        reminder_files(&mail).len() >= 20
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
    let before = reminder_files(&mail).len();
    assert!(before < 200, "killed mid-delivery ({before} sent)");

    let mut server = start(dir.path(), port);
    wait_until("every reminder", Duration::from_secs(60), || {
        reminder_files(&mail).len() >= 200
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();

    let mut got = reminder_files(&mail);
    got.sort();
    assert_eq!(got, registrants, "exactly one reminder each");
    let pending = store.outbox(Some("pending"), 0, 500).await.unwrap();
    assert!(
        pending
            .iter()
            .all(|m| m.purpose != email::Purpose::Reminder24h.as_str()),
        "none left waiting"
    );
}
