//! The SES transport: the real binary, configured for `mailer = ses`, sends through
//! aws-sdk-sesv2 to a local fake of the SES v2 HTTP API, which records every request.

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use base64::Engine;
use mail_parser::MessageParser;
use meetstage::store::Store;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_signed, free_port, serve_fake, wait_ready};

const BIN: &str = env!("CARGO_BIN_EXE_meetstage");
const ACCESS_KEY: &str = "AKIDMEETSTAGETEST";

#[derive(Clone, Debug)]
struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
}

/// Answers like SES v2 `SendEmail`: a message id, or the error a recipient name asks for.
async fn fake_ses(
    seen: Arc<Mutex<Vec<Request>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let to = body["Destination"]["ToAddresses"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let n = {
        let mut seen = seen.lock().unwrap();
        seen.push(Request {
            method,
            path: uri.path().to_string(),
            headers,
            body,
        });
        seen.len()
    };
    let error = |status: StatusCode, kind: &str, message: &str| {
        (
            status,
            [
                ("x-amzn-errortype", kind),
                ("content-type", "application/json"),
            ],
            Json(json!({ "message": message })),
        )
            .into_response()
    };
    if to.starts_with("rejected@") {
        error(
            StatusCode::BAD_REQUEST,
            "MessageRejected",
            "Email address is not verified.",
        )
    } else if to.starts_with("throttled@") {
        error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Maximum sending rate exceeded.",
        )
    } else {
        Json(json!({ "MessageId": format!("0100-fake-{n}") })).into_response()
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` until it gives a value; the SDK's own retries on throttling take seconds.
async fn poll<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let t = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_transport_sends_the_exact_request() {
    let seen = Arc::new(Mutex::new(Vec::<Request>::new()));
    let record = seen.clone();
    let fake = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
        fake_ses(record.clone(), m, u, h, b)
    });
    let ses_port = serve_fake(fake).await;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = Server(
        Command::new(BIN)
            .args(["serve", "--data-dir", dir.path().to_str().unwrap()])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .env("MEETSTAGE_MAILER", "ses")
            .env("MEETSTAGE_SES_REGION", "eu-west-1")
            .env("MEETSTAGE_SES_CONFIGURATION_SET", "meetups")
            .env(
                "MEETSTAGE_SES_ENDPOINT_URL",
                format!("http://127.0.0.1:{ses_port}"),
            )
            .env("MEETSTAGE_MAIL_FROM", "Rust Group <events@rust.example>")
            .env("MEETSTAGE_MAIL_RATE", "50")
            // Only the environment's credentials: no profile files, no instance metadata.
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", "meetstage-test-secret")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(port).await;
    let signup = |email: &'static str| {
        let base = base.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/v1/accounts"))
                .json(&json!({ "email": email, "display_name": "Olga", "password": PASSWORD }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED, "signup {email}");
        }
    };

    // At start meetstage asked SES how the account stands (GetAccount), once: a new
    // account's sandbox is said in the log rather than found in a dead letter.
    poll("GetAccount at start", || async {
        let seen = seen.lock().unwrap();
        let asked = seen
            .iter()
            .filter(|r| r.method == Method::GET && r.path == "/v2/email/account")
            .count();
        (asked == 1).then_some(())
    })
    .await;
    // Sign-up sends the confirmation mail: exactly one SendEmail call, exactly this request.
    signup("olga@example.org").await;
    let req = poll("SendEmail call", || async {
        seen.lock()
            .unwrap()
            .iter()
            .find(|r| r.method == Method::POST)
            .cloned()
    })
    .await;
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/v2/email/outbound-emails");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_signed(&req.headers, ACCESS_KEY, "eu-west-1", "ses");
    let raw = req.body["Content"]["Raw"]["Data"]
        .as_str()
        .expect("raw content")
        .to_string();
    assert_eq!(
        req.body,
        json!({
            "FromEmailAddress": "Rust Group <events@rust.example>",
            "Destination": { "ToAddresses": ["olga@example.org"] },
            "Content": { "Raw": { "Data": raw } },
            "ConfigurationSetName": "meetups",
        })
    );
    let mime = base64::engine::general_purpose::STANDARD
        .decode(&raw)
        .expect("raw content is base64");
    let m = MessageParser::default().parse(&mime).expect("MIME parses");
    assert_eq!(m.subject(), Some("Confirm your email for meetstage"));
    assert_eq!(
        m.from().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("events@rust.example")
    );
    assert_eq!(
        m.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("olga@example.org")
    );
    let text = m.body_text(0).unwrap();
    assert!(
        text.contains(&format!("{base}/account/verify?token=")),
        "{text}"
    );
    assert!(m.body_html(0).unwrap().contains("Confirm email"));

    // SES refuses the message for good: dead-lettered after one call, the reason kept.
    let store = Store::connect(
        &format!("sqlite://{}", dir.path().join("meetstage.db").display()),
        1,
    )
    .await
    .unwrap();
    signup("rejected@example.org").await;
    let dead = poll("dead-lettered", || async {
        store.outbox(Some("dead"), 0, 5).await.unwrap().pop()
    })
    .await;
    assert_eq!(dead.attempts, 1);
    assert_eq!(
        dead.last_error.as_deref(),
        Some(
            "the mail server refused the message for good: \
             SES MessageRejected: Email address is not verified."
        )
    );

    // Throttling is worth another try: the mail waits in the outbox with the reason.
    signup("throttled@example.org").await;
    let waiting = poll("a failed attempt recorded", || async {
        store
            .outbox(Some("pending"), 0, 5)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.attempts == 1)
    })
    .await;
    assert!(
        waiting
            .last_error
            .as_deref()
            .unwrap()
            .contains("TooManyRequestsException"),
        "{:?}",
        waiting.last_error
    );
    let calls: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.body["Destination"]["ToAddresses"][0].to_string())
        .collect();
    assert_eq!(
        calls.iter().filter(|t| t.contains("olga@")).count(),
        1,
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|t| t.contains("rejected@")).count(),
        1,
        "{calls:?}"
    );
}

/// The admin's outbox page says how the SES account stands (GetAccount, through a fake that
/// checks the signature): in the sandbox, mail reaches only verified addresses, and the page
/// says so; once out of it, the day's sending against the quota. Members never see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_page_says_whether_ses_is_in_its_sandbox() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::helpers::{Backend, TestApp};

    let production = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let (p, a) = (production.clone(), asked.clone());
    let fake = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap| {
        let (p, a) = (p.clone(), a.clone());
        async move {
            assert_signed(&h, "AKIDSESTEST", "eu-west-1", "ses");
            a.lock().unwrap().push(format!("{m} {}", u.path()));
            if u.path() != "/v2/email/account" {
                return Json(json!({ "MessageId": "0100-fake" })).into_response();
            }
            Json(json!({
                "DedicatedIpAutoWarmupEnabled": false,
                "EnforcementStatus": "HEALTHY",
                "ProductionAccessEnabled": p.load(Ordering::SeqCst),
                "SendingEnabled": true,
                "SendQuota": { "Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 3.0 },
            }))
            .into_response()
        }
    });
    let port = serve_fake(fake).await;
    let app = TestApp::spawn_with(Backend::Sqlite, |o| {
        o.mailer = Some("ses".into());
        o.ses_region = Some("eu-west-1".into());
        o.mail_from = Some("Rust Group <events@rust.example>".into());
        o.ses_endpoint_url = Some(
            format!("http://AKIDSESTEST:ses-test-secret@127.0.0.1:{port}")
                .parse()
                .unwrap(),
        );
    })
    .await;
    let id = app.quick_member("root@example.org").await;
    app.core
        .store
        .set_role_unaudited(&id, "admin", app.clock.now_ms())
        .await
        .unwrap();
    let admin = app.cookie_of(id).await;

    let (status, page) = app.text(&admin.client(), "/admin/outbox").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        page.contains(
            "<p id=\"mail-status\" class=\"alert\">Amazon SES is in its sandbox: mail reaches \
             only addresses verified in SES, at most 200 a day (3 sent in the last 24 hours)."
        ),
        "{page}"
    );
    assert!(
        asked
            .lock()
            .unwrap()
            .contains(&"GET /v2/email/account".to_string())
    );

    production.store(true, Ordering::SeqCst);
    let (_, page) = app.text(&admin.client(), "/admin/outbox").await;
    assert!(
        page.contains(
            "<p id=\"mail-status\" class=\"notice\">Amazon SES, production access: 3 of 200 \
             mails sent in the last 24 hours.</p>"
        ),
        "{page}"
    );

    let member = app.quick_member("ada@example.org").await;
    let member = app.cookie_of(member).await;
    let (status, _) = app.text(&member.client(), "/admin/outbox").await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
}
