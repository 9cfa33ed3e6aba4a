//! What an event leaves behind: the recap page, the recap mail, the attendance report from
//! the room's real presence (with its CSV), and the certificate of attendance.

use std::time::Duration;

use chrono::Duration as Minutes;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestApp},
    room_client::Person,
};

both!(
    an_ended_event_leaves_a_recap_a_report_and_one_mail,
    the_recap_waits_for_the_end_and_follows_the_event
);

/// A person with a known address and name, signed in.
async fn named(app: &TestApp, email: &str, name: &str) -> Person {
    let id = app.quick_member(email).await;
    app.core.store.set_display_name(&id, name, 0).await.unwrap();
    app.cookie_of(id).await
}

/// Waits until the room has written its figures (they are written off its loop).
pub async fn peak_reaches(app: &TestApp, event: &str, at_least: i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let f = app.core.store.room_figures(event).await.unwrap();
        if f.peak_attendees >= at_least {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the peak stayed at {}",
            f.peak_attendees
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn an_ended_event_leaves_a_recap_a_report_and_one_mail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (olga, event) = app.live_event("public").await;
    let ada = named(&app, "ada@example.org", "Ada").await;
    let bob = named(&app, "bob@example.org", "Bob").await;
    let cy = named(&app, "cy@example.org", "Cy").await;
    app.seat(&event, &ada.id).await;
    app.seat(&event, &cy.id).await;

    let mut presenter = app.ws(&event, Some(&olga)).await;
    presenter.greeting().await;
    let mut a = app.ws(&event, Some(&ada)).await;
    a.greeting().await;
    // Ada opens a second tab: her minutes count once.
    let mut a2 = app.ws(&event, Some(&ada)).await;
    a2.greeting().await;
    let mut b = app.ws(&event, Some(&bob)).await;
    b.greeting().await;
    let mut guest = app.ws(&event, None).await;
    guest.greeting().await;
    peak_reaches(&app, &event, 4).await;

    a.ask_answered(&mut presenter, "How do you deploy?", "With one binary.")
        .await;
    a.send(
        "chat",
        json!({ "text": "Slides: https://example.org/slides.pdf." }),
    )
    .await;
    a.until_with("chat", |m| {
        m["text"].as_str().is_some_and(|t| t.contains("slides"))
    })
    .await;

    // Bob stays five minutes, Ada twenty; Cy registered and never came.
    app.clock.advance(Minutes::minutes(5));
    drop(b);
    presenter
        .until_with("person_left", |p| p["id"] == bob.id.as_str())
        .await;
    app.clock.advance(Minutes::minutes(15));
    drop((a, a2));
    presenter
        .until_with("person_left", |p| p["id"] == ada.id.as_str())
        .await;

    // Before the end there is no recap yet, and saying so is not an error page's 500.
    let (status, page) = app
        .text(&ada.client(), &format!("/events/{event}/recap"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("as soon as the event ends"), "{page}");

    // The organizer ends it over HTTP; the event page then leads to the recap.
    let r = app
        .form(&olga.client(), &format!("/events/{event}/end"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = app.text(&ada.client(), &format!("/events/{event}")).await;
    assert!(
        page.contains(&format!("href=\"/events/{event}/recap\">See the recap")),
        "{page}"
    );

    // One recap mail to each registrant (Ada and Cy, not Bob who never registered), even
    // if the jobs run again, and its link opens the recap.
    app.run_jobs().await;
    app.run_jobs().await;
    app.mail_titled("ada@example.org", "Recap:").await;
    let mails = app.mails_to("ada@example.org").await;
    let recaps: Vec<_> = mails
        .iter()
        .filter(|m| m.subject == "Recap: Rust in production")
        .collect();
    assert_eq!(recaps.len(), 1, "one recap mail");
    assert_eq!(
        app.mail_titled("cy@example.org", "Recap:").await.subject,
        "Recap: Rust in production"
    );
    assert!(
        app.mails_to("bob@example.org")
            .await
            .iter()
            .all(|m| !m.subject.starts_with("Recap"))
    );
    let link = recaps[0].link(&format!("/events/{event}/recap"));
    let r = ada.client().get(&link).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    for expected in [
        "How do you deploy?",
        "With one binary.",
        "Asked by Ada",
        "href=\"https://example.org/slides.pdf\"",
        "presented by Olga",
        "Certificate of attendance",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    // Figures: Ada and Bob watched (the organizer too), four at once with the guest.
    let fig = |id: &str| {
        crate::helpers::between(&page, &format!("id=\"{id}\">"), "<")
            .unwrap()
            .to_string()
    };
    assert_eq!(fig("fig-people"), "3");
    assert_eq!(fig("fig-peak"), "4");

    // The organizer's report and its CSV: real presence, minutes counted once per person.
    let r = olga
        .client()
        .get(app.url(&format!("/events/{event}/attendance.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("attendance-{event}.csv"))
    );
    let csv = r.text().await.unwrap();
    let row = |email: &str| {
        csv.lines()
            .find(|l| l.contains(email))
            .unwrap_or_else(|| panic!("{email} in {csv}"))
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(csv.starts_with("name,email,first_joined,last_left,minutes_watched,"));
    let ada_row = row("ada@example.org");
    assert_eq!(ada_row[0], "Ada");
    assert_eq!(ada_row[4], "20", "{csv}");
    assert_eq!(&ada_row[5..], ["1", "1", "1"], "{csv}");
    assert_eq!(row("bob@example.org")[4], "5", "{csv}");
    assert!(
        !csv.contains("cy@example.org"),
        "registered is not attended"
    );
    // Only the organizer sees it.
    let r = ada
        .client()
        .get(app.url(&format!("/events/{event}/attendance.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Ada's certificate; Cy, who never came, has none.
    let (status, page) = app
        .text(&ada.client(), &format!("/events/{event}/certificate"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Ada") && page.contains("for 20 of its 20 minutes"),
        "{page}"
    );
    let (status, page) = app
        .text(&cy.client(), &format!("/events/{event}/certificate"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("not in this event"), "{page}");
}

async fn the_recap_waits_for_the_end_and_follows_the_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A members-only event's recap is for members only.
    let (olga, event) = app.live_event("members").await;
    let r = app
        .form(&olga.client(), &format!("/events/{event}/end"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app
        .get(&app.browser(), &format!("/events/{event}/recap"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    let member = app.person("Mo").await;
    let (status, page) = app
        .text(&member.client(), &format!("/events/{event}/recap"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No question was answered"), "{page}");
    assert!(page.contains("Nobody shared a link"), "{page}");
    // A cancelled event has no recap and sends none.
    let (olga2, cancelled) = app.live_event("public").await;
    let r = app
        .form(&olga2.client(), &format!("/events/{cancelled}/cancel"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, page) = app
        .text(&app.browser(), &format!("/events/{cancelled}/recap"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("cancelled"), "{page}");
    // A forged or unknown id is a plain 404, on every page of the recap.
    let unknown = meetstage::features::new_id();
    for path in ["recap", "attendance", "attendance.csv", "certificate"] {
        for id in ["..%2F..%2Fetc", unknown.as_str()] {
            let (status, _) = app
                .text(&olga.client(), &format!("/events/{id}/{path}"))
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}/{path}");
        }
    }
}
