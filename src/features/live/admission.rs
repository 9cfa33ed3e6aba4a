//! Who someone is in a room, decided by the server from the session and the event: admitted
//! or refused, their room role (one function decides it), the door pages show into the room,
//! and how they join the event's media.

use super::{protocol::RoomRole, stage};
use crate::features::{
    Core, Error, Result,
    accounts::User,
    events::{EventView, Status},
    ids::{EventId, UserId},
};

/// One connection's sender, as the server established it.
#[derive(Clone, Debug)]
pub struct Participant {
    pub event_id: EventId,
    /// None for a guest watching a public event.
    pub user: Option<UserId>,
    pub name: String,
    pub role: RoomRole,
    /// The hash of the session the connection was opened with (none for guests and OBS):
    /// signing out closes that session's sockets.
    pub session: Option<String>,
    /// The client's address, as the edge saw it: guests' media is counted per address.
    pub address: Option<std::net::IpAddr>,
}

impl Participant {
    pub fn runs_room(&self) -> bool {
        self.role.runs_room()
    }
}

/// Why a room would not let someone in.
#[derive(Debug)]
pub enum Refusal {
    NotFound,
    SignIn,
    Banned(String),
    /// Ours, not theirs: the database failed.
    Failed(Error),
}

/// Who `user` is in `event`'s room: the owner and named co-presenters present, site admins
/// moderate, everyone else signed in attends, and guests may only watch public events.
pub async fn admit(
    core: &Core,
    event: &EventView,
    user: Option<&User>,
) -> Result<Participant, Refusal> {
    if event.status == Status::Cancelled {
        return Err(Refusal::NotFound);
    }
    let Some(user) = user else {
        if event.members_only {
            return Err(Refusal::SignIn);
        }
        return Ok(Participant {
            event_id: event.id.clone(),
            user: None,
            name: "Guest".into(),
            role: RoomRole::Viewer,
            session: None,
            address: None,
        });
    };
    let user_id: UserId = user
        .id
        .parse()
        .map_err(|_| Refusal::Failed(crate::features::corrupt("user id", &user.id)))?;
    let role = role_of(core, event, user).await.map_err(Refusal::Failed)?;
    if !role.runs_room() {
        let standing = core
            .store
            .standing(&event.id, &user.id)
            .await
            .map_err(|e| Refusal::Failed(e.into()))?;
        if let Some(s) = standing.filter(|s| s.banned_at.is_some()) {
            return Err(Refusal::Banned(s.ban_reason.unwrap_or_default()));
        }
    }
    Ok(Participant {
        event_id: event.id.clone(),
        user: Some(user_id),
        name: user.display_name.clone(),
        role,
        session: None,
        address: None,
    })
}

/// The way into an event's room from a page that shows the event, worded for the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Door {
    pub href: String,
    pub label: &'static str,
    /// What is going on inside, beside the button.
    pub note: &'static str,
}

