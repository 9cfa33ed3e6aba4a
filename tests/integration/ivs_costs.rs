//! What events cost on Amazon IVS (against the fake IVS API): the organizer's estimate on the
//! event page and in the green room, the month's use measured by the stage's reconcile, the
//! operator's monthly ceiling refusing the next green room and go-live, and the viewer cap
//! turning newcomers away until a place frees up.

use chrono::Duration;
use meetstage::features::{costs, events::Transition};
use serde_json::{Value, json};

use crate::{
    both,
    helpers::{Backend, TestApp},
    ivs::{self, ops},
};

both!(
    the_organizer_sees_the_cost_and_the_ceiling_stops_the_next_event,
    the_viewer_cap_turns_newcomers_away_until_a_place_frees_up,
    nothing_billable_is_left_within_a_minute_of_the_end_across_restarts,
);

fn watcher(id: &str, user: &str) -> Value {
    json!({ "participantId": id, "userId": user, "state": "CONNECTED", "published": false })
}

async fn the_organizer_sees_the_cost_and_the_ceiling_stops_the_next_event(b: Backend) {
    let t = ivs::start_with(b, |o| {
        o.ivs_participant_hour_usd = Some("1".into());
        o.ivs_composition_hour_usd = Some("0.5".into());
        o.ivs_monthly_ceiling_usd = Some("3".into());
    })
    .await;
    let app = &t.app;
    // Another organizer's event waits in the green room, and a third is scheduled.
    let (other, waiting) = app.staging_event("members").await;
    let (third, later) = app.scheduled_event("members").await;
    let (owner, event) = app.scheduled_event("members").await;
    let ada = app.person("Ada").await;
    let bob = app.person("Bob").await;
    app.seat(&event, &ada.id).await;
    app.seat(&event, &bob.id).await;
    t.calls().await;
    let page = |who: &crate::room_client::Person, path: String| {
        let c = who.client();
        async move { app.text(&c, &path).await }
    };

    // Before going live: 2 registered and 1 presenter for 60 minutes, 30 minutes of green
    // room and one shared screen make 270 participant-minutes; the recording is an hour.
    let (status, html) = page(&owner, format!("/events/{event}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Cost on Amazon IVS"), "{html}");
    assert!(html.contains("<dd>4.5 · $4.50</dd>"), "{html}");
    assert!(html.contains("<dd>1.0 · $0.50</dd>"), "{html}");
    assert!(html.contains("about $5.00"), "{html}");
    let (_, month, ..) = costs::month_of(app.clock.now_ms());
    assert!(
        html.contains(&format!(
            "{month}: $0.00 used of the $3.00 monthly ceiling (0.0 participant-hours)."
        )),
        "{html}"
    );
    assert!(
        html.contains("id=\"cost-warning\"") && html.contains("would take the month past"),
        "the estimate passes the ceiling: {html}"
    );
    // An attendee sees none of it.
    let (_, seen) = page(&ada, format!("/events/{event}")).await;
    assert!(!seen.contains("Cost on Amazon IVS"));

    // A viewer cap of 1 keeps the estimate to 2 people: 210 participant-minutes.
    let cap = |v: &'static str| {
        let c = owner.client();
        let path = format!("/events/{event}/viewer-cap");
        async move { app.form(&c, &path, &[("viewer_cap", v)]).await }
    };
    assert_eq!(cap("1").await.status(), 303);
    let (_, html) = page(&owner, format!("/events/{event}")).await;
    assert!(html.contains("<dd>3.5 · $3.50</dd>"), "{html}");
    assert!(html.contains("value=\"1\""), "{html}");
    for bad in ["0", "10001", "many", "-3"] {
        let r = cap(bad).await;
        assert_eq!(r.status(), 422, "{bad}");
        assert!(
            r.text().await.unwrap().contains("number of viewers"),
            "{bad}"
        );
    }
    let (_, html) = page(&owner, format!("/events/{event}")).await;
    assert!(
        html.contains("value=\"1\""),
        "a refused cap changes nothing"
    );
    assert_eq!(cap("").await.status(), 303);
    let (_, html) = page(&owner, format!("/events/{event}")).await;
    assert!(
        html.contains("<dd>4.5 · $4.50</dd>"),
        "no cap again: {html}"
    );

    // In the green room, the organizer's dashboard shows the same estimate.
    t.transition(&owner, &event, Transition::OpenGreenRoom)
        .await;
    let (_, dash) = page(&owner, format!("/events/{event}/live")).await;
    assert!(dash.contains("about $5.00"), "{dash}");
    let (_, room) = page(&ada, format!("/events/{event}/live")).await;
    assert!(!room.contains("Cost on Amazon IVS"));

    // Live for 50 minutes: IVS reports four people connected, and the recording runs.
    t.transition(&owner, &event, Transition::GoLive).await;
    assert_eq!(ops(&t.calls().await), ["CreateStage", "StartComposition"]);
    t.connect(vec![
        watcher("p1", &ada.id),
        watcher("p2", &bob.id),
        watcher("p3", "guest"),
        watcher("p4", "guest"),
    ]);
    for _ in 0..5 {
        app.clock.advance(Duration::minutes(10));
        t.calls().await;
    }
    let (key, ..) = costs::month_of(app.clock.now_ms());
    let usage = app.core.store.month_usage(&key).await.unwrap();
    let used = usage.iter().find(|u| u.event_id == event).unwrap();
    assert_eq!(used.participant_ms, 4 * 50 * 60_000, "{usage:?}");
    assert_eq!(used.composition_ms, 50 * 60_000);
    assert_eq!(used.audience, 4);

    // The month has passed the ceiling: the next go-live and the next green room are refused
    // with the reason, on the page and in the API.
    let (_, html) = page(&owner, format!("/events/{event}")).await;
    assert!(
        html.contains("has reached the operator&#39;s ceiling of $3.00"),
        "{html}"
    );
    let r = app
        .form(&other.client(), &format!("/events/{waiting}/go-live"), &[])
        .await;
    assert_eq!(r.status(), 409);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("reaches the operator&#39;s monthly ceiling of $3.00"),
        "{text}"
    );
    let r = app
        .form(&third.client(), &format!("/events/{later}/green-room"), &[])
        .await;
    assert_eq!(r.status(), 409);
    let api = app
        .api(
            &third.client(),
            reqwest::Method::POST,
            &format!("/api/v1/events/{later}/green-room"),
            None,
        )
        .await;
    assert_eq!(api.status(), 409);
    let body: Value = api.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("monthly ceiling"),
        "{body}"
    );
    assert!(t.calls().await.iter().all(|(op, _)| op != "CreateStage"));

    // The end counts the minute since the last look, and nothing is left running.
    app.clock.advance(Duration::minutes(1));
    t.transition(&owner, &event, Transition::End).await;
    let calls = t.calls().await;
    assert!(ops(&calls).contains(&"StopComposition"), "{calls:?}");
    assert!(ops(&calls).contains(&"DeleteStage"), "{calls:?}");
    let usage = app.core.store.month_usage(&key).await.unwrap();
    let used = usage.iter().find(|u| u.event_id == event).unwrap();
    assert_eq!(used.participant_ms, 4 * 51 * 60_000);
    assert_eq!(used.composition_ms, 51 * 60_000);
    let arn = app.core.store.stage(&event).await.unwrap().unwrap().arn;
    app.clock.advance(Duration::minutes(5));
    let later = t.calls().await;
    assert!(
        later
            .iter()
            .all(|(_, body)| !body.to_string().contains(&arn)),
        "the ended event's stage is no longer looked at: {later:?}"
    );

    // On the embedded provider there is no cost to show and no ceiling.
    let plain = TestApp::spawn_with(b, |o| {
        o.ivs_participant_hour_usd = Some("1".into());
        o.ivs_monthly_ceiling_usd = Some("0.01".into());
    })
    .await;
    let (owner, event) = plain.scheduled_event("members").await;
    let (_, html) = plain
        .text(&owner.client(), &format!("/events/{event}"))
        .await;
    assert!(!html.contains("Cost on Amazon IVS"));
    let r = plain
        .form(&owner.client(), &format!("/events/{event}/green-room"), &[])
        .await;
    assert_eq!(r.status(), 303);
}

