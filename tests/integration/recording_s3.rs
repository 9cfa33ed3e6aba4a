//! Recordings kept in an S3-compatible bucket (AWS S3, MinIO, R2) through aws-sdk-s3: against
//! a local fake of S3's HTTP API (the exact requests), composed files go up segments first
//! and the playlist last, whoever may watch gets them streamed with byte ranges, a
//! members-only replay stays with members, delete empties the prefix, and a bucket that
//! does not answer fails the job (to be retried) and the player with a clear 503; against
//! moto's S3 server (a real S3-compatible server, which scripts/test installs), the same
//! round trip.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};

use crate::{
    both,
    helpers::{Backend, TestApp, assert_signed, serve_fake},
    recordings::{end, ranged, record_part},
};

both!(
    composed_recordings_go_to_the_bucket_and_are_streamed_from_it,
    a_bucket_that_does_not_answer_is_retried_and_said,
    a_real_s3_server_holds_plays_and_forgets_a_recording,
    a_cdn_delivers_a_members_replay_with_signed_urls
);

pub(crate) const BUCKET: &str = "meetstage-rec";

#[derive(Default)]
struct State {
    objects: BTreeMap<String, (Vec<u8>, String)>,
    /// "METHOD /path?query" of every request, in order.
    calls: Vec<String>,
    down: bool,
}

#[derive(Clone, Default)]
struct FakeS3(Arc<Mutex<State>>);

impl FakeS3 {
    async fn start() -> (FakeS3, String) {
        let fake = FakeS3::default();
        let f = fake.clone();
        let app = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
            let f = f.clone();
            async move { f.answer(m, u, h, b) }
        });
        let port = serve_fake(app).await;
        (
            fake,
            format!("http://AKIDS3TEST:s3-test-secret@127.0.0.1:{port}"),
        )
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    fn error(status: StatusCode, code: &str) -> Response {
        (
            status,
            [("content-type", "application/xml")],
            format!(
                "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
            ),
        )
            .into_response()
    }

    fn answer(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        assert_signed(&headers, "AKIDS3TEST", "us-east-1", "s3");
        let query = uri.query().unwrap_or_default().to_string();
        let mut s = self.0.lock().unwrap();
        s.calls.push(format!(
            "{method} {}{}{query}",
            uri.path(),
            if query.is_empty() { "" } else { "?" }
        ));
        if s.down {
            return Self::error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
        }
        // Path-style: /bucket/key.
        let path = uri.path().trim_start_matches('/');
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        assert_eq!(bucket, BUCKET, "{uri}");
        let key = percent_decode(key);
        match (method, key.is_empty()) {
            (Method::PUT, false) => {
                let kind = headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                assert_eq!(
                    headers["content-length"].to_str().unwrap(),
                    body.len().to_string(),
                    "a plain body with its length"
                );
                s.objects.insert(key, (body.to_vec(), kind));
                (StatusCode::OK, [("etag", "\"e\"")]).into_response()
            }
            (Method::GET, true) if query.contains("list-type=2") => {
                let prefix = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("prefix="))
                    .map(percent_decode)
                    .unwrap_or_default();
                let keys: Vec<&String> = s
                    .objects
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .collect();
                let contents: String = keys
                    .iter()
                    .map(|k| format!("<Contents><Key>{k}</Key><Size>1</Size></Contents>"))
                    .collect();
                let xml = format!(
                    "<?xml version=\"1.0\"?><ListBucketResult><Name>{BUCKET}</Name>\
                     <Prefix>{prefix}</Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys>\
                     <IsTruncated>false</IsTruncated>{contents}</ListBucketResult>",
                    keys.len()
                );
                (StatusCode::OK, [("content-type", "application/xml")], xml).into_response()
            }
            (Method::GET, false) => {
                let Some((data, kind)) = s.objects.get(&key).cloned() else {
                    return Self::error(StatusCode::NOT_FOUND, "NoSuchKey");
                };
                let total = data.len();
                match headers.get("range").and_then(|r| r.to_str().ok()) {
                    Some(r) => {
                        let (a, b) = r.trim_start_matches("bytes=").split_once('-').unwrap();
                        let a: usize = a.parse().unwrap();
                        let b: usize = b.parse::<usize>().unwrap_or(total - 1).min(total - 1);
                        (
                            StatusCode::PARTIAL_CONTENT,
                            [
                                ("content-type", kind),
                                ("content-range", format!("bytes {a}-{b}/{total}")),
                            ],
                            data[a..=b].to_vec(),
                        )
                            .into_response()
                    }
                    None => (StatusCode::OK, [("content-type", kind)], data).into_response(),
                }
            }
            (Method::POST, true) if query.starts_with("delete") => {
                let text = String::from_utf8_lossy(&body);
                for part in text.split("<Key>").skip(1) {
                    let key = part.split("</Key>").next().unwrap();
                    s.objects.remove(key);
                }
                (
                    StatusCode::OK,
                    [("content-type", "application/xml")],
                    "<?xml version=\"1.0\"?><DeleteResult></DeleteResult>",
                )
                    .into_response()
            }
            (m, _) => panic!("unexpected S3 request {m} {uri}"),
        }
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("k={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// meetstage keeping its recordings in the bucket at `endpoint`.
async fn on_s3(backend: Backend, endpoint: &str) -> TestApp {
    TestApp::spawn_with(backend, |o| {
        o.recording_store = Some("s3".into());
        o.recording_s3_bucket = Some(BUCKET.into());
        o.recording_s3_endpoint_url = Some(endpoint.parse().unwrap());
    })
    .await
}

async fn start(backend: Backend) -> (TestApp, FakeS3) {
    let (fake, endpoint) = FakeS3::start().await;
    (on_s3(backend, &endpoint).await, fake)
}

/// An event that recorded a part, ended, and whose recording the job made ready.
async fn recorded(app: &TestApp, visibility: &str) -> (crate::room_client::Person, String) {
    let (owner, event) = app.live_event(visibility).await;
    record_part(app, &event, &owner.id);
    end(app, &owner, &event).await;
    app.run_jobs().await;
    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "ready", "{row:?}");
    (owner, event)
}

