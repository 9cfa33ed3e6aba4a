//! Events: creation, editing, cancellation, listing and the lifecycle
//! `scheduled → staging → live → ended` (and `cancelled` from any state before `ended`).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{
    Change, Core, Error, FieldErrors, Result,
    accounts::{Session, User},
    corrupt, email, forbidden, live, new_id, parse_id, registrations,
    validation::single_line,
};
use crate::{
    clock::from_ms,
    store::events::{Cursor, EventFields, EventRow},
};

pub use crate::store::events::Section;

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 5_000;
pub const MIN_DURATION: i32 = 15;
pub const MAX_DURATION: i32 = 480;
pub const MAX_CAPACITY: i32 = 100_000;
pub const PAGE_SIZE: i64 = 20;
/// How far ahead an event may be scheduled: keeps every date the product computes (ends,
/// reminders, calendar lines) far inside what the date types can hold.
pub const MAX_YEARS_AHEAD: i64 = 3;

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
    fn endpoints(self) -> (Status, Status) {
        match self {
            Transition::OpenGreenRoom => (Status::Scheduled, Status::Staging),
            Transition::GoLive => (Status::Staging, Status::Live),
            Transition::End => (Status::Live, Status::Ended),
        }
    }
}

// --- parsed inputs ------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTitle(String);

impl EventTitle {
    pub fn parse(raw: &str) -> std::result::Result<EventTitle, String> {
        single_line(raw, "Title", MAX_TITLE).map(EventTitle)
    }
}

/// Free text with its line breaks kept; other control characters are dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDescription(String);

impl EventDescription {
    pub fn parse(raw: &str) -> std::result::Result<EventDescription, String> {
        let s: String = raw
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect();
        let s = s.trim().to_string();
        if s.chars().count() > MAX_DESCRIPTION {
            return Err(format!(
                "Description must be at most {MAX_DESCRIPTION} characters."
            ));
        }
        Ok(EventDescription(s))
    }
}

/// The raw event form, as typed (strings, so bad input can be shown back unchanged).
#[derive(Clone, Debug, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EventInput {
    pub title: String,
    pub description: String,
    /// Local start, `YYYY-MM-DDTHH:MM`, in `time_zone`.
    pub start_local: String,
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    #[serde(deserialize_with = "super::validation::lenient_text")]
    #[schema(value_type = u32)]
    pub duration_minutes: String,
    /// Empty or null for no limit.
    #[serde(deserialize_with = "super::validation::lenient_text")]
    #[schema(value_type = Option<u32>)]
    pub capacity: String,
    /// `public` or `members`.
    pub visibility: String,
}

impl Default for EventInput {
    fn default() -> Self {
        EventInput {
            title: String::new(),
            description: String::new(),
            start_local: String::new(),
            time_zone: String::new(),
            duration_minutes: String::new(),
            capacity: String::new(),
            visibility: "public".into(),
        }
    }
}

/// A validated event, ready for the store.
pub struct ValidEvent {
    title: EventTitle,
    description: EventDescription,
    starts_at: DateTime<Utc>,
    duration_minutes: i32,
    time_zone: Tz,
    capacity: Option<i32>,
    members_only: bool,
}

impl ValidEvent {
    fn fields(&self) -> EventFields<'_> {
        EventFields {
            title: &self.title.0,
            description: &self.description.0,
            starts_at: self.starts_at.timestamp_millis(),
            duration_minutes: self.duration_minutes,
            time_zone: self.time_zone.name(),
            capacity: self.capacity,
            visibility: if self.members_only {
                "members"
            } else {
                "public"
            },
        }
    }
}

/// Parses a local date-time in a time zone to UTC, refusing times a clock change skips.
pub fn local_to_utc(local: &str, tz: Tz) -> std::result::Result<DateTime<Utc>, String> {
    let naive = NaiveDateTime::parse_from_str(local.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(local.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| "Enter a date and time like 2026-12-01T18:30.".to_string())?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "{local} does not exist in {tz}: the clocks change then."
        )),
    }
}

