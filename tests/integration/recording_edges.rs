//! Recordings at their edges, composed by the real ffmpeg: a publisher who sends audio only
//! beside a screen shared and stopped again and again; ffmpeg killed in the middle of a job
//! (the job fails, is retried, and resumes with the part it had finished); and a 3-hour
//! event on Amazon IVS, joined whole.

use std::path::{Path, PathBuf};

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    both,
    helpers::{Backend, TestApp, ffprobe, ffprobe_seconds},
    recordings::{end, ffmpeg, part_dir, record_part, vod_mp4},
};

both!(
    audio_only_and_a_screen_shared_again_and_again_are_composed,
    ffmpeg_killed_mid_job_is_retried_and_resumes_where_it_was
);

/// A VP8 video of `ms` in IVF, as the embedded server writes a camera or a screen.
fn vp8(path: &Path, ms: u64, source: &str) {
    let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        source,
        "-t",
        &secs,
        "-c:v",
        "libvpx",
        "-b:v",
        "200k",
        "-f",
        "ivf",
        path.to_str().unwrap(),
    ]);
}

fn write_timeline(dir: &Path, lines: &[Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("timeline.jsonl"), text).unwrap();
}

async fn audio_only_and_a_screen_shared_again_and_again_are_composed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("public").await;
    let bo = app.person("Bo").await;
    let started = app.clock.now_ms() - 60_000;
    let dir = part_dir(&app, &event, started);
    // Olga talks the whole 6 s with no camera; Bo shares the screen three times.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:sample_rate=48000",
        "-t",
        "6",
        "-c:a",
        "libopus",
        "-f",
        "ogg",
        dir.join("olga-mic-1.ogg").to_str().unwrap(),
    ]);
    let mut lines = vec![
        json!({ "at": started, "started": true }),
        json!({ "at": started, "user": owner.id, "track": "mic", "file": "olga-mic-1.ogg" }),
    ];
    for (n, (from, ms)) in [(500, 1000), (2000, 500), (3500, 1500)]
        .into_iter()
        .enumerate()
    {
        let name = format!("bo-screen-{}.ivf", n + 1);
        vp8(&dir.join(&name), ms, "testsrc2=size=1280x720:rate=15");
        lines.push(json!({ "at": started + from, "user": bo.id, "track": "screen", "file": name }));
    }
    lines.push(json!({ "at": started + 6000, "stopped": true }));
    write_timeline(&dir, &lines);
    end(&app, &owner, &event).await;
    app.run_jobs().await;

    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "ready", "{row:?}");
    // The part's 6 s (audio ends on a whole Opus frame, a few ms past).
    let ms = row.duration_ms.unwrap();
    assert!((6_000..=6_050).contains(&ms), "{ms}");
    // One chapter for Bo's screen (its first share), none for an opening voice.
    let chapters: Vec<Value> = serde_json::from_str(&row.chapters).unwrap();
    let titles: Vec<&str> = chapters
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Live", "Bo shares the screen"], "{chapters:?}");
    assert_eq!(chapters[1]["at_ms"], 500);
    // A 1280×720 picture throughout and Olga's voice: H.264 and AAC, 6 s.
    let mp4 = vod_mp4(&app, &event);
    let info = ffprobe(&mp4);
    assert_eq!(info["streams"][0]["codec_name"], "h264", "{info}");
    assert_eq!(info["streams"][0]["width"], 1280, "{info}");
    assert_eq!(info["streams"][1]["codec_name"], "aac", "{info}");
    let seconds = ffprobe_seconds(&mp4);
    assert!((5.9..=6.2).contains(&seconds), "{seconds}");
    // The audio is there to hear: not silence all through.
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(&mp4)
        .args(["-vn", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    let mean: f64 = report
        .split("mean_volume: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(mean > -40.0, "mean volume {mean} dB");
}

/// An ffmpeg that dies by SIGKILL on the second part it composes, once, and otherwise runs
/// the real one; it counts the parts it was asked to compose in `count`.
fn killing_ffmpeg(dir: &Path) -> (PathBuf, PathBuf) {
    let count = dir.join("count");
    let script = dir.join("ffmpeg");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             last=\"\"; for a in \"$@\"; do last=\"$a\"; done\n\
             case \"$last\" in *part.tmp.mp4)\n\
               n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}\n\
               if [ \"$n\" = 2 ]; then kill -9 $$; fi;;\n\
             esac\n\
             exec ffmpeg \"$@\"\n",
            count = count.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, count)
}

async fn ffmpeg_killed_mid_job_is_retried_and_resumes_where_it_was(backend: Backend) {
    let tools = tempfile::tempdir().unwrap();
    let (script, count) = killing_ffmpeg(tools.path());
    let app = TestApp::spawn_with(backend, |o| o.ffmpeg = Some(script.clone())).await;
    let (owner, event) = app.live_event("public").await;
    // Two parts: the event was live, stopped by a restart, and live again.
    record_part(&app, &event, &owner.id);
    app.clock.advance(Duration::seconds(30));
    record_part(&app, &event, &owner.id);
    end(&app, &owner, &event).await;
    app.run_jobs().await;

    // The first part was composed, then ffmpeg was killed on the second: the job failed
    // with words for the organizer, and waits for its retry; everything is kept.
    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "failed", "{row:?}");
    assert_eq!(row.error.as_deref(), Some("ffmpeg could not compose it"));
    let work = app
        .core
        .config
        .data_dir
        .join("recordings")
        .join(&event)
        .join("work");
    let composed: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("part-"))
        .collect();
    assert_eq!(composed.len(), 1, "{composed:?}");
    let (_, page) = app.text(&owner.client(), &format!("/events/{event}")).await;
    assert!(
        page.contains("Processing failed: ffmpeg could not compose it."),
        "{page}"
    );

    // The retry comes by itself after its backoff and composes only what was missing.
    app.clock.advance(Duration::minutes(5));
    app.run_jobs().await;
    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "ready", "{row:?}");
    let ms = row.duration_ms.unwrap();
    assert!((8_000..=8_050).contains(&ms), "both parts, 4 s each: {ms}");
    assert_eq!(std::fs::read_to_string(&count).unwrap().trim(), "3");
    let chapters: Vec<Value> = serde_json::from_str(&row.chapters).unwrap();
    // The second part starts where the first ends, 4 s in.
    assert!(
        chapters.iter().any(|c| c["title"] == "Live again"
            && (4_000..=4_050).contains(&c["at_ms"].as_u64().unwrap())),
        "{chapters:?}"
    );
    let r = app
        .get(
            &app.browser(),
            &format!("/events/{event}/recording/recording.mp4"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Three hours on Amazon IVS (1,080 segments of IVS's output), finished while the server
/// was down and with EventBridge's event lost: found by the job's own look after the
/// restart, fetched, joined and cut into 1,800 segments of the store, played at its full
/// length, and deleted in two batches of S3's limit. One database: it plays no part past
/// the first rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_hour_event_on_ivs_is_joined_whole() {
    use crate::recording_ivs::{composite, live_on_ivs, upload};
    use meetstage::features::events;
    let (s3, mut t, owner, event) = live_on_ivs(Backend::Sqlite).await;
    t.transition(&owner, &event, events::Transition::End).await;
    t.calls().await;
    assert_eq!(
        t.app
            .core
            .store
            .recording(&event)
            .await
            .unwrap()
            .unwrap()
            .state,
        "waiting"
    );
    // IVS finishes writing while the server is down, and EventBridge's event is lost: after
    // the restart the job's own next look finds the output.
    let dir = tempfile::tempdir().unwrap();
    composite(dir.path(), 3 * 3600, true).await;
    upload(&s3, dir.path(), true).await;
    t.app.restart().await;
    t.app.clock.advance(Duration::minutes(3));
    t.calls().await;
    let app = &t.app;

    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "ready", "{row:?}");
    let duration = row.duration_ms.unwrap();
    assert!((10_798_000..=10_802_000).contains(&duration), "{duration}");
    let (_, page) = app.text(&owner.client(), &format!("/events/{event}")).await;
    assert!(page.contains("Ready (3:00:00), published."), "{page}");
    let r = app
        .get(
            &app.browser(),
            &format!("/events/{event}/recording/index.m3u8"),
        )
        .await;
    let playlist = r.text().await.unwrap();
    let segments = playlist.lines().filter(|l| l.starts_with("seg-")).count();
    assert!(
        segments > 1_000,
        "{segments} segments: more than one DeleteObjects batch"
    );
    let mp4 = dir.path().join("download.mp4");
    let r = app
        .get(
            &app.browser(),
            &format!("/events/{event}/recording/recording.mp4"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    std::fs::write(&mp4, r.bytes().await.unwrap()).unwrap();
    let seconds = ffprobe_seconds(&mp4);
    assert!((10_798.0..=10_802.0).contains(&seconds), "{seconds}");

    let r = app
        .form(
            &owner.client(),
            &format!("/events/{event}/recording/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(s3.keys(&format!("vod/{event}/")).await.is_empty());
}
