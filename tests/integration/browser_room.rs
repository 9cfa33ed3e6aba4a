//! The live room in two real browsers at once, a presenter and an attendee, through the
//! pages' own buttons: Q&A, hands, direct messages, kicking, the clock's warning and the end.

use std::time::Duration;

use chrono::Duration as Span;
use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::{
    browser::{
        Driver, assert_no_console_errors, browser, click, fill, media_browser, tab_to, type_keys,
    },
    helpers::{Backend, TestApp},
    room_client::Person,
};

/// Gives the browser `who`'s session cookie, as logging in would have (the session is made
/// directly: no password hashing).
pub async fn sign_in(app: &TestApp, c: &Client, who: &Person) {
    c.goto(&app.url("/login")).await.unwrap();
    c.execute(
        "document.cookie = arguments[0] + '; path=/; SameSite=Lax';",
        vec![Value::String(who.cookie.clone())],
    )
    .await
    .unwrap();
}

/// Opens the room page in `c` as `who` (their session cookie, as after logging in).
pub async fn enter(app: &TestApp, c: &Client, who: &Person, event: &str) {
    sign_in(app, c, who).await;
    c.goto(&app.url(&format!("/events/{event}/live")))
        .await
        .unwrap();
    ready(c).await;
}

/// The presenter's and an attendee's pages in the room, each in a Chromium profile of its own
/// (with fake camera, microphone and screen when `devices`). Keep the profiles as long as the
/// pages.
pub async fn two_pages(
    app: &TestApp,
    driver: &Driver,
    devices: bool,
    (owner, attendee): (&Person, &Person),
    event: &str,
) -> (Client, Client, [tempfile::TempDir; 2]) {
    let profiles = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut pages = Vec::new();
    for (who, profile) in [owner, attendee].into_iter().zip(&profiles) {
        let page = if devices {
            media_browser(driver, profile.path()).await
        } else {
            browser(driver, profile.path()).await
        };
        enter(app, &page, who, event).await;
        pages.push(page);
    }
    let attendee_page = pages.pop().unwrap();
    (pages.pop().unwrap(), attendee_page, profiles)
}

pub async fn ready(c: &Client) {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#room[data-ready=true]"))
        .await
        .expect("the room draws itself");
}

/// Waits until the element's text contains `needle`; fails with what it shows after 10 s.
pub async fn wait_text(c: &Client, css: &str, needle: &str) {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.text().await.unwrap_or_default();
            if last.contains(needle) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?}; it shows {last:?}");
}

