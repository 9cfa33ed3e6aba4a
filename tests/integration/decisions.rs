//! Decisions made somewhere else — by an admin, by the organizer, by the person on another
//! device — reach the connections that are already open: the room socket closes with its
//! code, the media stops, and the next attempt is refused. Every decision is made over HTTP.

use std::time::Duration;

use serde_json::json;

use crate::{
    both,
    helpers::{Backend, PASSWORD, TestApp},
    media::{flowing, heard_after_grace, stage, try_publish},
    room_client::{Person, Ws},
};

/// How soon an open connection must follow a decision.
const AT_ONCE: Duration = Duration::from_secs(1);

async fn close_code(ws: &mut Ws) -> u16 {
    let frame = ws
        .closed_within(AT_ONCE)
        .await
        .expect("a close frame with a code");
    u16::from(frame.code)
}

pub(crate) async fn admin(app: &TestApp, name: &str) -> Person {
    let p = app.person(name).await;
    app.core
        .store
        .set_role_unaudited(&p.id, "admin", app.clock.now_ms())
        .await
        .unwrap();
    p
}

pub(crate) async fn admin_acts(
    app: &TestApp,
    admin: &Person,
    user: &str,
    action: &str,
    body: serde_json::Value,
) {
    let r = app
        .api(
            &admin.client(),
            reqwest::Method::POST,
            &format!("/api/v1/admin/users/{user}/{action}"),
            Some(body),
        )
        .await;
    assert_eq!(r.status(), 200, "{action}: {}", r.text().await.unwrap());
}

async fn email_of(app: &TestApp, id: &str) -> String {
    app.core.store.user_by_id(id).await.unwrap().unwrap().email
}

/// The organizer names `who` a co-presenter through the dashboard's form.
pub(crate) async fn name_co_presenter(app: &TestApp, owner: &Person, event: &str, who: &Person) {
    let email = email_of(app, &who.id).await;
    let r = app
        .form(
            &owner.client(),
            &format!("/events/{event}/presenters"),
            &[("email", &email)],
        )
        .await;
    assert_eq!(r.status(), 303);
}

/// The organizer removes `who` as co-presenter through the dashboard's form.
pub(crate) async fn remove_co_presenter(app: &TestApp, owner: &Person, event: &str, who: &Person) {
    let r = app
        .form(
            &owner.client(),
            &format!("/events/{event}/presenters/remove"),
            &[("user_id", &who.id)],
        )
        .await;
    assert_eq!(r.status(), 303);
}

/// An admin bans a co-presenter from the platform while he sends on one stage and watches
/// another: both room sockets close, his camera leaves the stage, his viewing stops, and he
/// cannot come back. Disabling an attendee closes her socket the same way.
async fn an_account_closed_by_an_admin_leaves_every_room_and_stage(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let (other_owner, other_event) = app.live_event("members").await;
    let ann = admin(&app, "Ann").await;
    let ben = app.person("Ben").await;
    let ada = app.person("Ada").await;
    name_co_presenter(&app, &owner, &event, &ben).await;

    let mut ben_here = app.ws(&event, Some(&ben)).await;
    assert_eq!(ben_here.greeting().await.1["role"], "presenter");
    let mut ben_there = app.ws(&other_event, Some(&ben)).await;
    ben_there.greeting().await;
    let mut ada_room = app.ws(&event, Some(&ada)).await;
    ada_room.greeting().await;
    // Ben sends on his stage, Ada hears him; Ben watches the other event.
    let (mut ben_sends, mut ada_hears) = stage(&app, &event, &ben, &ada).await;
    let (mut other_sends, mut ben_hears) = stage(&app, &other_event, &other_owner, &ben).await;
    flowing(&mut ben_sends, &mut ada_hears).await;
    flowing(&mut other_sends, &mut ben_hears).await;

    admin_acts(&app, &ann, &ben.id, "ban", json!({ "reason": "spam" })).await;
    assert_eq!(close_code(&mut ben_here).await, 4004);
    assert_eq!(close_code(&mut ben_there).await, 4004);
    assert_eq!(
        heard_after_grace(&mut ben_sends, &mut ada_hears).await,
        0,
        "his camera left the stage"
    );
    assert_eq!(
        heard_after_grace(&mut other_sends, &mut ben_hears).await,
        0,
        "his viewing stopped"
    );
    // His session is gone: the room and the stage refuse him.
    let refused = app
        .try_ws(&event, Some(&ben.cookie), &app.base.clone())
        .await
        .err();
    assert_eq!(refused, Some(401));
    assert_eq!(try_publish(&app, &ben, &event).await, 401);

    // Disabled: the same, for an attendee.
    admin_acts(&app, &ann, &ada.id, "disable", json!({})).await;
    assert_eq!(close_code(&mut ada_room).await, 4004);
    let refused = app
        .try_ws(&event, Some(&ada.cookie), &app.base.clone())
        .await
        .err();
    assert_eq!(refused, Some(401));
}

