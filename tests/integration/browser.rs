//! A real person's path in headless Chromium (Debian's `chromium` and `chromium-driver`):
//! sign up, confirm the email from the mailed link, log in, create an event and register.
//! Any console error on any page fails the test.

use std::{process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp};

/// Held by the tests whose pages encode and decode real video with simulcast: Chromium drops
/// layers when the CPU is short, so on a two-core machine these run one at a time.
pub static CAMERAS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts chromedriver on a free port and stops it when dropped.
pub struct Driver {
    child: std::process::Child,
    url: String,
}

impl Driver {
    pub async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = std::process::Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}); install Debian's chromium-driver (.ci/run does)")
            });
        // Owned from here on, so Drop stops it even if start-up fails.
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ChromeDriver's log endpoint, which fantoccini has no method for.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

pub async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    browser_with(driver, profile, &[]).await
}

/// Chromium with fake camera, microphone and screen, allowed without asking, and sound that
/// plays without a click: a presenter or attendee with devices.
pub async fn media_browser(driver: &Driver, profile: &std::path::Path) -> Client {
    browser_with(
        driver,
        profile,
        &[
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            "--allow-loopback-in-peer-connection",
        ],
    )
    .await
}

pub async fn browser_with(driver: &Driver, profile: &std::path::Path, extra: &[&str]) -> Client {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ]
    .iter()
    .chain(extra)
    .map(|a| a.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let caps = json!({
        "browserName": "chrome",
        "goog:loggingPrefs": {"browser": "ALL"},
        "goog:chromeOptions": { "binary": chromium, "args": args }
    });
    let caps = caps.as_object().unwrap().clone().into_iter().collect();
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session")
}

/// Fails on any console message at error level since the last call.
pub async fn assert_no_console_errors(c: &Client, page: &str) {
    let errors = console_errors(c).await;
    assert!(errors.is_empty(), "console errors on {page}: {errors:?}");
}

/// The console messages at error level since the last look.
async fn console_errors(c: &Client) -> Vec<serde_json::Value> {
    let log = c.issue_cmd(BrowserLog).await.expect("browser log");
    log.as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["level"] == "SEVERE")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