/// The door into the room for `user` (None: a visitor) while the event is in its green room
/// or live; None when there is no room to enter, or they are banned from it.
pub async fn door(core: &Core, event: &EventView, user: Option<&User>) -> Result<Option<Door>> {
    let live = match event.status {
        Status::Live => true,
        Status::Staging => false,
        _ => return Ok(None),
    };
    let room = format!("/events/{}/live", event.id);
    let attend = |href: String| Door {
        href,
        label: if live {
            "Join the live event"
        } else {
            "Wait in the room"
        },
        note: if live {
            "It is on now: watch, chat and ask questions."
        } else {
            "The presenters are getting ready; the room opens when they go live."
        },
    };
    let Some(user) = user else {
        if event.members_only {
            let next: String = url::form_urlencoded::byte_serialize(room.as_bytes()).collect();
            return Ok(Some(Door {
                label: "Sign in to join",
                ..attend(format!("/login?next={next}"))
            }));
        }
        return Ok(Some(attend(room)));
    };
    match admit(core, event, Some(user)).await {
        Ok(who) if who.runs_room() => Ok(Some(Door {
            href: room,
            label: "Open the dashboard",
            note: if live {
                "You are live."
            } else {
                "The green room is open: check your camera and microphone before going live."
            },
        })),
        Ok(_) => Ok(Some(attend(room))),
        Err(Refusal::Failed(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

async fn role_of(core: &Core, event: &EventView, user: &User) -> Result<RoomRole> {
    let presents =
        user.id == event.owner_id || core.store.is_co_presenter(&event.id, &user.id).await?;
    Ok(room_role(presents, user.role))
}

/// Who someone is in a room, the one place it is decided: the event's presenters (owner and
/// co-presenters) run it, site admins moderate it, everyone else signed in attends.
pub fn room_role(presents: bool, site: crate::features::accounts::Role) -> RoomRole {
    use crate::features::accounts::Role;
    match (presents, site) {
        (true, _) => RoomRole::Presenter,
        (false, Role::Admin) => RoomRole::Moderator,
        (false, Role::Member | Role::Organizer) => RoomRole::Attendee,
    }
}

/// A site role read from a row; one no variant matches fails loudly.
pub(super) fn site_role(role: &str) -> Result<crate::features::accounts::Role> {
    crate::features::accounts::Role::parse(role)
        .ok_or_else(|| crate::features::corrupt("user role", role))
}

/// How someone admitted to the room ([`admit`]) joins the event's media, by their role:
/// presenters from the green room on, speakers (brought on stage) and everyone else once live.
pub async fn media_ticket(
    core: &Core,
    event: &EventView,
    who: &Participant,
    held: stage::Held<'_>,
) -> std::result::Result<crate::media::Ticket, Error> {
    use crate::media::StageRole;
    media_open(event, who)?;
    let role = if who.runs_room() {
        StageRole::Presenter
    } else if may_speak(core, event, who).await? {
        StageRole::Speaker
    } else {
        StageRole::Subscriber
    };
    stage::ticket(core, event, who, role, held).await
}

fn media_open(event: &EventView, who: &Participant) -> std::result::Result<(), Error> {
    let open = match event.status {
        Status::Live => true,
        Status::Staging => who.runs_room(),
        _ => false,
    };
    if open {
        Ok(())
    } else {
        Err(Error::Conflict(
            "The event is not live, so there is nothing to watch yet.".into(),
        ))
    }
}

/// Whether a presenter let this attendee speak.
async fn may_speak(core: &Core, event: &EventView, who: &Participant) -> Result<bool> {
    Ok(match &who.user {
        Some(user) => core
            .store
            .standing(&event.id, user)
            .await?
            .is_some_and(|s| s.can_speak),
        None => false,
    })
}

/// Connects someone admitted to the room ([`admit`]) to the event's media: presenters
/// publish from the green room on; everyone else watches once the event is live.
pub async fn connect_media(
    core: &Core,
    event: &EventView,
    who: &Participant,
    role: crate::media::MediaRole,
    offer: &str,
) -> std::result::Result<crate::media::Connected, Error> {
    use crate::media::{MediaError, MediaRole};
    media_open(event, who)?;
    // Presenters publish; attendees once a presenter lets them speak, and never past a mute.
    let standing = match &who.user {
        Some(user) => core.store.standing(&event.id, user).await?,
        None => None,
    };
    let speaker = standing.as_ref().is_some_and(|s| s.can_speak);
    if role == MediaRole::Publisher && !who.runs_room() && !speaker {
        return Err(crate::features::forbidden(
            "Only presenters, and people a presenter brings on stage, send audio and video.",
        ));
    }
    let admission = crate::media::Admission {
        user: who.user.as_ref(),
        name: &who.name,
        role,
        muted: standing.is_some_and(|s| s.muted),
        address: who.address,
    };
    if role == MediaRole::Publisher
        && event.record
        && event.status == crate::features::events::Status::Live
    {
        // Going live started the recording; after a restart, the first one back on stage
        // resumes it (in a new part). Starting one that runs does nothing.
        let dir = crate::media::embedded::record::dir(&core.config.data_dir);
        core.media.record(&event.id, &dir);
    }
    core.media
        .connect(&event.id, &admission, offer)
        .await
        .map_err(|e| match e {
            MediaError::NotSdp | MediaError::BadOffer(_) => Error::Invalid(
                crate::features::validation::FieldErrors::single("offer", format!("{e}.")),
            ),
            MediaError::Full
            | MediaError::StageFull
            | MediaError::TooMany
            | MediaError::TooManyGuests
            | MediaError::NotOnStage => Error::Conflict(format!("{e}.")),
            MediaError::Unavailable => Error::Internal(anyhow::anyhow!(e)),
            MediaError::Elsewhere => Error::Conflict(format!("{e}.")),
        })
}
