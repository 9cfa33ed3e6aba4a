//! Recordings on Amazon IVS: IVS composes the stage into HLS in the recordings bucket (here
//! moto's real S3 server, holding what ffmpeg wrote in IVS's layout); after the end the job
//! waits until the output is finished, EventBridge's "Session End" (a recorded event, posted
//! as an API destination does) brings it forward, and the output is fetched, joined and put
//! in the recording store: played, downloaded, and IVS's own copy removed.

use std::path::Path;

use chrono::Duration;
use meetstage::{config::Secret, features::events};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    both,
    helpers::{Backend, ffprobe_seconds},
    ivs::{self, ops},
    recording_s3::RealS3,
    room_client::Person,
};

both!(
    ivs_compositions_are_fetched_when_finished_and_played_from_the_store,
    a_composition_ivs_ended_without_writing_leaves_nothing_to_wait_for
);

pub(crate) const TOKEN: &str = "eventbridge-token-0123456789abcdef";

/// Where IVS writes composition `c1` of stage `st1` (session `sess1`).
const OUTPUT: &str = "st1/sess1/c1/composite/media/hls/";

/// An HLS of `seconds` in IVS's layout under `dir`: `multivariant.m3u8` naming one
/// rendition, `720p30/playlist.m3u8` and its segments (2 s, as IVS writes by default). A
/// `long` one is small and cut in 10 s segments, so hours of it are quick to make.
pub(crate) async fn composite(dir: &Path, seconds: u32, long: bool) {
    let rendition = dir.join("720p30");
    std::fs::create_dir_all(&rendition).unwrap();
    // (source, its sound, segment seconds, frames between key frames)
    let (video, audio, segment, gop) = if long {
        (
            "color=c=navy:size=320x180:rate=1",
            "anullsrc=r=8000:cl=mono",
            "10",
            "10",
        )
    } else {
        (
            "testsrc2=size=1280x720:rate=30",
            "sine=frequency=440:sample_rate=48000",
            "2",
            "60",
        )
    };
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", gop])
        .args([
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            segment,
            "-hls_list_size",
            "0",
        ])
        .arg("-hls_segment_filename")
        .arg(rendition.join("%d.ts"))
        .arg(rendition.join("playlist.m3u8"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        dir.join("multivariant.m3u8"),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,FRAME-RATE=30.000\n\
         720p30/playlist.m3u8\n",
    )
    .unwrap();
}

/// Puts the output's files in the bucket; `finished` false leaves the playlist open, as IVS
/// has it while it still writes.
pub(crate) async fn upload(s3: &RealS3, dir: &Path, finished: bool) {
    for (name, path) in [
        (
            "multivariant.m3u8".to_string(),
            dir.join("multivariant.m3u8"),
        ),
        (
            "720p30/playlist.m3u8".into(),
            dir.join("720p30/playlist.m3u8"),
        ),
    ] {
        let mut text = std::fs::read_to_string(path).unwrap();
        if !finished {
            text = text.replace("#EXT-X-ENDLIST\n", "");
        }
        s3.put(&format!("{OUTPUT}{name}"), text.into_bytes()).await;
    }
    for e in std::fs::read_dir(dir.join("720p30")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".ts") {
            s3.put(
                &format!("{OUTPUT}720p30/{name}"),
                std::fs::read(e.path()).unwrap(),
            )
            .await;
        }
    }
}

/// IVS's EventBridge event for a composition session's end, as an API destination posts it.
pub(crate) fn session_end(composition: &str) -> Value {
    json!({
        "version": "0",
        "id": "7d4b5b4e-0b0a-4c2f-9d5e-3c1f2a9b8e71",
        "detail-type": "IVS Composition State Change",
        "source": "aws.ivs",
        "account": "123456789012",
        "time": "2026-12-06T20:30:00Z",
        "region": "eu-west-1",
        "resources": [composition],
        "detail": {
            "event_name": "Session End",
            "stage_arn": "arn:aws:ivs:eu-west-1:123456789012:stage/st1"
        }
    })
}

/// meetstage on IVS (the fake) recording into moto's bucket, with the EventBridge hook on,
/// and a public event that went live: IVS was asked to compose it (`c1` of stage `st1`).
pub(crate) async fn live_on_ivs(b: Backend) -> (RealS3, ivs::Ivs, Person, String) {
    let s3 = RealS3::start().await;
    let endpoint = s3.endpoint();
    let t = ivs::start_with(b, |o| {
        o.recording_s3_endpoint_url = Some(endpoint.parse().unwrap());
        o.ivs_events_token = Some(Secret::new(TOKEN));
    })
    .await;
    let (owner, event) = t.app.staging_event("public").await;
    t.transition(&owner, &event, events::Transition::GoLive)
        .await;
    assert!(ops(&t.calls().await).contains(&"StartComposition"));
    (s3, t, owner, event)
}

