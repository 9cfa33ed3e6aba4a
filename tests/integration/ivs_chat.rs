//! The IVS Chat provider: meetstage configured for `chat_provider = ivs` calls aws-sdk-ivschat
//! against a local fake of the IVS Chat HTTP API, and pages receive the room's group chat
//! from a local fake of IVS Chat's messaging WebSocket, which the fake API feeds as IVS would
//! (SendEvent and DeleteMessage reach every connection; DisconnectUser closes a person's).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use fantoccini::Locator;
use futures_util::{SinkExt, StreamExt};
use meetstage::features::events;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{
    Message,
    handshake::server::{Request, Response as WsResponse},
};

use crate::{
    both,
    browser::{Driver, assert_no_console_errors, click, fill},
    browser_media::until,
    browser_room::{two_pages, wait_text},
    helpers::{Backend, TestApp, assert_signed, serve_fake},
    ivs::ops,
    room_client::Person,
};

both!(
    group_chat_is_delivered_by_ivs_chat_and_moderated_there,
    a_room_that_could_not_be_recorded_is_deleted_at_once
);

const ROOM: &str = "arn:aws:ivschat:eu-west-1:123456789012:room/rm1";

#[derive(Default)]
struct State {
    calls: Vec<(String, Value)>,
    tokens: HashMap<String, String>,
    /// Open messaging connections: (user id, where to send).
    sockets: Vec<(String, mpsc::UnboundedSender<Message>)>,
    /// The ids SendEvent answered with, in order (IVS's are 12 letters and digits).
    issued: Vec<String>,
}

/// The state, and whether new messaging connections are held before they open (as a slow
/// network would).
#[derive(Clone)]
pub struct FakeChat(Arc<Mutex<State>>, Arc<watch::Sender<bool>>);

