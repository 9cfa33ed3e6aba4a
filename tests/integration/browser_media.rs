//! Live media in two real browsers with Chromium's fake camera, microphone and screen: the
//! green room, going live, a shared screen, an attendee brought on stage, a mute the server
//! enforces, a kick and the end — measured from the browsers' own WebRTC statistics.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::{
    browser::{Cdp, Driver, assert_no_console_errors, audit_in_place, browser_with, click},
    browser_room::{enter, press, two_pages, wait_text},
    helpers::{Backend, TestApp},
};

/// Runs `script` (an async function body returning JSON) in the page.
pub async fn eval(c: &Client, script: &str) -> Value {
    let wrapped = format!(
        "const done = arguments[arguments.length - 1];\
         (async () => {{ {script} }})().then(done, (e) => done({{ error: String(e) }}));"
    );
    c.execute_async(&wrapped, vec![])
        .await
        .expect("script runs")
}

/// Waits until `script` returns true; fails with `what` after `within`.
pub async fn until(c: &Client, what: &str, within: Duration, script: &str) {
    let deadline = Instant::now() + within;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        last = eval(c, script).await;
        if last == Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not happen within {within:?} (last: {last})");
}

/// Bytes received so far on the page's watching connection for one receiver: `kind` is
/// "audio" or "video", `index` the seat (12: the screen).
async fn bytes_in(c: &Client, kind: &str, index: usize) -> u64 {
    let v = eval(
        c,
        &format!(
            "const w = window.meetstage.stage.watch; if (!w) return 0;\
             const stats = await w.{kind}[{index}].getStats(); let n = 0;\
             stats.forEach((s) => {{ if (s.type === 'inbound-rtp') n += s.bytesReceived || 0; }});\
             return n;"
        ),
    )
    .await;
    v.as_u64().unwrap_or(0)
}

/// Decoded frames of the video in `css`, so far.
const FRAMES: &str = "const v = document.querySelector(SEL); \
    return v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0;";

async fn frames(c: &Client, css: &str) -> u64 {
    eval(c, &FRAMES.replace("SEL", &json!(css).to_string()))
        .await
        .as_u64()
        .unwrap_or(0)
}

/// The video in `css` shows moving pictures: its decoded frames keep growing.
async fn plays(c: &Client, css: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while frames(c, css).await < 10 {
        assert!(Instant::now() < deadline, "{what}: no frames decoded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Still growing: a frozen picture fails, a machine busy with other browsers gets time.
    let before = frames(c, css).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let after = frames(c, css).await;
        if after > before + 5 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: frames stopped at {before}..{after}"
        );
    }
}

/// The width of the video the page receives for seat 0, as an expression.
const INBOUND_WIDTH: &str = "(async () => { const w = window.meetstage.stage.watch; if (!w) return 0; \
    const st = await w.video[0].getStats(); let n = 0; \
    st.forEach((x) => { if (x.type === 'inbound-rtp' && x.frameWidth) n = x.frameWidth; }); return n; })()";

