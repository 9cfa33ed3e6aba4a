//! The test harness: `TestApp` starts meetstage in-process on port 0 with its own data
//! directory and database, a manual clock, and helpers that act like a person with a browser
//! (cookies, CSRF tokens from the page, links from the captured mail).

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use mail_parser::MimeHeaders;
use meetstage::{
    App,
    clock::Clock,
    config::{Config, Options},
    features::Core,
};
use reqwest::{Client, Response, StatusCode, redirect::Policy};
use tokio::net::TcpListener;

/// Runs a test function once per backend: `both!(name)` makes `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )+};
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub core: Core,
    pub clock: Clock,
    pub dir: tempfile::TempDir,
    pg_database: Option<String>,
    server: tokio::task::JoinHandle<()>,
    /// Stops the server as a SIGTERM would (`stop`).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    config: Config,
}

/// Resolves when `stop` is sent; never when it is dropped (a test that ends without
/// stopping leaves its server to the runtime, as before).
async fn stopped(stop: tokio::sync::oneshot::Receiver<()>) {
    if stop.await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn pg_admin_url() -> String {
    std::env::var("MEETSTAGE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty Postgres database for one test.
async fn create_pg_database() -> (String, String) {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let name = format!("ms_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("Postgres must be reachable at MEETSTAGE_TEST_POSTGRES (default 127.0.0.1:5432); .ci/run starts it");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin).expect("valid Postgres URL");
    url.set_path(&name);
    (name, url.to_string())
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    /// Starts an app; `tweak` may change any option before the configuration is validated.
    /// The test drives the job and mail workers itself (`deliver`, `run_jobs`).
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Options)) -> TestApp {
        TestApp::start(backend, tweak, false).await
    }

    /// Starts an app with its own background workers running, as in production.
    pub async fn spawn_with_workers(backend: Backend, tweak: impl FnOnce(&mut Options)) -> TestApp {
        TestApp::start(backend, tweak, true).await
    }

    async fn start(backend: Backend, tweak: impl FnOnce(&mut Options), workers: bool) -> TestApp {
        // `RUST_LOG=…` shows the server's log while debugging a test.
        if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let (pg_database, database_url) = match backend {
            Backend::Sqlite => (
                None,
                format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
            ),
            Backend::Postgres => {
                let (name, url) = create_pg_database().await;
                (Some(name), url)
            }
        };
        let mut options = Options {
            data_dir: Some(dir.path().to_path_buf()),
            base_url: Some(base.parse().unwrap()),
            database_url: Some(database_url),
            database_max_connections: Some(5),
            // High limits so ordinary tests never trip them; the limiter has its own tests.
            rate_limit_anonymous: Some(100_000),
            rate_limit_user: Some(100_000),
            rate_limit_auth: Some(100_000),
            mail_rate: Some(10_000.0),
            // Any free UDP port: the TCP port's number may be someone else's over UDP.
            media_udp: Some("127.0.0.1:0".parse().unwrap()),
            // Recording never depends on this machine's free disk; one test sets a floor.
            recording_min_free_mb: Some(0),
            ..Options::default()
        };
        tweak(&mut options);
        let config = Config::from_options(options).expect("valid test config");
        let clock = Clock::manual(Utc.with_ymd_and_hms(2030, 1, 15, 12, 0, 0).unwrap());
        let app = App::build_with_clock(config.clone(), listener, clock.clone())
            .await
            .expect("app builds");
        let app = if workers { app } else { app.without_workers() };
        let core = app.core().clone();
        let (stop, on_stop) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            app.run_until(stopped(on_stop)).await.expect("server runs");
        });
        TestApp {
            base,
            core,
            clock,
            dir,
            pg_database,
            server,
            stop: Some(stop),
            config,
        }
    }

    /// Starts the server again on the same data directory and database, as after a crash:
    /// the old one is no longer served, and `core` is the new process's. (Its work in flight
    /// stays as it was: leases held, mail written but not marked sent.)
    pub async fn restart(&mut self) {
        self.server.abort();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        self.base = format!("http://{}", listener.local_addr().unwrap());
        let (core, server) = serve(&self.config, listener, &self.clock).await;
        self.core = core;
        self.server = server;
        self.stop = None;
    }

    /// Stops the server as SIGTERM does (rooms told, requests finished, the store closed)
    /// and waits until it has. The database stays: `reopen` reads it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.server).await.expect("the server stops cleanly");
    }

    /// A connection of its own to the database, for reading it after `stop`.
    pub async fn reopen(&self) -> meetstage::store::Store {
        meetstage::store::Store::connect(&self.config.database_url, 1)
            .await
            .expect("the database opens")
    }

    /// A second server process's worth of app on the same database (its own port, data
    /// directory and rooms), as a second instance behind a load balancer would be.
    pub async fn another_instance(&self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = self.config.clone();
        config.data_dir = dir.path().to_path_buf();
        config.base_url = base.parse().unwrap();
        let (core, server) = serve(&config, listener, &self.clock).await;
        TestApp {
            base,
            core,
            clock: self.clock.clone(),
            dir,
            // The first instance owns (and drops) the database.
            pg_database: None,
            server,
            stop: None,
            config,
        }
    }

    /// The `/metrics` page, scraped with `token`.
    pub async fn metrics(&self, token: &str) -> String {
        let r = self
            .browser()
            .get(self.url("/metrics"))
            .bearer_auth(token)
            .send()
            .await;
        r.unwrap().text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A new "browser": its own cookie jar; redirects are not followed so tests see them.
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap()
    }

    /// A browser on another machine: its connections come from `ip` (any 127.x address).
    pub fn browser_from(&self, ip: [u8; 4]) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
    }

    pub async fn get(&self, c: &Client, path: &str) -> Response {
        c.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn text(&self, c: &Client, path: &str) -> (StatusCode, String) {
        let r = self.get(c, path).await;
        (r.status(), r.text().await.unwrap())
    }

    /// The CSRF token the site gives this browser now (as a page would embed it).
    pub async fn csrf(&self, c: &Client) -> String {
        let (_, body) = self.text(c, "/login").await;
        between(&body, "name=\"csrf-token\" content=\"", "\"")
            .expect("page has a CSRF token")
            .to_string()
    }

    /// Submits a form like a browser: with the CSRF token of the current session.
    pub async fn form(&self, c: &Client, path: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf(c).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", &token)];
        all.extend_from_slice(fields);
        c.post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("POST form")
    }

    /// A JSON call with the session's CSRF header.
    pub async fn api(
        &self,
        c: &Client,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Response {
        let session: serde_json::Value = c
            .get(self.url("/api/v1/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = session["csrf_token"].as_str().unwrap().to_string();
        let mut req = c
            .request(method, self.url(path))
            .header("x-csrf-token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("API call")
    }

    /// Runs statements on the app's database behind its back (to make a write fail, say).
    pub async fn sql(&self, statements: &[&str]) {
        use sqlx::Connection;
        let url = &self.config.database_url;
        if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            for s in statements {
                sqlx::raw_sql(s).execute(&mut c).await.unwrap();
            }
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            for s in statements {
                sqlx::raw_sql(s).execute(&mut c).await.unwrap();
            }
        }
    }

    /// Makes every insert into `table` fail until `allow_inserts`, as a failing database would.
    pub async fn refuse_inserts(&self, table: &str) {
        let sql = if self.config.database_url.starts_with("sqlite:") {
            vec![format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )]
        } else {
            vec![
                "CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                    .to_string(),
                format!(
                    "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
                ),
            ]
        };
        self.sql(&sql.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
    }

    pub async fn allow_inserts(&self, table: &str) {
        let on = if self.config.database_url.starts_with("sqlite:") {
            ""
        } else {
            &format!(" ON {table}")
        };
        self.sql(&[&format!("DROP TRIGGER refuse_{table}{on}")])
            .await;
    }

    // --- mail ---------------------------------------------------------------------------

    pub fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Runs every due job, then delivers every due mail, as the server's workers would; so
    /// the mail directory holds everything sent so far. Returns (jobs run, mails handled).
    pub async fn deliver(&self) -> (usize, usize) {
        let jobs = self.run_jobs().await;
        let mails = meetstage::jobs::deliver_due(&self.core)
            .await
            .expect("mail worker");
        (jobs, mails)
    }

    /// Runs every job that is due now (what the job runner would do next).
    pub async fn run_jobs(&self) -> usize {
        meetstage::jobs::run_due_jobs(&self.core)
            .await
            .expect("job runner")
    }

    /// Every captured mail, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.mail_dir())
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        // Only finished mails: a worker may be writing a temporary file right now.
        paths.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let raw = std::fs::read(p).unwrap();
                let m = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("mail parses");
                Mail {
                    to: m
                        .to()
                        .and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .unwrap_or_default()
                        .to_string(),
                    subject: m.subject().unwrap_or_default().to_string(),
                    text: m.body_text(0).unwrap_or_default().to_string(),
                    html: m.body_html(0).unwrap_or_default().to_string(),
                    list_unsubscribe: m
                        .header_raw("List-Unsubscribe")
                        .map(|v| v.trim().to_string()),
                    one_click: m
                        .header_raw("List-Unsubscribe-Post")
                        .map(|v| v.trim().to_string()),
                    ics: m
                        .attachments()
                        .find(|a| {
                            a.content_type()
                                .is_some_and(|t| t.subtype() == Some("calendar"))
                        })
                        .map(|a| {
                            let method = a
                                .content_type()
                                .and_then(|t| t.attribute("method"))
                                .unwrap_or_default()
                                .to_string();
                            (method, String::from_utf8_lossy(a.contents()).to_string())
                        }),
                }
            })
            .collect()
    }

    /// Mails delivered to `to`, oldest first (after delivering everything due).
    pub async fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.deliver().await;
        self.mails().into_iter().filter(|m| m.to == to).collect()
    }

    /// The latest mail to `to` whose subject starts with `subject`, waiting for it as
    /// `last_mail_to` does: an earlier mail (the "we're live" one) may already be there.
    pub async fn mail_titled(&self, to: &str, subject: &str) -> Mail {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut mails = self.mails_to(to).await;
            mails.retain(|m| m.subject.starts_with(subject));
            if let Some(m) = mails.pop() {
                return m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no mail to {to} titled {subject:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn last_mail_to(&self, to: &str) -> Mail {
        // With the server's own workers running, a due mail may be in their hands (leased,
        // being written) when this delivers; it lands a moment later.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(m) = self.mails_to(to).await.pop() {
                return m;
            }
            assert!(std::time::Instant::now() < deadline, "no mail to {to}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    // --- people -------------------------------------------------------------------------

    /// Signs up through the form, then logs in; returns the browser (email not confirmed).
    pub async fn signup(&self, email: &str, name: &str) -> Client {
        let c = self.browser();
        let r = self
            .form(
                &c,
                "/signup",
                &[
                    ("email", email),
                    ("display_name", name),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "sign-up of {email} failed: {}",
            r.text().await.unwrap()
        );
        assert_eq!(r.headers()["location"], "/login?notice=check_email");
        self.login(&c, email).await;
        c
    }

    /// Logs `c` in with the test password.
    pub async fn login(&self, c: &Client, email: &str) {
        let r = self
            .form(c, "/login", &[("email", email), ("password", PASSWORD)])
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "login of {email} failed: {}",
            r.text().await.unwrap()
        );
    }

    /// Signs up and confirms the email through the mailed link.
    pub async fn member(&self, email: &str, name: &str) -> Client {
        let c = self.signup(email, name).await;
        let link = self
            .last_mail_to(email)
            .await
            .link("/account/verify?token=");
        let token = link.split("token=").nth(1).unwrap().to_string();
        let r = self.form(&c, "/account/verify", &[("token", &token)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        c
    }

    pub async fn user_id(&self, email: &str) -> String {
        self.core
            .store
            .user_by_email(email)
            .await
            .unwrap()
            .expect("user exists")
            .id
    }

    /// A confirmed member made directly in the store (no password, no mail): for tests that
    /// need many people quickly. Returns the user id.
    pub async fn quick_member(&self, email: &str) -> String {
        let id = meetstage::features::new_id();
        self.core
            .store
            .insert_user(meetstage::store::accounts::NewUser {
                id: &id,
                email,
                display_name: "Quick",
                password_hash: "",
                role: "member",
                email_verified_at: Some(0),
                now: 0,
            })
            .await
            .unwrap();
        id
    }

    /// The session a person has after logging in, for calling features directly.
    pub async fn session_of(&self, user_id: &str) -> meetstage::features::accounts::Session {
        use meetstage::features::accounts;
        let token = accounts::create_session(&self.core, user_id).await.unwrap();
        match accounts::authenticate(&self.core, &token).await.unwrap() {
            accounts::SessionState::Active(s) => s,
            _ => panic!("a live session"),
        }
    }

    /// Gives `user_id` a seat at `event` directly in the store, without any mail.
    pub async fn seat(&self, event: &str, user_id: &str) {
        seat(&self.core.store, event, user_id, self.clock.now_ms()).await;
    }

    /// A confirmed member promoted to organizer (as an admin would on /admin).
    pub async fn organizer(&self, email: &str, name: &str) -> Client {
        let c = self.member(email, name).await;
        let id = self.user_id(email).await;
        self.core
            .store
            .set_role_unaudited(&id, "organizer", self.clock.now_ms())
            .await
            .unwrap();
        c
    }

    pub async fn admin(&self, email: &str, name: &str) -> Client {
        let c = self.member(email, name).await;
        let id = self.user_id(email).await;
        self.core
            .store
            .set_role_unaudited(&id, "admin", self.clock.now_ms())
            .await
            .unwrap();
        c
    }

    /// Creates an event through the form; returns its id.
    pub async fn create_event(&self, c: &Client, title: &str, capacity: &str) -> String {
        let start = (self.clock.now() + chrono::Duration::days(7))
            .format("%Y-%m-%dT%H:%M")
            .to_string();
        let r = self
            .form(
                c,
                "/events/create",
                &[
                    ("title", title),
                    ("description", "A talk."),
                    ("start_local", &start),
                    ("time_zone", "UTC"),
                    ("duration_minutes", "60"),
                    ("capacity", capacity),
                    ("visibility", "public"),
                ],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "create failed: {}",
            r.text().await.unwrap()
        );
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        loc.trim_start_matches("/events/")
            .split('?')
            .next()
            .unwrap()
            .to_string()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(name) = self.pg_database.take() {
            // Drop the per-test database from a separate runtime; Drop cannot await.
            let admin = pg_admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut c)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Builds an app without workers on `config` and serves it until aborted.
async fn serve(
    config: &Config,
    listener: TcpListener,
    clock: &Clock,
) -> (Core, tokio::task::JoinHandle<()>) {
    let app = App::build_with_clock(config.clone(), listener, clock.clone())
        .await
        .expect("app builds")
        .without_workers();
    let core = app.core().clone();
    let server = tokio::spawn(async move {
        app.run_until(std::future::pending())
            .await
            .expect("server runs");
    });
    (core, server)
}

#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub list_unsubscribe: Option<String>,
    pub one_click: Option<String>,
    /// The calendar attachment: (the content type's `method`, the file).
    pub ics: Option<(String, String)>,
}

impl Mail {
    /// The first absolute link in the text part whose path starts with `path_prefix`.
    pub fn link(&self, path_prefix: &str) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains(path_prefix))
            .unwrap_or_else(|| panic!("no {path_prefix} link in mail:\n{}", self.text))
            .to_string()
    }
}

pub fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// Gives `user_id` a seat at `event` directly in the store, without any mail.
pub async fn seat(store: &meetstage::store::Store, event: &str, user_id: &str, now: i64) {
    let mut tx = store.begin().await.unwrap();
    tx.lock_open_event(event)
        .await
        .unwrap()
        .expect("open event");
    tx.insert_registration(event, user_id, "registered", now)
        .await
        .unwrap();
    tx.commit(&meetstage::store::Effects::default())
        .await
        .unwrap();
}

// --- the real binary ------------------------------------------------------------------------

/// A port nobody listens on, for a server process the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 30 s) until a server process answers /readyz, i.e. has migrated and listens.
pub async fn wait_ready(port: u16) {
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let t = std::time::Instant::now();
    while !reqwest::get(&ready)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "server never became ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Serves a local fake of an HTTP API (AWS's, say) on a free port; returns the port.
pub async fn serve_fake(router: axum::Router) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

/// Asserts a request was signed (SigV4) with `access_key` for `service` in `region`.
pub fn assert_signed(
    headers: &axum::http::HeaderMap,
    access_key: &str,
    region: &str,
    service: &str,
) {
    let auth = headers["authorization"].to_str().unwrap_or_default();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={access_key}/"))
            && auth.contains(&format!("/{region}/{service}/aws4_request")),
        "{auth}"
    );
}

/// What ffprobe reads of a video (a file or a URL): its duration and its streams' codecs and
/// sizes, as JSON (`format.duration`, `streams[].codec_name`); Null when it cannot.
pub fn ffprobe(input: impl AsRef<std::ffi::OsStr>) -> serde_json::Value {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_entries"])
        .arg("format=duration:stream=codec_name,width,height")
        .arg(input)
        .output()
        .expect("ffprobe runs (scripts/test installs it)");
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// How long ffprobe reads a video to be, in seconds; 0 when it cannot.
pub fn ffprobe_seconds(input: impl AsRef<std::ffi::OsStr>) -> f64 {
    ffprobe(input)["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0)
}