impl FakeChat {
    /// The API's endpoint (with credentials) and the messaging WebSocket's URL.
    pub async fn start() -> (FakeChat, String, String) {
        let fake = FakeChat(Arc::default(), Arc::new(watch::Sender::new(false)));
        let f = fake.clone();
        let api = Router::new().fallback(move |u: Uri, h: HeaderMap, b: Bytes| {
            let f = f.clone();
            async move { f.answer(u, h, b) }
        });
        let port = serve_fake(api).await;
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_port = ws.local_addr().unwrap().port();
        let f = fake.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = ws.accept().await {
                tokio::spawn(f.clone().messaging(tcp));
            }
        });
        (
            fake,
            format!("http://AKIDCHATTEST:chat-test-secret@127.0.0.1:{port}"),
            format!("ws://127.0.0.1:{ws_port}"),
        )
    }

    /// One page's connection: the token comes as the subprotocol, as with IVS.
    // tungstenite's handshake callback returns its own (large) error type.
    #[allow(clippy::result_large_err)]
    async fn messaging(self, tcp: tokio::net::TcpStream) {
        let _ = self.1.subscribe().wait_for(|held| !held).await;
        let mut user = None;
        let state = self.0.clone();
        let ws = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, mut resp: WsResponse| {
            let token = req
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            user = state.lock().unwrap().tokens.get(&token).cloned();
            resp.headers_mut()
                .insert("sec-websocket-protocol", token.parse().unwrap());
            Ok(resp)
        })
        .await;
        let (Ok(ws), Some(user)) = (ws, user) else {
            return;
        };
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.0.lock().unwrap().sockets.push((user, tx));
        tokio::spawn(async move { while stream.next().await.is_some() {} });
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
    }

    /// Sends an event to every connection; returns its id.
    fn broadcast(s: &mut State, name: &str, attributes: &Value) -> String {
        let id = format!("ev{:010}", s.issued.len());
        s.issued.push(id.clone());
        let event = json!({
            "Type": "EVENT", "Id": id, "RequestId": "",
            "EventName": name, "Attributes": attributes, "SendTime": "2030-01-15T12:00:00Z",
        });
        s.sockets
            .retain(|(_, tx)| tx.send(Message::text(event.to_string())).is_ok());
        id
    }

    fn answer(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let op = uri.path().trim_start_matches('/').to_string();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_signed(&headers, "AKIDCHATTEST", "eu-west-1", "ivschat");
        let mut s = self.0.lock().unwrap();
        s.calls.push((op.clone(), body.clone()));
        let out = match op.as_str() {
            "CreateRoom" => json!({ "arn": ROOM, "id": "rm1", "name": body["name"] }),
            "CreateChatToken" => {
                let token = format!("tok-{}", uuid::Uuid::now_v7().simple());
                let user = body["userId"].as_str().unwrap().to_string();
                s.tokens.insert(token.clone(), user);
                json!({ "token": token, "sessionExpirationTime": "2030-01-15T15:00:00Z",
                        "tokenExpirationTime": "2030-01-15T13:00:00Z" })
            }
            "SendEvent" => {
                let id = FakeChat::broadcast(
                    &mut s,
                    body["eventName"].as_str().unwrap(),
                    &body["attributes"],
                );
                json!({ "id": id })
            }
            "DeleteMessage" => {
                // IVS takes only an id it issued: 12 letters and digits.
                let id = body["id"].as_str().unwrap_or_default().to_string();
                if !s.issued.contains(&id) {
                    return (
                        StatusCode::BAD_REQUEST,
                        [("x-amzn-ErrorType", "ValidationException")],
                        Json(json!({ "message": format!("no message {id}") })),
                    )
                        .into_response();
                }
                let attributes =
                    json!({ "MessageId": id, "MessageID": id, "Reason": body["reason"] });
                let event = FakeChat::broadcast(&mut s, "aws:DELETE_MESSAGE", &attributes);
                json!({ "id": event })
            }
            "DisconnectUser" => {
                let user = body["userId"].as_str().unwrap().to_string();
                s.sockets.retain(|(u, tx)| {
                    if *u == user {
                        let _ = tx.send(Message::Close(None));
                        false
                    } else {
                        true
                    }
                });
                json!({})
            }
            "DeleteRoom" => json!({}),
            other => panic!("the fake does not know {other}"),
        };
        Json(out).into_response()
    }

    pub fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.0.lock().unwrap().calls)
    }

    /// Waits until the relay has made `n` more calls (it runs after the commit, in order).
    /// The SendEvent calls of the next relayed message, once all its parts arrived.
    async fn next_message(&self) -> Vec<(String, Value)> {
        let parts = |calls: &[(String, Value)]| {
            calls.first().map_or(usize::MAX, |(_, b)| {
                b["attributes"]["parts"].as_str().unwrap().parse().unwrap()
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let n = {
                let state = self.0.lock().unwrap();
                (state.calls.len() >= parts(&state.calls)).then_some(state.calls.len())
            };
            if n.is_some() {
                return self.take();
            }
            assert!(Instant::now() < deadline, "a whole message within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn next_calls(&self, n: usize) -> Vec<(String, Value)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.0.lock().unwrap().calls.len() >= n {
                return self.take();
            }
            assert!(
                Instant::now() < deadline,
                "{:?}",
                self.0.lock().unwrap().calls
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn start(b: Backend) -> (TestApp, FakeChat, String) {
    let (fake, api, messaging) = FakeChat::start().await;
    let app = TestApp::spawn_with(b, |o| {
        o.chat_provider = Some("ivs".into());
        o.ivs_chat_region = Some("eu-west-1".into());
        o.ivs_chat_endpoint_url = Some(api.parse().unwrap());
        o.ivs_chat_messaging_url = Some(messaging.parse().unwrap());
    })
    .await;
    (app, fake, messaging)
}

async fn chat_ticket(app: &TestApp, who: &Person, event: &str) -> (u16, Value) {
    let r = who
        .client()
        .get(app.url(&format!("/events/{event}/live/chat")))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The message a relay's SendEvent calls carry, put back together.
fn message(calls: &[(String, Value)]) -> Value {
    let mut parts: Vec<(usize, String)> = calls
        .iter()
        .map(|(op, b)| {
            assert_eq!(op, "SendEvent");
            assert_eq!(b["roomIdentifier"], ROOM);
            assert_eq!(b["eventName"], "meetstage:message");
            assert_eq!(b["attributes"]["parts"], json!(calls.len().to_string()));
            // As IVS receives them: JSON, every quote and backslash escaped.
            let size = serde_json::to_string(&b["attributes"]).unwrap().len();
            assert!(size <= 1024, "IVS takes 1 KB of attributes, not {size}");
            (
                b["attributes"]["part"].as_str().unwrap().parse().unwrap(),
                b["attributes"]["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    parts.sort();
    serde_json::from_str(&parts.into_iter().map(|(_, p)| p).collect::<String>()).unwrap()
}

/// The id IVS gave a relayed message, once the relay has kept it.
async fn relay_id_of(app: &TestApp, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = app.core.store.chat_message(id).await.unwrap().unwrap();
        if let Some(r) = row.relay_id {
            return r;
        }
        assert!(Instant::now() < deadline, "{id} was never relayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn group_chat_is_delivered_by_ivs_chat_and_moderated_there(b: Backend) {
    let (app, fake, messaging) = start(b).await;
    let (owner, event) = app.staging_event("members").await;

    // The green room opens the event's chat room.
    app.run_jobs().await;
    assert_eq!(
        fake.take(),
        vec![(
            "CreateRoom".to_string(),
            json!({ "name": format!("meetstage-{event}"), "tags": { "meetstage:event": event } })
        )]
    );

    // Each page gets a receive-only token (no capabilities: sending goes through meetstage).
    let ada = app.person("Ada").await;
    let bob = app.person("Bob").await;
    let (status, t) = chat_ticket(&app, &ada, &event).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["provider"], "ivs");
    assert_eq!(t["endpoint"], json!(format!("{messaging}/")));
    assert!(t["token"].as_str().unwrap().starts_with("tok-"));
    assert_eq!(t["expires_at"], json!(1_894_719_600_000_i64));
    let (_, t) = chat_ticket(&app, &owner, &event).await;
    assert_eq!(t["provider"], "ivs");
    assert_eq!(
        fake.take(),
        vec![
            (
                "CreateChatToken".to_string(),
                json!({ "roomIdentifier": ROOM, "userId": ada.id,
                        "attributes": { "role": "attendee" }, "sessionDurationInMinutes": 180 })
            ),
            (
                "CreateChatToken".to_string(),
                json!({ "roomIdentifier": ROOM, "userId": owner.id,
                        "attributes": { "role": "presenter" }, "sessionDurationInMinutes": 180 })
            ),
        ]
    );

    // Going live says so in the chat: a system notice, relayed like any message.
    let session = app.session_of(&owner.id).await;
    let id = event.parse().unwrap();
    events::transition(&app.core, &session, &id, events::Transition::GoLive)
        .await
        .unwrap();
    let notice = message(&fake.next_calls(1).await);
    assert_eq!(notice["kind"], "system");
    assert_eq!(notice["text"], "The event is live.");
    app.run_jobs().await;
    let mut room = app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    let mut ada_ws = app.ws(&event, Some(&ada)).await;
    ada_ws.greeting().await;
    let mut bob_ws = app.ws(&event, Some(&bob)).await;
    bob_ws.greeting().await;
    fake.take();

    // A message passes the room's rules, is kept, and is relayed to IVS; the room socket no
    // longer carries group chat.
    bob_ws.settle().await;
    let mut early = app.ws(&event, Some(&owner)).await;
    early.greeting().await;
    ada_ws.send("chat", json!({ "text": "Hello all" })).await;
    let hello = message(&fake.next_calls(1).await);
    assert_eq!(hello["kind"], "group");
    assert_eq!(hello["author"], "Ada");
    assert_eq!(hello["author_id"], json!(ada.id));
    assert_eq!(hello["author_role"], "attendee");
    assert_eq!(hello["text"], "Hello all");
    let seen = bob_ws.settle().await;
    assert!(
        !seen.iter().any(|m| m["type"] == "chat"),
        "group chat comes from IVS, not the socket: {seen:?}"
    );
    let history = app
        .core
        .store
        .chat_message(hello["id"].as_str().unwrap())
        .await
        .unwrap();
    assert!(history.is_some(), "the history stays in our database");

    // A long message in a script of many bytes goes in parts, each within IVS's 1 KB.
    let long = "Köln 😀😀😀 ".repeat(40);
    ada_ws.send("chat", json!({ "text": long })).await;
    let calls = fake.next_calls(2).await;
    assert!(calls.len() >= 2, "{calls:?}");
    assert_eq!(message(&calls)["text"], json!(long.trim()));
    // The longest message, all characters that JSON escapes, stays within 1 KB too.
    let escapes: String = "\"\\".chars().cycle().take(500).collect();
    ada_ws.send("chat", json!({ "text": escapes })).await;
    let calls = fake.next_message().await;
    assert_eq!(message(&calls)["text"], json!(escapes));

    // IVS's id for the message (SendEvent's answer) is kept, and snapshots carry it, so a
    // page that loaded the message from a snapshot knows which one IVS deletes. (The room
    // socket published nothing since `early` joined: the snapshot is still a fresh one.)
    let relay_id = relay_id_of(&app, hello["id"].as_str().unwrap()).await;
    assert!(fake.0.lock().unwrap().issued.contains(&relay_id));
    let mut late = app.ws(&event, Some(&owner)).await;
    let (snapshot, _) = late.greeting().await;
    let shown = snapshot["chat"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == hello["id"])
        .cloned();
    assert_eq!(
        shown.expect("a fresh snapshot")["relay_id"],
        json!(relay_id)
    );

    // Deleted by a presenter: IVS tells every page to drop it, by IVS's id for it.
    room.send("delete_message", json!({ "message_id": hello["id"] }))
        .await;
    assert_eq!(
        fake.next_calls(1).await,
        vec![(
            "DeleteMessage".to_string(),
            json!({ "roomIdentifier": ROOM, "id": relay_id, "reason": "deleted by a presenter" })
        )]
    );

    // Restricted: refused exactly as with the built-in chat, and nothing reaches IVS.
    room.send(
        "restrict",
        json!({ "user_id": ada.id, "chat": true, "questions": false }),
    )
    .await;
    ada_ws.until("participant").await;
    ada_ws.send("chat", json!({ "text": "let me talk" })).await;
    assert_eq!(ada_ws.error().await, "restricted");

    // Kicked: her chat connection ends on IVS too. Banned: no chat token.
    room.send("kick", json!({ "user_id": bob.id })).await;
    bob_ws.closed().await;
    app.run_jobs().await;
    let calls = fake.take();
    assert!(
        !calls
            .iter()
            .any(|(_, b)| b.to_string().contains("let me talk")),
        "a refused message never reaches IVS: {calls:?}"
    );
    assert_eq!(
        calls
            .iter()
            .filter(|(op, _)| op != "SendEvent")
            .cloned()
            .collect::<Vec<_>>(),
        vec![(
            "DisconnectUser".to_string(),
            json!({ "roomIdentifier": ROOM, "userId": bob.id, "reason": "removed by a presenter" })
        )],
        "only the kick's system notice is relayed besides: {calls:?}"
    );
    room.send("ban", json!({ "user_id": ada.id, "reason": "" }))
        .await;
    ada_ws.closed().await;
    assert_eq!(chat_ticket(&app, &ada, &event).await.0, 403);

    // An admin disables an account: its IVS chat connections end too.
    let cy = app.person("Cy").await;
    let mut cy_ws = app.ws(&event, Some(&cy)).await;
    cy_ws.greeting().await;
    app.run_jobs().await;
    fake.take();
    let ann = crate::decisions::admin(&app, "Ann").await;
    crate::decisions::admin_acts(&app, &ann, &cy.id, "disable", json!({})).await;
    assert_eq!(u16::from(cy_ws.closed().await.unwrap().code), 4004);
    app.run_jobs().await;
    assert_eq!(
        fake.take(),
        vec![(
            "DisconnectUser".to_string(),
            json!({ "roomIdentifier": ROOM, "userId": cy.id, "reason": "account closed" })
        )]
    );

    // The end deletes the room.
    events::transition(&app.core, &session, &id, events::Transition::End)
        .await
        .unwrap();
    app.run_jobs().await;
    let calls = fake.take();
    assert!(
        calls.contains(&("DeleteRoom".to_string(), json!({ "identifier": ROOM }))),
        "{calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|(op, _)| op == "DeleteMessage" || op == "CreateRoom"),
        "{calls:?}"
    );
}

/// In Chromium: pages receive group chat from the IVS Chat connection and render it, long
/// messages whole, deletions applied (to messages received from IVS and to those loaded from
/// a snapshot), and a kicked person's chat connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_the_chat_ivs_delivers() {
    let (app, fake, _) = start(Backend::Sqlite).await;
    let (owner, event) = app.live_event("members").await;
    app.run_jobs().await;
    fake.take();
    let ada = app.person("Ada").await;
    let driver = Driver::start().await;
    let (presenter, attendee, _profiles) =
        two_pages(&app, &driver, false, (&owner, &ada), &event).await;
    for page in [&presenter, &attendee] {
        until(
            page,
            "the IVS chat connection",
            Duration::from_secs(10),
            "return document.getElementById('room').dataset.chat === 'ivs';",
        )
        .await;
    }

    fill(&attendee, "chat-text", "Greetings through IVS").await;
    click(&attendee, Locator::Css("#chat-form button[type=submit]")).await;
    wait_text(&presenter, "#chat-log", "Greetings through IVS").await;
    wait_text(&attendee, "#chat-log", "Greetings through IVS").await;
    let long = "Köln 😀😀😀 ".repeat(40);
    fill(&attendee, "chat-text", &long).await;
    click(&attendee, Locator::Css("#chat-form button[type=submit]")).await;
    wait_text(&presenter, "#chat-log", long.trim()).await;
    // The attendee reloads: now she has the messages from a snapshot, not from IVS.
    attendee.refresh().await.unwrap();
    until(
        &attendee,
        "the IVS chat connection after a reload",
        Duration::from_secs(10),
        "return document.getElementById('room').dataset.chat === 'ivs';",
    )
    .await;
    wait_text(&attendee, "#chat-log", "Greetings through IVS").await;

    // A message IVS carries while a page's chat connection is still opening is not lost:
    // the page has a snapshot from before it, and asks for a fresh one once connected.
    fake.1.send_replace(true);
    attendee.refresh().await.unwrap();
    until(
        &attendee,
        "the room drawn, its chat connection held",
        Duration::from_secs(10),
        "const r = document.getElementById('room'); return r.dataset.ready === 'true' && r.dataset.chat !== 'ivs';",
    )
    .await;
    let mut room = app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    room.send("chat", json!({ "text": "Sent in the gap" }))
        .await;
    wait_text(&presenter, "#chat-log", "Sent in the gap").await;
    fake.1.send_replace(false);
    wait_text(&attendee, "#chat-log", "Sent in the gap").await;

    // The presenter deletes the first: gone from both pages.
    let calls: Vec<_> = fake
        .take()
        .into_iter()
        .filter(|(op, _)| op == "SendEvent")
        .collect();
    let first = message(&calls[..1]);
    room.send("delete_message", json!({ "message_id": first["id"] }))
        .await;
    for page in [&presenter, &attendee] {
        until(
            page,
            "the deletion",
            Duration::from_secs(10),
            "return !document.getElementById('chat-log').textContent.includes('Greetings through IVS');",
        )
        .await;
    }

    // Kicked: the room and the chat connection close.
    room.send("kick", json!({ "user_id": ada.id })).await;
    app.run_jobs().await;
    until(
        &attendee,
        "the chat connection closing",
        Duration::from_secs(10),
        "return document.getElementById('room').dataset.chat === '';",
    )
    .await;
    assert_no_console_errors(&presenter, "the presenter's room with IVS chat").await;
    presenter.close().await.unwrap();
    attendee.close().await.unwrap();
}

/// CreateRoom succeeded but the database refused the room's row: the room is deleted at once
/// (nothing else would), and the job's retry makes the one that is kept.
async fn a_room_that_could_not_be_recorded_is_deleted_at_once(b: Backend) {
    let (app, fake, _) = start(b).await;
    app.refuse_inserts("chat_rooms").await;
    let (_, event) = app.staging_event("members").await;
    app.run_jobs().await;
    assert_eq!(
        fake.take(),
        vec![
            (
                "CreateRoom".to_string(),
                json!({ "name": format!("meetstage-{event}"), "tags": { "meetstage:event": event } })
            ),
            ("DeleteRoom".to_string(), json!({ "identifier": ROOM })),
        ]
    );
    assert!(app.core.store.chat_room(&event).await.unwrap().is_none());

    app.allow_inserts("chat_rooms").await;
    app.clock.advance(chrono::Duration::minutes(10));
    app.run_jobs().await;
    assert_eq!(ops(&fake.take()), ["CreateRoom"]);
    assert_eq!(
        app.core.store.chat_room(&event).await.unwrap().as_deref(),
        Some(ROOM)
    );
}