/// The width of each simulcast layer the page sends, once all three are being sent.
async fn layer_widths(c: &Client) -> std::collections::HashMap<String, u64> {
    let script = "const s = window.meetstage.stage; if (!s.pub) return null; \
        const st = await s.pub.getStats(); const w = {}; \
        st.forEach((x) => { if (x.type === 'outbound-rtp' && x.kind === 'video' && x.rid && x.frameWidth) w[x.rid] = x.frameWidth; }); \
        return Object.keys(w).length === 3 ? w : null;";
    // Chromium adds the layers as its estimate of the link and the CPU allows.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let v = eval(c, script).await;
        if let Some(map) = v.as_object() {
            return map
                .iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "three simulcast layers were never sent"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// For a person to look at (MEETSTAGE_SCREENSHOTS=<dir>): the element `css` as `name`.
async fn shot(c: &Client, css: &str, name: &str) {
    if let Ok(dir) = std::env::var("MEETSTAGE_SCREENSHOTS") {
        let e = c.find(Locator::Css(css)).await.unwrap();
        let png = e.screenshot().await.unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

/// Replaces the presenter's camera with a canvas showing the time (ms, 24 bits as black and
/// white blocks), painted every few milliseconds.
const PAINT_CLOCK: &str = "
    const c = document.createElement('canvas'); c.width = 640; c.height = 360;
    const g = c.getContext('2d');
    const paint = () => {
      const t = Date.now() % 16777216;
      g.fillStyle = '#808080'; g.fillRect(0, 0, 640, 360);
      for (let i = 0; i < 24; i++) {
        g.fillStyle = (t >> (23 - i)) & 1 ? '#fff' : '#000';
        g.fillRect(8 + (i % 12) * 52, 40 + Math.floor(i / 12) * 150, 48, 130);
      }
    };
    paint();
    window.clockTimer = setInterval(paint, 4);
    const track = c.captureStream(60).getVideoTracks()[0];
    await window.meetstage.stage.pub.getTransceivers()[1].sender.replaceTrack(track);
    return true;";

/// Reads the time back from every frame the attendee's page shows for 6 s: glass to glass
/// is the time shown minus the time painted (one machine, one clock).
const READ_CLOCK: &str = "
    const v = document.querySelector(\"#stage-area figure[data-slot='0'] video\");
    const c = document.createElement('canvas'); c.width = 640; c.height = 360;
    const g = c.getContext('2d', { willReadFrequently: true });
    const samples = [];
    await new Promise((resolve) => {
      const end = Date.now() + 6000;
      const step = () => {
        if (Date.now() > end) return resolve();
        g.drawImage(v, 0, 0, 640, 360);
        const d = g.getImageData(0, 0, 640, 360).data;
        let t = 0, clean = true;
        for (let i = 0; i < 24; i++) {
          const x = 8 + (i % 12) * 52 + 24, y = 40 + Math.floor(i / 12) * 150 + 65;
          const p = d[(y * 640 + x) * 4];
          if (p > 70 && p < 186) clean = false;
          t = (t << 1) | (p >= 128 ? 1 : 0);
        }
        const lag = ((Date.now() % 16777216) - t + 16777216) % 16777216;
        if (clean && lag < 5000) samples.push(lag);
        v.requestVideoFrameCallback(step);
      };
      v.requestVideoFrameCallback(step);
    });
    samples.sort((a, b) => a - b);
    return { n: samples.length, min: samples[0], median: samples[samples.length >> 1],
             p95: samples[Math.floor(samples.length * 0.95)] };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presenters_and_attendees_see_and_hear_each_other_in_chromium() {
    let _cameras = crate::browser::CAMERAS.lock().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (owner, event) = app.staging_event("members").await;
    let ada = app.person("Ada").await;
    // Ada registered: the recap mail comes to her.
    app.seat(&event, &ada.id).await;
    let driver = Driver::start().await;
    let (presenter, attendee, _profiles) =
        two_pages(&app, &driver, true, (&owner, &ada), &event).await;
    let media = &app.core.media;

    // Green room: the presenter's camera starts, previewed at up to 1280×720, and they are
    // connected to the stage; the attendee waits and receives nothing.
    click(&presenter, Locator::Id("media-start")).await;
    until(
        &presenter,
        "the presenter's preview",
        Duration::from_secs(15),
        "const v = document.getElementById('media-preview'); return v.videoWidth > 0;",
    )
    .await;
    let size = eval(
        &presenter,
        "const v = document.getElementById('media-preview'); return [v.videoWidth, v.videoHeight];",
    )
    .await;
    let (w, h) = (size[0].as_u64().unwrap(), size[1].as_u64().unwrap());
    assert!(w > 0 && w <= 1280 && h <= 720, "preview {w}×{h}");
    until(
        &presenter,
        "the presenter's connection to the stage",
        Duration::from_secs(15),
        "return document.getElementById('media-panel').dataset.connection === 'connected';",
    )
    .await;
    // A stream key for OBS, shown once on the dashboard.
    click(&presenter, Locator::Css("details.obs summary")).await;
    click(&presenter, Locator::Id("stream-key-new")).await;
    until(
        &presenter,
        "the stream key",
        Duration::from_secs(5),
        "return document.getElementById('stream-key-value').value.length > 30 && \
         document.getElementById('stream-key-server').value.endsWith('/live/whip');",
    )
    .await;
    let waiting = attendee.find(Locator::Id("waiting")).await.unwrap();
    assert!(waiting.is_displayed().await.unwrap());
    let watching = eval(&attendee, "return window.meetstage.stage.watch === null;").await;
    assert_eq!(
        watching,
        Value::Bool(true),
        "attendees see nothing of the green room"
    );
    // The presenter's two connections: sending, and watching the stage preview.
    assert_eq!(media.connections(), 2);

    // Go live: the waiting page turns into the stage, the presenter's video plays and their
    // audio arrives.
    click(&presenter, Locator::Css("form[data-when=staging] button")).await;
    presenter.accept_alert().await.unwrap();
    let went_live = Instant::now();
    wait_text(&attendee, "#room-status", "LIVE").await;
    assert!(
        attendee
            .find(Locator::Id("recording"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap(),
        "the attendee sees that the event is recorded"
    );
    plays(
        &attendee,
        "#stage-area figure[data-slot='0'] video",
        "the presenter's camera",
    )
    .await;
    let a1 = bytes_in(&attendee, "audio", 0).await;
    let mut a2 = a1;
    let deadline = Instant::now() + Duration::from_secs(10);
    while a2 <= a1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a2 = bytes_in(&attendee, "audio", 0).await;
    }
    assert!(
        a1 > 0 && a2 > a1,
        "the presenter's audio arrives: {a1} then {a2}"
    );
    let name = attendee
        .find(Locator::Css("#stage-area figure[data-slot='0'] figcaption"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(name.contains("Olga"), "the tile is named: {name}");
    shot(&attendee, "#stage", "media-1-attendee-live").await;

    // Simulcast: the presenter sends three layers; the attendee, on a fast link, gets the
    // largest.
    let widest = layer_widths(&presenter).await["f"];
    until(
        &attendee,
        "the largest layer",
        Duration::from_secs(20),
        &format!("return (await inbound_width()) === {widest};")
            .replace("inbound_width()", INBOUND_WIDTH),
    )
    .await;
    until(
        &presenter,
        "the microphone level meter moving",
        Duration::from_secs(10),
        "return document.getElementById('media-level').value > 0;",
    )
    .await;

    click(&presenter, Locator::Id("speaker-test")).await;
    wait_text(&presenter, "#speaker-state", "Playing a chime").await;

    // Pinning makes a tile the large one; full screen shows the stage alone.
    press(&attendee, "Pin Olga").await;
    until(
        &attendee,
        "the pinned tile",
        Duration::from_secs(5),
        "return !!document.querySelector('.stage-big figure.big[data-slot=\"0\"]');",
    )
    .await;
    press(&attendee, "Unpin Olga").await;
    until(
        &attendee,
        "the unpinned tile",
        Duration::from_secs(5),
        "return !document.querySelector('.stage-big figure.big');",
    )
    .await;
    click(&attendee, Locator::Id("stage-full")).await;
    until(
        &attendee,
        "full screen",
        Duration::from_secs(5),
        "return document.fullscreenElement === document.getElementById('stage-area');",
    )
    .await;
    click(&attendee, Locator::Id("stage-full")).await;
    until(
        &attendee,
        "leaving full screen",
        Duration::from_secs(5),
        "return document.fullscreenElement === null;",
    )
    .await;

    // Glass to glass: a clock painted on the presenter's page, read back on the attendee's.
    assert_eq!(eval(&presenter, PAINT_CLOCK).await, Value::Bool(true));
    // Read until 30 painted times came through (about a second of video).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut lag = eval(&attendee, READ_CLOCK).await;
    while lag["n"].as_u64().unwrap_or(0) < 30 && Instant::now() < deadline {
        lag = eval(&attendee, READ_CLOCK).await;
    }
    let n = lag["n"].as_u64().unwrap_or(0);
    assert!(
        n >= 30,
        "the painted clock was read from too few frames: {lag}"
    );
    println!(
        "glass to glass over the embedded SFU: median {} ms, p95 {} ms, min {} ms ({n} frames)",
        lag["median"], lag["p95"], lag["min"]
    );
    eval(
        &presenter,
        "clearInterval(window.clockTimer); const s = window.meetstage.stage;\
         await s.pub.getTransceivers()[1].sender.replaceTrack(s.local.getVideoTracks()[0]); return true;",
    )
    .await;

    // A shared screen becomes the large tile on the attendee's page.
    click(&presenter, Locator::Id("media-screen")).await;
    until(
        &attendee,
        "the shared screen",
        Duration::from_secs(15),
        "return document.getElementById('stage-area').dataset.screen === 'on';",
    )
    .await;
    plays(
        &attendee,
        ".stage-big figure.screen video",
        "the shared screen",
    )
    .await;
    shot(&attendee, "#stage", "media-2-attendee-screen").await;
    shot(&presenter, "#stage", "media-2-presenter-screen").await;
    click(&presenter, Locator::Id("media-screen")).await;
    until(
        &attendee,
        "the screen share's end",
        Duration::from_secs(10),
        "return document.getElementById('stage-area').dataset.screen === 'off';",
    )
    .await;

    // Brought on stage: the attendee confirms, and the presenter hears her.
    click(
        &presenter,
        Locator::XPath("//ul[@id='people']/li[.//span[contains(., 'Ada')]]//details/summary"),
    )
    .await;
    press(&presenter, "Invite to speak: Ada").await;
    until(
        &attendee,
        "the invitation",
        Duration::from_secs(10),
        "return !document.getElementById('stage-invite').hidden;",
    )
    .await;
    click(&attendee, Locator::Css("#stage-invite button.join")).await;
    until(
        &attendee,
        "the attendee's connection to the stage",
        Duration::from_secs(15),
        "return document.getElementById('media-panel').dataset.connection === 'connected';",
    )
    .await;
    let slot = eval(
        &presenter,
        "const s = window.meetstage.stage.roster.seats.find((s) => s.name === 'Ada'); return s ? s.slot : -1;",
    )
    .await;
    let slot = usize::try_from(slot.as_i64().unwrap()).expect("Ada has a seat");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut heard = bytes_in(&presenter, "audio", slot).await;
    while heard < 2000 {
        assert!(Instant::now() < deadline, "the presenter never heard Ada");
        tokio::time::sleep(Duration::from_millis(200)).await;
        heard = bytes_in(&presenter, "audio", slot).await;
    }
    plays(
        &presenter,
        &format!("#stage-area figure[data-slot='{slot}'] video"),
        "Ada's camera",
    )
    .await;

    until(
        &presenter,
        "Ada's tile marked as speaking",
        Duration::from_secs(10),
        &format!("return !!document.querySelector('figure[data-slot=\"{slot}\"].speaking');"),
    )
    .await;
    shot(&presenter, "#stage", "media-3-presenter-speaker").await;
    shot(&attendee, "#media-panel", "media-3-attendee-panel").await;
    // Both pages with live tiles and the device panel: accessible, and fit a phone.
    let mut problems = audit_in_place(&presenter, "the presenter's stage").await;
    problems.extend(audit_in_place(&attendee, "the speaker's stage").await);
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));

    // Muted: her page says so and the presenter's inbound audio from her stops growing.
    press(&presenter, "Mute Ada").await;
    until(
        &attendee,
        "the mute notice",
        Duration::from_secs(10),
        "return !document.getElementById('media-muted').hidden;",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let m1 = bytes_in(&presenter, "audio", slot).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let m2 = bytes_in(&presenter, "audio", slot).await;
    assert_eq!(m1, m2, "a muted speaker's audio still arrives");

    // Speaking revoked: she leaves the stage at once, her seat is free again.
    press(&presenter, "Revoke speaking for Ada").await;
    until(
        &attendee,
        "the attendee leaving the stage",
        Duration::from_secs(10),
        "const s = window.meetstage.stage; return s.pub === null && s.local === null && s.watch !== null;",
    )
    .await;
    until(
        &presenter,
        "Ada's seat freed",
        Duration::from_secs(10),
        "return !window.meetstage.stage.roster.seats.some((s) => s.name === 'Ada');",
    )
    .await;

    // Kicked: all her media closes at once.
    press(&presenter, "Kick Ada").await;
    presenter.accept_alert().await.unwrap();
    until(
        &attendee,
        "the kicked attendee's media closing",
        Duration::from_secs(10),
        "const s = window.meetstage.stage; return s.watch === null && s.pub === null && s.local === null;",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while media.connections() != 2 {
        assert!(
            Instant::now() < deadline,
            "Ada's connections stayed open: {}",
            media.connections()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // She may come back: rejoining brings the stage back too.
    click(&attendee, Locator::Css("#banners button")).await;
    until(
        &attendee,
        "the stage after rejoining",
        Duration::from_secs(15),
        "return document.getElementById('stage-area').dataset.media === 'connected';",
    )
    .await;

    // The end releases every connection.
    click(&presenter, Locator::Css("form[data-when=live] button")).await;
    presenter.accept_alert().await.unwrap();
    let time_live = went_live.elapsed();
    wait_text(&presenter, "#room-status", "ENDED").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while media.connections() != 0 {
        assert!(
            Instant::now() < deadline,
            "connections left after the end: {}",
            media.connections()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed = eval(
        &presenter,
        "const s = window.meetstage.stage; return s.watch === null && s.pub === null;",
    )
    .await;
    assert_eq!(
        closed,
        Value::Bool(true),
        "the presenter's page let go of its media"
    );

    // The live part was recorded as it arrived: the presenter's camera (VP8, in IVF), their
    // shared screen, and their microphone (Opus, in Ogg), each readable by ffprobe.
    let recordings = app.core.config.data_dir.join("recordings").join(&event);
    let part = std::fs::read_dir(&recordings)
        .unwrap()
        .next()
        .expect("a recording part")
        .unwrap()
        .path();
    let timeline = crate::media::stopped_timeline(&part).await;
    for (track, codec) in [("camera", "vp8"), ("screen", "vp8"), ("mic", "opus")] {
        let line: Value = timeline
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|l| l["track"] == track && l["user"] == owner.id.as_str())
            .unwrap_or_else(|| panic!("the presenter's {track} in {timeline}"));
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration:stream=codec_name,width",
            ])
            .args(["-of", "json"])
            .arg(part.join(line["file"].as_str().unwrap()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(info["streams"][0]["codec_name"], codec, "{track}: {info}");
        if codec == "vp8" {
            assert!(
                info["streams"][0]["width"].as_u64().unwrap_or(0) > 0,
                "{info}"
            );
        }
    }

    assert_no_console_errors(&presenter, "the presenter's room").await;
    assert_no_console_errors(&attendee, "the attendee's room").await;

    // After the end the job composes those files; Ada follows the ended room's link to the
    // event page, then its recap, and plays what was recorded while she watched.
    app.run_jobs().await;
    let rec = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(rec.state, "ready", "{rec:?}");
    let chapters: Vec<Value> = serde_json::from_str(&rec.chapters).unwrap();
    let chapter = |title: &str| {
        chapters
            .iter()
            .find(|c| c["title"] == title)
            .and_then(|c| c["at_ms"].as_u64())
            .unwrap_or_else(|| panic!("no chapter {title:?} in {chapters:?}"))
    };
    assert_eq!(chapter("Live"), 0);
    let screen_at = chapter("Olga shares the screen");
    chapter("Ada on stage");
    let mp4 = crate::recordings::vod_mp4(&app, &event);
    let info = crate::helpers::ffprobe(&mp4);
    assert_eq!(info["streams"][0]["codec_name"], "h264", "{info}");
    assert_eq!(
        (&info["streams"][0]["width"], &info["streams"][0]["height"]),
        (&Value::from(1280), &Value::from(720)),
        "{info}"
    );
    assert_eq!(info["streams"][1]["codec_name"], "aac", "{info}");

    wait_text(&attendee, "#room-status", "ENDED").await;
    click(&attendee, Locator::Css("#ended-text a")).await;
    click(&attendee, Locator::Id("see-recap")).await;
    until(
        &attendee,
        "hls.js loading the replay",
        Duration::from_secs(15),
        "const v = document.getElementById('replay-video'); \
         return v.dataset.player === 'hls.js' && v.readyState >= 1;",
    )
    .await;
    click(
        &attendee,
        Locator::Css(&format!("button[data-seek='{screen_at}']")),
    )
    .await;
    let duration = rec.duration_ms.unwrap() as f64 / 1000.0;
    until(
        &attendee,
        "the replay playing on from the screen's chapter",
        Duration::from_secs(15),
        &format!(
            "const v = document.getElementById('replay-video'); \
             return v.currentTime > {} && v.videoWidth === 1280 && v.videoHeight === 720 \
               && Math.abs(v.duration - {duration}) < 1;",
            screen_at as f64 / 1000.0 + 0.5
        ),
    )
    .await;
    shot(&attendee, "#replay", "replay-recorded-live").await;
    assert_no_console_errors(&attendee, "the replay").await;

    // As long as the event was live (measured here, from the Go live click to the End
    // click), within 1.5 s.
    let live_s = time_live.as_secs_f64();
    assert!(
        (duration - live_s).abs() < 1.5,
        "recorded {duration} s of {live_s} s live"
    );
    // The download button's MP4, fetched with Ada's session, is the whole video.
    let href = eval(
        &attendee,
        "return document.getElementById('download-mp4').href;",
    )
    .await;
    let r = ada
        .client()
        .get(href.as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let downloaded = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(downloaded.path(), r.bytes().await.unwrap()).unwrap();
    let probed = crate::helpers::ffprobe_seconds(downloaded.path());
    assert!(
        (probed - duration).abs() < 0.5,
        "ffprobe {probed} s, page {duration} s"
    );

    // The recap mail reached Ada, and every link in it opens.
    app.run_jobs().await;
    let ada_email = app
        .core
        .store
        .user_by_id(&ada.id)
        .await
        .unwrap()
        .unwrap()
        .email;
    let mail = app.mail_titled(&ada_email, "Recap:").await;
    let links: Vec<&str> = mail
        .text
        .split_whitespace()
        .filter(|w| w.starts_with("http"))
        .collect();
    assert!(
        links
            .iter()
            .any(|l| l.contains(&format!("/events/{event}/recap"))),
        "{}",
        mail.text
    );
    for link in links {
        let r = ada.client().get(link).send().await.unwrap();
        assert!(r.status().is_success(), "{link}: {}", r.status());
    }
    // The organizer's attendance CSV lists Ada, with the minutes she watched.
    let r = owner
        .client()
        .get(app.url(&format!("/events/{event}/attendance.csv")))
        .send()
        .await
        .unwrap();
    let csv = r.text().await.unwrap();
    let row: Vec<&str> = csv
        .lines()
        .find(|l| l.contains(&ada_email))
        .unwrap_or_else(|| panic!("Ada in {csv}"))
        .split(',')
        .collect();
    assert_eq!(row[0], "Ada", "{csv}");
    let minutes: u32 = row[4].parse().unwrap();
    assert!(minutes <= 5, "{csv}");
    presenter.close().await.unwrap();
    attendee.close().await.unwrap();
}

/// What a person is told when their devices cannot be used: permission refused, or no
/// camera or microphone at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_problems_are_explained_in_plain_words() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (owner, event) = app.staging_event("members").await;
    let driver = Driver::start().await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // Fake devices, but this site was refused the camera and microphone.
    let refused = browser_with(&driver, d1.path(), &["--use-fake-device-for-media-stream"]).await;
    enter(&app, &refused, &owner, &event).await;
    for name in ["camera", "microphone"] {
        refused
            .issue_cmd(Cdp(
                "Browser.setPermission",
                json!({"permission": {"name": name}, "setting": "denied", "origin": app.url("")}),
            ))
            .await
            .unwrap();
    }
    click(&refused, Locator::Id("media-start")).await;
    wait_text(
        &refused,
        "#media-note",
        "may not use your camera or microphone",
    )
    .await;
    let sending = eval(&refused, "return window.meetstage.stage.pub === null;").await;
    assert_eq!(sending, Value::Bool(true));

    // No devices at all (this machine has none): said so, with what to do.
    let bare = browser_with(&driver, d2.path(), &["--use-fake-ui-for-media-stream"]).await;
    enter(&app, &bare, &owner, &event).await;
    click(&bare, Locator::Id("media-start")).await;
    wait_text(&bare, "#media-note", "was found. Plug one in").await;
    refused.close().await.unwrap();
    bare.close().await.unwrap();
}

/// A viewer whose link carries little gets the smallest layer; one whose link cannot carry
/// even that gets audio only, and their page says the video is paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_viewers_get_a_smaller_layer_then_audio_only() {
    let _cameras = crate::browser::CAMERAS.lock().await;
    let driver = Driver::start().await;
    for (kbps, audio_only) in [(300, false), (120, true)] {
        let app = TestApp::spawn_with(Backend::Sqlite, |o| o.media_viewer_kbps = Some(kbps)).await;
        let (owner, event) = app.live_event("members").await;
        let ada = app.person("Ada").await;
        let (presenter, attendee, _profiles) =
            two_pages(&app, &driver, true, (&owner, &ada), &event).await;
        click(&presenter, Locator::Id("media-start")).await;
        let widths = layer_widths(&presenter).await;
        let tile = "#stage-area figure[data-slot='0']";
        if audio_only {
            until(
                &attendee,
                "the paused video",
                Duration::from_secs(20),
                &format!("return !!document.querySelector(\"{tile}.paused\");"),
            )
            .await;
            let f = frames(&attendee, &format!("{tile} video")).await;
            let a1 = bytes_in(&attendee, "audio", 0).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(
                frames(&attendee, &format!("{tile} video")).await,
                f,
                "video still arrives"
            );
            assert!(
                bytes_in(&attendee, "audio", 0).await > a1,
                "audio stops too"
            );
            shot(&attendee, "#stage", "media-4-audio-only").await;
        } else {
            until(
                &attendee,
                "the smallest layer",
                Duration::from_secs(20),
                &format!("return (await {INBOUND_WIDTH}) === {};", widths["q"]),
            )
            .await;
            plays(&attendee, &format!("{tile} video"), "the smallest layer").await;
        }
        assert_no_console_errors(&attendee, "a slow viewer's room").await;
        presenter.close().await.unwrap();
        attendee.close().await.unwrap();
    }
}

/// The selected ICE candidate pair's protocol on the page's watching connection.
const WATCH_PROTOCOL: &str = "const w = window.meetstage.stage.watch; if (!w || !w.pc) return null;\
    const stats = await w.pc.getStats(); let pair = null; const byId = {};\
    stats.forEach((s) => { byId[s.id] = s; if (s.type === 'transport' && s.selectedCandidatePairId) pair = s.selectedCandidatePairId; });\
    const p = pair && byId[pair]; const remote = p && byId[p.remoteCandidateId];\
    return remote ? remote.protocol : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attendee_whose_network_blocks_udp_watches_over_tcp_or_is_told_why() {
    let _cameras = crate::browser::CAMERAS.lock().await;
    let driver = Driver::start().await;
    let flags = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
    ];
    for tcp in [true, false] {
        let app = TestApp::spawn_with(Backend::Sqlite, |o| {
            o.media_tcp = Some(if tcp { "127.0.0.1:0" } else { "off" }.into());
        })
        .await;
        let (owner, event) = app.live_event("members").await;
        let ada = app.person("Ada").await;
        let profiles = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let presenter = crate::browser::media_browser(&driver, profiles[0].path()).await;
        enter(&app, &presenter, &owner, &event).await;
        // The attendee's Chromium sends no UDP at all (its WebRTC IP handling policy, set in
        // the profile as an administrator would: UDP only through a proxy, and there is
        // none), as behind a firewall that drops UDP.
        let prefs = profiles[1].path().join("Default");
        std::fs::create_dir_all(&prefs).unwrap();
        std::fs::write(
            prefs.join("Preferences"),
            json!({ "webrtc": { "ip_handling_policy": "disable_non_proxied_udp" } }).to_string(),
        )
        .unwrap();
        let attendee = browser_with(&driver, profiles[1].path(), &flags).await;
        enter(&app, &attendee, &ada, &event).await;
        click(&presenter, Locator::Id("media-start")).await;
        let tile = "#stage-area figure[data-slot='0'] video";
        if tcp {
            // The presenter sends over UDP; the attendee gets every frame over TCP.
            plays(&attendee, tile, "the presenter's camera over TCP").await;
            assert_eq!(eval(&attendee, WATCH_PROTOCOL).await, json!("tcp"));
            assert_eq!(eval(&presenter, WATCH_PROTOCOL).await, json!("udp"));
            let problem = attendee
                .find(Locator::Css("#stage-area .stage-problem"))
                .await
                .unwrap();
            assert!(!problem.is_displayed().await.unwrap(), "no problem shown");
        } else {
            // Nothing gets through: the stage says why instead of showing black tiles.
            let started = Instant::now();
            let mut said = String::new();
            while started.elapsed() < Duration::from_secs(30) && said.is_empty() {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Ok(p) = attendee
                    .find(Locator::Css("#stage-area .stage-problem"))
                    .await
                    && p.is_displayed().await.unwrap_or(false)
                {
                    said = p.text().await.unwrap_or_default();
                }
            }
            assert!(said.contains("your network"), "said: {said:?}");
            assert_eq!(frames(&attendee, tile).await, 0);
            let problems = audit_in_place(&attendee, "a stage that cannot connect").await;
            assert!(problems.is_empty(), "{problems:#?}");
        }
        presenter.close().await.unwrap();
        attendee.close().await.unwrap();
    }
}
