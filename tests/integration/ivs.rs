//! The Amazon IVS Real-Time provider: meetstage configured for `media_provider = ivs` calls
//! aws-sdk-ivsrealtime against a local fake of the IVS HTTP API, which records every request
//! and keeps just enough state (stages, compositions, who is connected) to answer like IVS.
//! The tests assert the exact calls for the whole life of a stage, and verify the tokens pages
//! get with the public key.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    body::Bytes,
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use base64::Engine;
use chrono::Duration;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use meetstage::{config::Secret, features::events};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use serde_json::{Value, json};

use crate::{
    both,
    helpers::{Backend, TestApp, assert_signed, serve_fake},
    room_client::Person,
};

both!(
    a_stage_lives_from_green_room_to_end,
    tokens_follow_the_room_and_moderation_disconnects,
    the_stage_is_released_after_an_automatic_end_a_cancel_and_a_restart,
    reconcile_disconnects_who_the_room_does_not_admit_and_reports_a_failed_recording,
    a_stage_that_could_not_be_recorded_is_deleted_at_once,
    a_closed_account_and_a_removed_co_presenter_leave_the_stage,
    a_used_up_quota_is_said_to_the_presenters_and_tried_again,
    a_shared_screen_counts_as_one_of_the_twelve,
    an_event_not_recorded_starts_no_composition,
);

const KEY_ARN: &str = "arn:aws:ivs:eu-west-1:123456789012:public-key/meetstageTest";
const STORAGE: &str = "arn:aws:ivs:eu-west-1:123456789012:storage-configuration/rec";
const ENCODER: &str = "arn:aws:ivs:eu-west-1:123456789012:encoder-configuration/hd";

/// What the fake knows and what it was asked.
#[derive(Default)]
struct State {
    calls: Vec<(String, Value)>,
    stages: u32,
    compositions: u32,
    /// The stage's current session, once someone joined.
    session: Option<String>,
    connected: Vec<Value>,
    composition_state: String,
    /// Operations that fail once with a server error.
    fail_once: Vec<String>,
    /// Operations refused while the account's quota is used up.
    over_quota: Vec<String>,
    /// When each paced call (GetStage, ListParticipants) arrived.
    paced: Vec<std::time::Instant>,
}

#[derive(Clone, Default)]
pub struct FakeIvs(Arc<Mutex<State>>);

impl FakeIvs {
    async fn start() -> (FakeIvs, String) {
        let fake = FakeIvs::default();
        fake.0.lock().unwrap().composition_state = "ACTIVE".into();
        let f = fake.clone();
        let app = Router::new().fallback(move |u: Uri, h: HeaderMap, b: Bytes| {
            let f = f.clone();
            async move { f.answer(u, h, b) }
        });
        let port = serve_fake(app).await;
        (
            fake,
            format!("http://AKIDIVSTEST:ivs-test-secret@127.0.0.1:{port}"),
        )
    }

    fn answer(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let op = uri.path().trim_start_matches('/').to_string();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        // Signed with the endpoint URL's credentials, for IVS in the configured region.
        assert_signed(&headers, "AKIDIVSTEST", "eu-west-1", "ivs");
        let mut s = self.0.lock().unwrap();
        s.calls.push((op.clone(), body.clone()));
        if op == "GetStage" || op == "ListParticipants" {
            s.paced.push(std::time::Instant::now());
        }
        if s.over_quota.contains(&op) {
            return (
                StatusCode::PAYMENT_REQUIRED,
                [("x-amzn-errortype", "ServiceQuotaExceededException")],
                Json(json!({ "message": "quota exceeded" })),
            )
                .into_response();
        }
        if let Some(i) = s.fail_once.iter().position(|o| *o == op) {
            s.fail_once.remove(i);
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("x-amzn-errortype", "InternalServerException")],
                Json(json!({ "message": "try again" })),
            )
                .into_response();
        }
        let composition = |arn: &str, stage: &str, state: &str| {
            json!({ "composition": {
                "arn": arn, "stageArn": stage, "state": state,
                "layout": { "grid": { "featuredParticipantAttribute": "featured" } },
                "destinations": [{ "id": "d1", "state": state, "configuration": {
                    "s3": { "storageConfigurationArn": STORAGE, "encoderConfigurationArns": [ENCODER] } } }],
            }})
        };
        let out = match op.as_str() {
            "CreateStage" => {
                s.stages += 1;
                json!({ "stage": {
                    "arn": format!("arn:aws:ivs:eu-west-1:123456789012:stage/st{}", s.stages),
                    "name": body["name"],
                    "endpoints": {
                        "whip": "https://f99084460c35.global-bm.whip.live-video.net",
                        "events": "wss://global.events.live-video.net",
                    },
                }, "participantTokens": [] })
            }
            "GetStage" => json!({ "stage": { "arn": body["arn"], "activeSessionId": s.session } }),
            // Pages of at most `maxResults`, as IVS answers.
            "ListParticipants" => {
                let max = body["maxResults"].as_u64().unwrap_or(50) as usize;
                let from: usize = body["nextToken"].as_str().map_or(0, |t| t.parse().unwrap());
                let page: Vec<Value> = s.connected.iter().skip(from).take(max).cloned().collect();
                let next = (from + max < s.connected.len()).then(|| (from + max).to_string());
                json!({ "participants": page, "nextToken": next })
            }
            "StartComposition" => {
                s.compositions += 1;
                let arn = format!(
                    "arn:aws:ivs:eu-west-1:123456789012:composition/c{}",
                    s.compositions
                );
                composition(&arn, body["stageArn"].as_str().unwrap(), "STARTING")
            }
            "GetComposition" => {
                let state = s.composition_state.clone();
                composition(body["arn"].as_str().unwrap(), "arn:stage", &state)
            }
            "DisconnectParticipant" | "StopComposition" | "DeleteStage" => json!({}),
            other => panic!("the fake does not know {other}"),
        };
        Json(out).into_response()
    }

    /// The calls made since the last look, as (operation, body).
    fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut self.0.lock().unwrap().calls)
    }

    fn with(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.0.lock().unwrap())
    }
}

