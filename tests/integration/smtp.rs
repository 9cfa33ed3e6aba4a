//! The SMTP transport against a real SMTP conversation: an in-process sink that speaks enough
//! SMTP to accept mail, so the test sees exactly what a mail server would receive.

use std::sync::{Arc, Mutex};

use mail_parser::{MessageParser, MimeHeaders};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

use crate::helpers::{Backend, PASSWORD, TestApp};

#[derive(Clone, Debug, Default)]
struct Received {
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

struct Sink {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let conns = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let store = store.clone();
                let handle = tokio::spawn(async move {
                    let (r, mut w) = socket.into_split();
                    let mut lines = BufReader::new(r);
                    w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                    let mut current = Received::default();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("MAIL FROM:") {
                            current.from = line[10..].trim().to_string();
                            b"250 OK\r\n"
                        } else if upper.starts_with("RCPT TO:") && upper.contains("BOUNCE@") {
                            b"550 5.1.1 no such mailbox\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            current.to.push(
                                line[8..]
                                    .trim()
                                    .trim_matches(|c| c == '<' || c == '>')
                                    .to_string(),
                            );
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            w.write_all(b"354 end with .\r\n").await.unwrap();
                            let mut data = Vec::new();
                            loop {
                                line.clear();
                                lines.read_line(&mut line).await.unwrap();
                                if line == ".\r\n" {
                                    break;
                                }
                                let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                                data.extend_from_slice(unstuffed.as_bytes());
                            }
                            current.data = data;
                            store.lock().unwrap().push(std::mem::take(&mut current));
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
                            b"250 OK\r\n"
                        } else {
                            b"502 not implemented\r\n"
                        };
                        w.write_all(reply).await.unwrap();
                    }
                });
                conns.lock().unwrap().push(handle);
            }
        });
        Sink {
            port,
            received,
            task,
            connections,
        }
    }

    /// The server goes away: no new connections, open ones cut.
    /// Stops listening and drops every connection; returns once the port is closed.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let conns: Vec<_> = self.connections.lock().unwrap().drain(..).collect();
        for c in conns {
            c.abort();
            let _ = c.await;
        }
    }

    fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_transport_delivers_real_mime() {
    let sink = Sink::start().await;
    let port = sink.port;
    let app = TestApp::spawn_with(Backend::Sqlite, |o| {
        o.mailer = Some("smtp".into());
        o.smtp_url = Some(meetstage::config::Secret::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
        o.mail_from = Some("Rust Group <events@rust.example>".into());
    })
    .await;

    let org = app.browser();
    let r = app
        .form(
            &org,
            "/signup",
            &[
                ("email", "olga@example.org"),
                ("display_name", "Olga"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.login(&org, "olga@example.org").await;
    app.deliver().await;
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].from, "<events@rust.example>");
    assert_eq!(got[0].to, ["olga@example.org"]);
    let m = MessageParser::default()
        .parse(&got[0].data)
        .expect("MIME parses");
    assert_eq!(m.subject(), Some("Confirm your email for meetstage"));
    assert!(
        m.message_id().is_some_and(|id| id.ends_with("@127.0.0.1")),
        "{:?}",
        m.message_id()
    );
    assert_eq!(
        m.content_type()
            .map(|t| (t.ctype().to_string(), t.subtype().map(str::to_string))),
        Some(("multipart".into(), Some("alternative".into())))
    );
    assert!(m.body_text(0).unwrap().contains("/account/verify?token="));
    assert!(m.body_html(0).unwrap().contains("Confirm email"));
    assert!(
        m.header_raw("List-Unsubscribe").is_none(),
        "account mail cannot be unsubscribed"
    );

    // An event mail: text, HTML and the calendar invite, with one-click unsubscribe.
    let id = app.user_id("olga@example.org").await;
    let mut tx = app.core.store.begin().await.unwrap();
    tx.mark_email_verified(&id, 0).await.unwrap();
    tx.commit(&Default::default()).await.unwrap();
    app.core
        .store
        .set_role_unaudited(&id, "organizer", 0)
        .await
        .unwrap();
    let start = (app.clock.now() + chrono::Duration::days(3))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = app.api(&org, Method::POST, "/api/v1/events", Some(json!({"title": "SMTP night", "start_local": start, "time_zone": "UTC", "duration_minutes": 60}))).await;
    let event = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .api(
            &org,
            Method::PUT,
            &format!("/api/v1/events/{event}/registration"),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    app.deliver().await;
    let got = sink.messages();
    let confirmation = got
        .iter()
        .map(|r| MessageParser::default().parse(&r.data).unwrap())
        .find(|m| m.subject() == Some("You're registered: SMTP night"))
        .expect("confirmation sent");
    assert_eq!(
        confirmation
            .content_type()
            .map(|t| t.subtype().map(str::to_string)),
        Some(Some("mixed".into()))
    );
    let invite = confirmation.attachments().next().expect("invite attached");
    assert_eq!(
        invite.content_type().and_then(|t| t.attribute("method")),
        Some("REQUEST")
    );
    assert!(String::from_utf8_lossy(invite.contents()).contains("SUMMARY:SMTP night"));
    assert_eq!(
        confirmation
            .header_raw("List-Unsubscribe-Post")
            .map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );

    // A 5xx reply will not change on a retry: the mail is dead-lettered at once.
    let r = app
        .form(
            &app.browser(),
            "/signup",
            &[
                ("email", "bounce@example.org"),
                ("display_name", "Bounce"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.deliver().await;
    let rows = app.core.store.outbox(Some("dead"), 0, 10).await.unwrap();
    let dead = rows.into_iter().next().expect("the refused mail is dead");
    assert_eq!(dead.attempts, 1);
    assert!(
        dead.last_error
            .as_deref()
            .unwrap()
            .contains("no such mailbox"),
        "{:?}",
        dead.last_error
    );

    // The server goes away: the mail waits for a retry with the reason recorded.
    sink.stop().await;
    let r = app
        .form(
            &app.browser(),
            "/signup",
            &[
                ("email", "late@example.org"),
                ("display_name", "Late"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.deliver().await;
    let rows = app.core.store.outbox(Some("pending"), 0, 10).await.unwrap();
    let waiting = rows
        .into_iter()
        .find(|m| m.attempts == 1)
        .expect("a failed attempt is recorded");
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap()
            .contains("mail server"),
        "{:?}",
        waiting.last_error
    );
    assert!(waiting.next_attempt_at > app.clock.now_ms());
}