async fn ivs_compositions_are_fetched_when_finished_and_played_from_the_store(b: Backend) {
    let (s3, t, owner, event) = live_on_ivs(b).await;
    let app = &t.app;

    // IVS wrote 6 seconds and has not finished the playlist when the event ends.
    let dir = tempfile::tempdir().unwrap();
    composite(dir.path(), 6, false).await;
    upload(&s3, dir.path(), false).await;
    app.clock.advance(Duration::seconds(40));
    t.transition(&owner, &event, events::Transition::End).await;
    let calls = t.calls().await;
    assert_eq!(ops(&calls), ["StopComposition", "DeleteStage"], "{calls:?}");
    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "waiting", "still being written: {row:?}");
    let (_, page) = app.text(&owner.client(), &format!("/events/{event}")).await;
    assert!(page.contains("Waiting to be processed."), "{page}");

    // EventBridge says the session ended: without the token it is refused, for another
    // account's composition it changes nothing, for ours the job looks at once.
    let hook = app.url("/api/v1/hooks/ivs");
    let r = app
        .browser()
        .post(&hook)
        .json(&session_end(
            "arn:aws:ivs:eu-west-1:123456789012:composition/c1",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    upload(&s3, dir.path(), true).await;
    for (arn, ours) in [
        ("arn:aws:ivs:eu-west-1:999999999999:composition/zz", false),
        ("arn:aws:ivs:eu-west-1:123456789012:composition/c1", true),
    ] {
        let r = app
            .browser()
            .post(&hook)
            .header("x-meetstage-token", TOKEN)
            .json(&session_end(arn))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({ "ours": ours }));
    }
    app.run_jobs().await;
    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "ready", "{row:?}");
    let duration = row.duration_ms.unwrap();
    assert!((5_900..=6_100).contains(&duration), "{duration}");
    assert_eq!(row.chapters, r#"[{"at_ms":0,"title":"Live"}]"#);

    // Played like any recording: the playlist and the MP4 from the store, through meetstage.
    let rec = format!("/events/{event}/recording");
    let r = app.get(&app.browser(), &format!("{rec}/index.m3u8")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("seg-00000.ts"));
    let r = app
        .get(&app.browser(), &format!("{rec}/recording.mp4"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mp4 = dir.path().join("download.mp4");
    std::fs::write(&mp4, r.bytes().await.unwrap()).unwrap();
    let seconds = ffprobe_seconds(&mp4);
    assert!((5.8..=6.3).contains(&seconds), "{seconds}");

    // The store holds it; IVS's copy is gone (it would double the bill). Delete empties it.
    assert!(
        s3.keys("st1/").await.is_empty(),
        "{:?}",
        s3.keys("st1/").await
    );
    let keys = s3.keys(&format!("vod/{event}/")).await;
    assert!(
        keys.iter().any(|k| k.ends_with("recording.mp4")),
        "{keys:?}"
    );
    let r = app
        .form(&owner.client(), &format!("{rec}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(s3.keys(&format!("vod/{event}/")).await.is_empty());
}

/// IVS said the composition ended and wrote nothing (nobody sent anything): the recording is
/// `empty` at once, rather than waited for for hours.
async fn a_composition_ivs_ended_without_writing_leaves_nothing_to_wait_for(b: Backend) {
    let (_s3, t, owner, event) = live_on_ivs(b).await;
    let app = &t.app;
    t.transition(&owner, &event, events::Transition::End).await;
    t.calls().await;
    let state = || async {
        app.core
            .store
            .recording(&event)
            .await
            .unwrap()
            .unwrap()
            .state
    };
    assert_eq!(state().await, "waiting", "IVS may still be writing");
    let r = app
        .browser()
        .post(app.url("/api/v1/hooks/ivs"))
        .header("x-meetstage-token", TOKEN)
        .json(&session_end(
            "arn:aws:ivs:eu-west-1:123456789012:composition/c1",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    app.run_jobs().await;
    assert_eq!(state().await, "empty");
    let (_, page) = app.text(&owner.client(), &format!("/events/{event}")).await;
    assert!(page.contains("Nothing was recorded"), "{page}");
}
