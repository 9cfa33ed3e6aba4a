//! The security baseline: CSRF, content types, body limits, headers, rate limits, request ids.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, PASSWORD, TestApp},
};

both!(
    csrf_is_required,
    content_type_and_body_limits,
    rate_limits_answer_429,
    hostile_input_at_the_edges,
    calendar_files_are_escaped_and_private
);

async fn csrf_is_required(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.member("sam@example.org", "Sam").await;
    // A form without the token, or with another session's token, is refused.
    let r = c
        .post(app.url("/account/name"))
        .form(&[("display_name", "Hacked")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This form has expired or did not come from this site.")
    );
    let other = app.member("tom@example.org", "Tom").await;
    let foreign = app.csrf(&other).await;
    let r = c
        .post(app.url("/account/name"))
        .form(&[("csrf", foreign.as_str()), ("display_name", "Hacked")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Logged-in API calls need the header.
    let r = c
        .patch(app.url("/api/v1/me"))
        .json(&json!({"display_name": "Hacked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "csrf"
    );
    let (_, account) = app.text(&c, "/account").await;
    assert!(!account.contains("Hacked"));
    // Anonymous forms (login) carry a token bound to a pre-session cookie.
    let anon = app.browser();
    let r = anon
        .post(app.url("/login"))
        .form(&[("email", "sam@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // With the header, the API works.
    let r = app
        .api(
            &c,
            Method::PATCH,
            "/api/v1/me",
            Some(json!({"display_name": "Sam S."})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["display_name"],
        "Sam S."
    );
}

async fn content_type_and_body_limits(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.browser();
    // Wrong content type on a JSON endpoint: 415 in our error format.
    let r = c
        .post(app.url("/api/v1/session"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["error"], "unsupported_media_type");
    // Malformed JSON: 400 with a message.
    let r = c
        .post(app.url("/api/v1/session"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "malformed_json"
    );
    // Oversized body: 413, both for the API and for forms.
    let big = "x".repeat(200 * 1024);
    let r = c
        .post(app.url("/api/v1/accounts"))
        .json(&json!({"email": big, "display_name": "x", "password": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "payload_too_large"
    );
    let member = app.member("ula@example.org", "Ula").await;
    let token = app.csrf(&member).await;
    let r = member
        .post(app.url("/account/name"))
        .form(&[("csrf", token.as_str()), ("display_name", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("The request is too large: at most 64 KiB is accepted.")
    );
    // A form sent to a page with the wrong type is refused, not crashed on.
    let r = member
        .post(app.url("/account/name"))
        .header("x-csrf-token", token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Security headers on every response; request ids honoured and returned.
    let r = c
        .get(app.url("/"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
            && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
    assert_eq!(h["x-request-id"], "trace-me-123");
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS over plain http"
    );
    let generated = c.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(generated.headers()["x-request-id"].len(), 36);
    // The session cookie is HttpOnly and SameSite=Lax.
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "ula@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && !cookie.contains("Secure")
    );
}

async fn rate_limits_answer_429(b: Backend) {
    let app = TestApp::spawn_with(b, |o| {
        o.rate_limit_anonymous = Some(8);
        o.rate_limit_auth = Some(3);
    })
    .await;
    let c = app.browser();
    // Auth routes run out first: 3 login attempts a minute.
    for _ in 0..3 {
        let r = c
            .post(app.url("/api/v1/session"))
            .json(&json!({"email": "x@example.org", "password": "whatever whatever"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = c
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "x@example.org", "password": "whatever whatever"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["error"], "rate_limited");
    assert!(j["message"].as_str().unwrap().contains("Please wait"));
    // Then the general anonymous budget (8 a minute, already 4 used): pages get a readable 429.
    let mut last = StatusCode::OK;
    for _ in 0..5 {
        last = app.get(&c, "/").await.status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let r = app.get(&c, "/").await;
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Too many requests from your address.")
    );
}

both!(https_cors_and_no_500s);

async fn https_cors_and_no_500s(b: Backend) {
    // Behind https: HSTS, Secure __Host- cookies; CORS only for the configured origin.
    let app = TestApp::spawn_with(b, |o| {
        o.base_url = Some("https://meet.example.org".parse().unwrap());
        o.cors_origins = Some(vec!["https://partner.example.org".into()]);
    })
    .await;
    let c = app.browser();
    let r = c.get(app.url("/login")).send().await.unwrap();
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-meetstage_csrf=") && cookie.contains("Secure"),
        "{cookie}"
    );
    let allowed = c
        .get(app.url("/api/v1/events"))
        .header("origin", "https://partner.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://partner.example.org"
    );
    let other = c
        .get(app.url("/api/v1/events"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let preflight = c
        .request(Method::OPTIONS, app.url("/api/v1/events"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // Garbage into every form and JSON endpoint: clear 4xx answers, never a 5xx.
    let app = TestApp::spawn(b).await;
    let member = app.member("zoe@example.org", "Zoe").await;
    let token = app.csrf(&member).await;
    let event = "00000000-0000-7000-8000-000000000000";
    let forms = [
        "/signup",
        "/login",
        "/logout",
        "/account/verify",
        "/account/verify/resend",
        "/account/forgot",
        "/account/reset",
        "/account/name",
        "/account/email",
        "/account/password",
        "/events/create",
        "/admin/users/x/role",
    ];
    for path in forms {
        for body in [
            "",
            "title=%FF%FE",
            "email=a&email=b&password=",
            "duration_minutes=999999999999999999999&capacity=abc",
        ] {
            let body = format!("csrf={token}&{body}");
            let r = member
                .post(app.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(r.status().as_u16() < 500, "{path} {body}: {}", r.status());
        }
    }
    let api = [
        (Method::POST, "/api/v1/events".to_string()),
        (Method::PUT, format!("/api/v1/events/{event}")),
        (Method::POST, "/api/v1/accounts".into()),
        (Method::POST, "/api/v1/session".into()),
        (Method::PATCH, "/api/v1/me".into()),
        (Method::POST, "/api/v1/me/password".into()),
        (Method::PUT, format!("/api/v1/events/{event}/registration")),
        (Method::POST, "/api/v1/admin/users/x/ban".into()),
    ];
    for (method, path) in api {
        for body in [
            json!(null),
            json!([]),
            json!({"title": 5, "duration_minutes": {"x": 1}}),
            json!({"email": "\u{0}", "password": "\u{202e}"}),
        ] {
            let r = app
                .api(&member, method.clone(), &path, Some(body.clone()))
                .await;
            assert!(
                r.status().as_u16() < 500,
                "{method} {path} {body}: {}",
                r.status()
            );
            if r.status().is_client_error() {
                let j: serde_json::Value = r.json().await.unwrap();
                assert!(
                    j["error"].is_string() && j["message"].is_string(),
                    "{method} {path}: {j}"
                );
            }
        }
    }
}

/// Defects found by trying the product from outside, each at the edge where it entered.
async fn hostile_input_at_the_edges(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin("root@example.org", "Root").await;
    // NUL and other control characters in a query string: a clear 400, never the database.
    for path in [
        "/api/v1/events?cursor=%00",
        "/events?section=upcoming&cursor=a%00b",
        "/admin?q=%00",
        "/api/v1/admin/users?q=x%0Dy",
    ] {
        let r = app.get(&admin, path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(
            r.text().await.unwrap().contains("control characters"),
            "{path}"
        );
    }
    // A cursor that decodes to something that is not ours is a 422 with a message, not a 500.
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1.\u{0}x");
    let r = app
        .get(&admin, &format!("/api/v1/events?cursor={forged}"))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // `next=` after login stays on this site whatever it holds (browsers drop tabs and line
    // breaks from URLs, so `/\t/evil.example` would leave it), and never breaks the redirect.
    for next in [
        "/%09/evil.example",
        "/%0D%0ASet-Cookie:x=1",
        "//evil.example",
    ] {
        let c = app.browser();
        let (status, page) = app.text(&c, &format!("/login?next={next}")).await;
        if next.contains('%') {
            // In a link, the control characters are refused before anything reads them.
            assert_eq!(status, StatusCode::BAD_REQUEST, "{next}");
        } else {
            assert_eq!(status, StatusCode::OK);
            assert!(page.contains("name=\"next\" value=\"/\""), "{next}");
        }
        // In a posted form, `next` falls back to the home page.
        let r = app
            .form(
                &c,
                "/login",
                &[
                    ("email", "root@example.org"),
                    ("password", PASSWORD),
                    ("next", &next.replace("%09", "\t").replace("%0D%0A", "\r\n")),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(r.headers()["location"], "/?notice=logged_in", "{next}");
    }
}

/// A display name cannot inject parameters into the calendar invite's ATTENDEE line, and a
/// members-only event's calendar file is not cached by shared caches.
async fn calendar_files_are_escaped_and_private(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Olga").await;
    let c = app.member("eve@example.org", "Eve\";ROLE=CHAIR:x,y").await;
    let event = app.create_event(&org, "Escapes", "").await;
    let r = app
        .form(&c, &format!("/events/{event}/register"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = app.last_mail_to("eve@example.org").await;
    let (_, ics) = mail.ics.expect("an invite");
    let unfolded = ics.replace("\r\n ", "");
    let attendee = unfolded
        .lines()
        .find(|l| l.starts_with("ATTENDEE"))
        .expect("an ATTENDEE line");
    assert!(
        attendee.starts_with("ATTENDEE;CN=\"Eve;ROLE=CHAIR:x,y\";RSVP=FALSE:mailto:"),
        "{attendee}"
    );

    let r = app.get(&c, &format!("/events/{event}/calendar.ics")).await;
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    let r = app
        .api(
            &org,
            Method::PUT,
            &format!("/api/v1/events/{event}"),
            Some(json!({"title": "Escapes", "start_local": "2030-01-22T12:00", "time_zone": "UTC", "duration_minutes": 60, "visibility": "members"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let r = app.get(&c, &format!("/events/{event}/calendar.ics")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "private, max-age=300");
}

/// A client that never finishes its headers is cut off after the header timeout, and a
/// shutdown waits for a request stuck mid-body at most the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_shutdown_is_bounded() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = meetstage::config::Config::from_options(meetstage::config::Options {
        data_dir: Some(dir.path().to_path_buf()),
        header_timeout_secs: Some(1),
        shutdown_grace_secs: Some(1),
        ..Default::default()
    })
    .unwrap();
    let app = meetstage::App::build(config, listener)
        .await
        .unwrap()
        .without_workers();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    // Slow loris: half a request, then nothing. The server closes the connection.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest))
        .await
        .expect("the server hangs up on a client that never finishes its headers")
        .unwrap();

    // A request whose body never arrives in full is in flight when the shutdown starts.
    let mut stuck = tokio::net::TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    // The server asks for the body once a handler reads it: the request is then in flight.
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 64];
        while !String::from_utf8_lossy(&seen).contains("100 Continue") {
            let n = stuck.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before asking for the body");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the server starts reading the body");
    stuck.write_all(b"email=a").await.unwrap();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("shutdown ends within its grace period, stuck request or not")
        .unwrap()
        .unwrap();
    drop(stuck);
}