/// A P-384 key pair: the private key as PKCS#8 PEM for meetstage, the public key to verify.
fn key_pair() -> (String, DecodingKey) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    (pem, DecodingKey::from_ec_der(pair.public_key().as_ref()))
}

/// An S3 endpoint whose bucket is empty: every list finds nothing, every key is missing.
async fn empty_bucket() -> String {
    let app = Router::new().fallback(|u: Uri| async move {
        if u.query().is_some_and(|q| q.contains("list-type=2")) {
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                <KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>\
                </ListBucketResult>";
            (StatusCode::OK, [("content-type", "application/xml")], xml).into_response()
        } else {
            let xml = "<Error><Code>NoSuchKey</Code><Message>none</Message></Error>";
            (
                StatusCode::NOT_FOUND,
                [("content-type", "application/xml")],
                xml,
            )
                .into_response()
        }
    });
    let port = serve_fake(app).await;
    format!("http://AKIDS3TEST:s3-test-secret@127.0.0.1:{port}")
}

pub struct Ivs {
    pub app: TestApp,
    fake: FakeIvs,
    public: DecodingKey,
}

async fn start(b: Backend) -> Ivs {
    start_with(b, |_| {}).await
}

/// meetstage on IVS (against the fake), with `tweak` applied to its options.
pub async fn start_with(b: Backend, tweak: impl FnOnce(&mut meetstage::config::Options)) -> Ivs {
    let (fake, endpoint) = FakeIvs::start().await;
    let (pem, public) = key_pair();
    let bucket = empty_bucket().await;
    let app = TestApp::spawn_with(b, |o| {
        // IVS writes compositions to the bucket meetstage reads them from (here: one where
        // IVS never wrote anything; recording_ivs.rs has one where it did).
        o.recording_store = Some("s3".into());
        o.recording_s3_bucket = Some(crate::recording_s3::BUCKET.into());
        o.recording_s3_endpoint_url = Some(bucket.parse().unwrap());
        o.media_provider = Some("ivs".into());
        o.ivs_region = Some("eu-west-1".into());
        o.ivs_public_key_arn = Some(KEY_ARN.into());
        o.ivs_private_key = Some(Secret::new(pem));
        o.ivs_storage_configuration_arn = Some(STORAGE.into());
        o.ivs_encoder_configuration_arn = Some(ENCODER.into());
        o.ivs_endpoint_url = Some(endpoint.parse().unwrap());
        tweak(o);
    })
    .await;
    Ivs { app, fake, public }
}

impl Ivs {
    /// IVS reports these participants connected to the stage's session from now on.
    pub fn connect(&self, participants: Vec<Value>) {
        self.fake.with(|s| {
            s.session = Some("sess".into());
            s.connected = participants;
        });
    }

    pub async fn ticket(&self, who: &Person, event: &str, query: &str) -> (u16, Value) {
        let r = who
            .client()
            .get(self.app.url(&format!("/events/{event}/live/media{query}")))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The verified claims of a token.
    pub fn claims(&self, token: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::ES384);
        assert_eq!(header.kid.as_deref(), Some(KEY_ARN));
        let mut v = Validation::new(Algorithm::ES384);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &self.public, &v)
            .expect("the token verifies with the imported public key")
            .claims
    }

    pub async fn transition(&self, owner: &Person, event: &str, t: events::Transition) {
        let session = self.app.session_of(&owner.id).await;
        events::transition(&self.app.core, &session, &event.parse().unwrap(), t)
            .await
            .unwrap();
    }

    async fn cancel(&self, owner: &Person, event: &str) {
        let session = self.app.session_of(&owner.id).await;
        events::cancel(&self.app.core, &session, &event.parse().unwrap())
            .await
            .unwrap();
    }

    /// Runs the due jobs and returns the IVS calls they made.
    pub async fn calls(&self) -> Vec<(String, Value)> {
        self.app.run_jobs().await;
        self.fake.take()
    }
}

