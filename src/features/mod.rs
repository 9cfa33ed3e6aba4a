//! Use cases. Functions here take a [`Core`] and parsed inputs, check who may do what, persist
//! through the store and send mail; they know nothing of HTTP, so tests and the CLI call them
//! directly.

pub mod accounts;
pub mod admin;
pub mod calendar;
pub mod costs;
pub mod email;
pub mod events;
pub mod ids;
pub mod live;
pub mod paging;
pub mod reactions;
pub mod recap;
pub mod recordings;
pub mod registrations;
pub mod validation;

use std::sync::Arc;

use self::live::{Notice, Scope};
use crate::{
    clock::Clock,
    config::Config,
    mail::Mailer,
    store::{Effects, Store, StoreError, Tx},
};

pub use validation::{FieldError, FieldErrors};

/// What every use case may touch. Cheap to clone.
#[derive(Clone)]
pub struct Core {
    pub store: Store,
    pub mailer: Mailer,
    pub clock: Clock,
    pub config: Arc<Config>,
    pub hasher: accounts::Hasher,
    /// Carries committed notices to every instance's reactions.
    pub bus: reactions::Bus,
    /// What committed notices mean for rooms, media and chat (registered in `app.rs`).
    pub reactions: reactions::Reactions,
    /// Cameras, microphones and screens.
    pub media: crate::media::MediaProvider,
    /// Who delivers group chat.
    pub chat: crate::chat::ChatProvider,
    /// Where composed recordings are kept and served from.
    pub recording_store: crate::media::recording::storage::RecordingStore,
    /// The server's signing key (CSRF tokens, unsubscribe links).
    pub secret: Arc<[u8; 32]>,
}

/// What one write does besides its own rows: the durable effects (mail, jobs) written in its
/// transaction, and the notices for live rooms, published only after it commits.
#[derive(Debug, Default)]
pub struct Change {
    pub effects: Effects,
    pub notices: Vec<(Scope, Notice)>,
}

impl Change {
    pub fn new(now: i64) -> Change {
        Change {
            effects: Effects {
                now,
                ..Effects::default()
            },
            notices: Vec::new(),
        }
    }

    /// Tells the event's room, stage and chat, once committed.
    pub fn notify(&mut self, event_id: impl std::fmt::Display, notice: Notice) {
        self.notices.push((Scope::event(event_id), notice));
    }

    /// Tells every event's room, stage and chat (an account changed), once committed.
    pub fn notify_everywhere(&mut self, notice: Notice) {
        self.notices.push((Scope::Everywhere, notice));
    }
}

impl Core {
    /// Commits a write with its effects, then tells every instance. Every feature finishes
    /// its writes here, so nothing hears of a change that did not happen: the reactions plan
    /// their durable work in the transaction, then act once here and on every instance
    /// ([`reactions`]).
    pub async fn commit(&self, mut tx: Tx, mut change: Change) -> Result<()> {
        self.reactions
            .plan(&mut tx, &change.notices, &mut change.effects)
            .await?;
        tx.commit(&change.effects).await?;
        for (scope, notice) in change.notices {
            self.reactions.committed(self, &scope, &notice).await;
            self.bus.publish(scope, notice, |scope, notice| {
                self.reactions.heard(&scope, &notice)
            });
        }
        Ok(())
    }

    /// Readiness: the database answers.
    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    fn mac(&self, parts: &[&str]) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.secret[..]).expect("any key size");
        for p in parts {
            mac.update(p.as_bytes());
            mac.update(b"\0");
        }
        mac
    }

    /// HMAC-SHA256 of `parts` under the server key, base64url: a stateless signature.
    pub fn sign(&self, parts: &[&str]) -> String {
        use base64::Engine;
        use hmac::Mac;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(parts).finalize().into_bytes())
    }

    /// Checks a signature from [`Core::sign`]; the hmac crate compares in constant time.
    pub fn verify(&self, parts: &[&str], signature: &str) -> bool {
        use base64::Engine;
        use hmac::Mac;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .is_ok_and(|sig| self.mac(parts).verify_slice(&sig).is_ok())
    }
}

/// The features layer's one error type; `http` turns each variant into a status and a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that failed validation, with a message per field.
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("you need to log in")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// The request is valid but the thing is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// Too many failed logins; `minutes` is how long is left, from the injected clock.
    #[error("Too many failed logins. Logging in with this address from here is locked for about {minutes} more minute{}. If it is your account, we sent you an email.", plural(.minutes))]
    Locked {
        until: chrono::DateTime<chrono::Utc>,
        minutes: i64,
    },
    /// A service this depends on (the recordings' bucket, say) did not answer; the cause was
    /// logged where it happened.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            other => Error::Internal(other.into()),
        }
    }
}

impl From<FieldErrors> for Error {
    fn from(e: FieldErrors) -> Self {
        Error::Invalid(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn plural(n: &i64) -> &'static str {
    if *n == 1 { "" } else { "s" }
}

pub fn locked(until: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> Error {
    let minutes = ((until - now).num_seconds() + 59) / 60;
    Error::Locked {
        until,
        minutes: minutes.max(1),
    }
}

pub fn forbidden(msg: impl Into<String>) -> Error {
    Error::Forbidden(msg.into())
}

/// A value read from the database that no variant matches: the row was written by something
/// else (a newer version, a hand edit). It fails loudly instead of reading as a default.
pub(crate) fn corrupt(column: &str, value: &str) -> Error {
    Error::Internal(anyhow::anyhow!(
        "unknown {column} {value:?} in the database"
    ))
}

/// A new time-ordered id (UUIDv7), as the text every id column holds.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
