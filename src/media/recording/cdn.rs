//! Signed CloudFront delivery of a recording in an S3 bucket: meetstage checks who may watch,
//! then hands out URLs on the distribution that CloudFront honours until they expire. One
//! signature covers a whole recording (a custom policy on `<recording>/*`), so the playlist
//! names every segment with the same grant and the server never carries the video bytes.

use rsa::{
    RsaPrivateKey,
    pkcs1::DecodeRsaPrivateKey,
    pkcs1v15::SigningKey,
    pkcs8::DecodePrivateKey,
    signature::{SignatureEncoding, Signer},
};
use url::Url;

/// The distribution and the key it trusts (a public key in one of its trusted key groups).
#[derive(Clone)]
pub struct Cdn {
    /// `https://media.example.org/`: the bucket's root.
    base: Url,
    key_pair_id: String,
    key: SigningKey<sha1::Sha1>,
}

impl std::fmt::Debug for Cdn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cdn")
            .field("base", &self.base.as_str())
            .field("key_pair_id", &self.key_pair_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CdnError(String);

impl Cdn {
    /// `pem` is the RSA private key, PKCS#1 (`openssl genrsa`) or PKCS#8.
    pub fn new(base: &Url, key_pair_id: &str, pem: &str) -> Result<Cdn, CdnError> {
        let key = RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
            .map_err(|_| CdnError("not an RSA private key in PEM".into()))?;
        let valid_id = (1..=64).contains(&key_pair_id.len())
            && key_pair_id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid_id {
            return Err(CdnError(
                "the key pair id is CloudFront's public key id, e.g. K2JCJMDEHXQW5F".into(),
            ));
        }
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Cdn {
            base,
            key_pair_id: key_pair_id.into(),
            key: SigningKey::new(key),
        })
    }

    /// The distribution's origin (`https://media.example.org`), for the pages' CSP.
    pub fn origin(&self) -> String {
        self.base.origin().ascii_serialization()
    }

    /// The query that lets anyone holding it GET every key under `prefix` (a recording's
    /// directory, ending in `/`) until `expires` (seconds since the epoch).
    pub fn grant(&self, prefix: &str, expires: i64) -> String {
        // No whitespace: CloudFront verifies the signature over these exact bytes.
        let policy = serde_json::json!({ "Statement": [{
            "Resource": format!("{}{prefix}*", self.base),
            "Condition": { "DateLessThan": { "AWS:EpochTime": expires } },
        }]})
        .to_string();
        let signature = self.key.sign(policy.as_bytes()).to_vec();
        format!(
            "Policy={}&Signature={}&Key-Pair-Id={}",
            cloudfront_base64(policy.as_bytes()),
            cloudfront_base64(&signature),
            self.key_pair_id
        )
    }

    /// `key` on the distribution, with a grant from [`Cdn::grant`].
    pub fn url(&self, key: &str, grant: &str) -> String {
        format!("{}{key}?{grant}", self.base)
    }
}

/// Base64 with the three characters a query string would mangle replaced, as CloudFront
/// expects: `+` → `-`, `=` → `_`, `/` → `~`.
fn cloudfront_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

/// A playlist whose segment lines point at the distribution with `grant`; comments and tags
/// pass through, and a line that is not one of the recording's own names is dropped (a
/// playlist never sends a player anywhere else).
pub fn signed_playlist(cdn: &Cdn, playlist: &str, dir: &str, grant: &str) -> String {
    let mut out = String::with_capacity(playlist.len() * 3);
    for line in playlist.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            out.push_str(line);
        } else if super::storage::servable(line) {
            out.push_str(&cdn.url(&format!("{dir}{line}"), grant));
        } else {
            continue;
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::{pkcs1::EncodeRsaPrivateKey, pkcs1v15::VerifyingKey, signature::Verifier};

    fn key() -> RsaPrivateKey {
        RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap()
    }

    fn decode(s: &str) -> Vec<u8> {
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
        base64::engine::general_purpose::STANDARD
            .decode(std)
            .unwrap()
    }

    #[test]
    fn a_grant_is_a_policy_on_the_recording_signed_with_rsa_sha1() {
        let private = key();
        let pem = private.to_pkcs1_pem(Default::default()).unwrap();
        let cdn = Cdn::new(
            &"https://media.example.org".parse().unwrap(),
            "K2JCJMDEHXQW5F",
            &pem,
        )
        .unwrap();
        let grant = cdn.grant("vod/abc/", 1_800_000_000);
        let q: std::collections::HashMap<_, _> = grant
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        assert_eq!(q["Key-Pair-Id"], "K2JCJMDEHXQW5F");
        for v in [q["Policy"], q["Signature"]] {
            assert!(!v.contains(['+', '/', '=']), "{v}");
        }
        let policy = decode(q["Policy"]);
        assert_eq!(
            std::str::from_utf8(&policy).unwrap(),
            r#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1800000000}},"Resource":"https://media.example.org/vod/abc/*"}]}"#
        );
        let sig = rsa::pkcs1v15::Signature::try_from(decode(q["Signature"]).as_slice()).unwrap();
        VerifyingKey::<sha1::Sha1>::new(private.to_public_key())
            .verify(&policy, &sig)
            .expect("verifies with the public key CloudFront holds");
        assert_eq!(
            cdn.url("vod/abc/seg-00001.ts", "G"),
            "https://media.example.org/vod/abc/seg-00001.ts?G"
        );
        assert_eq!(cdn.origin(), "https://media.example.org");
    }

    #[test]
    fn a_playlist_names_only_the_recordings_own_segments_on_the_distribution() {
        let pem = key().to_pkcs1_pem(Default::default()).unwrap();
        let cdn = Cdn::new(&"https://cdn.test/".parse().unwrap(), "KID1", &pem).unwrap();
        let playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\nseg-00000.ts\n\
                        #EXTINF:2.5,\nhttps://evil.example/x.ts\n#EXTINF:2.5,\n../x.ts\n\
                        #EXT-X-ENDLIST\n";
        let out = signed_playlist(&cdn, playlist, "vod/e1/", "Policy=P");
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n\
             https://cdn.test/vod/e1/seg-00000.ts?Policy=P\n#EXTINF:2.5,\n#EXTINF:2.5,\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn bad_keys_and_ids_are_refused() {
        let base: Url = "https://cdn.test".parse().unwrap();
        assert!(Cdn::new(&base, "KID1", "-----BEGIN RSA PRIVATE KEY-----\nxx\n").is_err());
        let pem = key().to_pkcs1_pem(Default::default()).unwrap();
        assert!(Cdn::new(&base, "K 1", &pem).is_err());
        assert!(Cdn::new(&base, "", &pem).is_err());
    }
}