fn sorted(mut calls: Vec<(String, Value)>) -> Vec<(String, Value)> {
    calls.sort_by_key(|(op, body)| format!("{op}{body}"));
    calls
}

pub fn ops(calls: &[(String, Value)]) -> Vec<&str> {
    calls.iter().map(|(op, _)| op.as_str()).collect()
}

async fn a_stage_lives_from_green_room_to_end(b: Backend) {
    let t = start(b).await;
    let (owner, event) = t.app.staging_event("members").await;

    // The green room opened: one stage, named and tagged after the event.
    let calls = t.calls().await;
    assert_eq!(
        calls,
        vec![(
            "CreateStage".to_string(),
            json!({ "name": format!("meetstage-{event}"), "tags": { "meetstage:event": event } })
        )]
    );
    let stage_arn = "arn:aws:ivs:eu-west-1:123456789012:stage/st1";

    // The presenter's ticket: minted here (no AWS call), sending and watching, with a
    // second, featured participant for her screen.
    let (status, ticket) = t.ticket(&owner, &event, "").await;
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["provider"], "ivs");
    assert_eq!(ticket["role"], "presenter");
    assert_eq!(ticket["sdk"], "/static/ivs-web-broadcast.js");
    // Names for the tiles: only of those who may be on stage.
    assert_eq!(ticket["names"], json!({ owner.id.clone(): "Olga" }));
    let now_s = t.app.clock.now_ms() / 1000;
    assert_eq!(ticket["expires_at"], json!((now_s + 3600) * 1000));
    let c = t.claims(ticket["token"].as_str().unwrap());
    assert_eq!(c["topic"], "st1");
    assert_eq!(c["resource"], stage_arn);
    assert_eq!(c["jti"], ticket["participant_id"]);
    assert_eq!(c["user_id"], owner.id);
    assert_eq!(
        c["capabilities"],
        json!({ "allow_publish": true, "allow_subscribe": true })
    );
    assert_eq!(
        c["attributes"],
        json!({ "user": owner.id, "role": "presenter", "featured": "false" })
    );
    assert_eq!(
        c["whip_url"],
        "https://f99084460c35.global-bm.whip.live-video.net"
    );
    assert_eq!(c["events_url"], "wss://global.events.live-video.net");
    assert_eq!(c["iat"], json!(now_s));
    assert_eq!(c["exp"], json!(now_s + 3600));
    assert!(!c.to_string().contains('@'), "no email in a token: {c}");
    let screen = t.claims(ticket["screen"]["token"].as_str().unwrap());
    assert_eq!(screen["jti"], ticket["screen"]["participant_id"]);
    assert_ne!(screen["jti"], c["jti"]);
    assert_eq!(
        screen["capabilities"],
        json!({ "allow_publish": true, "allow_subscribe": false })
    );
    assert_eq!(screen["attributes"]["featured"], "true");
    assert!(t.fake.take().is_empty(), "a ticket costs no AWS call");

    // Refreshed before it runs out: the same participant ids (IVS exchanges tokens only
    // within one participant), a later expiry.
    t.app.clock.advance(Duration::minutes(50));
    let q = format!(
        "?participant={}&screen={}",
        ticket["participant_id"].as_str().unwrap(),
        ticket["screen"]["participant_id"].as_str().unwrap()
    );
    let (status, again) = t.ticket(&owner, &event, &q).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["participant_id"], ticket["participant_id"]);
    assert_eq!(
        again["screen"]["participant_id"],
        ticket["screen"]["participant_id"]
    );
    let c2 = t.claims(again["token"].as_str().unwrap());
    assert_eq!(c2["jti"], c["jti"]);
    assert_eq!(c2["exp"], json!(now_s + 50 * 60 + 3600));
    // Meanwhile the reconcile job looked: nobody on the stage yet.
    assert_eq!(
        t.calls().await,
        vec![("GetStage".to_string(), json!({ "arn": stage_arn }))]
    );

    // Live: the composed recording starts, to S3, the screen share featured.
    t.transition(&owner, &event, events::Transition::GoLive)
        .await;
    let calls = t.calls().await;
    assert_eq!(
        calls,
        vec![(
            "StartComposition".to_string(),
            json!({
                "stageArn": stage_arn,
                "idempotencyToken": format!("{event}-live"),
                "layout": { "grid": { "featuredParticipantAttribute": "featured" } },
                "destinations": [{
                    "name": "recording",
                    "s3": {
                        "storageConfigurationArn": STORAGE,
                        "encoderConfigurationArns": [ENCODER],
                        "recordingConfiguration": { "format": "HLS" },
                    },
                }],
                "tags": { "meetstage:event": event },
            })
        )]
    );

    // A minute on, the reconcile job looks at the stage: nobody there, recording running.
    t.fake.with(|s| s.session = Some("st-session-1".into()));
    t.app.clock.advance(Duration::seconds(61));
    let calls = t.calls().await;
    assert_eq!(
        calls,
        vec![
            ("GetStage".to_string(), json!({ "arn": stage_arn })),
            (
                "ListParticipants".to_string(),
                json!({ "stageArn": stage_arn, "sessionId": "st-session-1",
                        "filterByState": "CONNECTED", "maxResults": 100 })
            ),
            (
                "GetComposition".to_string(),
                json!({ "arn": "arn:aws:ivs:eu-west-1:123456789012:composition/c1" })
            ),
        ]
    );

    // Ended by hand: the recording stops and the stage is deleted at once. IVS fails
    // DeleteStage three times (the SDK itself tries a server error three times), so the job
    // fails, and its retry finishes the work.
    t.fake.with(|s| s.fail_once = vec!["DeleteStage".into(); 3]);
    t.transition(&owner, &event, events::Transition::End).await;
    let calls = t.calls().await;
    let composition = json!({ "arn": "arn:aws:ivs:eu-west-1:123456789012:composition/c1" });
    assert_eq!(
        ops(&calls),
        [
            "StopComposition",
            "DeleteStage",
            "DeleteStage",
            "DeleteStage"
        ],
        "{calls:?}"
    );
    assert_eq!(calls[0].1, composition);
    assert_eq!(calls[1].1, json!({ "arn": stage_arn }));
    t.app.clock.advance(Duration::minutes(2));
    let calls = t.calls().await;
    assert_eq!(
        calls,
        vec![
            ("StopComposition".to_string(), composition),
            ("DeleteStage".to_string(), json!({ "arn": stage_arn })),
        ]
    );
    let stage = t.app.core.store.stage(&event).await.unwrap().unwrap();
    assert!(stage.closed_at.is_some());
    // Its participant ids are forgotten with it.
    let left = t.app.core.store.stage_participants_of(&event, &owner.id, 0);
    assert!(left.await.unwrap().is_empty());
    // Nothing runs after: no ticket, no more reconciling.
    t.app.clock.advance(Duration::minutes(5));
    assert!(t.calls().await.is_empty());
    assert_eq!(t.ticket(&owner, &event, "").await.0, 409);
}

