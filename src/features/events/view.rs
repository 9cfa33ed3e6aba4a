//! What pages and the API show of an event, its lifecycle states and steps, and cursor
//! paging of event lists.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::EventInput;
use crate::{
    clock::from_ms,
    features::{Error, FieldErrors, Result, accounts::User, corrupt, ids::EventId, paging::Page},
    store::events::{Cursor, EventRow, Section},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Scheduled,
    Staging,
    Live,
    Ended,
    Cancelled,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "scheduled" => Status::Scheduled,
            "staging" => Status::Staging,
            "live" => Status::Live,
            "ended" => Status::Ended,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Staging => "staging",
            Status::Live => "live",
            Status::Ended => "ended",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Scheduled => "Scheduled",
            Status::Staging => "Starting soon",
            Status::Live => "Live now",
            Status::Ended => "Ended",
            Status::Cancelled => "Cancelled",
        }
    }

    /// Registration is open until the event ends or is cancelled.
    pub fn accepts_registrations(self) -> bool {
        matches!(self, Status::Scheduled | Status::Staging | Status::Live)
    }
}

/// The transitions the live room drives; each is a compare-and-set in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    OpenGreenRoom,
    GoLive,
    End,
}

impl Transition {
    pub(super) fn endpoints(self) -> (Status, Status) {
        match self {
            Transition::OpenGreenRoom => (Status::Scheduled, Status::Staging),
            Transition::GoLive => (Status::Staging, Status::Live),
            Transition::End => (Status::Live, Status::Ended),
        }
    }

    /// What the step tells the rooms and the media and chat providers.
    pub(super) fn phase(self) -> crate::features::live::Phase {
        use crate::features::live::Phase;
        match self {
            Transition::OpenGreenRoom => Phase::GreenRoom,
            Transition::GoLive => Phase::Live,
            Transition::End => Phase::Over,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    #[schema(value_type = String)]
    pub id: EventId,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub time_zone: String,
    pub capacity: Option<i32>,
    pub members_only: bool,
    pub owner_id: String,
    pub owner_name: String,
    pub registered_count: i64,
    pub waitlisted_count: i64,
    /// Unix milliseconds of the last change; also the calendar SEQUENCE source.
    #[serde(skip)]
    pub sequence: i32,
    /// When it went live (the room's clock counts from here).
    pub live_at: Option<DateTime<Utc>>,
    /// Recorded when it goes live (the organizer may turn it off before).
    pub record: bool,
    /// The most people who may watch its Amazon IVS stage at once (None: no cap).
    pub viewer_cap: Option<i32>,
}

impl TryFrom<EventRow> for EventView {
    type Error = Error;

    fn try_from(r: EventRow) -> Result<Self> {
        let starts_at = from_ms(r.starts_at);
        let status = Status::parse(&r.status).ok_or_else(|| corrupt("event status", &r.status))?;
        let members_only = match r.visibility.as_str() {
            "public" => false,
            "members" => true,
            other => return Err(corrupt("event visibility", other)),
        };
        Ok(EventView {
            // Rows are bounded on the way in; a row that is not (written before the bound
            // existed, or by hand) must still render, so the sum saturates.
            ends_at: starts_at
                .checked_add_signed(Duration::minutes(i64::from(r.duration_minutes)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            starts_at,
            status,
            members_only,
            id: r.id.parse().map_err(|_| corrupt("event id", &r.id))?,
            title: r.title,
            description: r.description,
            duration_minutes: r.duration_minutes,
            time_zone: r.time_zone,
            capacity: r.capacity,
            owner_id: r.owner_id,
            owner_name: r.owner_name,
            registered_count: r.registered_count,
            waitlisted_count: r.waitlisted_count,
            sequence: r.sequence,
            live_at: r.live_at.map(from_ms),
            record: r.record,
            viewer_cap: r.viewer_cap,
        })
    }
}

impl EventView {
    pub fn seats_left(&self) -> Option<i64> {
        self.capacity
            .map(|c| (i64::from(c) - self.registered_count).max(0))
    }

    /// The start as the organizer entered it, for the edit form.
    pub fn start_local(&self) -> String {
        let tz: Tz = self.time_zone.parse().unwrap_or(Tz::UTC);
        self.starts_at
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    }

    /// The raw form values that reproduce this event, for editing.
    pub fn to_input(&self) -> EventInput {
        EventInput {
            title: self.title.clone(),
            description: self.description.clone(),
            start_local: self.start_local(),
            time_zone: self.time_zone.clone(),
            duration_minutes: self.duration_minutes.to_string(),
            capacity: self.capacity.map(|c| c.to_string()).unwrap_or_default(),
            visibility: if self.members_only {
                "members"
            } else {
                "public"
            }
            .into(),
        }
    }

    /// Only an event that has not started (or been cancelled) can be edited.
    pub fn editable(&self) -> bool {
        matches!(self.status, Status::Scheduled | Status::Staging)
    }

    pub fn can_manage(&self, user: &User) -> bool {
        user.id == self.owner_id || user.is_admin()
    }
}

fn encode_cursor(row: &EventView) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", row.starts_at.timestamp_millis(), row.id))
}

fn decode_cursor(raw: &str) -> Result<Cursor> {
    let bad = || {
        Error::Invalid(FieldErrors::single(
            "cursor",
            "This page link is not valid; start from the first page.",
        ))
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

/// An optional cursor from a URL; empty means the first page.
pub(super) fn parse_cursor(cursor: Option<&str>) -> Result<Option<Cursor>> {
    cursor
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()
}

pub(super) fn paginate(rows: Vec<EventRow>, limit: i64) -> Result<Page<EventView>> {
    let (rows, more) = crate::features::paging::split(rows, limit);
    let items = rows
        .into_iter()
        .map(EventView::try_from)
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if more {
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// A home-page section by its name in URLs; upcoming when none is given.
pub fn parse_section(s: Option<&str>) -> Option<Section> {
    match s.unwrap_or("upcoming") {
        "live" => Some(Section::Live),
        "upcoming" => Some(Section::Upcoming),
        "past" => Some(Section::Past),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    fn row() -> EventRow {
        EventRow {
            id: "0190f0f0-0000-7000-8000-000000000001".into(),
            owner_id: String::new(),
            owner_name: String::new(),
            title: String::new(),
            description: String::new(),
            starts_at: 1_900_000_000_000,
            duration_minutes: 60,
            time_zone: "UTC".into(),
            capacity: None,
            visibility: "public".into(),
            status: "scheduled".into(),
            sequence: 0,
            created_at: 0,
            updated_at: 0,
            live_at: None,
            record: true,
            viewer_cap: None,
            registered_count: 0,
            waitlisted_count: 0,
        }
    }

    #[test]
    fn unknown_values_in_a_row_fail_loudly() {
        let archived = EventRow {
            status: "archived".into(),
            ..row()
        };
        let err = EventView::try_from(archived).unwrap_err().to_string();
        assert!(err.contains("unknown event status \"archived\""), "{err}");
        let secret = EventRow {
            visibility: "secret".into(),
            ..row()
        };
        assert!(EventView::try_from(secret).is_err());
        assert_eq!(Status::parse("scheduled"), Some(Status::Scheduled));
        assert_eq!(Status::parse("Scheduled"), None);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = encode_cursor(&EventView::try_from(row()).unwrap());
        assert_eq!(
            decode_cursor(&cursor).unwrap(),
            (
                1_900_000_000_000,
                "0190f0f0-0000-7000-8000-000000000001".to_string()
            )
        );
        assert!(decode_cursor("!!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("no-dot")).is_err());
    }
}
