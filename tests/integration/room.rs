//! The live room's protocol with real WebSocket clients against the real server, on both
//! databases: every action's happy path and its refusals.

use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestApp},
    room_client::Ws,
};

/// A live members event with its owner and one attendee, both connected and greeted.
async fn room(backend: Backend) -> (TestApp, String, Ws, Ws, crate::room_client::Person) {
    let app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    let mut presenter = app.ws(&event, Some(&owner)).await;
    let (snap, you) = presenter.greeting().await;
    assert_eq!(you["role"], "presenter");
    assert_eq!(snap["clock"]["status"], "live");
    assert!(snap["people"].is_array(), "presenters see who is here");
    let mut attendee = app.ws(&event, Some(&ada)).await;
    let (snap, you) = attendee.greeting().await;
    assert_eq!(you["role"], "attendee");
    assert_eq!(you["user_id"], ada.id.as_str());
    assert!(snap["people"].is_null(), "attendees see only the count");
    assert!(snap["hands"].is_null());
    // The presenter hears Ada arrive.
    let joined = presenter
        .until_with("person_joined", |p| p["name"] == "Ada")
        .await;
    assert_eq!(joined["name"], "Ada");
    (app, event, presenter, attendee, ada)
}

async fn questions_are_asked_voted_answered_pinned_and_dismissed(backend: Backend) {
    let (app, event, mut presenter, mut ada, _ada_p) = room(backend).await;
    ada.send("ask", json!({ "text": "  How do you deploy?  " }))
        .await;
    let q = ada.until("question").await;
    assert_eq!(q["text"], "How do you deploy?");
    assert_eq!(q["status"], "queued");
    assert_eq!(q["author"], "Ada");
    let id = q["id"].as_str().unwrap().to_string();
    assert_eq!(presenter.until("question").await["id"], id.as_str());

    // One vote per person, never for your own.
    ada.send("upvote", json!({ "question_id": id })).await;
    assert_eq!(ada.error().await, "own_question");
    let bob = app.person("Bob").await;
    let mut bob_ws = app.ws(&event, Some(&bob)).await;
    let (snap, _) = bob_ws.greeting().await;
    assert_eq!(
        snap["questions"][0]["id"],
        id.as_str(),
        "late joiners see the queue"
    );
    bob_ws.send("upvote", json!({ "question_id": id })).await;
    assert_eq!(bob_ws.until("voted").await["question_id"], id.as_str());
    assert_eq!(ada.until("question").await["votes"], 1);
    bob_ws.send("upvote", json!({ "question_id": id })).await;
    assert_eq!(bob_ws.error().await, "already_voted");

    // Attendees cannot answer, pin or dismiss.
    for (kind, data) in [
        ("answer", json!({ "question_id": id, "text": "x" })),
        ("pin", json!({ "question_id": id })),
        ("dismiss", json!({ "question_id": id })),
    ] {
        ada.send(kind, data).await;
        assert_eq!(ada.error().await, "not_allowed", "{kind}");
    }

    // Presenters pin (kept for late joiners) and answer for everyone.
    presenter.send("pin", json!({ "question_id": id })).await;
    assert_eq!(ada.until("question").await["pinned"], true);
    let mut late = app.ws(&event, Some(&app.person("Late").await)).await;
    let (snap, _) = late.greeting().await;
    assert_eq!(snap["questions"][0]["pinned"], true);
    presenter
        .send(
            "answer",
            json!({ "question_id": id, "text": "With one binary." }),
        )
        .await;
    let answered = ada
        .until_with("question", |q| q["status"] == "answered")
        .await;
    assert_eq!(answered["answer"], "With one binary.");
    assert_eq!(
        answered["pinned"], false,
        "an answered question is no longer pinned"
    );

    // A dismissed question leaves everyone's list but its author sees what happened.
    ada.send("ask", json!({ "text": "Off topic?" })).await;
    let q2 = ada
        .until_with("question", |q| q["text"] == "Off topic?")
        .await;
    let id2 = q2["id"].as_str().unwrap().to_string();
    presenter
        .send("dismiss", json!({ "question_id": id2 }))
        .await;
    assert_eq!(bob_ws.until("question_removed").await["id"], id2.as_str());
    let mine = ada
        .until_with("question", |q| q["id"] == id2.as_str())
        .await;
    assert_eq!(mine["status"], "dismissed");
    let mut again = app.ws(&event, Some(&_ada_p)).await;
    let (snap, you) = again.greeting().await;
    assert!(
        snap["questions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["id"] != id2.as_str())
    );
    assert!(
        you["questions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["id"] == id2.as_str() && q["status"] == "dismissed")
    );
    let presenters_view = presenter
        .until_with("question", |q| {
            q["id"] == id2.as_str() && q["status"] != "queued"
        })
        .await;
    assert_eq!(
        presenters_view["status"], "dismissed",
        "presenters keep the history"
    );

    // Bounds.
    ada.send("ask", json!({ "text": "x".repeat(1001) })).await;
    assert_eq!(ada.error().await, "too_long");
    ada.send("ask", json!({ "text": "   " })).await;
    assert_eq!(ada.error().await, "empty");
    ada.send("ask", json!({ "text": "see data:text/html;base64,AAAA" }))
        .await;
    assert_eq!(ada.error().await, "blocked");
}

async fn hands_go_up_are_acknowledged_and_come_down(backend: Backend) {
    let (app, event, mut presenter, mut ada, ada_p) = room(backend).await;
    let bob = app.person("Bob").await;
    let mut bob_ws = app.ws(&event, Some(&bob)).await;
    bob_ws.greeting().await;
    ada.send("raise_hand", json!({})).await;
    assert_eq!(ada.until("hand").await["acknowledged"], false);
    bob_ws.send("raise_hand", json!({})).await;
    let first = presenter.until("hand").await;
    assert_eq!(first["name"], "Ada");
    assert_eq!(presenter.until("hand").await["name"], "Bob");
    // Raise order survives a reconnect: the snapshot lists them in order.
    let mut p2 = app
        .ws(
            &event,
            Some(&app.cookie_of(first_owner(&app, &event).await).await),
        )
        .await;
    let (snap, _) = p2.greeting().await;
    let names: Vec<_> = snap["hands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].clone())
        .collect();
    assert_eq!(names, vec!["Ada", "Bob"]);

    presenter
        .send("acknowledge_hand", json!({ "user_id": ada_p.id }))
        .await;
    assert_eq!(ada.until("hand").await["acknowledged"], true);
    ada.send("lower_hand", json!({})).await;
    assert_eq!(ada.until("hand_lowered").await["id"], ada_p.id.as_str());
    ada.send("lower_hand", json!({})).await;
    assert_eq!(ada.error().await, "not_found");
    // An attendee cannot lower someone else's hand or all of them.
    ada.send("dismiss_hand", json!({ "user_id": bob.id })).await;
    assert_eq!(ada.error().await, "not_allowed");
    ada.send("lower_all_hands", json!({})).await;
    assert_eq!(ada.error().await, "not_allowed");
    presenter.send("lower_all_hands", json!({})).await;
    assert_eq!(bob_ws.until("hand_lowered").await["id"], bob.id.as_str());
}

async fn first_owner(app: &TestApp, event: &str) -> String {
    app.core.store.event(event).await.unwrap().unwrap().owner_id
}

async fn chat_groups_directs_replies_and_moderation(backend: Backend) {
    let (app, event, mut presenter, mut ada, ada_p) = room(backend).await;
    let bob = app.person("Bob").await;
    let mut bob_ws = app.ws(&event, Some(&bob)).await;
    bob_ws.greeting().await;

    ada.send("chat", json!({ "text": "Hello all" })).await;
    let m = bob_ws.until_with("chat", |m| m["kind"] == "group").await;
    assert_eq!(
        (m["text"].as_str(), m["author"].as_str()),
        (Some("Hello all"), Some("Ada"))
    );
    assert_eq!(m["author_role"], "attendee");

    // A direct message reaches the presenters and its author, never another attendee.
    ada.send("direct", json!({ "text": "Psst, the mic is off" }))
        .await;
    let dm = presenter
        .until_with("chat", |m| m["kind"] == "direct")
        .await;
    assert_eq!(dm["text"], "Psst, the mic is off");
    assert_eq!(
        ada.until_with("chat", |m| m["kind"] == "direct").await["text"],
        "Psst, the mic is off"
    );
    presenter
        .send(
            "reply",
            json!({ "user_id": ada_p.id, "text": "Thanks, fixed" }),
        )
        .await;
    let reply = ada
        .until_with("chat", |m| {
            m["kind"] == "direct" && m["text"] == "Thanks, fixed"
        })
        .await;
    assert_eq!(reply["to_id"], ada_p.id.as_str());
    bob_ws.send("chat", json!({ "text": "marker" })).await;
    loop {
        let v = bob_ws.next().await;
        assert!(
            v["data"]["kind"] != "direct",
            "Bob saw a direct message: {v}"
        );
        if v["data"]["text"] == "marker" {
            break;
        }
    }
    // A reply goes only to someone who has been in this room.
    let stranger = app.person("Stranger").await;
    presenter
        .send("reply", json!({ "user_id": stranger.id, "text": "hello?" }))
        .await;
    assert_eq!(presenter.error().await, "not_present");
    // Attendees cannot reply to one person, delete or close chat.
    bob_ws
        .send("reply", json!({ "user_id": ada_p.id, "text": "hi" }))
        .await;
    assert_eq!(bob_ws.error().await, "not_allowed");

    // Closing group chat stops attendees, not presenters; a notice says so.
    presenter.send("set_chat", json!({ "open": false })).await;
    assert_eq!(ada.until("chat_settings").await["open"], false);
    ada.send("chat", json!({ "text": "still here?" })).await;
    assert_eq!(ada.error().await, "chat_closed");
    presenter.send("set_chat", json!({ "open": true })).await;
    assert_eq!(ada.until("chat_settings").await["open"], true);

    // Deleting a message removes it for everyone and from late joiners' history.
    let id = m["id"].as_str().unwrap().to_string();
    presenter
        .send("delete_message", json!({ "message_id": id }))
        .await;
    assert_eq!(bob_ws.until("chat_deleted").await["id"], id.as_str());
    let mut late = app.ws(&event, Some(&app.person("Late").await)).await;
    let (snap, _) = late.greeting().await;
    let texts: Vec<_> = snap["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert!(!texts.contains(&"Hello all".to_string()));
    assert!(
        texts.iter().any(|t| t == "The event is live."),
        "system notices are history: {texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("Psst")),
        "no direct messages in an attendee's history"
    );

    // Restrict chat: Ada's messages are refused, questions too when restricted; a reconnect
    // keeps it.
    presenter
        .send(
            "restrict",
            json!({ "user_id": ada_p.id, "chat": true, "questions": true }),
        )
        .await;
    let standing = ada.until("participant").await;
    assert_eq!(standing["chat_restricted"], true);
    let mut ada2 = app.ws(&event, Some(&ada_p)).await;
    let (_, you) = ada2.greeting().await;
    assert_eq!(you["standing"]["chat_restricted"], true);
    ada2.send("chat", json!({ "text": "let me talk" })).await;
    assert_eq!(ada2.error().await, "restricted");
    ada2.send("ask", json!({ "text": "a question" })).await;
    assert_eq!(ada2.error().await, "restricted");
    presenter
        .send(
            "restrict",
            json!({ "user_id": ada_p.id, "chat": false, "questions": false }),
        )
        .await;
    assert_eq!(ada2.until("participant").await["chat_restricted"], false);
    ada2.send("chat", json!({ "text": "thanks" })).await;
    ada2.until_with("chat", |m| m["text"] == "thanks").await;

    // Every moderation action is in the audit log.
    let log = app.core.store.audit_log(0, 100).await.unwrap();
    let actions: Vec<_> = log.iter().map(|a| a.action.as_str()).collect();
    for a in ["room.chat.open", "room.chat.delete", "room.restrict"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

async fn kicked_and_banned_people_are_closed_and_kept_out(backend: Backend) {
    let (app, event, mut presenter, mut ada, ada_p) = room(backend).await;
    presenter.send("kick", json!({ "user_id": ada_p.id })).await;
    assert_eq!(ada.until("removed").await["banned"], false);
    let close = ada.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4001);
    // A kicked person may come back.
    let mut ada = app.ws(&event, Some(&ada_p)).await;
    ada.greeting().await;
    presenter
        .send("ban", json!({ "user_id": ada_p.id, "reason": "spam" }))
        .await;
    assert_eq!(ada.until("removed").await["banned"], true);
    assert_eq!(u16::from(ada.closed().await.unwrap().code), 4003);
    let refused = app.try_ws(&event, Some(&ada_p.cookie), &app.base).await;
    assert_eq!(refused.err(), Some(403), "a banned person cannot reconnect");
    let (status, page) = app
        .text(&ada_p.client(), &format!("/events/{event}/live"))
        .await;
    assert_eq!(status, 403);
    assert!(page.contains("removed you from this event"), "{page}");
    let banned = presenter
        .until_with("participant", |p| p["banned"] == true)
        .await;
    assert_eq!(banned["ban_reason"], "spam");
    presenter
        .send("unban", json!({ "user_id": ada_p.id }))
        .await;
    presenter
        .until_with("participant", |p| p["banned"] == false)
        .await;
    app.ws(&event, Some(&ada_p)).await.greeting().await;

    // Presenters are not moderated; a presenter of another event cannot act here, and ids
    // of strangers are refused.
    let bob = app.person("Bob").await;
    presenter.send("kick", json!({ "user_id": bob.id })).await;
    assert_eq!(presenter.error().await, "not_present");
    let (other_owner, other_event) = app.live_event("members").await;
    let mut other = app.ws(&other_event, Some(&other_owner)).await;
    other.greeting().await;
    other.send("kick", json!({ "user_id": ada_p.id })).await;
    assert_eq!(
        other.error().await,
        "not_present",
        "Ada was never in the other event"
    );
    let mut outsider = app.ws(&event, Some(&other_owner)).await;
    outsider.greeting().await;
    outsider.send("kick", json!({ "user_id": ada_p.id })).await;
    assert_eq!(
        outsider.error().await,
        "not_allowed",
        "a presenter elsewhere is an attendee here"
    );
    let mut ada = app.ws(&event, Some(&ada_p)).await;
    ada.greeting().await;
    let owner = first_owner(&app, &event).await;
    ada.send("kick", json!({ "user_id": owner })).await;
    assert_eq!(ada.error().await, "not_allowed");
}

async fn identities_come_from_the_session_only(backend: Backend) {
    let (app, event, mut presenter, mut ada, _ada_p) = room(backend).await;
    // A payload naming someone else is refused outright; the message is not carried out.
    ada.send_text(&json!({ "type": "chat", "data": { "text": "hi", "user_id": first_owner(&app, &event).await } }).to_string())
        .await;
    assert_eq!(ada.error().await, "bad_message");
    ada.send_text(r#"{"type":"chat","data":{"text":"as myself"},"from":"owner"}"#)
        .await;
    assert_eq!(ada.error().await, "bad_message");
    ada.send_text("not json").await;
    assert_eq!(ada.error().await, "bad_message");
    ada.send("no_such_thing", json!({})).await;
    assert_eq!(ada.error().await, "bad_message");
    // Guests of a public event only watch.
    let (pub_owner, public) = app.live_event("public").await;
    let mut guest = app.ws(&public, None).await;
    let (_, you) = guest.greeting().await;
    assert_eq!(you["role"], "viewer");
    guest.send("chat", json!({ "text": "hi" })).await;
    assert_eq!(guest.error().await, "sign_in");
    guest.send("react", json!({ "emoji": "👏" })).await;
    assert_eq!(guest.error().await, "sign_in");
    // …and members-only rooms turn guests away.
    assert_eq!(app.try_ws(&event, None, &app.base).await.err(), Some(401));
    // A foreign page cannot open a socket with someone's cookie.
    let foreign = app
        .try_ws(&public, Some(&pub_owner.cookie), "https://evil.example")
        .await;
    assert_eq!(foreign.err(), Some(403));
    assert_eq!(
        app.try_ws(&"0".repeat(3), None, &app.base).await.err(),
        Some(404)
    );
    // Nothing above reached the chat: the first message from a person is the marker (the
    // room's own "The event is live." may still be on its way under load).
    presenter.send("chat", json!({ "text": "marker" })).await;
    let m = presenter
        .until_with("chat", |m| m["kind"] != "system")
        .await;
    assert_eq!(m["text"], "marker");
}

async fn limits_answer_with_errors_not_crashes(backend: Backend) {
    let app = TestApp::spawn_with(backend, |o| {
        o.room_actions_per_min = Some(3);
        o.room_chat_per_min = Some(2);
    })
    .await;
    let (_, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    let mut ws = app.ws(&event, Some(&ada)).await;
    ws.greeting().await;
    for _ in 0..2 {
        ws.send("chat", json!({ "text": "hi" })).await;
    }
    ws.send("chat", json!({ "text": "too fast" })).await;
    assert_eq!(ws.error().await, "rate_limited");
    // Chat has its own budget: hands still work.
    ws.send("raise_hand", json!({})).await;
    ws.until("hand").await;
    ws.send("lower_hand", json!({})).await;
    ws.until("hand_lowered").await;
    ws.send("raise_hand", json!({})).await;
    ws.until("hand").await;
    ws.send("lower_hand", json!({})).await;
    assert_eq!(ws.error().await, "rate_limited");
    ws.send("chat", json!({ "text": "x".repeat(501) })).await;
    // Over budget is refused before the text is looked at.
    assert_eq!(ws.error().await, "rate_limited");
    // A frame over 4 KiB closes the socket with "too big"; the room carries on.
    ws.send_text(&"x".repeat(5000)).await;
    assert_eq!(u16::from(ws.closed().await.unwrap().code), 1009);
    let mut ws = app.ws(&event, Some(&ada)).await;
    ws.greeting().await;
}

async fn presenters_extend_the_clock(backend: Backend) {
    let (app, event, mut presenter, mut ada, _) = room(backend).await;
    presenter.send("extend", json!({ "minutes": 20 })).await;
    assert_eq!(presenter.error().await, "bad_duration");
    ada.send("extend", json!({ "minutes": 15 })).await;
    assert_eq!(ada.error().await, "not_allowed");
    presenter.send("extend", json!({ "minutes": 30 })).await;
    let clock = ada.until("clock").await;
    let stops = clock["stops_at"].as_i64().unwrap();
    let job = meetstage::features::live::stops_at(&app.core, &event)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        job.timestamp_millis(),
        stops,
        "the automatic stop moved with the clock"
    );
    assert_eq!(clock["extendable_minutes"], 480 - 90);
    ada.until_with("chat", |m| {
        m["kind"] == "system" && m["text"].as_str().unwrap().contains("added 30 minutes")
    })
    .await;
    // 90 + 6 × 60 = 450 minutes; a seventh hour would pass 480.
    for _ in 0..6 {
        presenter.send("extend", json!({ "minutes": 60 })).await;
        presenter
            .until_with("chat", |m| m["kind"] == "system")
            .await;
    }
    presenter.send("extend", json!({ "minutes": 60 })).await;
    assert_eq!(presenter.error().await, "too_late");
    presenter.send("extend", json!({ "minutes": 30 })).await;
    // 480 minutes now: the clock says no more.
    presenter
        .until_with("clock", |c| c["extendable_minutes"] == 0)
        .await;
}

/// Presence counts people, not tabs; attendance records each visit; reactions arrive as one
/// aggregated frame, not one per click.
async fn presence_attendance_and_reactions(backend: Backend) {
    let (app, event, mut presenter, ada, ada_p) = room(backend).await;
    let count = |v: &serde_json::Value| v["count"].as_u64().unwrap();
    let settled = presenter.until_with("presence", |p| p["count"] == 2).await;
    assert_eq!(count(&settled), 2, "the owner and Ada");
    // A second tab of Ada's changes nothing in the count or the list.
    let mut tab = app.ws(&event, Some(&ada_p)).await;
    let (snap, _) = tab.greeting().await;
    assert_eq!(snap["presence"], 2);
    let seen = presenter.settle().await;
    assert!(
        !seen.iter().any(|m| m["type"] == "person_joined"),
        "a second tab is not a second person: {seen:?}"
    );
    let open = app.core.store.attendance(&event).await.unwrap();
    let ada_visits: Vec<_> = open.iter().filter(|(u, _, _)| *u == ada_p.id).collect();
    assert_eq!(ada_visits.len(), 1, "one visit while any tab is open");
    assert!(ada_visits[0].2.is_none());
    drop(tab);
    drop(ada);
    presenter
        .until_with("person_left", |p| p["id"] == ada_p.id.as_str())
        .await;
    let visits = app.core.store.attendance(&event).await.unwrap();
    let ada_visit = visits.iter().find(|(u, _, _)| *u == ada_p.id).unwrap();
    assert!(
        ada_visit.2.is_some(),
        "the visit ended when her last tab closed"
    );

    // Many clicks, few frames: the room sums reactions per interval.
    let mut ada = app.ws(&event, Some(&ada_p)).await;
    ada.greeting().await;
    let bob = app.person("Bob").await;
    let mut bob_ws = app.ws(&event, Some(&bob)).await;
    bob_ws.greeting().await;
    for _ in 0..5 {
        ada.send("react", json!({ "emoji": "👏" })).await;
        bob_ws.send("react", json!({ "emoji": "👏" })).await;
    }
    bob_ws.send("react", json!({ "emoji": "🎉" })).await;
    let mut claps = 0;
    let mut frames = 0;
    while claps < 10 {
        let r = presenter.until("reactions").await;
        frames += 1;
        claps += r["counts"]["👏"].as_u64().unwrap_or(0);
    }
    assert_eq!(claps, 10);
    assert!(frames <= 3, "11 reactions came in {frames} frames");
    bob_ws.send("react", json!({ "emoji": "💩" })).await;
    assert_eq!(bob_ws.error().await, "bad_emoji");
}

/// The organizer names a co-presenter from the dashboard: their page turns into the
/// dashboard; removing them turns it back.
async fn co_presenters_run_the_room_too(backend: Backend) {
    let (app, event, _presenter, mut ada, ada_p) = room(backend).await;
    let owner = app.cookie_of(first_owner(&app, &event).await).await;
    let org = owner.client();
    let add = format!("/events/{event}/presenters");
    let r = app
        .form(&org, &add, &[("email", "nobody@example.org")])
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("No member has that address.")
    );
    let email = app
        .core
        .store
        .user_by_id(&ada_p.id)
        .await
        .unwrap()
        .unwrap()
        .email;
    let stranger = app.person("Bob").await.client();
    let r = app.form(&stranger, &add, &[("email", &email)]).await;
    assert_eq!(r.status(), 403, "only the organizer names co-presenters");
    let r = app.form(&org, &add, &[("email", &email)]).await;
    assert_eq!(r.status(), 303);
    // Her open page is told to load again, and now she runs the room.
    assert_eq!(u16::from(ada.closed().await.unwrap().code), 4000);
    let mut ada = app.ws(&event, Some(&ada_p)).await;
    let (snap, you) = ada.greeting().await;
    assert_eq!(you["role"], "presenter");
    assert!(snap["hands"].is_array());
    let (_, page) = app
        .text(&ada_p.client(), &format!("/events/{event}/live"))
        .await;
    assert!(page.contains("Dashboard: ") && page.contains("id=\"hands\""));
    let r = app
        .form(
            &org,
            &format!("/events/{event}/presenters/remove"),
            &[("user_id", &ada_p.id)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(u16::from(ada.closed().await.unwrap().code), 4000);
    let mut ada = app.ws(&event, Some(&ada_p)).await;
    assert_eq!(ada.greeting().await.1["role"], "attendee");
    let actions: Vec<String> = app
        .core
        .store
        .audit_log(0, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(actions.contains(&"event.presenter.add".to_string()));
    assert!(actions.contains(&"event.presenter.remove".to_string()));
}

/// Two instances on one Postgres database, as behind a load balancer: a question asked through
/// one is seen, answered and pinned through the other, and presence is summed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_room_through_postgres() {
    let (a, event, mut presenter_a, mut ada, ada_p) = room(Backend::Postgres).await;
    let b = a.another_instance().await;
    let owner = a.cookie_of(first_owner(&a, &event).await).await;
    let mut presenter_b = b.ws(&event, Some(&owner)).await;
    // B's room starts knowing who is already here through A (their open visits).
    let (snap, _) = presenter_b.greeting().await;
    assert_eq!(snap["presence"], 2, "{snap}");
    let names: Vec<&str> = snap["people"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"Ada"), "{names:?}");
    let bob = a.person("Bob").await;
    let mut bob_b = b.ws(&event, Some(&bob)).await;
    bob_b.greeting().await;
    // Presence on A counts Bob, who is on B.
    presenter_a
        .until_with("person_joined", |p| p["name"] == "Bob")
        .await;
    presenter_a
        .until_with("presence", |p| p["count"] == 3)
        .await;

    ada.send("ask", json!({ "text": "Asked on A?" })).await;
    let q = bob_b.until("question").await;
    assert_eq!(q["text"], "Asked on A?");
    let id = q["id"].as_str().unwrap().to_string();
    presenter_b.send("pin", json!({ "question_id": id })).await;
    assert_eq!(
        ada.until_with("question", |q| q["pinned"] == true).await["id"],
        id.as_str()
    );
    presenter_b
        .send(
            "answer",
            json!({ "question_id": id, "text": "Answered on B." }),
        )
        .await;
    let answered = ada
        .until_with("question", |q| q["status"] == "answered")
        .await;
    assert_eq!(answered["answer"], "Answered on B.");
    // A kick through B closes Ada's socket on A.
    presenter_b
        .send("kick", json!({ "user_id": ada_p.id }))
        .await;
    assert_eq!(u16::from(ada.closed().await.unwrap().code), 4001);
    drop(b);
}

/// An operator watching a live event sees its connections, frames and actions.
async fn a_reader_that_falls_behind_starts_over_from_a_snapshot(backend: Backend) {
    const TOKEN: &str = "room-metrics-token-123";
    let app = TestApp::spawn_with(backend, |o| {
        o.room_queue = Some(4);
        // Small kernel buffers, so a few hundred messages are enough to fall behind.
        o.room_send_buffer = Some(32 * 1024);
        o.room_chat_per_min = Some(10_000);
        o.room_stall_secs = Some(120);
        o.metrics_token = Some(meetstage::config::Secret::new(TOKEN));
    })
    .await;
    let (owner, event) = app.live_event("members").await;
    let mut presenter = app.ws(&event, Some(&owner)).await;
    presenter.greeting().await;
    let ada = app.person("Ada").await;
    // Ada's page stops reading while the presenter talks: her socket's buffers fill, then
    // her four queued messages, then the room gives up on the rest for her.
    let mut slow = app.ws_small_buffer(&event, &ada).await;
    presenter.until("person_joined").await;
    let words = "the quick brown fox jumps "
        .repeat(19)
        .trim_end()
        .to_string();
    let sent = 300;
    for i in 0..sent {
        let text = format!("{i:03} {words}");
        presenter.send("chat", json!({ "text": text })).await;
        presenter
            .until_with("chat", |m| m["text"].as_str() == Some(text.as_str()))
            .await;
    }
    // She reads again: the greeting, messages in order (`next` checks the numbers), and
    // snapshots that skip what she missed, until she has the latest message.
    slow.greeting().await;
    let latest = format!("{:03} ", sent - 1);
    let is_latest =
        |m: &serde_json::Value| m["text"].as_str().is_some_and(|t| t.starts_with(&latest));
    let (mut chats, mut skips) = (0, 0);
    loop {
        let before = slow.seq;
        let v = slow.next().await;
        match v["type"].as_str() {
            Some("snapshot") => {
                if v["seq"].as_u64().unwrap() > before + 1 {
                    skips += 1;
                }
                if v["data"]["chat"].as_array().unwrap().iter().any(is_latest) {
                    break;
                }
            }
            Some("chat") if is_latest(&v["data"]) => break,
            Some("chat") => chats += 1,
            _ => {}
        }
    }
    assert!(skips > 0, "a snapshot skipped what she missed");
    assert!(
        chats < sent - 1,
        "she did not get every message one by one ({chats})"
    );
    // From there on she follows the stream again.
    presenter
        .send("chat", json!({ "text": "Still there?" }))
        .await;
    let m = slow
        .until_with("chat", |m| m["text"] == "Still there?")
        .await;
    assert_eq!(m["author_role"], "presenter");
    let metrics = app.metrics(TOKEN).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("meetstage_room_resyncs_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

async fn a_message_split_in_pieces_survives_a_busy_connection(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(backend, |o| {
        o.room_queue = Some(4);
        o.room_send_buffer = Some(4096);
        o.room_chat_per_min = Some(10_000);
        o.room_stall_secs = Some(120);
    })
    .await;
    let (owner, event) = app.live_event("members").await;
    let mut presenter = app.ws(&event, Some(&owner)).await;
    presenter.greeting().await;
    let ada = app.person("Ada").await;
    let mut raw = app.raw_ws(&event, &ada).await;
    presenter.until("person_joined").await;
    // Ada's page sends the start of a question, stalls, and reads nothing meanwhile...
    let frame = crate::room_client::masked_text_frame(
        &json!({ "type": "ask", "data": { "text": "Split in two?" } }).to_string(),
    );
    raw.write_all(&frame[..5]).await.unwrap();
    // ...while the room falls behind for her and starts her over again and again, each time
    // waking her connection's task in the middle of reading that frame.
    let words = "the quick brown fox jumps "
        .repeat(19)
        .trim_end()
        .to_string();
    for i in 0..120 {
        let text = format!("{i:03} {words}");
        presenter.send("chat", json!({ "text": text })).await;
        presenter
            .until_with("chat", |m| m["text"].as_str() == Some(text.as_str()))
            .await;
    }
    raw.write_all(&frame[5..]).await.unwrap();
    let q = presenter.until("question").await;
    assert_eq!(q["text"], "Split in two?");
}

async fn silent_instances_stop_counting_and_their_visits_close(backend: Backend) {
    let app = TestApp::spawn_with(backend, |o| o.room_heartbeat_secs = Some(1)).await;
    let (owner, event) = app.live_event("members").await;
    let mut presenter = app.ws(&event, Some(&owner)).await;
    presenter.greeting().await;
    let ghost = app.person("Ghost").await;
    // A visit left open by an instance last seen an hour ago (it crashed) is closed as of then.
    let now = app.core.clock.now_ms();
    let store = &app.core.store;
    store
        .instance_seen("crashed", now - 3_600_000)
        .await
        .unwrap();
    store
        .attendance_joined(
            "0190a0a0-0000-7000-8000-000000000001",
            &event,
            &ghost.id,
            "crashed",
            now - 7_200_000,
        )
        .await
        .unwrap();
    // Another instance says Ghost and two guests are in the room, then never speaks again.
    app.core.reactions.heard(
        &meetstage::features::live::Scope::event(&event),
        &meetstage::features::live::Notice::Presence {
            instance: "silent".into(),
            user: Some(ghost.id.parse().unwrap()),
            joined: true,
            anonymous: 2,
        },
    );
    presenter
        .until_with("person_joined", |p| p["name"] == "Ghost")
        .await;
    presenter.until_with("presence", |p| p["count"] == 4).await;
    // Three silent heartbeats later it no longer counts.
    let left = presenter.until("person_left").await;
    assert_eq!(left["id"], ghost.id.as_str());
    presenter.until_with("presence", |p| p["count"] == 1).await;
    let visits = store.attendance(&event).await.unwrap();
    let closed: Vec<_> = visits.iter().filter(|v| v.0 == ghost.id).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(
        closed[0].2,
        Some(now - 3_600_000),
        "closed as of its last heartbeat"
    );
    let own: Vec<_> = visits.iter().filter(|v| v.0 != ghost.id).collect();
    assert!(
        own.iter().all(|v| v.2.is_none()),
        "live visits stay open: {own:?}"
    );
}

async fn room_metrics_are_exported(backend: Backend) {
    const TOKEN: &str = "room-metrics-token-123";
    let app = TestApp::spawn_with(backend, |o| {
        o.metrics_token = Some(meetstage::config::Secret::new(TOKEN));
    })
    .await;
    let (_, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    let mut one = app.ws(&event, Some(&ada)).await;
    one.greeting().await;
    let mut two = app.ws(&event, Some(&app.person("Bob").await)).await;
    two.greeting().await;
    one.send("ask", json!({ "text": "Metrics?" })).await;
    two.until("question").await;
    one.send("react", json!({ "emoji": "👍" })).await;
    two.until("reactions").await;
    let metrics = app.metrics(TOKEN).await;
    assert!(
        metrics.contains(&format!(
            "meetstage_room_connections{{event=\"{event}\"}} 2"
        )),
        "{metrics}"
    );
    for name in [
        "meetstage_room_actions_total{action=\"ask\"}",
        "meetstage_room_frames_out_total",
        "meetstage_room_frames_in_total",
        "meetstage_room_reactions_total",
        "meetstage_rooms",
    ] {
        assert!(metrics.contains(name), "{name} missing");
    }
}

/// An event that goes live ten minutes early counts from that moment and runs its length
/// (60 minutes), not the 70 left until its scheduled end.
async fn the_clock_counts_from_going_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let went_live = app.clock.now_ms();
    let (owner, event) = app.live_event("members").await;
    let mut presenter = app.ws(&event, Some(&owner)).await;
    let (snap, _) = presenter.greeting().await;
    let clock = &snap["clock"];
    assert_eq!(clock["live_at"], json!(went_live));
    assert!(clock["starts_at"].as_i64().unwrap() > went_live + 9 * 60_000);
    assert_eq!(clock["stops_at"], json!(went_live + 60 * 60_000));
}

/// Stopping the server (a deploy's SIGTERM) with people in the room: each room closes their
/// sockets as going away and records their leaving before the database closes, so their
/// visits end at the stop instead of waiting for another instance's sweep.
async fn a_stop_closes_the_visits_of_people_still_in_the_room(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let (owner, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    let mut presenter = app.ws(&event, Some(&owner)).await;
    presenter.greeting().await;
    let mut tab = app.ws(&event, Some(&ada)).await;
    tab.greeting().await;
    // The room records a visit as it greets; wait until Ada's is there.
    let mut open = Vec::new();
    for _ in 0..50 {
        open = app.core.store.attendance(&event).await.unwrap();
        if open.iter().any(|v| v.0 == ada.id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ada_open = open.iter().filter(|v| v.0 == ada.id && v.2.is_none());
    assert_eq!(ada_open.count(), 1, "Ada's visit is open: {open:?}");
    // The sockets answer the close as a browser does, while the server stops.
    let ((), close, _) = tokio::join!(app.stop(), tab.closed(), presenter.closed());
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1001, "going away: {close:?}");
    let store = app.reopen().await;
    let visits = store.attendance(&event).await.unwrap();
    assert_eq!(visits.len(), open.len(), "{visits:?}");
    assert!(
        visits.iter().all(|v| v.2.is_some()),
        "every visit ends at the stop: {visits:?}"
    );
    store.close().await;
}

both!(
    a_stop_closes_the_visits_of_people_still_in_the_room,
    the_clock_counts_from_going_live,
    room_metrics_are_exported,
    silent_instances_stop_counting_and_their_visits_close,
    a_message_split_in_pieces_survives_a_busy_connection,
    a_reader_that_falls_behind_starts_over_from_a_snapshot,
    co_presenters_run_the_room_too,
    presence_attendance_and_reactions,
    questions_are_asked_voted_answered_pinned_and_dismissed,
    hands_go_up_are_acknowledged_and_come_down,
    chat_groups_directs_replies_and_moderation,
    kicked_and_banned_people_are_closed_and_kept_out,
    identities_come_from_the_session_only,
    limits_answer_with_errors_not_crashes,
    presenters_extend_the_clock,
);
