//! The static archive of past public events: `meetstage publish` writes it and pushes it to
//! a branch of a real (local, bare) git repository; with `publish_dir` set, the end of an
//! event publishes it again. Every link in it resolves; members-only events never appear.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestApp},
};

both!(
    the_archive_holds_past_public_events_and_goes_to_a_branch,
    the_end_of_an_event_publishes_the_archive_again
);

const BIN: &str = env!("CARGO_BIN_EXE_meetstage");

/// Runs `meetstage publish` against the test app's database.
fn publish(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("publish")
        .args(args)
        .args(["--data-dir", app.core.config.data_dir.to_str().unwrap()])
        .args(["--database-url", &app.core.config.database_url])
        .args(["--base-url", &app.base])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn git(args: &[&str]) -> String {
    let out = Command::new("git").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Checks every `href` and `src` of the archive: a relative one names a file in it, one to
/// the live site answers 200; returns the links that go elsewhere.
async fn check_links(app: &TestApp, dir: &Path) -> Vec<String> {
    let mut elsewhere = Vec::new();
    for file in files(dir)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "html"))
    {
        let html = std::fs::read_to_string(&file).unwrap();
        for attr in ["href=\"", "src=\""] {
            for part in html.split(attr).skip(1) {
                let link = part.split('"').next().unwrap().replace("&#x2f;", "/");
                if link.starts_with('#') {
                    continue;
                }
                if link.starts_with(&app.base) {
                    let r = app.browser().get(&link).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::OK, "{link} in {file:?}");
                } else if link.starts_with("http") {
                    elsewhere.push(link);
                } else {
                    let target = file.parent().unwrap().join(&link);
                    assert!(target.is_file(), "{link} in {file:?} leads nowhere");
                }
            }
        }
    }
    elsewhere
}