async fn composed_recordings_go_to_the_bucket_and_are_streamed_from_it(backend: Backend) {
    let (app, fake) = start(backend).await;
    let (owner, event) = recorded(&app, "members").await;
    let ada = app.person("Ada").await;

    // Uploaded under vod/<event>/: the segments, then the MP4, then the playlist last; the
    // list before it found nothing to remove. Nothing on this server's disk.
    let prefix = format!("vod/{event}/");
    let calls = fake.with(|s| s.calls.clone());
    assert_eq!(
        calls[0],
        format!(
            "GET /{BUCKET}/?list-type=2&prefix={}",
            prefix.replace('/', "%2F")
        ),
        "{calls:?}"
    );
    let puts: Vec<&String> = calls.iter().filter(|c| c.starts_with("PUT ")).collect();
    let n = puts.len();
    assert!(n >= 3, "{calls:?}");
    for put in &puts[..n - 2] {
        assert!(
            put.starts_with(&format!("PUT /{BUCKET}/{prefix}seg-"))
                && put.ends_with(".ts?x-id=PutObject"),
            "{calls:?}"
        );
    }
    assert_eq!(
        *puts[n - 2],
        format!("PUT /{BUCKET}/{prefix}recording.mp4?x-id=PutObject")
    );
    assert_eq!(
        *puts[n - 1],
        format!("PUT /{BUCKET}/{prefix}index.m3u8?x-id=PutObject")
    );
    assert!(!calls.iter().any(|c| c.starts_with("POST ")), "{calls:?}");
    let (mp4, kind) = fake.with(|s| s.objects[&format!("{prefix}recording.mp4")].clone());
    assert_eq!(kind, "video/mp4");
    assert_eq!(&mp4[4..8], b"ftyp");
    let playlist = fake.with(|s| s.objects[&format!("{prefix}index.m3u8")].clone());
    assert_eq!(playlist.1, "application/vnd.apple.mpegurl");
    assert!(!app.core.config.data_dir.join("vod").join(&event).exists());

    // Members stream it through meetstage with byte ranges; strangers get nothing.
    let rec = format!("/events/{event}/recording");
    let r = app
        .get(&ada.client(), &format!("{rec}/recording.mp4"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    assert_eq!(r.headers()["cache-control"], "private, max-age=300");
    assert_eq!(r.bytes().await.unwrap().to_vec(), mp4);
    let part = ranged(
        &app,
        &ada.client(),
        &format!("{rec}/recording.mp4"),
        (100, 199),
        mp4.len(),
    )
    .await;
    assert_eq!(part, mp4[100..200].to_vec());
    let r = app.get(&ada.client(), &format!("{rec}/index.m3u8")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let segment = text
        .lines()
        .find(|l| l.starts_with("seg-"))
        .unwrap()
        .to_string();
    let r = app.get(&ada.client(), &format!("{rec}/{segment}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    let before = fake.with(|s| s.calls.len());
    for (client, path) in [
        (app.browser(), format!("{rec}/recording.mp4")),
        (ada.client(), format!("{rec}/timeline.jsonl")),
        (ada.client(), format!("{rec}/seg-..%2F..%2Fx.ts")),
    ] {
        let r = app.get(&client, &path).await;
        assert!(
            matches!(r.status(), StatusCode::NOT_FOUND | StatusCode::SEE_OTHER),
            "{path}: {}",
            r.status()
        );
    }
    assert_eq!(
        fake.with(|s| s.calls.len()),
        before,
        "refused before the bucket is asked"
    );

    // Delete empties the prefix: listed, then removed in one call.
    let r = app
        .form(&owner.client(), &format!("{rec}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let calls = fake.with(|s| s.calls.clone());
    assert_eq!(
        calls[calls.len() - 1],
        format!("POST /{BUCKET}/?delete"),
        "{calls:?}"
    );
    assert!(
        calls[calls.len() - 2].starts_with(&format!("GET /{BUCKET}/?list-type=2&prefix=")),
        "{calls:?}"
    );
    assert!(fake.with(|s| s.objects.is_empty()), "every file removed");
    let r = app
        .get(&ada.client(), &format!("{rec}/recording.mp4"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn a_bucket_that_does_not_answer_is_retried_and_said(backend: Backend) {
    let (app, fake) = start(backend).await;
    let (owner, event) = app.live_event("public").await;
    record_part(&app, &event, &owner.id);
    end(&app, &owner, &event).await;
    fake.with(|s| s.down = true);
    app.run_jobs().await;
    // The job failed and waits for its retry; the raw recording is kept.
    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "failed", "{row:?}");
    assert_eq!(
        row.error.as_deref(),
        Some("the recording store could not be reached")
    );
    let jobs = app
        .core
        .store
        .jobs_by_kind(meetstage::jobs::RECORDING)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert!(
        jobs[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("ServiceUnavailable"),
        "{:?}",
        jobs[0].last_error
    );
    assert!(
        app.core
            .config
            .data_dir
            .join("recordings")
            .join(&event)
            .exists()
    );

    // Back up: the retry puts it there, and the player is told plainly when it goes away.
    fake.with(|s| s.down = false);
    app.clock.advance(chrono::Duration::hours(1));
    app.run_jobs().await;
    let row = app.core.store.recording(&event).await.unwrap().unwrap();
    assert_eq!(row.state, "ready", "{row:?}");
    fake.with(|s| s.down = true);
    let r = app
        .get(
            &app.browser(),
            &format!("/events/{event}/recording/recording.mp4"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("The recording cannot be reached right now") && !body.contains(BUCKET),
        "{body}"
    );
}

/// moto's S3 server (scripts/test installs it), on a port of its own; killed when dropped.
pub(crate) struct RealS3 {
    _child: tokio::process::Child,
    pub url: String,
}

impl RealS3 {
    pub async fn start() -> RealS3 {
        // Where scripts/test installs it, unless said otherwise.
        let program = std::env::var("MEETSTAGE_TEST_S3_SERVER").unwrap_or_else(|_| {
            format!(
                "{}/.cache/meetstage/s3-venv/bin/moto_server",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        assert!(
            std::path::Path::new(&program).exists(),
            "{program} is missing: run scripts/test, which installs moto's S3 server"
        );
        // A port just freed may be handed to a test running alongside as well: a server
        // whose own process is gone, or that already holds a bucket, is another test's, and
        // the start is tried again on another port.
        for _ in 0..5 {
            if let Some(s3) = RealS3::try_start(&program).await {
                return s3;
            }
        }
        panic!("moto_server never answered on a port of its own");
    }

    async fn try_start(program: &str) -> Option<RealS3> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = tokio::process::Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server starts");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if !matches!(child.try_wait(), Ok(None)) {
                return None;
            }
            if let Ok(r) = client.get(format!("{url}/")).send().await
                && r.status().is_success()
            {
                if r.text().await.unwrap_or_default().contains("<Bucket>") {
                    return None;
                }
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server never answered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // The bucket, made as an operator would before pointing meetstage at it.
        let r = client.put(format!("{url}/{BUCKET}")).send().await.ok()?;
        (r.status().is_success() && matches!(child.try_wait(), Ok(None)))
            .then_some(RealS3 { _child: child, url })
    }

    /// A client signing as the bucket's owner (moto refuses anonymous object requests).
    async fn client(&self) -> aws_sdk_s3::Client {
        let endpoint: url::Url = self.endpoint().parse().unwrap();
        let sdk = meetstage::aws::sdk_config("us-east-1", Some(&endpoint)).await;
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Puts an object, as another writer of the bucket would (IVS).
    pub async fn put(&self, key: &str, body: Vec<u8>) {
        self.client()
            .await
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {key}: {e:?}"));
    }

    /// An object's bytes, None when there is none.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let out = self
            .client()
            .await
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(out.body.collect().await.unwrap().into_bytes().to_vec())
    }

    /// The URL meetstage is given: the server, with keys it signs with.
    pub fn endpoint(&self) -> String {
        self.url.replace("http://", "http://AKIDMOTO:moto-secret@")
    }

    /// The keys under `prefix`, as the server lists them.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let xml = reqwest::get(format!("{}/{BUCKET}?list-type=2&prefix={prefix}", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        xml.split("<Key>")
            .skip(1)
            .map(|k| k.split("</Key>").next().unwrap().to_string())
            .collect()
    }
}

/// The same store against a real S3-compatible server: composed, uploaded, played back with
/// byte ranges, and every object gone after delete.
async fn a_real_s3_server_holds_plays_and_forgets_a_recording(backend: Backend) {
    let s3 = RealS3::start().await;
    let endpoint = s3.url.replace("http://", "http://AKIDMOTO:moto-secret@");
    let app = on_s3(backend, &endpoint).await;
    let (owner, event) = recorded(&app, "public").await;

    let prefix = format!("vod/{event}/");
    let keys = s3.keys(&prefix).await;
    assert!(keys.contains(&format!("{prefix}recording.mp4")), "{keys:?}");
    assert!(keys.contains(&format!("{prefix}index.m3u8")), "{keys:?}");
    assert!(keys.iter().any(|k| k.ends_with(".ts")), "{keys:?}");

    // Played back through meetstage: the whole MP4 composing made, and a range of it.
    let rec = format!("/events/{event}/recording");
    let r = app
        .get(&app.browser(), &format!("{rec}/recording.mp4"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let stored = r.bytes().await.unwrap().to_vec();
    assert_eq!(&stored[4..8], b"ftyp");
    assert!(stored.len() > 1008, "{} bytes", stored.len());
    let part = ranged(
        &app,
        &app.browser(),
        &format!("{rec}/recording.mp4"),
        (8, 1007),
        stored.len(),
    )
    .await;
    assert_eq!(part, stored[8..1008].to_vec());

    let r = app
        .form(&owner.client(), &format!("{rec}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(s3.keys(&prefix).await.is_empty(), "every object removed");
}

/// A stand-in for CloudFront in front of the bucket: it serves an object only for a URL
/// signed with the trusted key (RSA-SHA1 over the policy), whose policy covers the URL and
/// has not expired at `now_s`; then it answers from the bucket.
async fn fake_cdn(
    bucket: Arc<RealS3>,
    trusted: rsa::RsaPublicKey,
    now_s: Arc<std::sync::atomic::AtomicI64>,
) -> String {
    use rsa::{pkcs1v15::VerifyingKey, signature::Verifier};
    let decode = |s: &str| {
        use base64::Engine;
        let std: String = s
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '=',
                '~' => '/',
                c => c,
            })
            .collect();
        base64::engine::general_purpose::STANDARD.decode(std).ok()
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/");
    let me = base.clone();
    let app = Router::new().fallback(move |uri: Uri| {
        let (bucket, trusted, me) = (bucket.clone(), trusted.clone(), me.clone());
        let now_s = now_s.load(std::sync::atomic::Ordering::SeqCst);
        async move {
            let q: BTreeMap<String, String> =
                url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let (Some(policy), Some(sig)) = (
                q.get("Policy").and_then(|p| decode(p)),
                q.get("Signature").and_then(|s| decode(s)),
            ) else {
                return StatusCode::FORBIDDEN.into_response();
            };
            let verified = rsa::pkcs1v15::Signature::try_from(sig.as_slice())
                .ok()
                .is_some_and(|sig| {
                    VerifyingKey::<sha1::Sha1>::new(trusted)
                        .verify(&policy, &sig)
                        .is_ok()
                });
            let policy: serde_json::Value = serde_json::from_slice(&policy).unwrap();
            let statement = &policy["Statement"][0];
            let resource = statement["Resource"].as_str().unwrap_or("");
            let url = format!("{me}{}", uri.path().trim_start_matches('/'));
            let covers = resource
                .strip_suffix('*')
                .is_some_and(|prefix| url.starts_with(prefix));
            let fresh = statement["Condition"]["DateLessThan"]["AWS:EpochTime"]
                .as_i64()
                .is_some_and(|t| t > now_s);
            if !(verified
                && covers
                && fresh
                && q.get("Key-Pair-Id").map(String::as_str) == Some("KTESTKEY1"))
            {
                return StatusCode::FORBIDDEN.into_response();
            }
            // From the bucket as CloudFront's origin access control reads it: signed.
            match bucket.get(uri.path().trim_start_matches('/')).await {
                Some(bytes) => (StatusCode::OK, bytes).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// With a CloudFront distribution configured, meetstage checks who may watch and hands out
/// signed URLs: the playlist names each segment on the CDN under one grant for the
/// recording, the MP4 is a redirect, strangers get nothing, and a player follows the URLs
/// through the (stand-in) CDN to the bucket.
async fn a_cdn_delivers_a_members_replay_with_signed_urls(backend: Backend) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let s3 = Arc::new(RealS3::start().await);
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = key.to_pkcs1_pem(Default::default()).unwrap().to_string();
    let endpoint = s3.endpoint();
    // The stand-in checks expiry against the app's own (test) clock.
    let now_s = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let cdn = fake_cdn(s3.clone(), key.to_public_key(), now_s.clone()).await;
    let app = TestApp::spawn_with(backend, |o| {
        o.recording_store = Some("s3".into());
        o.recording_s3_bucket = Some(BUCKET.into());
        o.recording_s3_endpoint_url = Some(endpoint.parse().unwrap());
        o.recording_cdn_url = Some(cdn.parse().unwrap());
        o.recording_cdn_key_pair_id = Some("KTESTKEY1".into());
        o.recording_cdn_private_key = Some(meetstage::config::Secret::new(pem));
    })
    .await;
    now_s.store(
        app.clock.now_ms() / 1000,
        std::sync::atomic::Ordering::SeqCst,
    );
    let (_owner, event) = recorded(&app, "members").await;
    let ada = app.person("Ada").await;
    let rec = format!("/events/{event}/recording");

    // The playlist: from meetstage, every segment on the CDN with the same grant.
    let r = app.get(&ada.client(), &format!("{rec}/index.m3u8")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let playlist = r.text().await.unwrap();
    let segments: Vec<&str> = playlist.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!segments.is_empty(), "{playlist}");
    let grant = segments[0].split_once('?').unwrap().1;
    for s in &segments {
        assert!(
            s.starts_with(&format!("{cdn}vod/{event}/seg-")) && s.ends_with(grant),
            "{playlist}"
        );
    }
    assert!(grant.contains("Key-Pair-Id=KTESTKEY1"), "{grant}");
    // The CDN serves a segment for it, the bucket's own bytes; a forged grant gets nothing.
    let first = reqwest::get(segments[0]).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let name = segments[0]
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let direct = s3.get(&format!("vod/{event}/{name}")).await.unwrap();
    assert_eq!(first.bytes().await.unwrap().to_vec(), direct);
    let forged = segments[0].replace("Key-Pair-Id=KTESTKEY1", "Key-Pair-Id=KOTHER");
    assert_eq!(
        reqwest::get(forged).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let elsewhere = segments[0].replace(&format!("vod/{event}/"), "vod/another/");
    assert_eq!(
        reqwest::get(elsewhere).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // The MP4 is a redirect to the CDN, never cached; ffprobe follows it to the video.
    let r = app
        .get(&ada.client(), &format!("{rec}/recording.mp4"))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{cdn}vod/{event}/recording.mp4?Policy=")),
        "{location}"
    );
    let seconds = crate::helpers::ffprobe_seconds(&location);
    assert!(seconds > 0.5, "ffprobe read {seconds} s through the CDN");

    // Strangers get no URL at all; the recap page lets the player reach the CDN.
    for path in [format!("{rec}/index.m3u8"), format!("{rec}/recording.mp4")] {
        let r = app.get(&app.browser(), &path).await;
        assert!(
            r.headers()
                .get("location")
                .is_none_or(|l| !l.to_str().unwrap().contains("Policy"))
        );
        assert!(
            matches!(r.status(), StatusCode::NOT_FOUND | StatusCode::SEE_OTHER),
            "{path}"
        );
    }
    let r = app
        .get(&ada.client(), &format!("/events/{event}/recap"))
        .await;
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let origin = cdn.trim_end_matches('/');
    assert!(
        csp.contains(&format!("media-src 'self' blob: {origin};")),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("connect-src 'self' {origin};")),
        "{csp}"
    );
}
