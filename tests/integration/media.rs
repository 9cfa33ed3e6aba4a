//! Live media through the embedded SFU, with real WebRTC clients (str0m, a library apart from
//! the server's own code paths) over UDP on loopback: who may send and watch, and audio sent
//! by a presenter arriving at an attendee.

use std::{
    net::UdpSocket,
    sync::Arc,
    time::{Duration, Instant},
};

use str0m::{
    Candidate, Event, Input, Output, Rtc, RtcConfig,
    change::{SdpAnswer, SdpPendingOffer},
    format::Codec,
    media::{Direction, Frequency, MediaKind, MediaTime, Mid},
    net::{Protocol, Receive},
};

use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestApp},
    room_client::Person,
};

/// A browser's side of one media connection.
pub(crate) struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    mid: Mid,
    connected: bool,
    pub(crate) received: usize,
    sent: u64,
}

impl Peer {
    /// A connection that sends (`SendOnly`) or receives (`RecvOnly`) one audio track, and
    /// its offer.
    pub(crate) fn new(direction: Direction) -> (Peer, String, SdpPendingOffer) {
        Peer::with_lines(direction, 1)
    }

    /// Receiving `lines` audio tracks: seat k's microphone arrives on the k-th.
    fn with_lines(direction: Direction, lines: usize) -> (Peer, String, SdpPendingOffer) {
        let (mut rtc, socket) = browser_side();
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, direction, None, None, None);
        for _ in 1..lines {
            api.add_media(MediaKind::Audio, direction, None, None, None);
        }
        let (offer, pending) = api.apply().unwrap();
        let peer = Peer {
            rtc,
            socket,
            mid,
            connected: false,
            received: 0,
            sent: 0,
        };
        (peer, offer.to_sdp_string(), pending)
    }

    pub(crate) fn accept(&mut self, answer: &str, pending: SdpPendingOffer) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("an SDP answer");
        self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    }

    /// Sends what is due, reads what arrived, notes connection and media.
    pub(crate) fn pump(&mut self) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(_) => break,
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => {
                    self.connected = true;
                }
                Output::Event(Event::MediaData(_)) => self.received += 1,
                Output::Event(_) => {}
            }
        }
        receive(&mut self.rtc, &self.socket, |_| true);
    }

    /// One 20 ms Opus frame (silence); the SFU forwards it without decoding.
    pub(crate) fn send_audio(&mut self, n: u64) {
        let writer = self.rtc.writer(self.mid).expect("a sending track");
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::Opus)
            .expect("Opus negotiated")
            .pt();
        let time = MediaTime::new(n * 960, Frequency::FORTY_EIGHT_KHZ);
        writer
            .write(pt, Instant::now(), time, vec![0xF8, 0xFF, 0xFE])
            .unwrap();
    }
}

/// A WebRTC client with a UDP socket of its own on loopback, its host candidate.
pub(crate) fn browser_side() -> (Rtc, UdpSocket) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(socket.local_addr().unwrap(), "udp").unwrap());
    (rtc, socket)
}

/// Hands `rtc` the datagrams that arrived on `socket` and that `passes` lets through, then
/// the time.
pub(crate) fn receive(rtc: &mut Rtc, socket: &UdpSocket, mut passes: impl FnMut(&[u8]) -> bool) {
    let mut buf = [0u8; 2000];
    let local = socket.local_addr().unwrap();
    while let Ok((n, source)) = socket.recv_from(&mut buf) {
        if !passes(&buf[..n]) {
            continue;
        }
        let Ok(contents) = buf[..n].try_into() else {
            continue;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: local,
                contents,
            },
        );
        rtc.handle_input(input).unwrap();
    }
    rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
}

