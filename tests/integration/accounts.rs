//! Accounts end to end: sign-up, confirmation by mailed link, login, logout, reset, lockout,
//! profile changes, deletion and sliding sessions.

use chrono::Duration;
use reqwest::StatusCode;

use crate::{
    both,
    helpers::{Backend, PASSWORD, TestApp, between},
};

both!(
    signup_confirm_login_logout,
    signup_rejects_bad_input_and_keeps_it,
    password_reset_flow,
    lockout_after_five_failures,
    profile_changes,
    delete_account,
    deleting_an_organizer_cancels_their_events,
    sliding_session_expiry
);

async fn signup_confirm_login_logout(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.signup("ada@example.org", "Ada").await;

    // Logged in but unconfirmed: the page says so.
    let (_, home) = app.text(&c, "/").await;
    assert!(home.contains("Confirm your email address"), "{home}");

    // The mail links to the public base URL, and the link opens a page.
    let mail = app.last_mail_to("ada@example.org").await;
    assert!(mail.subject.contains("Confirm your email"));
    let link = mail.link("/account/verify?token=");
    assert!(
        link.starts_with(&app.base),
        "absolute link expected: {link}"
    );
    assert!(
        mail.html.contains(&link.replace('&', "&amp;")),
        "HTML part carries the same link"
    );
    let path = link.trim_start_matches(&app.base);
    let (status, page) = app.text(&c, path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Confirm my email"));

    // Opening the link alone (a mail scanner) does not use the token; the button does.
    let token = path.split("token=").nth(1).unwrap();
    let r = app.form(&c, "/account/verify", &[("token", token)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, account) = app.text(&c, "/account").await;
    assert!(
        account.contains("confirmed") && !account.contains("not confirmed"),
        "{account}"
    );

    // The token is single-use: a second press says so on the page.
    let again = app.form(&c, "/account/verify", &[("token", token)]).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("This link has expired or was already used.")
    );

    // Log out: the account page now sends to the login page.
    let r = app.form(&c, "/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.get(&c, "/account").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2Faccount");

    // Wrong password: a message next to the field, the email kept.
    let r = app
        .form(
            &c,
            "/login",
            &[
                ("email", "ada@example.org"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Email or password is incorrect.")
            && body.contains("value=\"ada@example.org\"")
    );

    // Right password (email is case-insensitive), back to where we were going.
    let r = app
        .form(
            &c,
            "/login",
            &[
                ("email", "ADA@example.org"),
                ("password", PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account?notice=logged_in");
    let (status, _) = app.text(&c, "/account").await;
    assert_eq!(status, StatusCode::OK);
}

async fn signup_rejects_bad_input_and_keeps_it(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.browser();
    let r = app
        .form(
            &c,
            "/signup",
            &[
                ("email", "not-an-email"),
                ("display_name", "  "),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("Enter an email address like name@example.org."));
    assert!(body.contains("Display name is required."));
    assert!(body.contains("Use at least 12 characters."));
    assert!(
        body.contains("value=\"not-an-email\""),
        "typed email is kept"
    );

    let r = app
        .form(
            &c,
            "/signup",
            &[
                ("email", "bob@example.org"),
                ("display_name", "Bob"),
                ("password", "Password1234"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("too common"));

    // Signing up with a taken address looks exactly like signing up with a new one (same
    // answer, same password-hashing cost); the owner gets a mail instead of a second account.
    app.signup("bob@example.org", "Bob").await;
    let attempt = |email: &'static str| {
        let app = &app;
        async move {
            let before = app.core.hasher.computed();
            let r = app
                .form(
                    &app.browser(),
                    "/signup",
                    &[
                        ("email", email),
                        ("display_name", "Bob 2"),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            let hashes = app.core.hasher.computed() - before;
            (
                r.status(),
                r.headers()["location"].to_str().unwrap().to_string(),
                hashes,
            )
        }
    };
    let taken = attempt("Bob@Example.org").await;
    let fresh = attempt("new-bob@example.org").await;
    assert_eq!(taken, fresh);
    assert_eq!(
        taken,
        (StatusCode::SEE_OTHER, "/login?notice=check_email".into(), 1)
    );
    let mail = app.last_mail_to("bob@example.org").await;
    assert_eq!(mail.subject, "Signing up to meetstage");
    assert!(mail.text.contains("you already have an account"));
    let bob = app
        .core
        .store
        .user_by_email("bob@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.display_name, "Bob", "the account is untouched");
    // A second try within the hour does not mail again.
    attempt("bob@example.org").await;
    assert_eq!(
        app.mails_to("bob@example.org")
            .await
            .iter()
            .filter(|m| m.subject == "Signing up to meetstage")
            .count(),
        1
    );
    // The API answers the same way for both.
    for email in ["bob@example.org", "api-new@example.org"] {
        let r = app
            .browser()
            .post(app.url("/api/v1/accounts"))
            .json(&serde_json::json!({"email": email, "display_name": "B", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["message"],
            "We sent a link to that address. Open it to confirm, then log in."
        );
    }

    // The API gives the same rules as JSON, field by field.
    let r = app
        .browser()
        .post(app.url("/api/v1/accounts"))
        .json(&serde_json::json!({"email": "x", "display_name": "X", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["error"], "invalid_input");
    let fields: Vec<&str> = j["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password"]);
}

async fn password_reset_flow(b: Backend) {
    let app = TestApp::spawn(b).await;
    let other_device = app.member("cy@example.org", "Cy").await;
    let c = app.browser();

    // Unknown addresses get the same answer and no mail.
    let r = app
        .form(&c, "/account/forgot", &[("email", "nobody@example.org")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app.mails_to("nobody@example.org").await.is_empty());

    let r = app
        .form(&c, "/account/forgot", &[("email", "cy@example.org")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let link = app
        .last_mail_to("cy@example.org")
        .await
        .link("/account/reset?token=");
    let path = link.trim_start_matches(&app.base).to_string();
    let (status, _) = app.text(&c, &path).await;
    assert_eq!(status, StatusCode::OK);
    let token = path.split("token=").nth(1).unwrap();

    // A weak password is refused without using up the link.
    let r = app
        .form(
            &c,
            "/account/reset",
            &[("token", token), ("password", "short")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Use at least 12 characters.")
    );
    let r = app
        .form(
            &c,
            "/account/reset",
            &[("token", token), ("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Single use; the old password is gone; every old session ended.
    let r = app
        .form(
            &c,
            "/account/reset",
            &[("token", token), ("password", "another new passphrase")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );
    let r = app
        .form(
            &c,
            "/login",
            &[("email", "cy@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .form(
            &c,
            "/login",
            &[
                ("email", "cy@example.org"),
                ("password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&other_device, "/account").await.status(),
        StatusCode::SEE_OTHER
    );

    // Links expire after an hour.
    app.form(&c, "/account/forgot", &[("email", "cy@example.org")])
        .await;
    let link = app
        .last_mail_to("cy@example.org")
        .await
        .link("/account/reset?token=");
    let token = link.split("token=").nth(1).unwrap();
    app.clock.advance(Duration::minutes(61));
    let r = app
        .form(
            &c,
            "/account/reset",
            &[("token", token), ("password", "too late passphrase")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );

    // A reset link asked for before the password was changed another way stops working:
    // the old password may be exactly what leaked.
    app.form(&c, "/account/forgot", &[("email", "cy@example.org")])
        .await;
    let link = app
        .last_mail_to("cy@example.org")
        .await
        .link("/account/reset?token=");
    let token = link.split("token=").nth(1).unwrap().to_string();
    let r = app
        .form(
            &c,
            "/account/password",
            &[
                ("current_password", "a brand new passphrase"),
                ("new_password", "changed on the account page"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .form(
            &c,
            "/account/reset",
            &[("token", &token), ("password", "attacker's passphrase")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );
}

async fn lockout_after_five_failures(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.member("dee@example.org", "Dee").await;
    let c = app.browser();
    let mails_before = app.mails_to("dee@example.org").await.len();
    let login = |c: &reqwest::Client, email: &'static str, password: &'static str| {
        let (app, c) = (&app, c.clone());
        async move {
            let r = app
                .form(&c, "/login", &[("email", email), ("password", password)])
                .await;
            (r.status(), r.text().await.unwrap())
        }
    };
    for i in 1..=4 {
        let (status, body) = login(&c, "dee@example.org", "wrong password!").await;
        assert_eq!(status, StatusCode::OK, "attempt {i}");
        assert!(body.contains("Email or password is incorrect."));
    }
    // The fifth failure locks this address for this client; the page says so (a form
    // re-render, so 200).
    let (status, body) = login(&c, "dee@example.org", "wrong password!").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("locked for about 15 more minutes"), "{body}");

    // Even the right password is refused from here while locked, and the owner was mailed
    // once.
    let (status, body) = login(&c, "dee@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("locked for about 15 more minutes"));
    let api = app
        .browser()
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"email": "dee@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::LOCKED);
    assert_eq!(
        api.json::<serde_json::Value>().await.unwrap()["error"],
        "account_locked"
    );
    let notices = app.mails_to("dee@example.org").await;
    assert_eq!(notices.len(), mails_before + 1);
    assert!(notices.last().unwrap().subject.contains("paused"));

    // The stranger cannot lock the owner out: from another machine, Dee logs in.
    let home = app.browser_from([127, 0, 0, 2]);
    let (status, _) = login(&home, "dee@example.org", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "another client is not locked"
    );

    // An address with no account is counted and answered exactly the same way, at the same
    // cost (one Argon2 verification per attempt), so nobody learns which addresses exist.
    for i in 1..=5 {
        let before = app.core.hasher.computed();
        let (status, body) = login(&c, "nobody@example.org", "wrong password!").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(app.core.hasher.computed() - before, 1, "attempt {i}");
        if i < 5 {
            assert!(body.contains("Email or password is incorrect."));
        } else {
            assert!(body.contains("locked for about 15 more minutes"), "{body}");
        }
    }

    // Fifteen minutes later (by the injected clock) the right password works again.
    app.clock
        .advance(Duration::minutes(15) + Duration::seconds(1));
    let (status, _) = login(&c, "dee@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // And the counter started over: one failure does not lock.
    let (status, body) = login(&app.browser(), "dee@example.org", "wrong password!").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Email or password is incorrect."));
}

async fn profile_changes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.member("eve@example.org", "Eve").await;
    let laptop = app.browser();
    app.form(
        &laptop,
        "/login",
        &[("email", "eve@example.org"), ("password", PASSWORD)],
    )
    .await;

    let r = app
        .form(&c, "/account/name", &[("display_name", "Eve Example")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        app.text(&c, "/account")
            .await
            .1
            .contains("value=\"Eve Example\"")
    );
    let r = app
        .form(&c, "/account/name", &[("display_name", &"x".repeat(81))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Password change needs the current one and logs out the other devices only.
    let r = app
        .form(
            &c,
            "/account/password",
            &[
                ("current_password", "wrong wrong wrong"),
                ("new_password", "my second passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Your current password is not correct.")
    );
    let r = app
        .form(
            &c,
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "my second passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&c, "/account").await.status(), StatusCode::OK);
    assert_eq!(
        app.get(&laptop, "/account").await.status(),
        StatusCode::SEE_OTHER
    );

    // Email change takes effect only when the new address confirms.
    let r = app
        .form(
            &c,
            "/account/email",
            &[
                ("current_password", "my second passphrase"),
                ("email", "eve@new.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app.text(&c, "/account").await.1.contains("eve@example.org"));
    let link = app
        .last_mail_to("eve@new.example")
        .await
        .link("/account/verify?token=");
    let token = link.split("token=").nth(1).unwrap();
    let r = app.form(&c, "/account/verify", &[("token", token)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app.text(&c, "/account").await.1.contains("eve@new.example"));
    let r = app
        .form(
            &app.browser(),
            "/login",
            &[
                ("email", "eve@new.example"),
                ("password", "my second passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

async fn delete_account(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Org").await;
    let event = app.create_event(&org, "Capacity one", "1").await;
    let fay = app.member("fay@example.org", "Fay").await;
    let gus = app.member("gus@example.org", "Gus").await;
    app.form(&fay, &format!("/events/{event}/register"), &[])
        .await;
    app.form(&gus, &format!("/events/{event}/register"), &[])
        .await;

    let r = app
        .form(
            &fay,
            "/account/delete",
            &[("current_password", "wrong wrong wrong")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .form(&fay, "/account/delete", &[("current_password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Gone: cannot log in, seat released to the waitlist, name erased from the list.
    let r = app
        .form(
            &app.browser(),
            "/login",
            &[("email", "fay@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let j: serde_json::Value = app
        .api(
            &gus,
            reqwest::Method::GET,
            &format!("/api/v1/events/{event}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(j["my_registration"], "registered");
    let (_, list) = app
        .text(&org, &format!("/events/{event}/registrations"))
        .await;
    assert!(!list.contains("fay@example.org") && list.contains("gus@example.org"));
}

/// An organizer who deletes their account cancels their events the way the cancel button
/// does: registrants are mailed, the session's end jobs go, and the live room is told.
async fn deleting_an_organizer_cancels_their_events(b: Backend) {
    let app = TestApp::spawn(b).await;
    let org = app.organizer("org@example.org", "Org").await;
    let upcoming = app.create_event(&org, "Next month", "").await;
    let live = app.create_event(&org, "On air", "").await;
    let hal = app.member("hal@example.org", "Hal").await;
    for event in [&upcoming, &live] {
        app.form(&hal, &format!("/events/{event}/register"), &[])
            .await;
    }
    for step in ["green-room", "go-live"] {
        let r = app.form(&org, &format!("/events/{live}/{step}"), &[]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let end_jobs = || async {
        let mut n = 0;
        for kind in ["end_warning", "auto_stop", "reminder"] {
            n += app.core.store.jobs_by_kind(kind).await.unwrap().len();
        }
        n
    };
    assert!(end_jobs().await > 0);
    let hal_session = app.cookie_of(app.user_id("hal@example.org").await).await;
    let mut room = app.ws(&live, Some(&hal_session)).await;
    room.greeting().await;

    let r = app
        .form(&org, "/account/delete", &[("current_password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    room.until_with("clock", |c| c["status"] == "cancelled")
        .await;
    assert_eq!(end_jobs().await, 0, "no reminder, warning or stop is left");
    let cancelled: Vec<String> = app
        .mails_to("hal@example.org")
        .await
        .into_iter()
        .filter(|m| m.subject.starts_with("Cancelled: "))
        .map(|m| m.subject)
        .collect();
    assert_eq!(cancelled.len(), 2, "{cancelled:?}");
    for event in [&upcoming, &live] {
        let j: serde_json::Value = app
            .get(&hal, &format!("/api/v1/events/{event}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(j["status"], "cancelled");
    }
}

async fn sliding_session_expiry(b: Backend) {
    let app = TestApp::spawn_with(b, |o| o.session_idle_hours = Some(1)).await;
    let c = app.member("hal@example.org", "Hal").await;
    // Eight hours of activity, a request every 50 minutes: never logged out.
    for _ in 0..10 {
        app.clock.advance(Duration::minutes(50));
        assert_eq!(app.get(&c, "/account").await.status(), StatusCode::OK);
    }
    // An hour of silence ends the session.
    app.clock.advance(Duration::minutes(61));
    assert_eq!(
        app.get(&c, "/account").await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, page) = app.text(&c, "/").await;
    assert!(between(&page, "<nav", "</nav>").unwrap().contains("Log in"));
}