async fn tokens_follow_the_room_and_moderation_disconnects(b: Backend) {
    let t = start(b).await;
    let (owner, event) = t.app.staging_event("members").await;
    t.calls().await;
    let ada = t.app.person("Ada").await;
    let bob = t.app.person("Bob").await;

    // An attendee has nothing to join in the green room; once live she watches only.
    assert_eq!(t.ticket(&ada, &event, "").await.0, 409);
    t.transition(&owner, &event, events::Transition::GoLive)
        .await;
    t.calls().await;
    let mut room = t.app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    let mut ada_room = t.app.ws(&event, Some(&ada)).await;
    ada_room.greeting().await;
    let mut bob_room = t.app.ws(&event, Some(&bob)).await;
    bob_room.greeting().await;
    let (status, watch) = t.ticket(&ada, &event, "").await;
    assert_eq!(status, 200, "{watch}");
    assert_eq!(watch["role"], "subscriber");
    assert_eq!(watch["screen"], Value::Null);
    let c = t.claims(watch["token"].as_str().unwrap());
    assert_eq!(
        c["capabilities"],
        json!({ "allow_publish": false, "allow_subscribe": true })
    );
    assert_eq!(c["attributes"]["role"], "subscriber");
    let ada_participant = watch["participant_id"].as_str().unwrap().to_string();

    // Someone else's participant id, or a malformed one, is refused.
    let (status, _) = t
        .ticket(&bob, &event, &format!("?participant={ada_participant}"))
        .await;
    assert_eq!(status, 403);
    assert_eq!(t.ticket(&bob, &event, "?participant=x%27%3B").await.0, 422);

    // Brought on stage: the same participant, now allowed to send (the page exchanges).
    room.send("grant_speak", json!({ "user_id": ada.id })).await;
    room.until_with("participant", |p| p["can_speak"] == true)
        .await;
    let (_, speak) = t
        .ticket(&ada, &event, &format!("?participant={ada_participant}"))
        .await;
    assert_eq!(speak["role"], "speaker");
    assert_eq!(speak["participant_id"], json!(ada_participant));
    assert_eq!(speak["names"][&ada.id], "Ada");
    assert_eq!(
        speak["names"].get(&bob.id),
        None,
        "an attendee is not named"
    );
    let c = t.claims(speak["token"].as_str().unwrap());
    assert_eq!(c["jti"], json!(ada_participant));
    assert_eq!(
        c["capabilities"],
        json!({ "allow_publish": true, "allow_subscribe": true })
    );
    let ada_screen = speak["screen"]["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(t.calls().await.is_empty(), "granting costs no AWS call");

    // Sent back to the audience: her shared screen ends at once; her camera participant
    // stays, since her page exchanges its token for one that only watches.
    let stage_arn = "arn:aws:ivs:eu-west-1:123456789012:stage/st1";
    room.send("revoke_speak", json!({ "user_id": ada.id }))
        .await;
    room.until_with("participant", |p| p["can_speak"] == false)
        .await;
    let disconnect = |p: &str, reason: &str| {
        (
            "DisconnectParticipant".to_string(),
            json!({ "stageArn": stage_arn, "participantId": p, "reason": reason }),
        )
    };
    assert_eq!(
        t.calls().await,
        vec![disconnect(&ada_screen, "no longer on stage")]
    );
    let (_, watch) = t
        .ticket(&ada, &event, &format!("?participant={ada_participant}"))
        .await;
    assert_eq!(watch["role"], "subscriber");
    assert_eq!(watch["participant_id"], json!(ada_participant));
    t.app.clock.advance(Duration::seconds(11));
    assert!(
        t.calls().await.is_empty(),
        "her page exchanged: she watches on"
    );
    // At the next look IVS still says she published (it means "ever"): she stays, and she
    // does not count as sending.
    t.fake.with(|s| {
        s.session = Some("sess".into());
        s.connected = vec![
            json!({ "participantId": ada_participant, "userId": ada.id, "state": "CONNECTED", "published": true }),
        ];
    });
    t.app.clock.advance(Duration::seconds(60));
    let calls = t.calls().await;
    assert_eq!(
        ops(&calls),
        ["GetStage", "ListParticipants", "GetComposition"],
        "{calls:?}"
    );
    // A page that does not exchange loses the camera participant after the grace.
    room.send("grant_speak", json!({ "user_id": ada.id })).await;
    room.until_with("participant", |p| p["can_speak"] == true)
        .await;
    let (_, again) = t
        .ticket(&ada, &event, &format!("?participant={ada_participant}"))
        .await;
    let ada_screen_again = again["screen"]["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    room.send("revoke_speak", json!({ "user_id": ada.id }))
        .await;
    room.until_with("participant", |p| p["can_speak"] == false)
        .await;
    assert_eq!(
        t.calls().await,
        vec![disconnect(&ada_screen_again, "no longer on stage")]
    );
    t.app.clock.advance(Duration::seconds(11));
    assert_eq!(
        t.calls().await,
        vec![disconnect(&ada_participant, "no longer on stage")]
    );
    t.fake.with(|s| s.connected.clear());

    // Kicked: disconnected; she may come back with a new participant.
    let (_, bob_ticket) = t.ticket(&bob, &event, "").await;
    let bob_participant = bob_ticket["participant_id"].as_str().unwrap().to_string();
    room.send("kick", json!({ "user_id": bob.id })).await;
    bob_room.closed().await;
    assert_eq!(
        t.calls().await,
        vec![disconnect(&bob_participant, "removed by a presenter")]
    );

    // Banned: disconnected, and no token any more.
    room.send("ban", json!({ "user_id": ada.id, "reason": "spam" }))
        .await;
    ada_room.closed().await;
    assert_eq!(
        sorted(t.calls().await),
        sorted(vec![
            disconnect(&ada_participant, "banned from this event"),
            disconnect(&ada_screen, "banned from this event"),
            disconnect(&ada_screen_again, "banned from this event"),
        ])
    );
    let (status, _) = t.ticket(&ada, &event, "").await;
    assert_eq!(status, 403, "a banned person gets no token");
}

async fn the_stage_is_released_after_an_automatic_end_a_cancel_and_a_restart(b: Backend) {
    let mut t = start(b).await;

    // Automatic end: at the scheduled end the session stops and the stage goes with it.
    let (_, event) = t.app.live_event("members").await;
    assert_eq!(ops(&t.calls().await), ["CreateStage", "StartComposition"]);
    t.app.clock.advance(Duration::minutes(75));
    let calls = t.calls().await;
    let tail: Vec<&str> = ops(&calls)
        .into_iter()
        .filter(|o| *o == "StopComposition" || *o == "DeleteStage")
        .collect();
    assert_eq!(tail, ["StopComposition", "DeleteStage"], "{calls:?}");
    assert!(
        t.app
            .core
            .store
            .stage(&event)
            .await
            .unwrap()
            .unwrap()
            .closed_at
            .is_some()
    );

    // Cancelled from the green room: the stage (never recorded) is deleted.
    let (owner, event) = t.app.staging_event("members").await;
    assert_eq!(ops(&t.calls().await), ["CreateStage"]);
    t.cancel(&owner, &event).await;
    assert_eq!(
        t.calls().await,
        vec![(
            "DeleteStage".to_string(),
            json!({ "arn": "arn:aws:ivs:eu-west-1:123456789012:stage/st2" })
        )]
    );

    // A restart in the middle of a live event: the new process picks up where the old one
    // was, and the end still stops the recording and deletes the stage.
    let (owner, event) = t.app.staging_event("members").await;
    t.transition(&owner, &event, events::Transition::GoLive)
        .await;
    // The process dies before its jobs run: the stage work is in the jobs table.
    t.app.restart().await;
    assert_eq!(ops(&t.calls().await), ["CreateStage", "StartComposition"]);
    t.app.restart().await;
    t.transition(&owner, &event, events::Transition::End).await;
    assert_eq!(
        t.calls().await,
        vec![
            (
                "StopComposition".to_string(),
                json!({ "arn": "arn:aws:ivs:eu-west-1:123456789012:composition/c2" })
            ),
            (
                "DeleteStage".to_string(),
                json!({ "arn": "arn:aws:ivs:eu-west-1:123456789012:stage/st3" })
            ),
        ]
    );
    t.app.clock.advance(Duration::minutes(5));
    assert!(t.calls().await.is_empty(), "nothing left running");
}

async fn reconcile_disconnects_who_the_room_does_not_admit_and_reports_a_failed_recording(
    b: Backend,
) {
    const TOKEN: &str = "metrics-token-for-the-ivs-alarms";
    let t = start_with(b, |o| o.metrics_token = Some(Secret::new(TOKEN))).await;
    let (owner, event) = t.app.live_event("members").await;
    t.calls().await;
    let ada = t.app.person("Ada").await;
    let mut room = t.app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    let mut ada_room = t.app.ws(&event, Some(&ada)).await;
    ada_room.greeting().await;
    let stage_arn = "arn:aws:ivs:eu-west-1:123456789012:stage/st1";

    // IVS reports: the presenter sending, Ada sending without leave (a modified page), and a
    // guest watching. Only Ada's connection is cut.
    t.fake.with(|s| {
        s.session = Some("sess".into());
        s.connected = vec![
            json!({ "participantId": "p-owner", "userId": owner.id, "state": "CONNECTED", "published": true }),
            json!({ "participantId": "p-ada", "userId": ada.id, "state": "CONNECTED", "published": true }),
            json!({ "participantId": "p-guest", "userId": "guest", "state": "CONNECTED", "published": false }),
        ];
        s.composition_state = "FAILED".into();
    });
    t.app.clock.advance(Duration::seconds(61));
    let calls = t.calls().await;
    assert_eq!(
        ops(&calls),
        [
            "GetStage",
            "ListParticipants",
            "DisconnectParticipant",
            "GetComposition"
        ],
        "{calls:?}"
    );
    assert_eq!(
        calls[2].1,
        json!({ "stageArn": stage_arn, "participantId": "p-ada",
                "reason": "not allowed to send on this stage" })
    );

    // The failed recording is reported to the presenters (and the log), not to attendees ...
    let said = room
        .until_with("chat", |m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Recording failed"))
        })
        .await;
    assert_eq!(said["kind"], "system", "{said}");
    // ... counted for the alarm on failed compositions (the recorder is the process's, so
    // other tests may have counted too), and the open stages reported for the quota's.
    let metrics = t.app.metrics(TOKEN).await;
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(value("meetstage_ivs_compositions_failed_total") >= 1.0);
    // (Its value is the last reconcile's count in whichever test's database runs
    // alongside: only that it is reported is checked here.)
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("meetstage_ivs_stages_open ")),
        "{metrics}"
    );
    let seen = ada_room.settle().await;
    assert!(
        !seen
            .iter()
            .any(|m| m.to_string().contains("Recording failed")),
        "{seen:?}"
    );
    let mut late = t.app.ws(&event, Some(&ada)).await;
    let (snapshot, _) = late.greeting().await;
    assert!(
        !snapshot.to_string().contains("Recording failed"),
        "{snapshot}"
    );

    // ... and a new composition starts at the next look, since the presenter is sending.
    t.fake.with(|s| {
        s.connected.retain(|p| p["participantId"] != "p-ada");
        s.composition_state = "ACTIVE".into();
    });
    t.app.clock.advance(Duration::seconds(61));
    let calls = t.calls().await;
    assert_eq!(
        ops(&calls),
        ["GetStage", "ListParticipants", "StartComposition"],
        "{calls:?}"
    );
    assert_ne!(
        calls[2].1["idempotencyToken"],
        json!(format!("{event}-live"))
    );
}

