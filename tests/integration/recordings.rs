//! After the end: the job composes what the embedded server recorded into one MP4 and an
//! HLS playlist with ffmpeg, the organizer watches the progress, and the replay is served
//! with byte ranges to whoever may see the event; unpublish, publish, delete and retry.

use std::path::PathBuf;

use reqwest::StatusCode;

use crate::{
    both,
    helpers::{Backend, TestApp},
    room_client::Person,
};

both!(
    a_recording_is_composed_served_and_deleted,
    without_ffmpeg_the_raw_recording_waits_for_a_retry,
    an_event_that_recorded_nothing_gets_its_recap_at_once,
    too_little_disk_refuses_the_recording_and_says_why
);

/// Runs ffmpeg or ffprobe (scripts/test installs them); panics with its words if it fails.
fn tool(program: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .expect("ffmpeg and ffprobe (scripts/test installs them)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs ffmpeg quietly; panics with its words if it fails.
pub(crate) fn ffmpeg(args: &[&str]) {
    let mut all = vec!["-hide_banner", "-loglevel", "error", "-y"];
    all.extend_from_slice(args);
    tool("ffmpeg", &all);
}

/// The directory of the part that started at `started`, made, as the embedded server names
/// it.
pub(crate) fn part_dir(app: &TestApp, event: &str, started: i64) -> PathBuf {
    let dir = app
        .core
        .config
        .data_dir
        .join("recordings")
        .join(event)
        .join(format!("part-{started}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The composed MP4 in the local recording store.
pub(crate) fn vod_mp4(app: &TestApp, event: &str) -> PathBuf {
    let dir = app.core.config.data_dir.join("vod").join(event);
    dir.join("recording.mp4")
}

/// Writes one recorded part as the embedded server does: the presenter's camera (VP8 in IVF)
/// and microphone (Opus in Ogg) for 4 s, and a screen shared from 1 s to 3 s, with the
/// timeline beside them.
pub(crate) fn record_part(app: &TestApp, event: &str, user: &str) {
    let started = app.clock.now_ms() - 60_000;
    let dir = part_dir(app, event, started);
    let at = |name: &str| dir.join(name).to_string_lossy().into_owned();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x360:rate=30",
        "-t",
        "4",
        "-c:v",
        "libvpx",
        "-b:v",
        "300k",
        "-f",
        "ivf",
        &at(&format!("{user}-camera-1.ivf")),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "4",
        "-c:a",
        "libopus",
        "-f",
        "ogg",
        &at(&format!("{user}-mic-1.ogg")),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=15",
        "-t",
        "2",
        "-c:v",
        "libvpx",
        "-b:v",
        "300k",
        "-f",
        "ivf",
        &at(&format!("{user}-screen-1.ivf")),
    ]);
    let lines = [
        serde_json::json!({ "at": started, "started": true }),
        serde_json::json!({ "at": started, "user": user, "track": "camera", "file": format!("{user}-camera-1.ivf") }),
        serde_json::json!({ "at": started, "user": user, "track": "mic", "file": format!("{user}-mic-1.ogg") }),
        serde_json::json!({ "at": started + 1000, "user": user, "track": "screen", "file": format!("{user}-screen-1.ivf") }),
        // A line naming a file outside the part is ignored.
        serde_json::json!({ "at": started, "user": user, "track": "camera", "file": "../../../etc/passwd.ivf" }),
        serde_json::json!({ "at": started + 4000, "stopped": true }),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("timeline.jsonl"), text).unwrap();
}

/// Bytes `from..=to` of a file of `total` bytes, answered 206 with their Content-Range.
pub(crate) async fn ranged(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    (from, to): (usize, usize),
    total: usize,
) -> Vec<u8> {
    let r = client
        .get(app.url(path))
        .header("range", format!("bytes={from}-{to}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes {from}-{to}/{total}").as_str()
    );
    r.bytes().await.unwrap().to_vec()
}

pub(crate) async fn end(app: &TestApp, owner: &Person, event: &str) {
    let r = app
        .form(&owner.client(), &format!("/events/{event}/end"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

async fn state(app: &TestApp, event: &str) -> String {
    app.core
        .store
        .recording(event)
        .await
        .unwrap()
        .map(|r| r.state)
        .unwrap_or_default()
}

async fn a_recording_is_composed_served_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    record_part(&app, &event, &owner.id);
    end(&app, &owner, &event).await;
    let page = format!("/events/{event}");
    let rec = format!("/events/{event}/recording");

    // The organizer sees it waiting, with a progress bar the page polls.
    assert_eq!(state(&app, &event).await, "waiting");
    let (_, html) = app.text(&owner.client(), &page).await;
    assert!(
        html.contains("Waiting to be processed.")
            && html.contains(&format!("data-recording-poll=\"{rec}/status\""))
            && html.contains("<progress"),
        "{html}"
    );
    let (status, body) = app.text(&owner.client(), &format!("{rec}/status")).await;
    assert_eq!(status, StatusCode::OK);
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["state"], "waiting", "{s}");
    // Nobody else learns how it is going.
    let (status, _) = app.text(&ada.client(), &format!("{rec}/status")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nothing is served before it is ready.
    let r = app
        .get(&owner.client(), &format!("{rec}/recording.mp4"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    assert!(app.run_jobs().await >= 1);
    assert_eq!(state(&app, &event).await, "ready");
    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    let duration = row.duration_ms.unwrap();
    assert!((3_800..=4_300).contains(&duration), "{duration} ms");
    let chapters: serde_json::Value = serde_json::from_str(&row.chapters).unwrap();
    assert_eq!(chapters[0]["title"], "Live", "{chapters}");
    assert_eq!(chapters[0]["at_ms"], 0, "{chapters}");
    assert_eq!(chapters[1]["title"], "Olga shares the screen", "{chapters}");
    assert_eq!(chapters[1]["at_ms"], 1000, "{chapters}");
    assert_eq!(chapters.as_array().unwrap().len(), 2, "{chapters}");

    // The event page offers the replay; the recap plays it with its chapters.
    let (_, html) = app.text(&owner.client(), &page).await;
    assert!(
        html.contains("Ready (0:04), published.") && html.contains("Watch the replay"),
        "{html}"
    );
    let (_, recap) = app.text(&ada.client(), &format!("{page}/recap")).await;
    assert!(
        recap.contains("id=\"replay-video\"")
            && recap.contains(&format!("data-hls=\"{rec}/index.m3u8\""))
            && recap.contains("data-seek=\"1000\"")
            && recap.contains("Olga shares the screen")
            && recap.contains("Download the video (MP4, 0:04)"),
        "{recap}"
    );

    // The MP4: 720p H.264 with AAC, as long as the part; byte ranges work.
    let r = app
        .get(&ada.client(), &format!("{rec}/recording.mp4"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
    assert_eq!(r.headers()["cache-control"], "private, max-age=300");
    let mp4 = r.bytes().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("r.mp4");
    std::fs::write(&file, &mp4).unwrap();
    let info = crate::helpers::ffprobe(&file);
    let streams = info["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_name"] == "h264").unwrap();
    assert_eq!(
        (video["width"].clone(), video["height"].clone()),
        (1280.into(), 720.into())
    );
    assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "{info}");
    let seconds: f64 = info["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3.8..=4.3).contains(&seconds), "{seconds} s");
    let part = ranged(
        &app,
        &ada.client(),
        &format!("{rec}/recording.mp4"),
        (0, 99),
        mp4.len(),
    )
    .await;
    assert_eq!(part.len(), 100);

    // The HLS playlist and its segments, relative to it.
    let (status, playlist) = app.text(&ada.client(), &format!("{rec}/index.m3u8")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD") && playlist.contains("seg-00000.ts"),
        "{playlist}"
    );
    let r = app.get(&ada.client(), &format!("{rec}/seg-00000.ts")).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Forged names and foreign ids find nothing.
    for forged in [
        format!("{rec}/..%2F..%2Ftest.db"),
        format!("{rec}/seg-1.ts"),
        format!("{rec}/index.m3u8.bak"),
        format!("{rec}/timeline.jsonl"),
        "/events/not-an-id/recording/recording.mp4".to_string(),
        format!("/events/{}/recording/recording.mp4", uuid::Uuid::now_v7()),
    ] {
        let r = app.get(&owner.client(), &forged).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{forged}");
    }
    // A members-only replay is not for visitors.
    let r = app
        .get(&app.browser(), &format!("{rec}/recording.mp4"))
        .await;
    assert_ne!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().len() < 10_000);

    // Unpublished: only the organizer may still watch; published again, everyone.
    let r = app
        .form(&ada.client(), &format!("{rec}/unpublish"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .form(&owner.client(), &format!("{rec}/unpublish"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.get(&ada.client(), &format!("{rec}/index.m3u8")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, recap) = app.text(&ada.client(), &format!("{page}/recap")).await;
    assert!(!recap.contains("replay-video"), "{recap}");
    let r = app.get(&owner.client(), &format!("{rec}/index.m3u8")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .form(&owner.client(), &format!("{rec}/publish"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.get(&ada.client(), &format!("{rec}/index.m3u8")).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Deleted: every file goes, raw and composed, and nothing is served.
    let data = &app.core.config.data_dir;
    assert!(data.join("vod").join(&event).exists());
    let r = app
        .form(&owner.client(), &format!("{rec}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!data.join("vod").join(&event).exists());
    assert!(!data.join("recordings").join(&event).exists());
    assert_eq!(state(&app, &event).await, "deleted");
    let r = app
        .get(&owner.client(), &format!("{rec}/recording.mp4"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, html) = app.text(&owner.client(), &page).await;
    assert!(!html.contains("id=\"recording\""), "{html}");
    // Twice is a clear refusal, not an error.
    let r = app
        .form(&owner.client(), &format!("{rec}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

async fn without_ffmpeg_the_raw_recording_waits_for_a_retry(backend: Backend) {
    let app = TestApp::spawn_with(backend, |o| {
        o.ffmpeg = Some("/nonexistent/ffmpeg".into());
    })
    .await;
    let (owner, event) = app.live_event("public").await;
    record_part(&app, &event, &owner.id);
    end(&app, &owner, &event).await;
    app.run_jobs().await;
    assert_eq!(state(&app, &event).await, "failed");
    let raw = app.core.config.data_dir.join("recordings").join(&event);
    assert!(raw.exists(), "the raw recording is kept");
    let page = format!("/events/{event}");
    let (_, html) = app.text(&owner.client(), &page).await;
    assert!(
        html.contains("Processing failed: ffmpeg is not available on this server.")
            && html.contains("Process it again now"),
        "{html}"
    );
    // Nothing of the server's paths reaches the page.
    assert!(!html.contains("/nonexistent"), "{html}");
    // The job waits for its next try; the organizer may ask for one now.
    let key = format!("recording:{event}");
    let before = app.core.store.job_run_at(&key).await.unwrap().unwrap();
    assert!(before > app.clock.now_ms(), "retried later, with backoff");
    let r = app
        .form(&owner.client(), &format!("{page}/recording/retry"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(&app, &event).await, "waiting");
    let now = app.core.store.job_run_at(&key).await.unwrap().unwrap();
    assert!(now <= app.clock.now_ms());
    app.run_jobs().await;
    assert_eq!(state(&app, &event).await, "failed");
    // A recording that is not ready cannot be published.
    let r = app
        .form(&owner.client(), &format!("{page}/recording/publish"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // After its last try the job gives up; the admin sees it, with the whole error, and
    // sends it round again.
    let dead = |jobs: Vec<meetstage::store::jobs::JobRow>| {
        jobs.iter()
            .any(|j| j.dedupe_key.as_deref() == Some(key.as_str()))
    };
    for _ in 0..10 {
        if dead(app.core.store.dead_jobs().await.unwrap()) {
            break;
        }
        app.clock.advance(chrono::Duration::hours(24));
        app.run_jobs().await;
    }
    assert!(dead(app.core.store.dead_jobs().await.unwrap()));
    let admin = app.admin("root@example.org", "Root").await;
    let (status, html) = app.text(&admin, "/admin/recordings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Rust in production")
            && html.contains("given up")
            && html.contains("/nonexistent/ffmpeg")
            && html.contains(&format!("/events/{event}/recording/retry")),
        "{html}"
    );
    let (status, _) = app.text(&owner.client(), "/admin/recordings").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = app
        .form(&admin, &format!("{page}/recording/retry"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!dead(app.core.store.dead_jobs().await.unwrap()));
    assert_eq!(state(&app, &event).await, "waiting");
}

async fn an_event_that_recorded_nothing_gets_its_recap_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("public").await;
    let zoe = app.quick_member("zoe@example.org").await;
    app.seat(&event, &zoe).await;
    end(&app, &owner, &event).await;
    app.deliver().await;
    assert_eq!(state(&app, &event).await, "empty");
    let (_, html) = app.text(&owner.client(), &format!("/events/{event}")).await;
    assert!(html.contains("Nothing was recorded"), "{html}");
    let mail = app.mail_titled("zoe@example.org", "Recap:").await;
    assert!(
        mail.text.contains(&format!("/events/{event}/recap")),
        "{}",
        mail.text
    );
}

/// Below the free-disk floor the event goes live unrecorded: the presenters are told why in
/// the room, the room shows no "Recording" badge, the organizer's event page says why, nothing
/// waits to be composed, and the recap mail goes at once after the end.
async fn too_little_disk_refuses_the_recording_and_says_why(backend: Backend) {
    // A floor beyond any disk.
    let app = TestApp::spawn_with(backend, |o| o.recording_min_free_mb = Some(1_000_000_000)).await;
    let (owner, event) = app.staging_event("public").await;
    let zoe = app.quick_member("zoe@example.org").await;
    app.seat(&event, &zoe).await;
    let zoe = app.cookie_of(zoe).await;
    let r = app
        .form(&owner.client(), &format!("/events/{event}/go-live"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state(&app, &event).await, "refused");
    let told = |snapshot: &serde_json::Value| {
        snapshot["chat"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| {
                m["text"].as_str().is_some_and(|t| {
                    t.starts_with("This event is not being recorded: the server's disk had ")
                        && t.contains("recording needs at least 1,000,000,000 MB")
                })
            })
            .count()
    };
    let mut room = app.ws(&event, Some(&owner)).await;
    let (snapshot, _) = room.greeting().await;
    assert_eq!(snapshot["clock"]["status"], "live", "{snapshot}");
    assert_eq!(told(&snapshot), 1, "{snapshot}");
    assert_eq!(snapshot["clock"]["recording"], false, "{snapshot}");
    let mut attendee = app.ws(&event, Some(&zoe)).await;
    let (snapshot, _) = attendee.greeting().await;
    assert_eq!(
        told(&snapshot),
        0,
        "only the presenters are told: {snapshot}"
    );

    let (_, html) = app.text(&owner.client(), &format!("/events/{event}")).await;
    let html = html.replace("&#39;", "'");
    assert!(
        html.contains("Not recorded: when the event went live, the server's disk had ")
            && html.contains(" MB free and recording needs at least 1,000,000,000 MB."),
        "{html}"
    );
    assert!(!html.contains("Delete the recording"), "{html}");

    end(&app, &owner, &event).await;
    app.deliver().await;
    assert_eq!(state(&app, &event).await, "refused", "nothing to compose");
    let mail = app.mail_titled("zoe@example.org", "Recap:").await;
    assert!(
        mail.text.contains(&format!("/events/{event}/recap")),
        "{}",
        mail.text
    );
}
