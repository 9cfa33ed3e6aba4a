//! IVS participant tokens, self-signed (ES384) with our key pair rather than asked of IVS
//! (`CreateParticipantToken` is rate-limited to a few calls a second and its tokens cannot be
//! exchanged). A token lets one person join one stage with the capabilities of their role;
//! when the role changes the page exchanges it for a new one without reconnecting. Its
//! attributes are visible to everyone on the stage, so they carry our opaque ids and the role,
//! never an email address or a name.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::media::StageRole;

/// The longest a token lives; pages ask for a fresh one before it runs out, so an 8-hour
/// event never drops, and a leaked token is soon useless.
pub const LIFETIME_SECS: i64 = 60 * 60;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "the IVS signing key is not an EC P-384 private key in PKCS#8 PEM (convert one with `openssl pkcs8 -topk8 -nocrypt`): {0}"
    )]
    Key(jsonwebtoken::errors::Error),
    #[error("signing an IVS token failed: {0}")]
    Sign(jsonwebtoken::errors::Error),
}

/// The stage a token admits to, as IVS described it when the stage was created.
#[derive(Clone, Debug)]
pub struct Stage {
    pub arn: String,
    pub whip_url: String,
    pub events_url: String,
}

impl Stage {
    /// The stage id: the last part of its ARN (`arn:aws:ivs:…:stage/<id>`).
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub allow_publish: bool,
    pub allow_subscribe: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// Our user id (a UUID), or "guest".
    pub user: String,
    /// `subscriber`, `speaker` or `presenter`.
    pub role: String,
    /// "true" for a shared screen: the composition shows it in the large slot.
    pub featured: String,
}

/// The claims IVS reads (the shape of AWS's own sample).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub version: String,
    /// The stage id.
    pub topic: String,
    /// The stage ARN.
    pub resource: String,
    /// The participant id: one per person and stage, kept across token exchanges.
    pub jti: String,
    pub whip_url: String,
    pub events_url: String,
    pub user_id: String,
    pub capabilities: Capabilities,
    pub attributes: Attributes,
    pub iat: i64,
    pub exp: i64,
}

/// Signs tokens with our private key; `kid` names the public key imported into IVS.
pub struct Signer {
    key: EncodingKey,
    kid: String,
}

impl Signer {
    /// From the private key's PEM and the ARN IVS gave the imported public key.
    pub fn from_pem(pem: &[u8], public_key_arn: &str) -> Result<Signer, TokenError> {
        Ok(Signer {
            key: EncodingKey::from_ec_pem(pem).map_err(TokenError::Key)?,
            kid: public_key_arn.to_string(),
        })
    }

    /// From a PKCS#8 DER key (tests generate one).
    pub fn from_der(der: &[u8], public_key_arn: &str) -> Signer {
        Signer {
            key: EncodingKey::from_ec_der(der),
            kid: public_key_arn.to_string(),
        }
    }

    /// A token for `participant` (our id for this person on this stage) with `role`'s
    /// capabilities, valid from `now` (seconds since the epoch) for [`LIFETIME_SECS`]. A
    /// `screen` participant only sends (a person's shared screen is a participant of its own,
    /// featured in the composition).
    pub fn mint(
        &self,
        stage: &Stage,
        participant: &str,
        user: Option<&str>,
        role: StageRole,
        screen: bool,
        now: i64,
    ) -> Result<String, TokenError> {
        let user = user.unwrap_or("guest").to_string();
        let claims = Claims {
            version: "1.0".into(),
            topic: stage.id().to_string(),
            resource: stage.arn.clone(),
            jti: participant.to_string(),
            whip_url: stage.whip_url.clone(),
            events_url: stage.events_url.clone(),
            user_id: user.clone(),
            capabilities: Capabilities {
                allow_publish: role != StageRole::Subscriber,
                allow_subscribe: !screen,
            },
            attributes: Attributes {
                user,
                role: role_name(role).into(),
                featured: screen.to_string(),
            },
            iat: now,
            exp: now.saturating_add(LIFETIME_SECS),
        };
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(TokenError::Sign)
    }
}