/// CreateStage succeeded but the database refused the stage's row: nothing would ever delete
/// that stage, so it is deleted at once, and the job's retry makes the one that is kept.
async fn a_stage_that_could_not_be_recorded_is_deleted_at_once(b: Backend) {
    let t = start(b).await;
    t.app.refuse_inserts("stages").await;
    let (_, event) = t.app.staging_event("members").await;
    assert_eq!(
        t.calls().await,
        vec![
            (
                "CreateStage".to_string(),
                json!({ "name": format!("meetstage-{event}"), "tags": { "meetstage:event": event } })
            ),
            (
                "DeleteStage".to_string(),
                json!({ "arn": "arn:aws:ivs:eu-west-1:123456789012:stage/st1" })
            ),
        ]
    );
    assert!(t.app.core.store.stage(&event).await.unwrap().is_none());

    t.app.allow_inserts("stages").await;
    t.app.clock.advance(Duration::minutes(10));
    assert_eq!(ops(&t.calls().await), ["CreateStage"]);
    let stage = t.app.core.store.stage(&event).await.unwrap().unwrap();
    assert_eq!(stage.arn, "arn:aws:ivs:eu-west-1:123456789012:stage/st2");
    assert!(stage.closed_at.is_none());
}

/// Decisions made outside the room reach the IVS stage: a co-presenter the organizer removes
/// and an account an admin bans are disconnected, every participant of theirs.
async fn a_closed_account_and_a_removed_co_presenter_leave_the_stage(b: Backend) {
    let t = start(b).await;
    let (owner, event) = t.app.live_event("members").await;
    t.calls().await;
    let stage_arn = "arn:aws:ivs:eu-west-1:123456789012:stage/st1";
    let disconnect = |p: &str, reason: &str| {
        (
            "DisconnectParticipant".to_string(),
            json!({ "stageArn": stage_arn, "participantId": p, "reason": reason }),
        )
    };
    let ben = t.app.person("Ben").await;
    crate::decisions::name_co_presenter(&t.app, &owner, &event, &ben).await;
    let (status, ben_ticket) = t.ticket(&ben, &event, "").await;
    assert_eq!(status, 200, "{ben_ticket}");
    assert_eq!(ben_ticket["role"], "presenter");
    let ben_camera = ben_ticket["participant_id"].as_str().unwrap().to_string();
    let ben_screen = ben_ticket["screen"]["participant_id"]
        .as_str()
        .unwrap()
        .to_string();
    // His screen ends at once; his camera participant, still holding a sending token once
    // his page had time to exchange it (it reloads as an attendee's), after the grace.
    crate::decisions::remove_co_presenter(&t.app, &owner, &event, &ben).await;
    assert_eq!(
        t.calls().await,
        vec![disconnect(&ben_screen, "no longer on stage")]
    );
    t.app.clock.advance(Duration::seconds(11));
    assert_eq!(
        t.calls().await,
        vec![disconnect(&ben_camera, "no longer on stage")]
    );

    let ada = t.app.person("Ada").await;
    let (_, watch) = t.ticket(&ada, &event, "").await;
    let ada_participant = watch["participant_id"].as_str().unwrap().to_string();
    let ann = crate::decisions::admin(&t.app, "Ann").await;
    crate::decisions::admin_acts(&t.app, &ann, &ada.id, "ban", json!({ "reason": "spam" })).await;
    assert_eq!(
        t.calls().await,
        vec![disconnect(&ada_participant, "account closed")]
    );
    assert_eq!(t.ticket(&ada, &event, "").await.0, 401, "her session ended");
}

