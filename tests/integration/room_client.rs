//! A live-room WebSocket client for tests: a real client library (tungstenite, not the
//! server's own framing) with a session cookie, as a browser page would connect.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use meetstage::features::{
    accounts,
    events::{self, EventInput},
};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, protocol::CloseFrame},
};

use crate::helpers::TestApp;

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The last stream number seen.
    pub seq: u64,
}

/// Someone with a session: their user id and the cookie their browser would send.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: String,
    pub cookie: String,
}

impl Person {
    /// An HTTP client that sends this person's session cookie.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("cookie", self.cookie.parse().unwrap());
        reqwest::Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }
}

impl TestApp {
    /// A confirmed member (made in the store, no password hashing) and a session cookie.
    pub async fn person(&self, name: &str) -> Person {
        let email = format!(
            "{}-{}@example.org",
            name.to_lowercase(),
            uuid::Uuid::now_v7().simple()
        );
        let id = self.quick_member(&email).await;
        sqlx_rename(self, &id, name).await;
        self.cookie_of(id).await
    }

    pub async fn cookie_of(&self, id: String) -> Person {
        let token = accounts::create_session(&self.core, &id).await.unwrap();
        let name = meetstage::http::context::session_cookie_name(&self.core.config);
        Person {
            id,
            cookie: format!("{name}={token}"),
        }
    }

    /// An organizer and a live event of theirs (`members` or `public`).
    pub async fn live_event(&self, visibility: &str) -> (Person, String) {
        self.event_at(visibility, 2).await
    }

    /// An organizer and an event of theirs with the green room open.
    pub async fn staging_event(&self, visibility: &str) -> (Person, String) {
        self.event_at(visibility, 1).await
    }

    /// An organizer and an event of theirs starting in ten minutes.
    pub async fn scheduled_event(&self, visibility: &str) -> (Person, String) {
        self.event_at(visibility, 0).await
    }

    /// An event taken `steps` along its lifecycle (green room, live).
    async fn event_at(&self, visibility: &str, steps: usize) -> (Person, String) {
        let owner = self.person("Olga").await;
        self.core
            .store
            .set_role_unaudited(&owner.id, "organizer", self.clock.now_ms())
            .await
            .unwrap();
        let session = self.session_of(&owner.id).await;
        let start = (self.clock.now() + chrono::Duration::minutes(10))
            .format("%Y-%m-%dT%H:%M")
            .to_string();
        let e = events::create(
            &self.core,
            &session,
            &EventInput {
                title: "Rust in production".into(),
                description: "A talk.".into(),
                start_local: start,
                time_zone: "UTC".into(),
                duration_minutes: "60".into(),
                capacity: String::new(),
                visibility: visibility.into(),
            },
        )
        .await
        .unwrap();
        let steps_taken = steps;
        let steps = [
            events::Transition::OpenGreenRoom,
            events::Transition::GoLive,
        ];
        for t in &steps[..steps_taken] {
            events::transition(&self.core, &session, &e.id, *t)
                .await
                .unwrap();
        }
        (owner, e.id.to_string())
    }

    fn ws_request(
        &self,
        event: &str,
        cookie: Option<&str>,
        origin: &str,
    ) -> tungstenite::handshake::client::Request {
        let url = format!(
            "{}/events/{event}/live/socket",
            self.base.replace("http://", "ws://")
        );
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        if let Some(c) = cookie {
            req.headers_mut().insert("cookie", c.parse().unwrap());
        }
        req
    }

    /// Opens the room's socket as `who` (None: a guest) from this site's own pages.
    pub async fn ws(&self, event: &str, who: Option<&Person>) -> Ws {
        self.try_ws(event, who.map(|p| p.cookie.as_str()), &self.base.clone())
            .await
            .unwrap_or_else(|status| panic!("the room refused with {status}"))
    }

    /// Opens the socket as `who` over a connection with a small receive buffer, so a client
    /// that stops reading is soon behind.
    pub async fn ws_small_buffer(&self, event: &str, who: &Person) -> Ws {
        let addr: std::net::SocketAddr = self.base.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let req = self.ws_request(event, Some(&who.cookie), &self.base.clone());
        let (stream, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(tcp))
            .await
            .expect("connecting");
        Ws { stream, seq: 0 }
    }