fn role_name(role: StageRole) -> &'static str {
    match role {
        StageRole::Subscriber => "subscriber",
        StageRole::Speaker => "speaker",
        StageRole::Presenter => "presenter",
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
    use ring::{
        rand::SystemRandom,
        signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
    };

    use super::*;

    const KEY_ARN: &str = "arn:aws:ivs:eu-west-1:123456789012:public-key/abcdEFGH1234";

    fn keys() -> (Signer, DecodingKey) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        (
            Signer::from_der(pkcs8.as_ref(), KEY_ARN),
            DecodingKey::from_ec_der(pair.public_key().as_ref()),
        )
    }

    fn stage() -> Stage {
        Stage {
            arn: "arn:aws:ivs:eu-west-1:123456789012:stage/Zq9kB2xY".into(),
            whip_url: "https://f99084460c35.global-bm.whip.live-video.net".into(),
            events_url: "wss://global.events.live-video.net".into(),
        }
    }

    fn verify(token: &str, public: &DecodingKey, now: i64) -> Claims {
        let mut v = Validation::new(Algorithm::ES384);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let claims = decode::<Claims>(token, public, &v).unwrap().claims;
        assert!(claims.exp > now, "not expired at minting");
        claims
    }

    #[test]
    fn tokens_verify_with_the_public_key_and_carry_the_role() {
        let (signer, public) = keys();
        let now = 1_800_000_000;
        let user = "0193a1b2-0000-7000-8000-000000000001";
        for (role, publish, name) in [
            (StageRole::Subscriber, false, "subscriber"),
            (StageRole::Speaker, true, "speaker"),
            (StageRole::Presenter, true, "presenter"),
        ] {
            let token = signer
                .mint(&stage(), "p-1", Some(user), role, false, now)
                .unwrap();
            let header = decode_header(&token).unwrap();
            assert_eq!(header.alg, Algorithm::ES384);
            assert_eq!(header.kid.as_deref(), Some(KEY_ARN));
            let c = verify(&token, &public, now);
            assert_eq!(c.capabilities.allow_publish, publish, "{role:?}");
            assert!(c.capabilities.allow_subscribe);
            assert_eq!(c.attributes.role, name);
            assert_eq!(c.attributes.featured, "false");
            assert_eq!(c.topic, "Zq9kB2xY");
            assert_eq!(c.resource, stage().arn);
            assert_eq!(c.jti, "p-1");
            assert_eq!(c.user_id, user);
            assert_eq!(c.iat, now);
            assert_eq!(c.exp, now + LIFETIME_SECS);
            // Attributes are shown to everyone on the stage: ids and the role only.
            let attributes = serde_json::to_string(&c.attributes).unwrap();
            assert!(!attributes.contains('@'), "{attributes}");
        }
    }

    #[test]
    fn a_screen_token_only_sends_and_is_featured() {
        let (signer, public) = keys();
        let token = signer
            .mint(
                &stage(),
                "p-2",
                Some("u"),
                StageRole::Speaker,
                true,
                1_800_000_000,
            )
            .unwrap();
        let c = verify(&token, &public, 1_800_000_000);
        assert!(c.capabilities.allow_publish);
        assert!(!c.capabilities.allow_subscribe);
        assert_eq!(c.attributes.featured, "true");
    }

    #[test]
    fn a_token_signed_with_another_key_does_not_verify() {
        let (signer, _) = keys();
        let (_, other) = keys();
        let token = signer
            .mint(
                &stage(),
                "p-1",
                None,
                StageRole::Subscriber,
                false,
                1_800_000_000,
            )
            .unwrap();
        let mut v = Validation::new(Algorithm::ES384);
        v.required_spec_claims.clear();
        assert!(decode::<Claims>(&token, &other, &v).is_err());
        assert!(Signer::from_pem(b"not a key", KEY_ARN).is_err());
    }
}
