//! TURN credentials for pages whose network reaches the media server neither over UDP nor
//! over TCP: time-limited ones derived from the secret the TURN servers share (the "TURN REST
//! API" scheme coturn implements with `use-auth-secret`), so no password is stored anywhere
//! and one a page leaks expires.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;

use crate::config::TurnSettings;

/// How long a page's TURN credentials last: a long event, and a page left open.
pub const LIFETIME_SECS: i64 = 24 * 3600;

/// One entry of the browser's `RTCConfiguration.iceServers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// The TURN servers with credentials for `who` (a user id, or "guest"), valid until
/// `now_secs + LIFETIME_SECS`; none when no TURN server is configured.
pub fn servers(turn: Option<&TurnSettings>, who: &str, now_secs: i64) -> Vec<IceServer> {
    let Some(turn) = turn else {
        return Vec::new();
    };
    let username = format!("{}:{who}", now_secs.saturating_add(LIFETIME_SECS));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(turn.secret.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![IceServer {
        urls: turn.urls.clone(),
        username,
        credential,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn credentials_are_coturns_rest_api_scheme() {
        let turn = TurnSettings {
            urls: vec!["turns:turn.example.org:443?transport=tcp".into()],
            secret: Secret::new("north-wind-secret-0123"),
        };
        let s = servers(Some(&turn), "u1", 1_700_000_000);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].username, "1700086400:u1");
        // What coturn computes: base64(HMAC-SHA1(secret, username)).
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"north-wind-secret-0123").unwrap();
        mac.update(b"1700086400:u1");
        let expect = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(s[0].credential, expect);
        assert_eq!(s[0].credential.len(), 28, "20 bytes in base64");
        assert!(servers(None, "u1", 0).is_empty());
    }
}