impl EventInput {
    /// Validates every field, reporting all problems at once. `unchanged_start` lets an
    /// edit keep a start time that is already in the past.
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        unchanged_start: Option<DateTime<Utc>>,
    ) -> Result<ValidEvent, FieldErrors> {
        let mut e = FieldErrors::default();
        let title = e.take("title", EventTitle::parse(&self.title));
        let description = e.take("description", EventDescription::parse(&self.description));
        let tz = e.take(
            "time_zone",
            self.time_zone
                .trim()
                .parse::<Tz>()
                .map_err(|_| "Choose a time zone from the list.".to_string()),
        );
        let starts_at = tz.and_then(|tz| {
            e.take(
                "start_local",
                local_to_utc(&self.start_local, tz).and_then(|t| {
                    if Some(t) == unchanged_start {
                        Ok(t)
                    } else if t <= now {
                        Err("The start must be in the future.".into())
                    } else if t > now + Duration::days(366 * MAX_YEARS_AHEAD) {
                        Err(format!(
                            "The start must be within {MAX_YEARS_AHEAD} years from now."
                        ))
                    } else {
                        Ok(t)
                    }
                }),
            )
        });
        let duration = e.take(
            "duration_minutes",
            self.duration_minutes
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|d| (MIN_DURATION..=MAX_DURATION).contains(d))
                .ok_or_else(|| format!("Duration must be a whole number of minutes from {MIN_DURATION} to {MAX_DURATION}.")),
        );
        let capacity = e.take(
            "capacity",
            match self.capacity.trim() {
                "" => Ok(None),
                s => s
                    .parse::<i32>()
                    .ok()
                    .filter(|c| (1..=MAX_CAPACITY).contains(c))
                    .map(Some)
                    .ok_or_else(|| {
                        format!("Capacity must be empty or a number from 1 to {MAX_CAPACITY}.")
                    }),
            },
        );
        let members_only = e.take(
            "visibility",
            match self.visibility.as_str() {
                "public" => Ok(false),
                "members" => Ok(true),
                _ => Err("Choose public or members only.".to_string()),
            },
        );
        e.clone().into_result()?;
        Ok(ValidEvent {
            title: title.unwrap(),
            description: description.unwrap(),
            starts_at: starts_at.unwrap(),
            duration_minutes: duration.unwrap(),
            time_zone: tz.unwrap(),
            capacity: capacity.unwrap(),
            members_only: members_only.unwrap(),
        })
    }
}

// --- what pages and the API show ----------------------------------------------------------

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: String,
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
            id: r.id,
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

pub use super::paging::Page;

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
fn parse_cursor(cursor: Option<&str>) -> Result<Option<Cursor>> {
    cursor
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()
}