async fn the_viewer_cap_turns_newcomers_away_until_a_place_frees_up(b: Backend) {
    let t = ivs::start_with(b, |_| {}).await;
    let app = &t.app;
    let (owner, event) = app.live_event("members").await;
    t.calls().await;
    let r = app
        .form(
            &owner.client(),
            &format!("/events/{event}/viewer-cap"),
            &[("viewer_cap", "2")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let ada = app.person("Ada").await;
    let bob = app.person("Bob").await;
    let cy = app.person("Cy").await;

    // Two watch; the third is told the stage is full, and why.
    let (status, a) = t.ticket(&ada, &event, "").await;
    assert_eq!(status, 200, "{a}");
    let a_id = a["participant_id"].as_str().unwrap().to_string();
    let (status, b_ticket) = t.ticket(&bob, &event, "").await;
    assert_eq!(status, 200);
    let b_id = b_ticket["participant_id"].as_str().unwrap().to_string();
    let (status, full) = t.ticket(&cy, &event, "").await;
    assert_eq!(status, 409, "{full}");
    assert!(
        full["message"]
            .as_str()
            .unwrap()
            .contains("The stage is full"),
        "{full}"
    );
    // A page refreshing keeps its place; the presenter always gets on.
    let (status, _) = t
        .ticket(&ada, &event, &format!("?participant={a_id}"))
        .await;
    assert_eq!(status, 200);
    let (status, p) = t.ticket(&owner, &event, "").await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["role"], "presenter");

    // Ada's page closed: IVS reports only Bob. Her place is freed at the next look after the
    // grace a new token has to join, and Cy gets in; Ada coming back is now the one turned away.
    t.connect(vec![watcher(&b_id, &bob.id)]);
    app.clock.advance(Duration::minutes(3));
    t.calls().await;
    let (status, c) = t.ticket(&cy, &event, "").await;
    assert_eq!(status, 200, "{c}");
    let (status, _) = t
        .ticket(&ada, &event, &format!("?participant={a_id}"))
        .await;
    assert_eq!(status, 409);
    // Raising the cap lets her back in with the same participant.
    let r = app
        .form(
            &owner.client(),
            &format!("/events/{event}/viewer-cap"),
            &[("viewer_cap", "3")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (status, again) = t
        .ticket(&ada, &event, &format!("?participant={a_id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["participant_id"], json!(a_id));
}

/// Stage, composition and chat room: all released within a minute of the automatic end, when
/// the process restarted during the event and again at its end, before any job ran.
async fn nothing_billable_is_left_within_a_minute_of_the_end_across_restarts(b: Backend) {
    let (chat, api, messaging) = crate::ivs_chat::FakeChat::start().await;
    let mut t = ivs::start_with(b, |o| {
        o.chat_provider = Some("ivs".into());
        o.ivs_chat_region = Some("eu-west-1".into());
        o.ivs_chat_endpoint_url = Some(api.parse().unwrap());
        o.ivs_chat_messaging_url = Some(messaging.parse().unwrap());
    })
    .await;
    let (_, event) = t.app.live_event("members").await;
    assert_eq!(ops(&t.calls().await), ["CreateStage", "StartComposition"]);
    assert_eq!(ops(&chat.take()), ["CreateRoom"]);
    t.app.restart().await;
    let stop = meetstage::features::live::stops_at(&t.app.core, &event)
        .await
        .unwrap()
        .expect("a live event stops on its own");
    // Thirty seconds past the scheduled end; the process died at the end and came back.
    let wait = stop - t.app.clock.now() + Duration::seconds(30);
    t.app.clock.advance(wait);
    t.app.restart().await;
    let calls = t.calls().await;
    let released: Vec<&str> = ops(&calls)
        .into_iter()
        .filter(|o| matches!(*o, "StopComposition" | "DeleteStage"))
        .collect();
    assert_eq!(released, ["StopComposition", "DeleteStage"], "{calls:?}");
    assert!(ops(&chat.take()).contains(&"DeleteRoom"));
    assert!(t.app.core.store.chat_room(&event).await.unwrap().is_none());
    // Nothing of the event is left to release, or to look at.
    t.app.clock.advance(Duration::minutes(5));
    assert!(t.calls().await.is_empty());
    // The end's notices are relayed to the room after their commit, so one may reach the fake
    // after the room's deletion; nothing else does.
    let late = chat.take();
    assert!(late.iter().all(|(op, _)| op == "SendEvent"), "{late:?}");
}
