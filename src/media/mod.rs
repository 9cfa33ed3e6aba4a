//! Live media: what the live room and its pages ask of whichever provider carries cameras,
//! microphones and screens. `embedded` is an SFU in this process (str0m, one UDP port), so one
//! binary is a whole meetup platform; Amazon IVS Real-Time fills the same seam for large
//! audiences. Callers decide who may publish or watch (the room's rules); a provider only
//! carries media for those it is told about.

pub mod embedded;
pub mod ivs;
pub mod layers;
pub mod recording;
pub mod turn;

use serde::Serialize;

use crate::features::ids::{EventId, UserId};

/// Someone admitted to a stage's media, as the room's rules decided.
pub struct Admission<'a> {
    /// None for a guest watching a public event.
    pub user: Option<&'a UserId>,
    /// Shown on their tile.
    pub name: &'a str,
    pub role: MediaRole,
    /// Presenters muted them: their audio is not forwarded.
    pub muted: bool,
    /// Where a guest connects from: guests are counted per address.
    pub address: Option<std::net::IpAddr>,
}

/// What a person may do on a stage, as the room's rules decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageRole {
    /// Watches and listens.
    Subscriber,
    /// An attendee a presenter brought on stage: sends and watches.
    Speaker,
    /// Runs the stage: sends and watches, from the green room on.
    Presenter,
}

/// How a page joins the stage's media; which client it uses follows from the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum Ticket {
    /// Post SDP offers to these (WHIP/WHEP style); `publish` only for those who send.
    /// `ice_servers`: TURN relays for networks that reach the server directly by neither UDP
    /// nor TCP (none unless configured).
    Embedded {
        role: StageRole,
        publish: Option<String>,
        watch: String,
        ice_servers: Vec<turn::IceServer>,
    },
    /// Join the IVS stage with this token (the IVS Web Broadcast SDK, served at `sdk`); ask
    /// again with `?participant=` before `expires_at` (ms) and exchange the token in place.
    /// Those who send also get a token for their shared screen, a participant of its own.
    /// Tokens carry ids, not names: `names` names everyone who may be on stage now
    /// (presenters and speakers), by user id, for the tiles.
    Ivs {
        role: StageRole,
        participant_id: String,
        token: String,
        expires_at: i64,
        screen: Option<IvsScreen>,
        sdk: String,
        names: std::collections::BTreeMap<String, String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IvsScreen {
    pub participant_id: String,
    pub token: String,
}

/// A connection made: the answer to the browser's offer, and the connection's number (the
/// WHIP resource its owner may end).
pub struct Connected {
    pub answer: String,
    pub id: u64,
}

/// Who sends on a stage, and whose screen it shows. Pages receive it over the live-room
/// socket and place each person's tracks by their seat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Roster {
    pub seats: Vec<OnStage>,
    pub screen: Option<UserId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OnStage {
    pub slot: usize,
    pub user_id: UserId,
    pub name: String,
    pub muted: bool,
}

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
    /// Guests from one address hold as many connections to this stage as they may.
    #[error(
        "{} guests from your network already watch this event; sign in to watch as well",
        embedded::MAX_GUESTS_PER_ADDRESS
    )]
    TooManyGuests,
    /// The media server carries all the connections it can.
    #[error("the media server is full; try again in a minute")]
    Full,
    /// Only someone sending audio and video on the stage shares a screen.
    #[error("connect your camera or microphone to the stage before sharing a screen")]
    NotOnStage,
    /// The media server is not running (it stopped, or failed to start).
    #[error("live media is not available")]
    Unavailable,
    /// This server's media runs on Amazon IVS: pages join there with a token.
    #[error("this server's live media runs on Amazon IVS; join with the page's IVS ticket")]
    Elsewhere,
}

/// The media provider of this instance. The embedded server's stages live in this process,
/// so each instance obeys the notices it hears; IVS stages are remote, so their lifecycle
/// runs as durable jobs (`features::live::stage`). Both through `reactions::Media`.
#[derive(Clone)]
pub enum MediaProvider {
    Embedded(embedded::Sfu),
    Ivs(ivs::Ivs),
}

impl MediaProvider {
    /// The event went live: the embedded server records its stage into `dir` (IVS records
    /// through its composition, started by the stage job).
    pub fn record(&self, event: &EventId, dir: &std::path::Path) {
        if let MediaProvider::Embedded(sfu) = self {
            sfu.record(event, dir);
        }
    }

    /// Whether events on this provider are recorded at all: always on the embedded server,
    /// on IVS when a storage configuration is set.
    pub fn records(&self) -> bool {
        match self {
            MediaProvider::Embedded(_) => true,
            MediaProvider::Ivs(ivs) => ivs.records(),
        }
    }

    /// How many people may send camera and microphone at once. An IVS stage takes 12
    /// publishers and a shared screen is one of them, so one place is kept for it; the
    /// embedded server carries a screen on its sharer's own connection.
    pub fn seats(&self) -> usize {
        match self {
            MediaProvider::Embedded(_) => embedded::MAX_PUBLISHERS,
            MediaProvider::Ivs(_) => embedded::MAX_PUBLISHERS - 1,
        }
    }

    /// Whether a shared screen takes one of the stage's places of its own.
    pub fn screen_takes_a_place(&self) -> bool {
        matches!(self, MediaProvider::Ivs(_))
    }