/// An admin demoted to member stops moderating at once: their open dashboard closes (to load
/// again as an attendee's room), and a kick from the new socket is refused.
async fn a_demoted_moderator_loses_the_powers_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_owner, event) = app.live_event("members").await;
    let ann = admin(&app, "Ann").await;
    let mo = admin(&app, "Mo").await;
    let ada = app.person("Ada").await;
    let mut ada_room = app.ws(&event, Some(&ada)).await;
    ada_room.greeting().await;
    let mut mo_room = app.ws(&event, Some(&mo)).await;
    assert_eq!(mo_room.greeting().await.1["role"], "moderator");

    admin_acts(&app, &ann, &mo.id, "role", json!({ "role": "member" })).await;
    assert_eq!(close_code(&mut mo_room).await, 4000);
    let mut mo_room = app.ws(&event, Some(&mo)).await;
    assert_eq!(mo_room.greeting().await.1["role"], "attendee");
    mo_room.send("kick", json!({ "user_id": ada.id })).await;
    assert_eq!(mo_room.error().await, "not_allowed");
    // Ada is still there.
    ada_room.settle().await;
}

/// Signing out closes the sockets of that session only; changing the password closes those
/// of every other session.
async fn signing_out_closes_that_sessions_sockets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_owner, event) = app.live_event("members").await;
    let laptop = app.person("Ada").await;
    let phone = app.cookie_of(laptop.id.clone()).await;
    let tablet = app.cookie_of(laptop.id.clone()).await;
    let mut on_laptop = app.ws(&event, Some(&laptop)).await;
    let mut on_phone = app.ws(&event, Some(&phone)).await;
    let mut on_tablet = app.ws(&event, Some(&tablet)).await;
    for ws in [&mut on_laptop, &mut on_phone, &mut on_tablet] {
        ws.greeting().await;
    }

    let r = app.form(&laptop.client(), "/logout", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(close_code(&mut on_laptop).await, 4005);
    on_phone.settle().await;
    on_tablet.settle().await;

    // A password change on the phone signs the tablet out.
    use meetstage::features::accounts::Password;
    let hash = app
        .core
        .hasher
        .hash(&Password::parse(PASSWORD, None).unwrap())
        .await
        .unwrap();
    app.sql(&[&format!(
        "UPDATE users SET password_hash = '{hash}' WHERE id = '{}'",
        laptop.id
    )])
    .await;
    let r = app
        .api(
            &phone.client(),
            reqwest::Method::POST,
            "/api/v1/me/password",
            Some(json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" })),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    assert_eq!(close_code(&mut on_tablet).await, 4005);
    on_phone.settle().await;
}

/// A co-presenter the organizer removes leaves the stage: his dashboard closes, his camera
/// stops reaching the audience, and a new offer to send is refused.
async fn a_removed_co_presenter_leaves_the_stage(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let ben = app.person("Ben").await;
    let ada = app.person("Ada").await;
    name_co_presenter(&app, &owner, &event, &ben).await;
    let mut ben_room = app.ws(&event, Some(&ben)).await;
    assert_eq!(ben_room.greeting().await.1["role"], "presenter");
    let (mut ben_sends, mut ada_hears) = stage(&app, &event, &ben, &ada).await;
    flowing(&mut ben_sends, &mut ada_hears).await;

    remove_co_presenter(&app, &owner, &event, &ben).await;
    assert_eq!(close_code(&mut ben_room).await, 4000);
    assert_eq!(heard_after_grace(&mut ben_sends, &mut ada_hears).await, 0);
    assert_eq!(try_publish(&app, &ben, &event).await, 403);
}

/// Two instances on one Postgres database: an admin's ban made through one closes the
/// person's socket on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_on_one_instance_reaches_the_other() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.another_instance().await;
    let (_owner, event) = a.live_event("members").await;
    let ann = admin(&a, "Ann").await;
    let ada = a.person("Ada").await;
    let mut on_a = a.ws(&event, Some(&ada)).await;
    on_a.greeting().await;
    admin_acts(&b, &ann, &ada.id, "ban", json!({ "reason": "spam" })).await;
    assert_eq!(close_code(&mut on_a).await, 4004);
    drop(b);
}

both!(
    an_account_closed_by_an_admin_leaves_every_room_and_stage,
    a_demoted_moderator_loses_the_powers_at_once,
    signing_out_closes_that_sessions_sockets,
    a_removed_co_presenter_leaves_the_stage
);