async fn the_archive_holds_past_public_events_and_goes_to_a_branch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A public event that ended, with an answered question and a link in the chat.
    let (olga, public) = app.live_event("public").await;
    let mut presenter = app.ws(&public, Some(&olga)).await;
    presenter.greeting().await;
    let ada = app.person("Ada").await;
    let mut room = app.ws(&public, Some(&ada)).await;
    room.greeting().await;
    room.ask_answered(&mut presenter, "Is it fast?", "Fast enough.")
        .await;
    room.send("chat", json!({ "text": "Code: https://example.org/repo" }))
        .await;
    room.until("chat").await;
    // The room's figures settle before the archive is written twice below.
    crate::recap::peak_reaches(&app, &public, 2).await;
    drop((room, presenter));
    let shared = &app;
    let end = |c: reqwest::Client, id: String| async move {
        shared
            .form(&c, &format!("/events/{id}/end"), &[])
            .await
            .status()
    };
    assert_eq!(
        end(olga.client(), public.clone()).await,
        StatusCode::SEE_OTHER
    );
    // Members only, cancelled, or not yet held: never in the archive.
    let (owner, members) = app.live_event("members").await;
    app.sql(&[&format!(
        "UPDATE events SET title = 'Members secret' WHERE id = '{members}'"
    )])
    .await;
    assert_eq!(
        end(owner.client(), members.clone()).await,
        StatusCode::SEE_OTHER
    );
    let (owner, cancelled) = app.live_event("public").await;
    let r = app
        .form(&owner.client(), &format!("/events/{cancelled}/cancel"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, upcoming) = app.scheduled_event("public").await;

    let site = tempfile::tempdir().unwrap();
    let out = site.path().join("site");
    std::fs::create_dir_all(&out).unwrap();
    // Somebody's own file in the directory stays.
    std::fs::write(out.join("CNAME"), "archive.example.org").unwrap();
    let bare = tempfile::tempdir().unwrap();
    git(&["init", "-q", "--bare", bare.path().to_str().unwrap()]);
    let repo = bare.path().to_str().unwrap();
    let args = [
        "--out",
        out.to_str().unwrap(),
        "--git",
        repo,
        "--branch",
        "site",
    ];
    let (ok, said) = publish(&app, &args);
    assert!(ok, "{said}");
    assert!(
        said.contains("published 1 event to") && said.contains("pushed to site"),
        "{said}"
    );

    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        index.contains(&format!("href=\"events/{public}.html\"")),
        "{index}"
    );
    let page = std::fs::read_to_string(out.join(format!("events/{public}.html"))).unwrap();
    for expected in ["Is it fast?", "Fast enough.", "presented by Olga"] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    for file in files(&out) {
        let text = std::fs::read_to_string(&file).unwrap();
        for absent in [
            members.as_str(),
            cancelled.as_str(),
            upcoming.as_str(),
            "Members secret",
        ] {
            assert!(!text.contains(absent), "{absent} in {file:?}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(out.join("CNAME")).unwrap(),
        "archive.example.org"
    );
    assert_eq!(
        check_links(&app, &out).await,
        vec!["https://example.org/repo".to_string()],
        "the only link off the archive and the live site is the one shared in the chat"
    );

    // The branch holds the archive, in one commit; a run with nothing new adds none.
    let shown = git(&[
        "--git-dir",
        repo,
        "show",
        &format!("site:events/{public}.html"),
    ]);
    assert!(shown.contains("Fast enough."));
    let (ok, said) = publish(&app, &args);
    assert!(ok && said.contains("nothing new to push"), "{said}");
    let log = git(&["--git-dir", repo, "log", "--oneline", "site"]);
    assert_eq!(log.lines().count(), 1, "{log}");

    // A repository that refuses says why, without showing its address.
    let (ok, said) = publish(
        &app,
        &[
            "--out",
            out.to_str().unwrap(),
            "--git",
            "/nonexistent/secret-token@repo",
        ],
    );
    assert!(!ok);
    assert!(
        said.contains("git") && !said.contains("secret-token"),
        "{said}"
    );
}

async fn the_end_of_an_event_publishes_the_archive_again(backend: Backend) {
    let site = tempfile::tempdir().unwrap();
    let out = site.path().to_path_buf();
    let app = TestApp::spawn_with(backend, |o| o.publish_dir = Some(out.clone())).await;
    let (olga, event) = app.live_event("public").await;
    crate::recordings::record_part(&app, &event, &olga.id);
    let r = app
        .form(&olga.client(), &format!("/events/{event}/end"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.run_jobs().await;
    let page = std::fs::read_to_string(out.join(format!("events/{event}.html")))
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(page.contains("Rust in production"));
    // The recording composed after the end is in the archive too, played from the live
    // site (the archive holds no video), with its chapters as links into it.
    let video = format!("{}/events/{event}/recording/recording.mp4", app.base);
    assert!(
        page.contains(&format!(
            "<video id=\"replay-video\" controls preload=\"metadata\" playsinline src=\"{video}\""
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"{video}#t=1\"")) && page.contains("Olga shares the screen"),
        "{page}"
    );
    assert!(check_links(&app, &out).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_reads_well_in_a_browser() {
    use crate::browser::{Driver, assert_no_console_errors, audit_in_place, browser, click};
    use fantoccini::Locator;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let (olga, event) = app.live_event("public").await;
    let mut presenter = app.ws(&event, Some(&olga)).await;
    presenter.greeting().await;
    let mut room = app.ws(&event, Some(&app.person("Ada").await)).await;
    room.greeting().await;
    room.ask_answered(&mut presenter, "Where are the slides?", "On the site.")
        .await;
    let r = app
        .form(&olga.client(), &format!("/events/{event}/end"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let site = tempfile::tempdir().unwrap();
    assert_eq!(
        meetstage::publish::write(&app.core, site.path())
            .await
            .unwrap(),
        1
    );

    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    // As a static host serves it.
    let host = crate::helpers::serve_fake(
        axum::Router::new().fallback_service(tower_http::services::ServeDir::new(site.path())),
    )
    .await;
    c.goto(&format!("http://127.0.0.1:{host}/index.html"))
        .await
        .unwrap();
    assert!(audit_in_place(&c, "the archive's index").await.is_empty());
    click(&c, Locator::LinkText("Rust in production")).await;
    assert!(
        c.find(Locator::Css(".answered"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("On the site.")
    );
    assert!(
        audit_in_place(&c, "an event in the archive")
            .await
            .is_empty()
    );
    click(&c, Locator::LinkText("← All past events")).await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/index.html")
    );
    assert_no_console_errors(&c, "the archive").await;
    c.close().await.unwrap();
}