pub async fn fill(c: &Client, id: &str, value: &str) {
    let field = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("field #{id}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

pub async fn click(c: &Client, at: Locator<'_>) {
    c.find(at)
        .await
        .expect("element to click")
        .click()
        .await
        .unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("element {css}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_signs_up_confirms_creates_and_registers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;

    // Sign up.
    c.goto(&app.url("/signup")).await.unwrap();
    assert_no_console_errors(&c, "/signup").await;
    fill(&c, "email", "pat@example.org").await;
    fill(&c, "display_name", "Pat Presenter").await;
    fill(&c, "password", PASSWORD).await;
    click(&c, Locator::Css("main form button[type=submit]")).await;
    c.wait().for_element(Locator::Css(".notice")).await.unwrap();
    assert!(text_of(&c, ".notice").await.contains("Check your inbox"));
    assert_no_console_errors(&c, "/login after sign-up").await;

    // Confirm from the mailed link: back to the login page, which says so.
    let link = app
        .last_mail_to("pat@example.org")
        .await
        .link("/account/verify?token=");
    c.goto(&link).await.unwrap();
    click(&c, Locator::Css("main form button[type=submit]")).await;
    c.wait().for_element(Locator::Css(".notice")).await.unwrap();
    assert!(
        text_of(&c, ".notice")
            .await
            .contains("Your email address is confirmed.")
    );

    // An admin makes Pat an organizer; Pat logs in.
    let id = app.user_id("pat@example.org").await;
    app.core
        .store
        .set_role_unaudited(&id, "organizer", app.clock.now_ms())
        .await
        .unwrap();
    fill(&c, "email", "pat@example.org").await;
    fill(&c, "password", PASSWORD).await;
    click(&c, Locator::Css("main form button[type=submit]")).await;
    c.wait()
        .for_element(Locator::LinkText("My events"))
        .await
        .unwrap();
    assert_no_console_errors(&c, "login").await;

    // Create an event. The form first refuses a bad duration and keeps what was typed.
    c.goto(&app.url("/events/new")).await.unwrap();
    fill(&c, "title", "Rust meetup: WebRTC in practice").await;
    fill(
        &c,
        "description",
        "Talks and questions.\nBring your own camera.",
    )
    .await;
    // datetime-local takes its value in the browser's locale format; set it directly.
    c.execute(
        "document.getElementById('start_local').value = '2030-07-01T18:00';",
        vec![],
    )
    .await
    .unwrap();
    fill(&c, "duration_minutes", "5").await;
    fill(&c, "capacity", "30").await;
    click(&c, Locator::Css("main form button[type=submit]")).await;
    c.wait()
        .for_element(Locator::Css(".field-error"))
        .await
        .unwrap();
    assert!(
        text_of(&c, "#duration_minutes-error")
            .await
            .contains("from 15 to 480")
    );
    let kept = c
        .find(Locator::Id("title"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("Rust meetup: WebRTC in practice"));
    fill(&c, "duration_minutes", "90").await;
    click(&c, Locator::Css("main form button[type=submit]")).await;
    c.wait()
        .for_element(Locator::Css("article.event"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "h1").await, "Rust meetup: WebRTC in practice");
    assert!(
        text_of(&c, ".notice")
            .await
            .contains("Your event was created.")
    );
    // The start is shown in the viewer's local time, not as raw UTC text.
    let shown = text_of(&c, "time[data-local]").await;
    assert!(!shown.contains("UTC") || shown.contains("2030"), "{shown}");
    assert_no_console_errors(&c, "event page").await;

    // Register.
    click(&c, Locator::Css("#registration button[type=submit]")).await;
    c.wait()
        .for_element(Locator::Id("my-registration"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "#my-registration").await, "You are registered.");
    assert!(
        text_of(&c, "#registered-count")
            .await
            .starts_with("1 of 30")
    );
    assert_no_console_errors(&c, "after registering").await;

    // Run it: open the green room, go live (after the confirmation dialog), see the clock.
    click(&c, Locator::XPath("//button[text()='Open green room']")).await;
    c.wait()
        .for_element(Locator::XPath("//button[text()='Go live']"))
        .await
        .unwrap();
    assert!(
        text_of(&c, ".notice")
            .await
            .contains("The green room is open")
    );
    assert!(
        text_of(&c, ".badge")
            .await
            .eq_ignore_ascii_case("Starting soon")
    );
    click(&c, Locator::XPath("//button[text()='Go live']")).await;
    assert!(c.get_alert_text().await.unwrap().contains("we're live"));
    c.accept_alert().await.unwrap();
    c.wait()
        .for_element(Locator::XPath("//button[text()='End event']"))
        .await
        .unwrap();
    assert!(text_of(&c, ".notice").await.contains("You are live."));
    assert!(text_of(&c, ".facts").await.contains("stops automatically"));
    app.deliver().await;
    assert!(
        app.mails_to("pat@example.org")
            .await
            .iter()
            .any(|m| m.subject == "We're live: Rust meetup: WebRTC in practice")
    );
    assert_no_console_errors(&c, "after going live").await;

    let png = c.screenshot().await.unwrap();
    std::fs::write(std::env::temp_dir().join("meetstage-event-page.png"), png).unwrap();
    c.close().await.unwrap();
}

/// ChromeDriver's passthrough to the DevTools protocol (themes and phone sizes), which
/// fantoccini has no method for.
#[derive(Debug)]
pub struct Cdp(pub &'static str, pub serde_json::Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"cmd": self.0, "params": self.1}).to_string()),
        )
    }
}

/// axe-core, installed from npm at the version tests/browser/package-lock.json pins.
fn axe_source() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser/node_modules/axe-core/axe.min.js"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; scripts/test installs it (npm ci --prefix tests/browser)")
    })
}