/// IVS answers GetStage and ListParticipants 5 times a second per account: reconciling a
/// stage of 1,000 people (ten pages) never asks faster, and every page is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_keeps_under_the_list_participants_rate() {
    let t = start(Backend::Sqlite).await;
    let (_owner, _event) = t.app.live_event("members").await;
    t.calls().await;
    t.fake.with(|s| {
        s.session = Some("sess".into());
        s.connected = (0..1000)
            .map(|i| json!({ "participantId": format!("p{i}"), "userId": "guest", "state": "CONNECTED", "published": false }))
            .collect();
        s.paced.clear();
    });
    t.app.clock.advance(Duration::seconds(61));
    let calls = t.calls().await;
    let lists = ops(&calls)
        .iter()
        .filter(|o| **o == "ListParticipants")
        .count();
    assert_eq!(lists, 10, "every page read: {:?}", ops(&calls));
    let paced = t.fake.0.lock().unwrap().paced.clone();
    assert_eq!(paced.len(), 11);
    for (i, at) in paced.iter().enumerate() {
        let within = paced[i..]
            .iter()
            .take_while(|b| b.duration_since(*at) < std::time::Duration::from_secs(1))
            .count();
        assert!(within <= 5, "{within} calls within a second");
    }
}

/// An account out of stages or compositions: the presenters are told once, in words, and the
/// step is tried again every minute until IVS has room.
async fn a_used_up_quota_is_said_to_the_presenters_and_tried_again(b: Backend) {
    use meetstage::features::live::stage::{NO_RECORDING, NO_STAGE};
    let t = start(b).await;
    t.fake.with(|s| s.over_quota = vec!["CreateStage".into()]);
    let (owner, event) = t.app.staging_event("members").await;
    assert_eq!(ops(&t.calls().await), ["CreateStage"]);
    let mut room = t.app.ws(&event, Some(&owner)).await;
    let (snapshot, _) = room.greeting().await;
    let said = |snapshot: &Value, text: &str| {
        snapshot["chat"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["text"] == text)
            .count()
    };
    assert_eq!(said(&snapshot, NO_STAGE), 1, "{snapshot}");
    t.app.clock.advance(Duration::seconds(61));
    assert_eq!(ops(&t.calls().await), ["CreateStage"], "tried again");
    t.fake
        .with(|s| s.over_quota = vec!["StartComposition".into()]);
    t.app.clock.advance(Duration::seconds(61));
    assert_eq!(ops(&t.calls().await), ["CreateStage"]);
    t.transition(&owner, &event, events::Transition::GoLive)
        .await;
    assert!(ops(&t.calls().await).contains(&"StartComposition"));
    let mut room = t.app.ws(&event, Some(&owner)).await;
    let (snapshot, _) = room.greeting().await;
    assert_eq!(said(&snapshot, NO_STAGE), 1, "said once: {snapshot}");
    assert_eq!(said(&snapshot, NO_RECORDING), 1, "{snapshot}");
    // Room again: the recording starts at the next try.
    t.fake.with(|s| s.over_quota.clear());
    t.app.clock.advance(Duration::seconds(61));
    assert!(ops(&t.calls().await).contains(&"StartComposition"));
    let attendee = t.app.person("Ada").await;
    let mut ada = t.app.ws(&event, Some(&attendee)).await;
    let (snapshot, _) = ada.greeting().await;
    assert_eq!(said(&snapshot, NO_RECORDING), 0, "attendees are not told");
}

