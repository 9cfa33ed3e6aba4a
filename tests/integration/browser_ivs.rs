//! The pages on Amazon IVS, in Chromium: meetstage runs with the IVS provider (against the
//! fake IVS API) and serves a stand-in for the IVS Web Broadcast SDK
//! (tests/browser/ivs-standin.js) that records what the page asks of it. Checked: the page
//! joins with the token its ticket carries, presenters publish camera and microphone from the
//! green room, attendees only watch, IVS participants become named tiles and a featured one
//! the shared screen, tokens are exchanged in place on refresh and when brought on stage,
//! revoking stops the sending, the end leaves the stage, and the page passes axe-core.

use std::time::Duration;

use fantoccini::{Client, Locator};
use meetstage::features::events::Transition;
use serde_json::{Value, json};

use crate::{
    browser::{Driver, assert_no_console_errors, audit_in_place, click, media_browser},
    browser_media::{self, eval},
    browser_room::{two_pages, wait_text},
    helpers::Backend,
    ivs::{self, ops},
};

/// Waits until `script` returns true (15 s at most).
async fn until(c: &Client, what: &str, script: &str) {
    browser_media::until(c, what, Duration::from_secs(15), script).await
}

/// The stand-in's record of the page's `i`-th IVS Stage.
async fn stage(c: &Client, i: usize) -> Value {
    eval(
        c,
        &format!(
            "const s = window.__ivs.stages[{i}]; if (!s) return null; \
             return {{ token: s.token, tokens: s.tokens.length, joined: s.joined, left: s.left, published: s.published }};"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_join_an_ivs_stage_through_the_sdk() {
    let standin = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/ivs-standin.js");
    let t = ivs::start_with(Backend::Sqlite, |o| {
        o.ivs_web_sdk = Some(standin.into());
    })
    .await;
    let app = &t.app;
    let (owner, event) = app.staging_event("members").await;
    assert_eq!(ops(&t.calls().await), ["CreateStage"]);
    let ada = app.person("Ada").await;
    let driver = Driver::start().await;
    let (presenter, attendee, _profiles) =
        two_pages(app, &driver, true, (&owner, &ada), &event).await;

    // Green room: the presenter's page loads the SDK from meetstage, joins with the token of
    // its ticket, and publishes camera and microphone once they are on.
    click(&presenter, Locator::Id("media-start")).await;
    until(
        &presenter,
        "the presenter publishing",
        "const s = window.__ivs && window.__ivs.stages[0]; \
         return !!s && s.joined && s.published.join() === 'audio,video';",
    )
    .await;
    let s = stage(&presenter, 0).await;
    let claims = t.claims(s["token"].as_str().unwrap());
    assert_eq!(claims["user_id"], json!(owner.id));
    assert_eq!(claims["capabilities"]["allow_publish"], true);
    assert_eq!(claims["attributes"]["role"], "presenter");
    until(
        &presenter,
        "the panel showing the connection",
        "return document.getElementById('media-panel').dataset.connection === 'connected';",
    )
    .await;
    // A shared screen joins as a participant of its own with the screen token: featured in
    // the recording, sending only. Its echo through IVS is not subscribed (no feedback).
    eval(
        &presenter,
        "const md = navigator.mediaDevices; const ask = md.getDisplayMedia.bind(md); \
         md.getDisplayMedia = (c) => { window.__displayAsked = c; return ask(c); }; return true;",
    )
    .await;
    click(&presenter, Locator::Id("media-screen")).await;
    until(
        &presenter,
        "the screen participant publishing",
        "const s = window.__ivs.stages[1]; return !!s && s.joined && s.published.includes('video');",
    )
    .await;
    // The browser was asked for no more than the 720p IVS takes.
    let asked = eval(&presenter, "return window.__displayAsked;").await;
    assert_eq!(asked["video"]["height"]["max"], 720, "{asked}");
    assert_eq!(asked["video"]["width"]["max"], 1280, "{asked}");
    let screen = t.claims(stage(&presenter, 1).await["token"].as_str().unwrap());
    assert_eq!(screen["attributes"]["featured"], "true");
    assert_eq!(
        screen["capabilities"],
        json!({ "allow_publish": true, "allow_subscribe": false })
    );
    assert_ne!(screen["jti"], claims["jti"]);
    eval(
        &presenter,
        &format!(
            "window.__ivs.remote('p-own-screen', {{ user: {}, role: 'presenter', featured: 'true' }}); return true;",
            json!(owner.id)
        ),
    )
    .await;
    let subscribed = eval(&presenter, "return window.__ivs.stages[0].subscribed;").await;
    assert_eq!(subscribed, json!([]), "one's own screen is not played back");
    assert_eq!(
        eval(
            &presenter,
            "return document.getElementById('stage-area').dataset.screen;"
        )
        .await,
        "on"
    );
    click(&presenter, Locator::Id("media-screen")).await;
    until(
        &presenter,
        "the screen participant leaving",
        "return window.__ivs.stages[1].left === true;",
    )
    .await;
    eval(
        &presenter,
        "window.__ivs.gone('p-own-screen'); return true;",
    )
    .await;

    // Attendees see nothing of the green room.
    assert_eq!(
        eval(
            &attendee,
            "return window.__ivs === undefined || window.__ivs.stages.length === 0;"
        )
        .await,
        Value::Bool(true)
    );

    // Live: the attendee joins to watch, with a subscribe-only token, and sends nothing.
    click(&presenter, Locator::Css("form[data-when=staging] button")).await;
    presenter.accept_alert().await.unwrap();
    wait_text(&attendee, "#room-status", "LIVE").await;
    assert_eq!(ops(&t.calls().await), ["StartComposition"]);
    until(
        &attendee,
        "the attendee joining",
        "const s = window.__ivs && window.__ivs.stages[0]; return !!s && s.joined;",
    )
    .await;
    let s = stage(&attendee, 0).await;
    assert_eq!(s["published"], json!([]));
    let watching = t.claims(s["token"].as_str().unwrap());
    assert_eq!(
        watching["capabilities"],
        json!({ "allow_publish": false, "allow_subscribe": true })
    );

    // The presenter on IVS becomes a named tile whose video plays; her shared screen (a
    // featured participant) becomes the large tile.
    let remote = |id: &str, featured: bool| {
        format!(
            "window.__ivs.remote({}, {{ user: {}, role: 'presenter', featured: '{featured}' }}); return true;",
            json!(id),
            json!(owner.id)
        )
    };
    eval(&attendee, &remote("p-olga", false)).await;
    until(
        &attendee,
        "the presenter's tile playing",
        "const v = document.querySelector(\"#stage-area figure[data-slot='0'] video\"); \
         return !!v && v.getVideoPlaybackQuality().totalVideoFrames > 5;",
    )
    .await;
    let name = attendee
        .find(Locator::Css("#stage-area figure[data-slot='0'] figcaption"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        name.contains("Olga"),
        "the tile is named from the room: {name}"
    );
    // Her sound arrives (a tone in the stand-in), so her tile is outlined as speaking.
    until(
        &attendee,
        "the speaking outline",
        "return document.querySelector(\"#stage-area figure[data-slot='0']\").classList.contains('speaking');",
    )
    .await;
    eval(&attendee, &remote("p-olga-screen", true)).await;
    until(
        &attendee,
        "the shared screen as the large tile",
        "return document.getElementById('stage-area').dataset.screen === 'on' && \
         !!document.querySelector('#stage-area .tile.big.screen video');",
    )
    .await;

    // Before the token runs out the page exchanges it in place: same participant.
    eval(
        &attendee,
        "await window.meetstage.stage.ivs.exchange(); return true;",
    )
    .await;
    let s = stage(&attendee, 0).await;
    assert_eq!(s["tokens"], 2);
    let refreshed = t.claims(s["token"].as_str().unwrap());
    assert_eq!(refreshed["jti"], watching["jti"]);

    // Brought on stage: the page asks, then exchanges for a token that may publish and sends.
    let mut room = app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    room.send("grant_speak", json!({ "user_id": ada.id })).await;
    until(
        &attendee,
        "the invitation",
        "return !document.getElementById('stage-invite').hidden;",
    )
    .await;
    click(&attendee, Locator::Css("#stage-invite button.join")).await;
    until(
        &attendee,
        "the speaker publishing",
        "const s = window.__ivs.stages[0]; return s.published.includes('audio');",
    )
    .await;
    let s = stage(&attendee, 0).await;
    let speaking = t.claims(s["token"].as_str().unwrap());
    assert_eq!(speaking["jti"], watching["jti"]);
    assert_eq!(speaking["capabilities"]["allow_publish"], true);
    assert_eq!(speaking["attributes"]["role"], "speaker");

    let mut problems = audit_in_place(&attendee, "a speaker's stage on IVS").await;
    problems.extend(audit_in_place(&presenter, "the presenter's stage on IVS").await);
    assert!(problems.is_empty(), "{problems:#?}");

    // Sent back to the audience: her page stops sending and exchanges its token for one that
    // only watches, on the same participant; the server ends only her (unused) screen
    // participant, and after the grace leaves her watching.
    // (A fresh socket: the first one was not read during the audits, so the room cut it off
    // as stalled.)
    drop(room);
    let mut room = app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    room.send("revoke_speak", json!({ "user_id": ada.id }))
        .await;
    room.until_with("participant", |p| p["can_speak"] == false)
        .await;
    until(
        &attendee,
        "the speaker stopping and exchanging her token",
        "const s = window.__ivs.stages[0]; \
         const claims = JSON.parse(atob(s.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); \
         return s.published.length === 0 && claims.capabilities.allow_publish === false;",
    )
    .await;
    let back = t.claims(stage(&attendee, 0).await["token"].as_str().unwrap());
    assert_eq!(back["jti"], watching["jti"]);
    assert_eq!(back["capabilities"]["allow_publish"], false);
    app.clock.advance(chrono::Duration::seconds(11));
    let calls = t.calls().await;
    assert!(
        ops(&calls).iter().all(|o| *o == "DisconnectParticipant"),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|(_, b)| b["participantId"] == watching["jti"]),
        "she keeps watching: {calls:?}"
    );
    assert_eq!(stage(&attendee, 0).await["left"], false);

    // The end: every page leaves the stage, and the stage is deleted.
    t.transition(&owner, &event, Transition::End).await;
    until(
        &attendee,
        "the attendee leaving",
        "return window.__ivs.stages[0].left === true;",
    )
    .await;
    until(
        &presenter,
        "the presenter leaving",
        "return window.__ivs.stages[0].left === true;",
    )
    .await;
    assert_eq!(ops(&t.calls().await), ["StopComposition", "DeleteStage"]);
    assert_no_console_errors(&presenter, "the presenter's room on IVS").await;
    assert_no_console_errors(&attendee, "the attendee's room on IVS").await;
    presenter.close().await.unwrap();
    attendee.close().await.unwrap();
}

/// The stand-in is only as good as its likeness: the real SDK (installed by `npm ci` in
/// static/vendor, as scripts/test does) has the same event names, subscribe types, stage
/// methods and stream class the page uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_matches_the_real_sdk() {
    let real = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/static/vendor/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js"
    );
    assert!(
        std::path::Path::new(real).is_file(),
        "the IVS Web Broadcast SDK is not installed: run `npm ci --prefix static/vendor`"
    );
    let standin = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/ivs-standin.js");
    let shape = "const load = (src) => new Promise((ok, no) => { const s = document.createElement('script'); \
         s.src = src; s.onload = ok; s.onerror = no; document.head.append(s); }); \
         await load('/static/ivs-web-broadcast.js'); const I = window.IVSBroadcastClient; \
         const ev = I.StageEvents; \
         return { events: ['STAGE_CONNECTION_STATE_CHANGED', 'STAGE_PARTICIPANT_JOINED', 'STAGE_PARTICIPANT_LEFT', \
           'STAGE_PARTICIPANT_STREAMS_ADDED', 'STAGE_PARTICIPANT_STREAMS_REMOVED'].map((k) => ev[k]), \
           subscribe: [I.SubscribeType.AUDIO_VIDEO, I.SubscribeType.NONE], \
           stage: ['join', 'on', 'exchangeToken', 'leave', 'refreshStrategy'].map((m) => typeof I.Stage.prototype[m]), \
           stream: typeof I.LocalStageStream };";
    let driver = Driver::start().await;
    let mut seen = Vec::new();
    for sdk in [real, standin] {
        let t = ivs::start_with(Backend::Sqlite, |o| o.ivs_web_sdk = Some(sdk.into())).await;
        let dir = tempfile::tempdir().unwrap();
        let c = media_browser(&driver, dir.path()).await;
        c.goto(&t.app.url("/")).await.unwrap();
        seen.push(eval(&c, shape).await);
        c.close().await.unwrap();
    }
    assert_eq!(
        seen[0]["events"],
        json!([
            "stageConnectionStateChanged",
            "stageParticipantJoined",
            "stageParticipantLeft",
            "stageParticipantStreamsAdded",
            "stageParticipantStreamsRemoved"
        ]),
        "{seen:?}"
    );
    assert_eq!(seen[0], seen[1], "the real SDK, then the stand-in");
}

/// What the page's Content-Security-Policy lets the IVS SDK do, tried in Chromium: run
/// WebAssembly and start a worker from a blob on the IVS provider, and neither on the
/// embedded one; blob media (the replay's hls.js) plays on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_policy_allows_what_the_ivs_sdk_needs_on_ivs_only() {
    let real = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/static/vendor/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js"
    );
    let probe = "const refused = []; \
         document.addEventListener('securitypolicyviolation', (e) => refused.push(e.effectiveDirective)); \
         const load = (src) => new Promise((ok, no) => { const s = document.createElement('script'); \
           s.src = src; s.onload = ok; s.onerror = no; document.head.append(s); }); \
         const sdk = await load('/static/ivs-web-broadcast.js').then(() => !!window.IVSBroadcastClient, () => false); \
         const wasm = await WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])).then(() => true, () => false); \
         const worker = await new Promise((ok) => { try { \
           const w = new Worker(URL.createObjectURL(new Blob(['postMessage(1)'], { type: 'text/javascript' }))); \
           w.onmessage = () => ok(true); w.onerror = () => ok(false); setTimeout(() => ok(false), 3000); \
         } catch { ok(false); } }); \
         const v = document.createElement('video'); \
         v.src = URL.createObjectURL(new Blob([new Uint8Array(16)], { type: 'video/webm' })); \
         document.body.append(v); \
         await new Promise((ok) => setTimeout(ok, 500)); \
         return { sdk, wasm, worker, media: !refused.includes('media-src'), refused };";
    let driver = Driver::start().await;
    let t = ivs::start_with(Backend::Sqlite, |o| o.ivs_web_sdk = Some(real.into())).await;
    let dir = tempfile::tempdir().unwrap();
    let c = media_browser(&driver, dir.path()).await;
    c.goto(&t.app.url("/")).await.unwrap();
    let on_ivs = eval(&c, probe).await;
    assert_eq!(
        (
            &on_ivs["sdk"],
            &on_ivs["wasm"],
            &on_ivs["worker"],
            &on_ivs["media"]
        ),
        (&json!(true), &json!(true), &json!(true), &json!(true)),
        "{on_ivs}"
    );
    c.close().await.unwrap();

    let plain = crate::helpers::TestApp::spawn(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let c = media_browser(&driver, dir.path()).await;
    c.goto(&plain.url("/")).await.unwrap();
    let embedded = eval(&c, probe).await;
    assert_eq!(
        (&embedded["wasm"], &embedded["worker"], &embedded["media"]),
        (&json!(false), &json!(false), &json!(true)),
        "{embedded}"
    );
    c.close().await.unwrap();
}