fn paginate(rows: Vec<EventRow>, limit: i64) -> Result<Page<EventView>> {
    let (rows, more) = super::paging::split(rows, limit);
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

// --- use cases ----------------------------------------------------------------------------

fn require_organizer(session: &Session) -> Result<()> {
    if !session.user.can_organize() {
        return Err(forbidden("Only organizers can create events."));
    }
    if !session.user.verified {
        return Err(forbidden(
            "Confirm your email address before creating events.",
        ));
    }
    Ok(())
}

pub async fn create(core: &Core, session: &Session, input: &EventInput) -> Result<EventView> {
    require_organizer(session)?;
    let valid = input.validate(core.clock.now(), None)?;
    let id = new_id();
    let now = core.clock.now_ms();
    // The organizer's mail and the reminders commit with the event, or not at all.
    let mut change = Change::new(now);
    let (jobs, _) = email::reminders(&id, valid.starts_at.timestamp_millis(), now);
    change.effects.jobs = jobs;
    change.effects.mails.push(email::event_mail(
        email::EVENT_CREATED,
        &id,
        &session.user.id,
        0,
        now,
    ));
    let mut tx = core.store.begin().await?;
    tx.insert_event(&id, &session.user.id, &valid.fields(), now)
        .await?;
    core.commit(tx, change).await?;
    get_row(core, &id).await
}

async fn get_row(core: &Core, id: &str) -> Result<EventView> {
    core.store
        .event(id)
        .await?
        .map(EventView::try_from)
        .transpose()?
        .ok_or(Error::NotFound)
}

/// An event as `viewer` may see it: members-only events need a login.
pub async fn get(core: &Core, viewer: Option<&User>, id: &str) -> Result<EventView> {
    let id = parse_id(id)?;
    let event = get_row(core, &id).await?;
    if event.members_only && viewer.is_none() {
        return Err(Error::Unauthenticated);
    }
    Ok(event)
}

/// An event its owner (or an admin) may change.
pub async fn get_managed(core: &Core, session: &Session, id: &str) -> Result<EventView> {
    let event = get(core, Some(&session.user), id).await?;
    if !event.can_manage(&session.user) {
        return Err(forbidden("Only the event's organizer can do that."));
    }
    Ok(event)
}

/// Edits an event that has not started. A new time moves the reminders and tells every
/// registrant; a larger capacity gives the new seats to the waitlist, in the same transaction.
pub async fn update(
    core: &Core,
    session: &Session,
    id: &str,
    input: &EventInput,
) -> Result<EventView> {
    let event = get_managed(core, session, id).await?;
    let not_editable = || {
        Error::Conflict(format!(
            "A {} event can no longer be edited.",
            event.status.as_str()
        ))
    };
    if !event.editable() {
        return Err(not_editable());
    }
    let valid = input.validate(core.clock.now(), Some(event.starts_at))?;
    let now = core.clock.now_ms();
    let mut change = Change::new(now);
    if valid.starts_at != event.starts_at || valid.duration_minutes != event.duration_minutes {
        let (jobs, unschedule) =
            email::reminders(&event.id, valid.starts_at.timestamp_millis(), now);
        change.effects.jobs = jobs;
        change.effects.unschedule = unschedule;
        change.effects.jobs.push(email::notify_registrants(
            &event.id,
            email::EVENT_UPDATED,
            i64::from(event.sequence) + 1,
            now,
        ));
    }
    let mut tx = core.store.begin().await?;
    if !tx.update_event(&event.id, &valid.fields(), now).await? {
        return Err(not_editable());
    }
    if let Some(capacity) = tx.lock_open_event(&event.id).await? {
        registrations::fill_free_seats(&mut tx, &event.id, capacity, &mut change).await?;
    }
    core.commit(tx, change).await?;
    get_row(core, &event.id).await
}

/// Cancels an event on its organizer's word.
pub async fn cancel(core: &Core, session: &Session, id: &str) -> Result<EventView> {
    let event = get_managed(core, session, id).await?;
    if !apply_cancel(core, &event).await? {
        return Err(Error::Conflict(format!(
            "This event has already {}.",
            match event.status {
                Status::Cancelled => "been cancelled",
                _ => "ended",
            }
        )));
    }
    get_row(core, &event.id).await
}

/// Cancels an event whose organizer deletes their account: the same step, mail and notice
/// as a cancellation by hand. An event that has meanwhile ended or been cancelled is left.
pub(crate) async fn cancel_as_owner_leaves(core: &Core, id: &str) -> Result<()> {
    apply_cancel(core, &get_row(core, id).await?).await?;
    Ok(())
}

/// Cancellation with its effects: registrants mailed (one job), reminders and end jobs
/// dropped, the live room told. False if the event had already ended or been cancelled.
async fn apply_cancel(core: &Core, event: &EventView) -> Result<bool> {
    let now = core.clock.now_ms();
    let mut change = Change::new(now);
    change.effects.jobs.push(email::notify_registrants(
        &event.id,
        email::EVENT_CANCELLED,
        i64::from(event.sequence) + 1,
        now,
    ));
    change.effects.unschedule = live::transition_unschedules(&event.id, Transition::End);
    change
        .notices
        .push(live::status_notice(&event.id, Status::Cancelled));
    let mut tx = core.store.begin().await?;
    if !tx.cancel_event(&event.id, now).await? {
        return Ok(false);
    }
    core.commit(tx, change).await?;
    Ok(true)
}

/// Moves an event along its lifecycle; only one of several concurrent callers succeeds.
pub async fn transition(
    core: &Core,
    session: &Session,
    id: &str,
    t: Transition,
) -> Result<EventView> {
    let event = get_managed(core, session, id).await?;
    if !apply_transition(core, &event, t).await? {
        return Err(Error::Conflict(format!(
            "The event is {}, so it cannot become {}.",
            event.status.as_str(),
            t.endpoints().1.as_str()
        )));
    }
    get_row(core, &event.id).await
}

/// The step itself, for the organizer's request and for the auto-stop job: compare-and-set
/// with its effects in one transaction, then the room is told. False if the event was not in
/// the step's starting state.
pub(crate) async fn apply_transition(
    core: &Core,
    event: &EventView,
    t: Transition,
) -> Result<bool> {
    let (from, to) = t.endpoints();
    let now = core.clock.now_ms();
    let mut change = Change::new(now);
    change.effects.unschedule = live::transition_unschedules(&event.id, t);
    if t == Transition::GoLive {
        // Every registrant hears of it (one job, whatever their number), and the session's
        // clock starts: warnings and the automatic stop.
        change.effects.jobs.push(email::notify_registrants(
            &event.id,
            email::EVENT_STARTED,
            now,
            now,
        ));
        let ends_at = live::stop_at(event.ends_at.timestamp_millis(), now);
        let (jobs, stale) = live::end_jobs(&event.id, ends_at, now);
        change.effects.jobs.extend(jobs);
        change.effects.unschedule.extend(stale);
    }
    change.notices.push(live::status_notice(&event.id, to));
    let mut tx = core.store.begin().await?;
    if !tx
        .transition_event(&event.id, from.as_str(), to.as_str(), now)
        .await?
    {
        return Ok(false);
    }
    core.commit(tx, change).await?;
    Ok(true)
}

pub async fn list(
    core: &Core,
    viewer: Option<&User>,
    section: Section,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<EventView>> {
    let after = parse_cursor(cursor)?;
    let rows = core
        .store
        .list_events(
            section,
            viewer.is_some(),
            core.clock.now_ms(),
            after.as_ref(),
            limit,
        )
        .await?;
    paginate(rows, limit)
}

pub async fn mine(
    core: &Core,
    session: &Session,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<EventView>> {
    let after = parse_cursor(cursor)?;
    let rows = core
        .store
        .events_by_owner(&session.user.id, after.as_ref(), limit)
        .await?;
    paginate(rows, limit)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn descriptions_keep_line_breaks_and_drop_other_controls() {
        let d = EventDescription::parse("one\r\ntwo\rthree\u{7}\tfour").unwrap();
        assert_eq!(d.0, "one\ntwo\nthree\tfour");
        assert!(
            EventDescription::parse(&"é".repeat(5000)).is_ok(),
            "5,000 characters, not bytes"
        );
        assert!(EventDescription::parse(&"é".repeat(5001)).is_err());
    }

    #[test]
    fn local_times_convert_through_daylight_saving() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            local_to_utc("2030-01-15T18:00", berlin).unwrap(),
            Utc.with_ymd_and_hms(2030, 1, 15, 17, 0, 0).unwrap()
        );
        assert_eq!(
            local_to_utc("2030-07-15T18:00", berlin).unwrap(),
            Utc.with_ymd_and_hms(2030, 7, 15, 16, 0, 0).unwrap()
        );
        // 02:30 does not exist on the spring-forward night; 02:30 in autumn happens twice.
        assert!(local_to_utc("2030-03-31T02:30", berlin).is_err());
        assert_eq!(
            local_to_utc("2030-10-27T02:30", berlin).unwrap(),
            Utc.with_ymd_and_hms(2030, 10, 27, 0, 30, 0).unwrap()
        );
    }

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