/// Posts an offer as `who`; the status and the body.
pub(crate) async fn offer(
    app: &TestApp,
    who: Option<&Person>,
    path: &str,
    sdp: &str,
) -> (u16, String) {
    let client = who.map_or_else(|| app.browser(), Person::client);
    let csrf = app.csrf(&client).await;
    let r = client
        .post(app.url(path))
        .header("x-csrf-token", csrf)
        .header("content-type", "application/sdp")
        .body(sdp.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `sender` sending audio and `who` receiving it, both connected.
pub(crate) async fn stage(
    app: &TestApp,
    event: &str,
    sender: &Person,
    who: &Person,
) -> (Peer, Peer) {
    let presenter = joined(app, event, sender, "publish", Direction::SendOnly, 1).await;
    let attendee = joined(app, event, who, "watch", Direction::RecvOnly, 1).await;
    (presenter, attendee)
}

/// `who`'s connection with `lines` audio tracks, offered to `/live/{what}` and answered.
pub(crate) async fn joined(
    app: &TestApp,
    event: &str,
    who: &Person,
    what: &str,
    direction: Direction,
    lines: usize,
) -> Peer {
    let (mut peer, sdp, pending) = Peer::with_lines(direction, lines);
    let path = format!("/events/{event}/live/{what}");
    let (status, answer) = offer(app, Some(who), &path, &sdp).await;
    assert_eq!(status, 201, "{answer}");
    peer.accept(&answer, pending);
    peer
}

/// Pumps both sides, the presenter sending a frame every 20 ms once both are connected,
/// until `done` or `within` has passed; returns whether `done` was reached.
pub(crate) async fn run(
    presenter: &mut Peer,
    attendee: &mut Peer,
    within: Duration,
    done: impl Fn(&Peer) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done(attendee) {
            return true;
        }
        presenter.pump();
        attendee.pump();
        if presenter.connected && attendee.connected {
            presenter.send_audio(presenter.sent);
            presenter.sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done(attendee)
}

async fn kicked_and_banned_people_lose_their_media(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    let mut room = app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    let mut ada_room = app.ws(&event, Some(&ada)).await;
    ada_room.greeting().await;
    let (mut presenter, mut attendee) = stage(&app, &event, &owner, &ada).await;
    assert!(
        run(
            &mut presenter,
            &mut attendee,
            Duration::from_secs(10),
            |a| a.received >= 5
        )
        .await
    );

    // Kicked: her room closes and her media with it, whatever her page does.
    room.send("kick", json!({ "user_id": ada.id })).await;
    assert_eq!(u16::from(ada_room.closed().await.unwrap().code), 4001);
    run(
        &mut presenter,
        &mut attendee,
        Duration::from_millis(300),
        |_| false,
    )
    .await;
    let before = attendee.received;
    run(
        &mut presenter,
        &mut attendee,
        Duration::from_millis(600),
        |_| false,
    )
    .await;
    assert_eq!(attendee.received, before, "nothing reaches a kicked person");

    // She may come back after a kick; once banned, she may not.
    let (_, watching) = stage(&app, &event, &owner, &ada).await;
    drop(watching);
    room.send("ban", json!({ "user_id": ada.id, "reason": "spam" }))
        .await;
    // Once the presenters see the ban, her offers are refused.
    room.until_with("participant", |p| p["banned"] == true)
        .await;
    let (_, sdp, _) = Peer::new(Direction::RecvOnly);
    let path = format!("/events/{event}/live/watch");
    let (status, body) = offer(&app, Some(&ada), &path, &sdp).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("removed you"), "{body}");
}

/// The status of `who`'s offer to send on the event's stage.
pub(crate) async fn try_publish(app: &TestApp, who: &Person, event: &str) -> u16 {
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    let path = format!("/events/{event}/live/publish");
    offer(app, Some(who), &path, &sdp).await.0
}

/// Fails unless `sender`'s audio reaches `receiver` within 10 s.
pub(crate) async fn flowing(sender: &mut Peer, receiver: &mut Peer) {
    let arrived = run(sender, receiver, Duration::from_secs(10), |p| {
        p.received >= 5
    })
    .await;
    assert!(arrived, "audio flows");
}

/// Runs the stage for a grace period (a decision travels through the database and the
/// bus), then for a while longer: how much arrived in that second while.
pub(crate) async fn heard_after_grace(speaker: &mut Peer, listener: &mut Peer) -> usize {
    run(speaker, listener, Duration::from_millis(300), |_| false).await;
    let before = listener.received;
    run(speaker, listener, Duration::from_millis(600), |_| false).await;
    listener.received - before
}

async fn speakers_are_heard_until_muted_or_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    let publish = format!("/events/{event}/live/publish");
    let mut room = app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    let mut ada_room = app.ws(&event, Some(&ada)).await;
    ada_room.greeting().await;
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    assert_eq!(offer(&app, Some(&ada), &publish, &sdp).await.0, 403);

    // Brought on stage, she is heard by the presenter.
    room.send("grant_speak", json!({ "user_id": ada.id })).await;
    room.until_with("participant", |p| p["can_speak"] == true)
        .await;
    let r = ada
        .client()
        .get(app.url(&format!("/events/{event}/live/media")))
        .send()
        .await
        .unwrap();
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(t["role"], "speaker", "{t}");
    assert_eq!(t["publish"], json!(publish));
    let (mut speaker, mut listener) = stage(&app, &event, &ada, &owner).await;
    assert!(
        run(&mut speaker, &mut listener, Duration::from_secs(10), |l| l
            .received
            >= 5)
        .await
    );

    // Muted: the SFU stops forwarding her audio, whatever her page keeps sending.
    room.send("mute", json!({ "user_id": ada.id })).await;
    room.until_with("participant", |p| p["muted"] == true).await;
    assert_eq!(heard_after_grace(&mut speaker, &mut listener).await, 0);
    room.send("unmute", json!({ "user_id": ada.id })).await;
    room.until_with("participant", |p| p["muted"] == false)
        .await;
    assert!(
        heard_after_grace(&mut speaker, &mut listener).await > 0,
        "heard again"
    );

    // Revoked: her sending connection ends, and a new one is refused.
    room.send("revoke_speak", json!({ "user_id": ada.id }))
        .await;
    room.until_with("participant", |p| p["can_speak"] == false)
        .await;
    assert_eq!(heard_after_grace(&mut speaker, &mut listener).await, 0);
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    assert_eq!(offer(&app, Some(&ada), &publish, &sdp).await.0, 403);
}

async fn a_stage_takes_twelve_people_sending(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let publish = format!("/events/{event}/live/publish");
    let mut people = vec![owner];
    for i in 0..12 {
        let p = app.person(&format!("Speaker {i}")).await;
        let mut tx = app.core.store.begin().await.unwrap();
        let can_speak = meetstage::store::live::StandingChange {
            can_speak: Some(true),
            ..Default::default()
        };
        tx.change_standing(&event, &p.id, can_speak, app.clock.now_ms())
            .await
            .unwrap();
        tx.commit(&Default::default()).await.unwrap();
        people.push(p);
    }
    for p in &people[..12] {
        let (_, sdp, _) = Peer::new(Direction::SendOnly);
        let (status, body) = offer(&app, Some(p), &publish, &sdp).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    let (status, body) = offer(&app, Some(&people[12]), &publish, &sdp).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("at most 12 people"), "{body}");
    // Someone already on stage may connect again (a reload): the new connection replaces the
    // old one without taking a second seat, so the stage stays full.
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    assert_eq!(offer(&app, Some(&people[0]), &publish, &sdp).await.0, 201);
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    assert_eq!(offer(&app, Some(&people[12]), &publish, &sdp).await.0, 409);
    let roster = app.core.media.roster(&event.parse().unwrap());
    assert_eq!(roster.seats.len(), 12);
    // Up to four connections a person, sending and watching together.
    let watch = format!("/events/{event}/live/watch");
    for _ in 0..3 {
        let (_, sdp, _) = Peer::new(Direction::RecvOnly);
        assert_eq!(offer(&app, Some(&people[1]), &watch, &sdp).await.0, 201);
    }
    let (_, sdp, _) = Peer::new(Direction::RecvOnly);
    let (status, body) = offer(&app, Some(&people[1]), &watch, &sdp).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("4 times already"), "{body}");
}