    /// Media connections this instance carries.
    pub fn connections(&self) -> usize {
        match self {
            MediaProvider::Embedded(sfu) => sfu.connections(),
            MediaProvider::Ivs(_) => 0,
        }
    }

    /// Ends every media connection of `user` on this event's stage (kicked, banned).
    pub fn disconnect(&self, event: &EventId, user: &UserId) {
        match self {
            MediaProvider::Embedded(sfu) => sfu.disconnect(event, user),
            MediaProvider::Ivs(_) => {}
        }
    }

    /// Ends every media connection of `user` on every stage of this instance (their account
    /// was closed).
    pub fn disconnect_everywhere(&self, user: &UserId) {
        match self {
            MediaProvider::Embedded(sfu) => sfu.disconnect_everywhere(user),
            MediaProvider::Ivs(_) => {}
        }
    }

    /// Ends every media connection of the event's stage (the event is over).
    pub fn close_stage(&self, event: &EventId) {
        match self {
            MediaProvider::Embedded(sfu) => sfu.close_stage(event),
            MediaProvider::Ivs(_) => {}
        }
    }

    /// Applies what presenters decided about `user`: a muted person's audio is no longer
    /// forwarded; one who may no longer publish loses their sending connections.
    pub fn restrict(&self, event: &EventId, user: &UserId, muted: bool, may_publish: bool) {
        match self {
            MediaProvider::Embedded(sfu) => sfu.restrict(event, user, muted, may_publish),
            // A muted speaker's page stops sending; IVS has no server-side mute.
            MediaProvider::Ivs(_) => {}
        }
    }

    /// Connects a person's browser (an SDP offer) to the event's stage; returns the answer.
    pub async fn connect(
        &self,
        event: &EventId,
        who: &Admission<'_>,
        offer: &str,
    ) -> Result<Connected, MediaError> {
        match self {
            MediaProvider::Embedded(sfu) => sfu.connect(event, who, offer).await,
            MediaProvider::Ivs(_) => Err(MediaError::Elsewhere),
        }
    }

    /// Ends one of `user`'s connections (they asked: WHIP's DELETE).
    pub fn hang_up(&self, event: &EventId, user: &UserId, id: u64) {
        match self {
            MediaProvider::Embedded(sfu) => sfu.hang_up(event, user, id),
            MediaProvider::Ivs(_) => {}
        }
    }

    /// Shows (or stops showing) `user`'s screen on the stage.
    pub fn share_screen(&self, event: &EventId, user: &UserId, on: bool) -> Result<(), MediaError> {
        match self {
            MediaProvider::Embedded(sfu) => sfu.share_screen(event, user, on),
            // The screen is a featured participant of its own on IVS.
            MediaProvider::Ivs(_) => Ok(()),
        }
    }

    /// Who sends on the stage now.
    pub fn roster(&self, event: &EventId) -> Roster {
        match self {
            MediaProvider::Embedded(sfu) => sfu.roster(event),
            // Pages learn who is on an IVS stage from the SDK's participant events.
            MediaProvider::Ivs(_) => Roster::default(),
        }
    }
}

/// What an SDP parser lets through but a connection could never use, refused up front with a
/// reason: a DTLS fingerprint in anything but SHA-256 (what browsers send and the media
/// server checks), and a BUNDLE group naming a media section the offer does not have.
pub fn check_offer(sdp: &str) -> Result<(), MediaError> {
    let mut mids = std::collections::HashSet::new();
    let mut bundled = Vec::new();
    for line in sdp.lines().map(str::trim_end) {
        if let Some(f) = line.strip_prefix("a=fingerprint:") {
            let (alg, hex) = f.split_once(' ').unwrap_or((f, ""));
            let bytes = hex.split(':').filter(|b| !b.is_empty()).count();
            if !alg.eq_ignore_ascii_case("sha-256") || bytes != 32 {
                return Err(MediaError::BadOffer(
                    "its DTLS fingerprint must be a SHA-256 fingerprint".into(),
                ));
            }
        } else if let Some(m) = line.strip_prefix("a=mid:") {
            mids.insert(m.to_string());
        } else if let Some(g) = line.strip_prefix("a=group:BUNDLE") {
            bundled.extend(g.split_whitespace().map(str::to_string));
        }
    }
    match bundled.iter().find(|m| !mids.contains(*m)) {
        Some(m) => Err(MediaError::BadOffer(format!(
            "its BUNDLE group names a media section \"{}\" it does not have",
            m.chars().take(32).collect::<String>()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "a=fingerprint:sha-256 A6:64:23:37:94:7E:4B:40:F6:62:86:8C:DD:09:D5:08:\
                      A6:64:23:37:94:7E:4B:40:F6:62:86:8C:DD:09:D5:08";

    #[test]
    fn offers_with_unusable_fingerprints_or_bundles_are_refused() {
        let good = format!(
            "v=0\r\na=group:BUNDLE 0 1\r\n{FP}\r\nm=audio\r\na=mid:0\r\nm=video\r\na=mid:1\r\n"
        );
        assert!(check_offer(&good).is_ok());
        let md2 = good.replace("sha-256", "md2");
        assert!(matches!(check_offer(&md2), Err(MediaError::BadOffer(m)) if m.contains("SHA-256")));
        let missing = good.replace("BUNDLE 0 1", "BUNDLE 0 1 7");
        assert!(
            matches!(check_offer(&missing), Err(MediaError::BadOffer(m)) if m.contains("\"7\""))
        );
    }
}