/// The organizer, from "My events", finds the event's cost on Amazon IVS, sets a viewer cap
/// with the keyboard and sees the estimate follow; the page passes axe-core in both themes
/// and fits a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organizer_sees_the_cost_and_caps_the_viewers() {
    use crate::browser::{browser, fill, tab_to};
    let t = ivs::start_with(Backend::Sqlite, |o| {
        o.ivs_participant_hour_usd = Some("0.5".into());
        o.ivs_monthly_ceiling_usd = Some("100".into());
    })
    .await;
    let app = &t.app;
    let (owner, event) = app.scheduled_event("members").await;
    for name in ["Ada", "Bob", "Cy"] {
        let p = app.person(name).await;
        app.seat(&event, &p.id).await;
    }
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    crate::browser_room::sign_in(app, &c, &owner).await;
    c.goto(&app.url("/")).await.unwrap();
    click(&c, Locator::LinkText("My events")).await;
    click(&c, Locator::LinkText("Rust in production")).await;
    // 3 registered and 1 presenter for an hour, half an hour of green room, one screen:
    // 5.5 participant-hours at $0.50.
    wait_text(&c, "#ivs-cost", "5.5 · $2.75").await;
    wait_text(
        &c,
        "#cost-total",
        "about $2.75, plus the lines without a configured price",
    )
    .await;
    wait_text(
        &c,
        "#cost-month",
        "$0.00 used of the $100.00 monthly ceiling",
    )
    .await;

    tab_to(&c, "the viewer cap", |tag, id, _| {
        tag == "input" && id == "viewer-cap-input"
    })
    .await;
    fill(&c, "viewer-cap-input", "1").await;
    click(&c, Locator::XPath("//button[text()='Save the cap']")).await;
    wait_text(&c, ".notice", "The viewer cap is saved.").await;
    // Two people now: 1 watching and the presenter, 3.5 participant-hours.
    wait_text(&c, "#ivs-cost", "3.5 · $1.75").await;
    let value = c
        .find(Locator::Id("viewer-cap-input"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("1"));
    let problems = audit_in_place(&c, "the event page with its IVS cost").await;
    assert!(problems.is_empty(), "{problems:#?}");
    c.close().await.unwrap();
}