async fn a_presenter_is_heard_by_an_attendee(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    let publish = format!("/events/{event}/live/publish");
    let watch = format!("/events/{event}/live/watch");

    // Who may do what: an attendee does not send, a guest of a members event gets nothing,
    // an offer that is not SDP is refused with a reason.
    let (_, attempt, _) = Peer::new(Direction::SendOnly);
    assert_eq!(offer(&app, Some(&ada), &publish, &attempt).await.0, 403);
    let (_, attempt, _) = Peer::new(Direction::RecvOnly);
    assert_eq!(offer(&app, None, &watch, &attempt).await.0, 401);
    let (status, body) = offer(&app, Some(&owner), &publish, "hello").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("not a session description"), "{body}");

    // Each page learns how it joins: the provider, its role, where to send its offers.
    let ticket = |who: &Person| {
        let (app, event, client) = (&app, &event, who.client());
        async move {
            let r = client
                .get(app.url(&format!("/events/{event}/live/media")))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, t) = ticket(&owner).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["provider"], "embedded");
    assert_eq!(t["role"], "presenter");
    assert_eq!(t["publish"], json!(publish));
    let (_, t) = ticket(&ada).await;
    assert_eq!(t["role"], "subscriber");
    assert_eq!(t["publish"], serde_json::Value::Null);
    assert_eq!(t["watch"], json!(watch));

    let (mut presenter, mut attendee) = stage(&app, &event, &owner, &ada).await;
    assert!(
        run(
            &mut presenter,
            &mut attendee,
            Duration::from_secs(10),
            |a| a.received >= 10
        )
        .await,
        "audio did not arrive: connected {} / {}, sent {}, received {}",
        presenter.connected,
        attendee.connected,
        presenter.sent,
        attendee.received
    );
    // The end releases the stage: nothing more arrives, and there is nothing to join.
    let r = app
        .api(
            &owner.client(),
            reqwest::Method::POST,
            &format!("/api/v1/events/{event}/end"),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(heard_after_grace(&mut presenter, &mut attendee).await, 0);
    let (_, sdp, _) = Peer::new(Direction::RecvOnly);
    assert_eq!(offer(&app, Some(&ada), &watch, &sdp).await.0, 409);
}

