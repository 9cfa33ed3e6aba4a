//! Live media: what the live room and its pages ask of whichever provider carries cameras,
//! microphones and screens. `embedded` is an SFU in this process (str0m, one UDP port), so one
//! binary is a whole meetup platform; Amazon IVS Real-Time fills the same seam for large
//! audiences. Callers decide who may publish or watch (the room's rules); a provider only
//! carries media for those it is told about.

pub mod embedded;

use crate::features::ids::{EventId, UserId};

/// What a person does with a stage's media.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaRole {
    /// Watches and listens.
    Subscriber,
    /// Sends their own microphone (and camera): a presenter, or an attendee brought on stage.
    Publisher,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// What the browser sent is not a session description.
    #[error("the connection offer is not a session description (SDP)")]
    NotSdp,
    /// The browser's session description could not be used; the message says why.
    #[error("the connection offer was not usable: {0}")]
    BadOffer(String),
    /// The stage already has as many people sending as it takes.
    #[error(
        "the stage is full: at most {} people send audio and video at once",
        embedded::MAX_PUBLISHERS
    )]
    StageFull,
    /// The person holds as many connections to this stage as one may.
    #[error(
        "you are connected to this event's media {} times already; close another tab first",
        embedded::MAX_PER_PERSON
    )]
    TooMany,
    /// The media server carries all the connections it can.
    #[error("the media server is full; try again in a minute")]
    Full,
    /// The media server is not running (it stopped, or failed to start).
    #[error("live media is not available")]
    Unavailable,
}

/// The media provider of this instance.
#[derive(Clone)]
pub enum MediaProvider {
    Embedded(embedded::Sfu),
}

impl MediaProvider {
    /// Ends every media connection of `user` on this event's stage (kicked, banned).
    pub fn disconnect(&self, event: &EventId, user: &UserId) {
        match self {
            MediaProvider::Embedded(sfu) => sfu.disconnect(event, user),
        }
    }

    /// Ends every media connection of the event's stage (the event is over).
    pub fn close_stage(&self, event: &EventId) {
        match self {
            MediaProvider::Embedded(sfu) => sfu.close_stage(event),
        }
    }

    /// Applies what presenters decided about `user`: a muted person's audio is no longer
    /// forwarded; one who may no longer publish loses their sending connections.
    pub fn restrict(&self, event: &EventId, user: &UserId, muted: bool, may_publish: bool) {
        match self {
            MediaProvider::Embedded(sfu) => sfu.restrict(event, user, muted, may_publish),
        }
    }

    /// Connects a person's browser (an SDP offer) to the event's stage; returns the answer.
    pub async fn connect(
        &self,
        event: &EventId,
        user: Option<&UserId>,
        role: MediaRole,
        muted: bool,
        offer: &str,
    ) -> Result<String, MediaError> {
        match self {
            MediaProvider::Embedded(sfu) => sfu.connect(event, user, role, muted, offer).await,
        }
    }
}