pub async fn press(c: &Client, label: &str) {
    click(c, Locator::Css(&format!("button[aria-label=\"{label}\"]"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presenter_and_attendee_run_a_live_room_in_two_browsers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (owner, event) = app.live_event("members").await;
    let ada = app.person("Ada").await;
    let bob = app.person("Bob").await;
    let driver = Driver::start().await;
    let (presenter, attendee, _profiles) =
        two_pages(&app, &driver, false, (&owner, &ada), &event).await;
    wait_text(&presenter, "#people", "Ada").await;

    // The clock counts down on both pages.
    wait_text(&attendee, "#clock-left", ":").await;
    assert_eq!(
        presenter
            .find(Locator::Id("room-status"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .to_lowercase(),
        "live"
    );

    // A question asked, from the keyboard alone, is seen, pinned and answered.
    tab_to(&attendee, "the question field", |_, id, _| id == "ask-text").await;
    type_keys(&attendee, "How do you deploy?").await;
    tab_to(&attendee, "the Ask button", |tag, _, text| {
        tag == "button" && text == "Ask"
    })
    .await;
    type_keys(&attendee, &fantoccini::key::Key::Enter.to_string()).await;
    wait_text(&presenter, "#questions", "How do you deploy?").await;
    press(&presenter, "Answer: How do you deploy?").await;
    let answer = presenter
        .find(Locator::Css("#questions form textarea"))
        .await
        .unwrap();
    answer.send_keys("With one binary.").await.unwrap();
    click(
        &presenter,
        Locator::Css("#questions form button[type=submit]"),
    )
    .await;
    wait_text(&attendee, "#questions", "Answer: With one binary.").await;
    // The answered question stays in the dashboard's list, to be pinned while it is discussed.
    press(&presenter, "Pin: How do you deploy?").await;
    wait_text(&attendee, "#pinned", "How do you deploy?").await;

    // A hand raised is acknowledged and lowered.
    click(&attendee, Locator::Id("hand-button")).await;
    wait_text(&presenter, "#hands", "Ada").await;
    press(&presenter, "Acknowledge Ada").await;
    wait_text(&attendee, "#hand-state", "A presenter saw your hand.").await;
    click(&attendee, Locator::Id("hand-button")).await;
    wait_text(&presenter, "#hands", "No hands raised.").await;

    // A third person on a plain socket, to see what attendees are (not) sent. Opened here:
    // it answers the room's pings only when read, and a busy machine would have the room
    // take it for gone during the steps above.
    let mut bob_ws = app.ws(&event, Some(&bob)).await;
    bob_ws.greeting().await;
    // Group chat off: what she typed for everyone stays in the box, she is told why, and
    // whom she writes to changes only when she chooses.
    click(&presenter, Locator::Id("chat-open")).await;
    wait_text(&attendee, "#chat-to option[value=group]", "chat is off").await;
    fill(&attendee, "chat-text", "Psst: the slides are tiny").await;
    click(&attendee, Locator::Css("#chat-form button[type=submit]")).await;
    wait_text(&attendee, "#chat-note", "turned group chat off").await;
    let still = |id: &'static str| {
        let attendee = attendee.clone();
        async move {
            let e = attendee.find(Locator::Id(id)).await.unwrap();
            e.prop("value").await.unwrap().unwrap_or_default()
        }
    };
    assert_eq!(still("chat-to").await, "group");
    assert_eq!(still("chat-text").await, "Psst: the slides are tiny");

    // A direct message reaches the presenters only.
    attendee
        .find(Locator::Id("chat-to"))
        .await
        .unwrap()
        .select_by_value("direct")
        .await
        .unwrap();
    fill(&attendee, "chat-text", "Psst: the slides are tiny").await;
    click(&attendee, Locator::Css("#chat-form button[type=submit]")).await;
    click(&presenter, Locator::Id("tab-direct")).await;
    wait_text(&presenter, "#chat-log", "Psst: the slides are tiny").await;
    let note = attendee.find(Locator::Id("chat-note")).await.unwrap();
    assert_eq!(
        note.text().await.unwrap(),
        "",
        "no note once she writes to the presenters"
    );
    click(&presenter, Locator::Id("chat-open")).await;
    let bob_saw: Vec<Value> = bob_ws.settle().await;
    assert!(
        !bob_saw.iter().any(|m| m.to_string().contains("Psst")),
        "another attendee saw the direct message"
    );

    // A kicked attendee's room closes and says why; they may come back.
    click(
        &presenter,
        Locator::XPath("//li[.//span[contains(., 'Ada')]]//details/summary"),
    )
    .await;
    press(&presenter, "Kick Ada").await;
    presenter.accept_alert().await.unwrap();
    wait_text(
        &attendee,
        "#banners",
        "A presenter removed you from the room",
    )
    .await;
    click(&attendee, Locator::Css("#banners button")).await;
    ready(&attendee).await;
    wait_text(&attendee, "#connection", "Connected").await;

    // The 5-minute warning appears as a banner and the clock turns amber; then the event
    // ends by itself.
    let stop = meetstage::features::live::stops_at(&app.core, &event)
        .await
        .unwrap()
        .unwrap();
    let now = app.clock.now();
    app.clock.advance(stop - now - Span::minutes(5));
    app.run_jobs().await;
    wait_text(&attendee, "#banners", "5 minutes left").await;
    let class = attendee
        .find(Locator::Id("clock"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(class.contains("warn"), "the clock is amber: {class}");
    wait_text(&attendee, "#chat-log", "5 minutes left.").await;
    app.clock.advance(Span::minutes(5));
    app.run_jobs().await;
    wait_text(&attendee, "#ended", "This event has ended").await;
    let room_shown = attendee
        .find(Locator::Id("room-main"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap();
    assert!(
        !room_shown,
        "an ended room no longer offers hands, questions or chat"
    );
    wait_text(&presenter, "#room-status", "ENDED").await;

    // For a person to look at: MEETSTAGE_SCREENSHOTS=<dir>.
    if let Ok(dir) = std::env::var("MEETSTAGE_SCREENSHOTS") {
        for (name, c) in [("presenter", &presenter), ("attendee", &attendee)] {
            let png = c.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/room-{name}.png"), png).unwrap();
        }
    }
    assert_no_console_errors(&presenter, "the dashboard").await;
    assert_no_console_errors(&attendee, "the room").await;
    presenter.close().await.unwrap();
    attendee.close().await.unwrap();
}