/// Posts an offer as a WHIP client (OBS) with `key`; the status, the `Location` and the body.
async fn whip(app: &TestApp, event: &str, key: Option<&str>, sdp: &str) -> (u16, String, String) {
    let mut req = reqwest::Client::new()
        .post(app.url(&format!("/events/{event}/live/whip")))
        .header("content-type", "application/sdp")
        .body(sdp.to_string());
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let r = req.send().await.unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), location, r.text().await.unwrap())
}

/// A presenter's stream key: made on the dashboard, shown once.
async fn stream_key(app: &TestApp, event: &str, who: &Person) -> (u16, serde_json::Value) {
    let client = who.client();
    let csrf = app.csrf(&client).await;
    let r = client
        .post(app.url(&format!("/events/{event}/live/stream-key")))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

async fn obs_sends_with_a_presenters_stream_key(backend: Backend) {
    const TOKEN: &str = "media-metrics-token-123";
    let app = TestApp::spawn_with(backend, |o| {
        o.metrics_token = Some(meetstage::config::Secret::new(TOKEN));
    })
    .await;
    let (owner, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;

    // Only presenters get a key; it names this event's WHIP endpoint.
    assert_eq!(stream_key(&app, &event, &ada).await.0, 403);
    let (status, made) = stream_key(&app, &event, &owner).await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_string();
    assert!(
        made["server"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/events/{event}/live/whip"))
    );

    // Without a key, or with a wrong one, nothing is sent.
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    assert_eq!(whip(&app, &event, None, &sdp).await.0, 401);
    assert_eq!(whip(&app, &event, Some("not-the-key"), &sdp).await.0, 401);
    assert_eq!(
        whip(&app, &event, Some(&"k".repeat(5000)), &sdp).await.0,
        401
    );

    // With the key, OBS is on stage as the presenter and an attendee hears it.
    let (mut obs, sdp, pending) = Peer::new(Direction::SendOnly);
    let (status, location, answer) = whip(&app, &event, Some(&key), &sdp).await;
    assert_eq!(status, 201, "{answer}");
    assert!(
        location.starts_with(&format!("/events/{event}/live/whip/")),
        "{location}"
    );
    obs.accept(&answer, pending);
    let mut attendee = joined(&app, &event, &ada, "watch", Direction::RecvOnly, 1).await;
    assert!(
        run(&mut obs, &mut attendee, Duration::from_secs(10), |a| a
            .received
            >= 5)
        .await
    );
    let roster = app.core.media.roster(&event.parse().unwrap());
    assert_eq!(roster.seats.len(), 1);
    assert_eq!(roster.seats[0].user_id.as_str(), owner.id);
    // Operators see the media server's connections (one gauge per process: other tests'
    // servers set it too, so only its presence is certain here).
    let metrics = app.metrics(TOKEN).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("meetstage_media_connections ")),
        "{metrics}"
    );

    // OBS stops: its DELETE ends the connection (with the key; not with another).
    let http = reqwest::Client::new();
    let r = http.delete(app.url(&location)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .delete(app.url(&location))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !app
        .core
        .media
        .roster(&event.parse().unwrap())
        .seats
        .is_empty()
    {
        assert!(Instant::now() < deadline, "OBS kept its seat");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A new key replaces the old one.
    let (_, again) = stream_key(&app, &event, &owner).await;
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    assert_eq!(whip(&app, &event, Some(&key), &sdp).await.0, 401);
    let fresh = again["key"].as_str().unwrap();
    assert_eq!(whip(&app, &event, Some(fresh), &sdp).await.0, 201);
}

/// Presenters rehearse in the green room: they hear each other, and attendees get nothing
/// yet. A co-presenter's stream key stops with their role.
async fn presenters_rehearse_in_the_green_room(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.staging_event("members").await;
    let ada = app.person("Ada").await;
    let bob = app.person("Bob").await;
    crate::decisions::name_co_presenter(&app, &owner, &event, &ada).await;

    let (mut owner_sends, mut ada_hears) = stage(&app, &event, &owner, &ada).await;
    assert!(
        run(
            &mut owner_sends,
            &mut ada_hears,
            Duration::from_secs(10),
            |a| a.received >= 5
        )
        .await
    );
    // Ada sits in the second seat: the owner hears her on their second audio track.
    let mut ada_sends = joined(&app, &event, &ada, "publish", Direction::SendOnly, 1).await;
    let mut owner_hears = joined(&app, &event, &owner, "watch", Direction::RecvOnly, 2).await;
    assert!(
        run(
            &mut ada_sends,
            &mut owner_hears,
            Duration::from_secs(10),
            |a| a.received >= 5
        )
        .await
    );
    let roster = app.core.media.roster(&event.parse().unwrap());
    assert_eq!(roster.seats.len(), 2, "{roster:?}");

    // An attendee sees nothing of it, and cannot claim the stage's screen.
    let (_, sdp, _) = Peer::new(Direction::RecvOnly);
    let (status, body) = offer(
        &app,
        Some(&bob),
        &format!("/events/{event}/live/watch"),
        &sdp,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let mut bob_room = app.ws(&event, Some(&bob)).await;
    bob_room.greeting().await;
    bob_room.send("share_screen", json!({ "open": true })).await;
    assert_eq!(bob_room.error().await, "not_live");
    // A presenter on stage shares, and the room tells everyone whose screen it shows.
    let mut owner_room = app.ws(&event, Some(&owner)).await;
    owner_room.greeting().await;
    owner_room
        .send("share_screen", json!({ "open": true }))
        .await;
    owner_room
        .until_with("stage", |s| s["screen"] == json!(owner.id))
        .await;

    // Ada's key stops when she stops presenting.
    let (status, made) = stream_key(&app, &event, &ada).await;
    assert_eq!(status, 201, "{made}");
    let r = app
        .form(
            &owner.client(),
            &format!("/events/{event}/presenters/remove"),
            &[("user_id", &ada.id)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "removed a co-presenter");
    let (_, sdp, _) = Peer::new(Direction::SendOnly);
    assert_eq!(whip(&app, &event, made["key"].as_str(), &sdp).await.0, 401);
}

/// Guests watching a public event are counted per address: a script cannot fill the media
/// server from one address, and the one refused is told why.
async fn guests_from_one_address_are_capped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_owner, event) = app.live_event("public").await;
    let watch = format!("/events/{event}/live/watch");
    let cap = meetstage::media::embedded::MAX_GUESTS_PER_ADDRESS;
    let mut kept = Vec::new();
    for _ in 0..cap {
        let (peer, sdp, _) = Peer::new(Direction::RecvOnly);
        let (status, body) = offer(&app, None, &watch, &sdp).await;
        assert_eq!(status, 201, "{body}");
        kept.push(peer);
    }
    let (_, sdp, _) = Peer::new(Direction::RecvOnly);
    let (status, body) = offer(&app, None, &watch, &sdp).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("sign in to watch"), "{body}");
    // Signed-in people are counted as themselves.
    let ada = app.person("Ada").await;
    let (_, sdp, _) = Peer::new(Direction::RecvOnly);
    assert_eq!(offer(&app, Some(&ada), &watch, &sdp).await.0, 201);
}

/// An operator's limit on media connections (`MEETSTAGE_MEDIA_MAX_CONNECTIONS`): past it a
/// newcomer is told the media server is full instead of everyone losing frames, and a place
/// that frees up is taken again.
async fn the_media_server_refuses_connections_past_its_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |o| o.media_max_connections = Some(2)).await;
    let (_owner, event) = app.live_event("public").await;
    let watch = format!("/events/{event}/live/watch");
    let (ada, ben, cy) = (
        app.person("Ada").await,
        app.person("Ben").await,
        app.person("Cy").await,
    );
    // Ada's page keeps where its connection can be hung up (as media.js does).
    let (_first, sdp, _) = Peer::new(Direction::RecvOnly);
    let client = ada.client();
    let csrf = app.csrf(&client).await;
    let r = client
        .post(app.url(&watch))
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/sdp")
        .body(sdp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let hang_up = r.headers()["location"].to_str().unwrap().to_string();
    let _second = joined(&app, &event, &ben, "watch", Direction::RecvOnly, 1).await;
    let media = &app.core.media;
    let carried = |n: usize| async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        while media.connections() != n {
            assert!(
                Instant::now() < deadline,
                "the media server carries {} connections, not {n}",
                media.connections()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    carried(2).await;
    let (_, sdp, _) = Peer::new(Direction::RecvOnly);
    let (status, body) = offer(&app, Some(&cy), &watch, &sdp).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("the media server is full"), "{body}");
    // Ada closes her tab (the page hangs up): Cy gets on.
    let r = client
        .delete(app.url(&hang_up))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    carried(1).await;
    let (_, sdp, _) = Peer::new(Direction::RecvOnly);
    let (status, body) = offer(&app, Some(&cy), &watch, &sdp).await;
    assert_eq!(status, 201, "{body}");
}

both!(
    the_media_server_refuses_connections_past_its_limit,
    the_stage_is_recorded_while_live,
    recording_is_switched_off_before_going_live,
    guests_from_one_address_are_capped,
    presenters_rehearse_in_the_green_room,
    obs_sends_with_a_presenters_stream_key,
    a_presenter_is_heard_by_an_attendee,
    a_stage_takes_twelve_people_sending,
    speakers_are_heard_until_muted_or_revoked,
    kicked_and_banned_people_lose_their_media
);

/// A recording part's timeline once its writer has closed it (or after 10 s, as it is then).
pub(crate) async fn stopped_timeline(part: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = std::fs::read_to_string(part.join("timeline.jsonl")).unwrap_or_default();
        if t.contains("\"stopped\"") || Instant::now() > deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The organizer presses a lifecycle button (`go-live`, `end`) on the event page.
async fn step(app: &TestApp, owner: &Person, event: &str, what: &str) {
    let r = app
        .form(&owner.client(), &format!("/events/{event}/{what}"), &[])
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER, "{what}");
}

/// Going live starts the recording: what a presenter sends is written as it arrives (Opus into
/// Ogg, no transcoding), with a timeline beside it, and the end closes the files; ffprobe
/// reads the audio's duration. Before going live nothing is recorded.
async fn the_stage_is_recorded_while_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.staging_event("members").await;
    let recordings = app.core.config.data_dir.join("recordings").join(&event);
    let ada = app.person("Ada").await;
    // A rehearsal in the green room is not recorded.
    let mut rehearsal = joined(&app, &event, &owner, "publish", Direction::SendOnly, 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rehearsal.connected && Instant::now() < deadline {
        rehearsal.pump();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..10 {
        rehearsal.send_audio(n);
        rehearsal.pump();
    }
    drop(rehearsal);
    step(&app, &owner, &event, "go-live").await;

    let (mut presenter, mut attendee) = stage(&app, &event, &owner, &ada).await;
    assert!(
        run(
            &mut presenter,
            &mut attendee,
            Duration::from_secs(15),
            |a| a.received >= 150
        )
        .await,
        "audio did not arrive"
    );
    let sent = presenter.sent;
    drop((presenter, attendee));
    // The presenter reconnects (a reload): a new file, since the new connection's clock
    // starts afresh.
    let (mut presenter, mut attendee) = stage(&app, &event, &owner, &ada).await;
    assert!(
        run(
            &mut presenter,
            &mut attendee,
            Duration::from_secs(15),
            |a| a.received >= 20
        )
        .await,
        "audio did not arrive after the reload"
    );
    drop((presenter, attendee));

    // A restart mid-event keeps what was written; the presenter's return resumes the
    // recording in a second part.
    let mut app = app;
    app.restart().await;
    let (mut presenter, mut attendee) = stage(&app, &event, &owner, &ada).await;
    assert!(
        run(
            &mut presenter,
            &mut attendee,
            Duration::from_secs(15),
            |a| a.received >= 20
        )
        .await,
        "audio did not arrive after the restart"
    );
    step(&app, &owner, &event, "end").await;

    // Two parts, in order; the first's timeline names the presenter's microphone track.
    let mut parts: Vec<_> = std::fs::read_dir(&recordings)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    parts.sort();
    assert_eq!(parts.len(), 2, "{parts:?}");
    let part = &parts[0];
    // The end closes the running part; the one cut off by the restart keeps what it had.
    let second = stopped_timeline(&parts[1]).await;
    assert!(
        second.contains("\"track\":\"mic\"") && second.contains("\"stopped\""),
        "{second}"
    );
    let timeline = std::fs::read_to_string(part.join("timeline.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = timeline
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mics: Vec<_> = lines.iter().filter(|l| l["track"] == "mic").collect();
    assert_eq!(mics.len(), 2, "one file per connection: {timeline}");
    assert_ne!(mics[0]["file"], mics[1]["file"]);
    let track = mics[0];
    assert_eq!(track["user"], owner.id.as_str());
    let file = part.join(track["file"].as_str().unwrap());
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
        ])
        .args(["-of", "json"])
        .arg(&file)
        .output()
        .expect("ffprobe (scripts/test installs ffmpeg)");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert_eq!(info["streams"][0]["codec_name"], "opus", "{info}");
    let seconds: f64 = info["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Every frame sent is 20 ms; a few at the very start may precede the stage's seat.
    let expected = sent as f64 * 0.02;
    assert!(
        seconds > expected - 0.5 && seconds <= expected + 0.05,
        "{seconds} s recorded of {expected} s sent"
    );
}

/// The organizer may switch recording off before going live, not after; a room shows whether
/// it is being recorded.
async fn recording_is_switched_off_before_going_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.staging_event("members").await;
    let ada = app.person("Ada").await;
    let switch = format!("/events/{event}/recording");
    let page = format!("/events/{event}");
    let (_, html) = app.text(&owner.client(), &page).await;
    assert!(
        html.contains("Recorded from the moment it goes live."),
        "{html}"
    );
    let r = app.form(&ada.client(), &switch, &[("record", "off")]).await;
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
    let r = app
        .form(&owner.client(), &switch, &[("record", "maybe")])
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .form(&owner.client(), &switch, &[("record", "off")])
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, html) = app.text(&owner.client(), &page).await;
    assert!(
        html.contains("Not recorded.") && html.contains(">Record this event<"),
        "{html}"
    );
    step(&app, &owner, &event, "go-live").await;
    let mut room = app.ws(&event, Some(&ada)).await;
    let (snap, _) = room.greeting().await;
    assert_eq!(snap["clock"]["recording"], false, "{snap}");
    // Too late to change once live.
    let (status, body) = {
        let r = app
            .form(&owner.client(), &switch, &[("record", "on")])
            .await;
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, reqwest::StatusCode::CONFLICT);
    assert!(body.contains("before the event goes live"), "{body}");

    // Media flows, and nothing is written.
    let (mut presenter, mut attendee) = stage(&app, &event, &owner, &ada).await;
    assert!(
        run(
            &mut presenter,
            &mut attendee,
            Duration::from_secs(15),
            |a| a.received >= 20
        )
        .await
    );
    step(&app, &owner, &event, "end").await;
    let dir = app.core.config.data_dir.join("recordings").join(&event);
    assert!(!dir.exists(), "{dir:?} was written");

    // An event left as it was is recorded, and its room says so.
    let (_, recorded) = app.live_event("members").await;
    let mut room = app.ws(&recorded, Some(&ada)).await;
    let (snap, _) = room.greeting().await;
    assert_eq!(snap["clock"]["recording"], true, "{snap}");
}