/// An IVS stage takes 12 publishers and a shared screen is one: presenters and speakers stop
/// at 11, the 12th is refused in words, and the dashboard says so before anyone tries.
async fn a_shared_screen_counts_as_one_of_the_twelve(b: Backend) {
    let t = start(b).await;
    let (owner, event) = t.app.live_event("members").await;
    for i in 0..9 {
        let co = t.app.person(&format!("Co{i}")).await;
        crate::decisions::name_co_presenter(&t.app, &owner, &event, &co).await;
    }
    let mut room = t.app.ws(&event, Some(&owner)).await;
    room.greeting().await;
    let ada = t.app.person("Ada").await;
    let bob = t.app.person("Bob").await;
    for who in [&ada, &bob] {
        let mut ws = t.app.ws(&event, Some(who)).await;
        ws.greeting().await;
    }
    room.send("grant_speak", json!({ "user_id": ada.id })).await;
    room.until_with("participant", |p| p["can_speak"] == true)
        .await;
    room.send("grant_speak", json!({ "user_id": bob.id })).await;
    assert_eq!(room.error().await, "stage_full");
    // Sending Ada back makes room for Bob.
    room.send("revoke_speak", json!({ "user_id": ada.id }))
        .await;
    room.until_with("participant", |p| p["can_speak"] == false)
        .await;
    room.send("grant_speak", json!({ "user_id": bob.id })).await;
    room.until_with("participant", |p| {
        p["user_id"] == json!(bob.id) && p["can_speak"] == true
    })
    .await;
    let (_, page) = t
        .app
        .text(&owner.client(), &format!("/events/{event}/live"))
        .await;
    assert!(
        page.contains("a shared screen counts as one of 12"),
        "the dashboard says so"
    );
}

/// Recording switched off before going live: the stage lives as usual, but neither going live
/// nor the minute's reconcile starts a composition, and the end has none to stop.
async fn an_event_not_recorded_starts_no_composition(b: Backend) {
    let t = start(b).await;
    let (owner, event) = t.app.staging_event("members").await;
    assert_eq!(ops(&t.calls().await), ["CreateStage"]);
    let r = t
        .app
        .form(
            &owner.client(),
            &format!("/events/{event}/recording"),
            &[("record", "off")],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    t.transition(&owner, &event, events::Transition::GoLive)
        .await;
    assert!(ops(&t.calls().await).is_empty());
    t.app.clock.advance(Duration::seconds(61));
    let calls = t.calls().await;
    assert!(!ops(&calls).contains(&"StartComposition"), "{calls:?}");
    t.transition(&owner, &event, events::Transition::End).await;
    assert_eq!(ops(&t.calls().await), ["DeleteStage"]);
}