    /// A bare TCP connection upgraded to the room's socket as `who`, with a small receive
    /// buffer, for writing frames byte by byte; what the server sends is left unread.
    pub async fn raw_ws(&self, event: &str, who: &Person) -> TcpStream {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.base.trim_start_matches("http://");
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut tcp = socket.connect(host.parse().unwrap()).await.unwrap();
        let request = format!(
            "GET /events/{event}/live/socket HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nOrigin: {}\r\nCookie: {}\r\n\r\n",
            self.base, who.cookie
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        tcp
    }

    /// Opens the socket or returns the HTTP status it was refused with.
    pub async fn try_ws(&self, event: &str, cookie: Option<&str>, origin: &str) -> Result<Ws, u16> {
        match tokio_tungstenite::connect_async(self.ws_request(event, cookie, origin)).await {
            Ok((stream, _)) => Ok(Ws { stream, seq: 0 }),
            Err(tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("connecting failed: {e}"),
        }
    }
}

async fn sqlx_rename(app: &TestApp, id: &str, name: &str) {
    app.core.store.set_display_name(id, name, 0).await.unwrap();
}

/// A text frame as a browser sends it (masked).
pub fn masked_text_frame(text: &str) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x08];
    let mut out = vec![0x81];
    match text.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

impl Ws {
    pub async fn send(&mut self, kind: &str, data: Value) {
        let text = json!({ "type": kind, "data": data }).to_string();
        self.send_text(&text).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.expect("send");
    }

    /// The next message; stream numbers must follow each other without a gap.
    pub async fn next(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a message within 10 s")
                .expect("socket open")
                .expect("socket healthy");
            let text = match msg {
                Message::Text(t) => t,
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(c) => panic!("socket closed: {c:?}"),
                other => panic!("unexpected frame {other:?}"),
            };
            let v: Value = serde_json::from_str(&text).expect("JSON");
            if let Some(seq) = v["seq"].as_u64() {
                if v["type"] != "snapshot" {
                    assert_eq!(seq, self.seq + 1, "stream numbers follow each other: {v}");
                }
                self.seq = seq;
            }
            return v;
        }
    }

    /// Skips messages until one of `kind` arrives; returns its data.
    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            let v = self.next().await;
            if v["type"] == "error" && kind != "error" {
                panic!("waiting for {kind}, got {v}");
            }
            if v["type"] == kind {
                return v["data"].clone();
            }
        }
    }

    /// Skips messages until one of `kind` whose data satisfies `f`.
    pub async fn until_with(&mut self, kind: &str, f: impl Fn(&Value) -> bool) -> Value {
        loop {
            let d = self.until(kind).await;
            if f(&d) {
                return d;
            }
        }
    }

    /// The refusal of the last action: its reason.
    pub async fn error(&mut self) -> String {
        let d = self.until("error").await;
        d["reason"].as_str().unwrap().to_string()
    }

    /// Waits at most `within` for the server to close the socket; returns the close frame
    /// (None: closed without one). Panics if it stays open.
    pub async fn closed_within(&mut self, within: Duration) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("still open after {within:?}"));
            match msg {
                Some(Ok(Message::Close(c))) => return c,
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the server to close the socket; returns the close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(15), self.stream.next())
                .await
                .expect("closed within 15 s");
            match msg {
                Some(Ok(Message::Close(c))) => return c,
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Everything the room sends until it answers a resync: what was still on its way.
    pub async fn settle(&mut self) -> Vec<Value> {
        self.send("resync", json!({})).await;
        let mut seen = Vec::new();
        loop {
            let v = self.next().await;
            if v["type"] == "snapshot" {
                return seen;
            }
            seen.push(v);
        }
    }

    /// The snapshot and the personal view every connection starts with.
    pub async fn greeting(&mut self) -> (Value, Value) {
        let snap = self.next().await;
        assert_eq!(snap["type"], "snapshot", "{snap}");
        self.seq = snap["seq"].as_u64().unwrap();
        let you = self.until("you").await;
        (snap["data"].clone(), you)
    }

    /// Asks `question` on this socket and has `presenter` answer it with `answer`; returns
    /// once this socket sees it answered.
    pub async fn ask_answered(&mut self, presenter: &mut Ws, question: &str, answer: &str) {
        self.send("ask", json!({ "text": question })).await;
        let id = self.until("question").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        presenter
            .send("answer", json!({ "question_id": id, "text": answer }))
            .await;
        self.until_with("question", |q| q["status"] == "answered")
            .await;
    }
}