/// Every page a signed-out visitor, a member, an organizer and an admin can open passes
/// axe-core (WCAG 2.1 AA) in the light and the dark theme, and fits a 390 px wide phone
/// without sideways scrolling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_in_both_themes_and_fits_a_phone() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin("root@example.org", "Root Admin").await;
    let org = app.organizer("olga@example.org", "Olga Organizer").await;
    let event = app.create_event(&org, "Accessible meetups", "1").await;
    let live = app.create_event(&org, "On air now", "").await;
    for step in ["green-room", "go-live"] {
        app.form(&org, &format!("/events/{live}/{step}"), &[]).await;
    }
    let member = app
        .member(
            "mo.member.with-a-rather-long-address@example.org",
            "Mo Member",
        )
        .await;
    app.form(&member, &format!("/events/{event}/register"), &[])
        .await;
    let late = app.member("lu@example.org", "Lu Late").await;
    app.form(&late, &format!("/events/{event}/register"), &[])
        .await;
    // Something failed in the outbox, so the admin's outbox page has rows to show.
    app.deliver().await;
    // Three ended events: one recording waits to be composed, one failed, one was refused
    // for want of disk.
    let waiting = app.create_event(&org, "Composing now", "").await;
    let failed = app.create_event(&org, "Composing failed", "").await;
    let refused = app.create_event(&org, "Not recorded", "").await;
    for id in [&waiting, &failed, &refused] {
        for step in ["green-room", "go-live", "end"] {
            app.form(&org, &format!("/events/{id}/{step}"), &[]).await;
        }
    }
    app.core
        .store
        .set_recording_state(&failed, "failed", 0, Some("ffmpeg could not compose it"), 0)
        .await
        .unwrap();
    let why = "the server's disk had 312 MB free and recording needs at least 1,024 MB";
    app.core
        .store
        .set_recording_state(&refused, "refused", 0, Some(why), 0)
        .await
        .unwrap();
    drop((admin, org, member, late));

    let signed_out = vec![
        "/".to_string(),
        "/events?section=upcoming".into(),
        "/events?section=past".into(),
        format!("/events/{event}"),
        format!("/events/{live}"),
        format!("/events/{live}/live"),
        "/login".into(),
        "/signup".into(),
        "/account/forgot".into(),
        "/account/reset?token=x".into(),
        "/account/verify?token=x".into(),
        "/events/00000000-0000-7000-8000-000000000000".into(),
    ];
    let member_pages = vec![
        "/".to_string(),
        format!("/events/{event}"),
        "/account".into(),
        "/account/notifications".into(),
        format!("/events/{live}/live"),
    ];
    let organizer_pages = vec![
        "/my/events".to_string(),
        "/events/new".into(),
        format!("/events/{event}"),
        format!("/events/{event}/edit"),
        format!("/events/{event}/registrations"),
        format!("/events/{live}"),
        format!("/events/{live}/live"),
        format!("/events/{waiting}"),
        format!("/events/{failed}"),
        format!("/events/{refused}"),
    ];
    let admin_pages = vec![
        "/admin/recordings".to_string(),
        "/admin".into(),
        "/admin?q=example".into(),
        "/admin/audit".into(),
        "/admin/outbox".into(),
        "/admin/outbox?status=sent".into(),
        format!("/events/{live}/live"),
    ];

    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let axe = axe_source();
    let mut problems = Vec::new();
    for (who, pages) in [
        (None, signed_out),
        (
            Some("mo.member.with-a-rather-long-address@example.org"),
            member_pages,
        ),
        (Some("olga@example.org"), organizer_pages),
        (Some("root@example.org"), admin_pages),
    ] {
        c.delete_all_cookies().await.unwrap();
        if let Some(email) = who {
            c.goto(&app.url("/login")).await.unwrap();
            fill(&c, "email", email).await;
            fill(&c, "password", PASSWORD).await;
            click(&c, Locator::Css("main form button[type=submit]")).await;
            c.wait()
                .for_element(Locator::Css("header form button"))
                .await
                .unwrap();
        }
        for page in &pages {
            for (theme, width) in LOOKS {
                emulate(&c, theme, width).await;
                c.goto(&app.url(page)).await.unwrap();
                if page.ends_with("/live") {
                    // The room draws itself from the server's snapshot first.
                    c.wait()
                        .for_element(Locator::Css("#room[data-ready=true]"))
                        .await
                        .unwrap();
                }
                let at = format!(
                    "{page} as {} in {theme} at {width}px",
                    who.unwrap_or("visitor")
                );
                problems.extend(axe_and_overflow(&c, &axe, &at).await);
                // For a person to look at: MEETSTAGE_SCREENSHOTS=<dir> keeps every page as PNG.
                if let Ok(dir) = std::env::var("MEETSTAGE_SCREENSHOTS") {
                    let name: String =
                        format!("{}-{page}-{theme}-{width}", who.unwrap_or("visitor"))
                            .chars()
                            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                            .collect();
                    let png = c.screenshot().await.unwrap();
                    std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
                }
                // The error page is meant to answer 404, which the browser logs.
                let log = c.issue_cmd(BrowserLog).await.unwrap();
                let errors: Vec<&serde_json::Value> = log
                    .as_array()
                    .map(|a| a.iter().filter(|e| e["level"] == "SEVERE").collect())
                    .unwrap_or_default();
                if !errors.is_empty() && !page.starts_with("/events/00000000-") {
                    problems.push(format!("{at}: console errors {errors:?}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Every page is checked in both themes, on a desktop and a 390 px phone.
const LOOKS: [(&str, i64); 4] = [
    ("light", 1280),
    ("dark", 1280),
    ("light", 390),
    ("dark", 390),
];

/// Shows the page in `theme` at `width` CSS pixels.
pub async fn emulate(c: &Client, theme: &str, width: i64) {
    c.issue_cmd(Cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": theme}]}),
    ))
    .await
    .unwrap();
    c.issue_cmd(Cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": 844, "deviceScaleFactor": 1, "mobile": width < 500}),
    ))
    .await
    .unwrap();
}

/// Waits until the page shows the emulated theme and width, and has drawn since.
async fn settled(c: &Client, theme: &str, width: i64) {
    let check = format!(
        "return matchMedia('(prefers-color-scheme: {theme})').matches && innerWidth === {width};"
    );
    for _ in 0..100 {
        if c.execute(&check, vec![]).await.unwrap() == json!(true) {
            // One frame drawn at the new size before anything is measured.
            c.execute_async(
                "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await
            .unwrap();
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page never took the {theme} theme at {width}px");
}

/// axe-core's violations, any sideways scrolling and any short word split over lines, of the
/// page as it is now.
async fn axe_and_overflow(c: &Client, axe: &str, at: &str) -> Vec<String> {
    let mut problems = Vec::new();
    c.execute(&format!("{axe}\nreturn true;"), vec![])
        .await
        .unwrap();
    let violations = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']})
               .then(r => done(r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))))
               .catch(e => done([{id: 'axe failed', nodes: [String(e)]}]));",
            vec![],
        )
        .await
        .unwrap();
    if violations.as_array().is_some_and(|v| !v.is_empty()) {
        problems.push(format!("{at}: {violations:#}"));
    }
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    if overflow.as_i64().unwrap_or(0) > 0 {
        problems.push(format!("{at}: scrolls sideways by {overflow} px"));
    }
    // A short word (a number, a name) split over lines means its column was squeezed to
    // almost nothing, as `overflow-wrap: anywhere` allows: it fits, but cannot be read.
    let broken = c.execute(BROKEN_WORDS, vec![]).await.unwrap();
    if broken.as_array().is_some_and(|b| !b.is_empty()) {
        problems.push(format!("{at}: words broken across lines: {broken}"));
    }
    problems
}

/// Words of 2 to 10 characters without a hyphen whose letters lie on more than one line.
const BROKEN_WORDS: &str = "
    const broken = [];
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n && broken.length < 5; n = walk.nextNode()) {
        for (const m of n.data.matchAll(/(?<![^\\s-])[^\\s-]{2,10}(?![^\\s-])/g)) {
            const r = document.createRange();
            r.setStart(n, m.index);
            r.setEnd(n, m.index + m[0].length);
            const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
            if (tops.size > 1) broken.push(m[0] + ' in ' + n.parentElement.tagName.toLowerCase() + (n.parentElement.id ? '#' + n.parentElement.id : ''));
        }
    }
    return broken;";

/// Checks the page as it is now (without loading it again, so live media stays up) in
/// both themes, wide and 390 px narrow; returns what `axe_and_overflow` found.
pub async fn audit_in_place(c: &Client, what: &str) -> Vec<String> {
    let axe = axe_source();
    let mut problems: Vec<String> = console_errors(c)
        .await
        .iter()
        .map(|e| format!("{what}: console error {e}"))
        .collect();
    for (theme, width) in LOOKS {
        emulate(c, theme, width).await;
        settled(c, theme, width).await;
        let at = format!("{what} in {theme} at {width}px");
        problems.extend(axe_and_overflow(c, &axe, &at).await);
        if let Ok(dir) = std::env::var("MEETSTAGE_SCREENSHOTS") {
            let name: String = at
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                .collect();
            let png = c.screenshot().await.unwrap();
            std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
        }
    }
    c.issue_cmd(Cdp("Emulation.clearDeviceMetricsOverride", json!({})))
        .await
        .unwrap();
    // axe copies each element to show its source; a copy of a playing video asks for its
    // MediaSource's blob: address, which only the original may open. Anything else counts.
    for e in console_errors(c).await {
        let m = e["message"].as_str().unwrap_or_default();
        if !(m.starts_with("blob:") && m.contains("ERR_FILE_NOT_FOUND")) {
            problems.push(format!("{what}: console error during the audit {e}"));
        }
    }
    problems
}

/// Presses Tab until the focused element satisfies `is`, as a keyboard user would; fails
/// after 40 presses. Returns the focused element's (tag, id, text).
pub async fn tab_to(c: &Client, what: &str, is: impl Fn(&str, &str, &str) -> bool) {
    for _ in 0..40 {
        c.active_element()
            .await
            .unwrap()
            .send_keys(&fantoccini::key::Key::Tab.to_string())
            .await
            .unwrap();
        let el = c.active_element().await.unwrap();
        let tag = el.tag_name().await.unwrap();
        let id = el.attr("id").await.unwrap().unwrap_or_default();
        let text = el.text().await.unwrap_or_default();
        if is(&tag, &id, text.trim()) {
            // The focus is visible: an outline, as the stylesheet draws for :focus-visible.
            let outline = c
                .execute(
                    "return getComputedStyle(document.activeElement).outlineStyle;",
                    vec![],
                )
                .await
                .unwrap();
            assert_ne!(outline, "none", "focus on {what} is visible");
            return;
        }
    }
    panic!("Tab never reached {what}");
}

pub async fn type_keys(c: &Client, text: &str) {
    c.active_element()
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

/// A person with only a keyboard skips to the content, logs in and registers for an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyboard_alone_logs_in_and_registers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let org = app.organizer("olga@example.org", "Olga").await;
    let event = app.create_event(&org, "Keyboard night", "").await;
    app.member("kim@example.org", "Kim").await;
    let driver = Driver::start().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let enter = fantoccini::key::Key::Enter.to_string();

    c.goto(&app.url(&format!("/login?next=/events/{event}")))
        .await
        .unwrap();
    tab_to(&c, "the skip link", |tag, _, text| {
        tag == "a" && text == "Skip to content"
    })
    .await;
    tab_to(&c, "the email field", |_, id, _| id == "email").await;
    type_keys(&c, "kim@example.org").await;
    tab_to(&c, "the password field", |_, id, _| id == "password").await;
    type_keys(&c, PASSWORD).await;
    type_keys(&c, &enter).await;
    c.wait().for_element(Locator::Css(".notice")).await.unwrap();
    assert!(text_of(&c, ".notice").await.contains("You are logged in."));

    tab_to(&c, "the register button", |tag, _, text| {
        tag == "button" && text == "Register"
    })
    .await;
    type_keys(&c, &enter).await;
    c.wait()
        .for_element(Locator::XPath(
            "//p[contains(@class,'notice') and contains(., 'You are registered')]",
        ))
        .await
        .unwrap();
    assert_no_console_errors(&c, "keyboard path").await;
}
