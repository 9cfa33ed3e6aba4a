//! Into the room the way people get there, in headless Chromium: the organizer from "My
//! events" and the event page, a registrant from the "we're live" mail (signed out, so
//! through the login page and straight back), a member from the home page and the event
//! page. No step here types a room's address.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::{
    browser::{Driver, assert_no_console_errors, audit_in_place, browser, click, fill},
    browser_room::{ready, sign_in},
    helpers::{Backend, PASSWORD, TestApp},
    recordings::record_part,
    room_client::Person,
};

/// On the recap page: hls.js plays the replay (720p, as long as the recording); a chapter's
/// button seeks to it and plays on; the download link is the MP4.
async fn watch_the_replay(c: &Client) {
    let player = c
        .execute_async(
            "const done = arguments[0]; const v = document.getElementById('replay-video');\
             const t0 = Date.now(); (function wait() {\
               if (v.dataset.player && v.readyState >= 1) return done(v.dataset.player);\
               if (Date.now() - t0 > 10000) return done('none: ' + v.readyState);\
               setTimeout(wait, 100); })();",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(player, "hls.js");
    let chapters = text(c, ".chapters").await;
    assert!(
        chapters.contains("0:01") && chapters.contains("Olga shares the screen"),
        "{chapters}"
    );
    click(c, Locator::Css("button[data-seek='1000']")).await;
    let seen = c
        .execute_async(
            "const done = arguments[0]; const v = document.getElementById('replay-video');\
             const t0 = Date.now(); (function wait() {\
               if (v.currentTime > 1.6) return done([v.currentTime, v.duration, v.videoWidth, v.videoHeight]);\
               if (Date.now() - t0 > 10000) return done([v.currentTime, v.duration, v.videoWidth, -1]);\
               setTimeout(wait, 100); })();",
            vec![],
        )
        .await
        .unwrap();
    let seen: Vec<f64> = serde_json::from_value(seen).unwrap();
    assert!(
        seen[0] > 1.6,
        "the video plays on from the chapter: {seen:?}"
    );
    assert!((3.8..=4.3).contains(&seen[1]), "duration: {seen:?}");
    assert_eq!((seen[2], seen[3]), (1280.0, 720.0), "{seen:?}");
    let href = c
        .find(Locator::Id("download-mp4"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.ends_with("/recording/recording.mp4"), "{href}");
    assert_no_console_errors(c, "the replay").await;
}

/// Signs the browser in as `who` and opens the home page.
async fn signed_in_home(app: &TestApp, c: &Client, who: &Person) {
    sign_in(app, c, who).await;
    c.goto(&app.url("/")).await.unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} is on the page"))
        .text()
        .await
        .unwrap()
}

/// Clicks the event page's (or a card's) door and lands in the event's room.
async fn through_the_door(c: &Client, css: &str, event: &str) {
    click(c, Locator::Css(css)).await;
    ready(c).await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), format!("/events/{event}/live"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_finds_the_door_into_the_room() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (olga, event) = app.scheduled_event("members").await;
    app.member("ada@example.org", "Ada").await;
    let ada = app.user_id("ada@example.org").await;
    app.seat(&event, &ada).await;
    let bob = app.person("Bob").await;
    let driver = Driver::start().await;
    let profiles = [(); 3].map(|_| tempfile::tempdir().unwrap());

    // The organizer: My events → the event → Open green room → Open the dashboard.
    let org = browser(&driver, profiles[0].path()).await;
    signed_in_home(&app, &org, &olga).await;
    click(&org, Locator::LinkText("My events")).await;
    click(&org, Locator::LinkText("Rust in production")).await;
    click(&org, Locator::XPath("//button[text()='Open green room']")).await;
    assert_eq!(text(&org, "#enter-room").await, "Open the dashboard");
    assert!(text(&org, ".door").await.contains("green room is open"));
    assert!(
        audit_in_place(&org, "the event page's door for the organizer")
            .await
            .is_empty()
    );
    through_the_door(&org, "#enter-room", &event).await;
    // "My events" leads there too.
    click(&org, Locator::LinkText("My events")).await;
    assert!(
        audit_in_place(&org, "My events with a room open")
            .await
            .is_empty()
    );
    // On a phone the button is in view, not in a column scrolled off to the right.
    crate::browser::emulate(&org, "light", 390).await;
    let right = crate::browser_media::eval(
        &org,
        "await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))); \
         return document.querySelector('td a.button').getBoundingClientRect().right \
           - document.querySelector('.table-wrap').getBoundingClientRect().right;",
    )
    .await;
    assert!(
        right.as_f64().unwrap() <= 0.0,
        "My events' button is {right} px beyond the table's visible edge at 390px"
    );
    org.issue_cmd(crate::browser::Cdp(
        "Emulation.clearDeviceMetricsOverride",
        serde_json::json!({}),
    ))
    .await
    .unwrap();
    through_the_door(&org, "td a.button", &event).await;
    click(&org, Locator::XPath("//button[text()='Go live']")).await;
    org.accept_alert().await.unwrap();
    org.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//button[text()='End event']"))
        .await
        .unwrap();
    assert_no_console_errors(&org, "the organizer's way in").await;

    // Ada, signed out, follows the mail: the login page, then straight into the room.
    let mail = app.last_mail_to("ada@example.org").await;
    assert_eq!(mail.subject, "We're live: Rust in production");
    let link = mail.link(&format!("/events/{event}/live"));
    let attendee = browser(&driver, profiles[1].path()).await;
    attendee.goto(&link).await.unwrap();
    attendee
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("password"))
        .await
        .unwrap();
    assert_eq!(attendee.current_url().await.unwrap().path(), "/login");
    fill(&attendee, "email", "ada@example.org").await;
    fill(&attendee, "password", PASSWORD).await;
    through_the_door(&attendee, "main form button[type=submit]", &event).await;
    assert_no_console_errors(&attendee, "from the mail into the room").await;

    // Bob, signed in: the home page's live card, and the event page's button.
    let member = browser(&driver, profiles[2].path()).await;
    signed_in_home(&app, &member, &bob).await;
    assert!(text(&member, "#live-h").await.contains("Live now"));
    assert!(
        audit_in_place(&member, "the home page with a live event")
            .await
            .is_empty()
    );
    through_the_door(&member, ".card-door", &event).await;
    // The stage uses the room's width, on a desktop and on a phone.
    for width in [1280, 390] {
        crate::browser::emulate(&member, "light", width).await;
        let share = crate::browser_media::eval(
            &member,
            "await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))); \
             const w = (id) => document.getElementById(id).getBoundingClientRect().width; \
             return w('stage') / w('room-main');",
        )
        .await;
        assert!(
            share.as_f64().unwrap() > 0.95,
            "the stage takes {share} of the room's width at {width}px"
        );
    }
    member
        .issue_cmd(crate::browser::Cdp(
            "Emulation.clearDeviceMetricsOverride",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    member.goto(&app.url("/")).await.unwrap();
    click(&member, Locator::Css(".event-card a.event-link")).await;
    assert_eq!(text(&member, "#enter-room").await, "Join the live event");
    assert!(
        audit_in_place(&member, "the event page's door for a member")
            .await
            .is_empty()
    );
    through_the_door(&member, "#enter-room", &event).await;
    assert_no_console_errors(&member, "from the home page into the room").await;

    // A visitor of a members-only event is asked to sign in first, and comes back to it.
    let r = app.get(&app.browser(), &format!("/events/{event}")).await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, format!("/login?next=%2Fevents%2F{event}"));
    // A public event's visitor may walk in as a guest.
    let (_, public) = app.live_event("public").await;
    let (_, page) = app.text(&app.browser(), &format!("/events/{public}")).await;
    assert!(
        page.contains(&format!(
            "href=\"/events/{public}/live\">Join the live event"
        )),
        "{page}"
    );

    for c in [org, attendee, member] {
        c.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_event_everyone_finds_its_recap() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (olga, event) = app.live_event("members").await;
    app.member("ada@example.org", "Ada").await;
    let ada = app.cookie_of(app.user_id("ada@example.org").await).await;
    app.seat(&event, &ada.id).await;
    // Ada watches for 25 minutes and asks a question the presenter answers.
    let mut presenter = app.ws(&event, Some(&olga)).await;
    presenter.greeting().await;
    let mut room = app.ws(&event, Some(&ada)).await;
    room.greeting().await;
    room.ask_answered(&mut presenter, "Which database?", "Both.")
        .await;
    app.clock.advance(chrono::Duration::minutes(25));
    drop(room);
    presenter
        .until_with("person_left", |p| p["id"] == ada.id.as_str())
        .await;
    // What the embedded server recorded: Olga's camera and voice, her screen from 1 s.
    record_part(&app, &event, &olga.id);
    let r = app
        .form(&olga.client(), &format!("/events/{event}/end"), &[])
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    app.run_jobs().await;

    let driver = Driver::start().await;
    let profiles = [(); 2].map(|_| tempfile::tempdir().unwrap());

    // Ada, signed out, follows the recap mail: the login page, then the recap.
    let mail = app.mail_titled("ada@example.org", "Recap:").await;
    assert_eq!(mail.subject, "Recap: Rust in production");
    let attendee = browser(&driver, profiles[0].path()).await;
    attendee
        .goto(&mail.link(&format!("/events/{event}/recap")))
        .await
        .unwrap();
    attendee
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("password"))
        .await
        .unwrap();
    fill(&attendee, "email", "ada@example.org").await;
    fill(&attendee, "password", PASSWORD).await;
    click(&attendee, Locator::Css("main form button[type=submit]")).await;
    assert!(text(&attendee, "h1").await.starts_with("Recap:"));
    assert_eq!(
        attendee.current_url().await.unwrap().path(),
        format!("/events/{event}/recap")
    );
    assert!(text(&attendee, ".answered").await.contains("Both."));
    watch_the_replay(&attendee).await;
    assert!(audit_in_place(&attendee, "the recap").await.is_empty());
    click(&attendee, Locator::Id("certificate-link")).await;
    assert!(
        text(&attendee, ".certificate")
            .await
            .contains("watched it live for 25 of its 25 minutes")
    );
    assert!(
        audit_in_place(&attendee, "the certificate")
            .await
            .is_empty()
    );
    assert_no_console_errors(&attendee, "from the recap mail to the certificate").await;

    // The organizer: My events → the event → See the recap, and the attendance report.
    let org = browser(&driver, profiles[1].path()).await;
    signed_in_home(&app, &org, &olga).await;
    click(&org, Locator::LinkText("My events")).await;
    click(&org, Locator::LinkText("Rust in production")).await;
    click(&org, Locator::Id("see-recap")).await;
    click(&org, Locator::LinkText("Attendance report")).await;
    let row = text(&org, "#attendees tbody").await;
    assert!(
        row.contains("ada@example.org") && row.contains("25"),
        "{row}"
    );
    assert!(
        audit_in_place(&org, "the attendance report")
            .await
            .is_empty()
    );
    assert_no_console_errors(&org, "from My events to the attendance report").await;
    for c in [attendee, org] {
        c.close().await.unwrap();
    }
}
