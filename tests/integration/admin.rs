//! The admin area: roles, disable/enable, bans, the audit log, and who may do what.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, PASSWORD, TestApp},
};

both!(
    admin_manages_users_and_everything_is_audited,
    only_admins_and_never_yourself,
    bootstrap_admin_command
);

async fn admin_manages_users_and_everything_is_audited(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin("root@example.org", "Root").await;
    let member = app.member("mia@example.org", "Mia").await;
    let mia = app.user_id("mia@example.org").await;

    let (status, page) = app.text(&admin, "/admin?q=MIA").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("mia@example.org") && !page.contains("root@example.org"));

    // Promote to organizer: takes effect on Mia's very next request.
    assert_eq!(
        app.get(&member, "/events/new").await.status(),
        StatusCode::FORBIDDEN
    );
    let r = app
        .form(
            &admin,
            &format!("/admin/users/{mia}/role"),
            &[("role", "organizer"), ("q", "mia")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&member, "/events/new").await.status(),
        StatusCode::OK
    );

    // Disable: her live session dies at once, and she cannot log in; enable restores login.
    let r = app
        .form(&admin, &format!("/admin/users/{mia}/disable"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Her next click says why she is logged out.
    let r = app.get(&member, "/account").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/login?next=%2Faccount&notice=account_disabled"
    );
    let (_, login) = app
        .text(&member, "/login?next=%2Faccount&notice=account_disabled")
        .await;
    assert!(login.contains("An administrator disabled your account"));
    let r = app
        .form(
            &app.browser(),
            "/login",
            &[("email", "mia@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the form again, with why");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("This account is disabled.")
    );
    app.form(&admin, &format!("/admin/users/{mia}/enable"), &[])
        .await;
    let again = app.browser();
    let r = app
        .form(
            &again,
            "/login",
            &[("email", "mia@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Ban (API): logged out everywhere, cannot log in; unban.
    let r = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/admin/users/{mia}/ban"),
            Some(json!({"reason": "spam in chat"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["banned"], true);
    assert_eq!(
        app.get(&again, "/account").await.status(),
        StatusCode::SEE_OTHER
    );
    let r = app
        .form(
            &app.browser(),
            "/login",
            &[("email", "mia@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the form again, with why");
    assert!(r.text().await.unwrap().contains("banned"));
    let r = app
        .api(
            &admin,
            Method::POST,
            &format!("/api/v1/admin/users/{mia}/ban"),
            Some(json!({"reason": ""})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.api(
        &admin,
        Method::POST,
        &format!("/api/v1/admin/users/{mia}/unban"),
        None,
    )
    .await;

    // The audit log lists every action with who did it, newest first.
    let j: serde_json::Value = app
        .api(&admin, Method::GET, "/api/v1/admin/audit", None)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["unban", "ban", "enable", "disable", "set_role"]);
    assert!(
        j["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_name"] == "Root" && e["target_id"] == mia.as_str())
    );
    // Each entry names the person affected, whatever the action.
    let details: Vec<&str> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    let mia_named = "Mia (mia@example.org)";
    assert_eq!(
        details,
        [
            mia_named.to_string(),
            format!("{mia_named}: reason: spam in chat"),
            mia_named.to_string(),
            mia_named.to_string(),
            format!("{mia_named}: member \u{2192} organizer"),
        ]
    );
    let (_, page) = app.text(&admin, "/admin/audit").await;
    assert!(page.contains("set_role") && page.contains("reason: spam in chat"));
}

async fn only_admins_and_never_yourself(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin("root@example.org", "Root").await;
    let org = app.organizer("org@example.org", "Org").await;
    let root = app.user_id("root@example.org").await;
    let org_id = app.user_id("org@example.org").await;
    // Organizers and members cannot reach the admin area or raise anyone's role.
    assert_eq!(
        app.get(&org, "/admin").await.status(),
        StatusCode::FORBIDDEN
    );
    let r = app
        .form(
            &org,
            &format!("/admin/users/{org_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .api(
            &org,
            Method::POST,
            &format!("/api/v1/admin/users/{org_id}/role"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let j: serde_json::Value = app
        .api(&org, Method::GET, "/api/v1/me", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(j["role"], "organizer");
    // Admins cannot change their own account from the admin area.
    let r = app
        .form(
            &admin,
            &format!("/admin/users/{root}/role"),
            &[("role", "member")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("You cannot change your own account")
    );
    let r = app
        .form(&admin, &format!("/admin/users/{root}/disable"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Bad input and unknown targets.
    let r = app
        .form(
            &admin,
            &format!("/admin/users/{org_id}/role"),
            &[("role", "emperor")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .form(
            &admin,
            "/admin/users/00000000-0000-7000-8000-000000000000/disable",
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .form(&admin, &format!("/admin/users/{org_id}/explode"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn bootstrap_admin_command(b: Backend) {
    use meetstage::features::admin::{Bootstrap, bootstrap_admin};
    let app = TestApp::spawn(b).await;
    // A new account needs a password; then it is an admin with a confirmed email.
    assert!(
        bootstrap_admin(&app.core, "boss@example.org", None, None)
            .await
            .is_err()
    );
    assert_eq!(
        bootstrap_admin(
            &app.core,
            "boss@example.org",
            Some("Boss"),
            Some("a strong admin passphrase")
        )
        .await
        .unwrap(),
        Bootstrap::Created
    );
    let c = app.browser();
    let r = app
        .form(
            &c,
            "/login",
            &[
                ("email", "boss@example.org"),
                ("password", "a strong admin passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&c, "/admin").await.status(), StatusCode::OK);
    // An existing account is promoted in place.
    let m = app.signup("later@example.org", "Later").await;
    assert_eq!(
        bootstrap_admin(&app.core, "later@example.org", None, None)
            .await
            .unwrap(),
        Bootstrap::Promoted {
            password_set: false
        }
    );
    let j: serde_json::Value = app
        .api(&m, Method::GET, "/api/v1/me", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (j["role"].as_str(), j["email_verified"].as_bool()),
        (Some("admin"), Some(true))
    );
    // Given a password, an existing account takes it (and its old sessions end) rather than
    // silently keeping the old one.
    assert_eq!(
        bootstrap_admin(
            &app.core,
            "later@example.org",
            None,
            Some("the recovered admin passphrase")
        )
        .await
        .unwrap(),
        Bootstrap::Promoted { password_set: true }
    );
    assert_eq!(
        app.get(&m, "/account").await.status(),
        StatusCode::SEE_OTHER,
        "old sessions ended"
    );
    let r = app
        .form(
            &app.browser(),
            "/login",
            &[
                ("email", "later@example.org"),
                ("password", "the recovered admin passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
