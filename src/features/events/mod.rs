//! Events: creation, editing, cancellation, listing and the lifecycle
//! `scheduled → staging → live → ended` (and `cancelled` from any state before `ended`).

mod input;
mod view;

pub use input::{EventDescription, EventInput, EventTitle, ValidEvent, local_to_utc};
pub use view::{EventView, Status, Transition, parse_section};

use super::{
    Change, Core, Error, Result,
    accounts::{Session, User},
    email, forbidden,
    ids::EventId,
    live::{self, Phase},
    registrations,
};
use view::{paginate, parse_cursor};

pub use super::paging::Page;
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
    let id = EventId::new();
    let now = core.clock.now_ms();
    // The organizer's mail and the reminders commit with the event, or not at all.
    let mut change = Change::new(now);
    let (jobs, _) = email::reminders(&id, valid.starts_at.timestamp_millis(), now);
    change.effects.jobs = jobs;
    change.effects.mails.push(email::event_mail(
        email::Purpose::EventCreated,
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

pub(crate) async fn get_row(core: &Core, id: &str) -> Result<EventView> {
    core.store
        .event(id)
        .await?
        .map(EventView::try_from)
        .transpose()?
        .ok_or(Error::NotFound)
}

/// An event as `viewer` may see it: members-only events need a login.
pub async fn get(core: &Core, viewer: Option<&User>, id: &EventId) -> Result<EventView> {
    let event = get_row(core, id).await?;
    if event.members_only && viewer.is_none() {
        return Err(Error::Unauthenticated);
    }
    Ok(event)
}

/// An event its owner (or an admin) may change.
pub async fn get_managed(core: &Core, session: &Session, id: &EventId) -> Result<EventView> {
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
    id: &EventId,
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
            email::Purpose::EventUpdated,
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
pub async fn cancel(core: &Core, session: &Session, id: &EventId) -> Result<EventView> {
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
        email::Purpose::EventCancelled,
        i64::from(event.sequence) + 1,
        now,
    ));
    change.effects.unschedule = live::transition_unschedules(&event.id, Transition::End);
    change.notify(&event.id, live::Notice::Lifecycle { to: Phase::Over });
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
    id: &EventId,
    t: Transition,
) -> Result<EventView> {
    let event = get_managed(core, session, id).await?;
    if matches!(t, Transition::OpenGreenRoom | Transition::GoLive) {
        crate::features::costs::may_start(core).await?;
    }
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
            email::Purpose::EventStarted,
            now,
            now,
        ));
        let ends_at = live::stop_at(
            event.ends_at.timestamp_millis(),
            event.duration_minutes,
            now,
        );
        let (jobs, stale) = live::end_jobs(&event.id, ends_at, now);
        change.effects.jobs.extend(jobs);
        change.effects.unschedule.extend(stale);
    }
    if t == Transition::End {
        // Registrants get the recap: at once while no recording is made to wait for.
        change
            .effects
            .jobs
            .push(super::recap::mail_job(&event.id, now));
        change
            .effects
            .jobs
            .extend(super::recap::publish_job(core, now));
    }
    // Too little disk to record: the event goes live unrecorded, and the presenters hear why.
    let refused = match t {
        Transition::GoLive if event.record => crate::features::recordings::refusal(core),
        _ => None,
    };
    change.notify(&event.id, live::Notice::Lifecycle { to: t.phase() });
    let mut tx = core.store.begin().await?;
    if let Some(why) = &refused {
        tx.set_record(&event.id, false, now).await?;
        tx.recording_refused(&event.id, why, now).await?;
    }
    if !tx
        .transition_event(&event.id, from.as_str(), to.as_str(), now)
        .await?
    {
        return Ok(false);
    }
    if let Some(why) = &refused {
        tracing::warn!(event.id = %event.id, reason = %why, "recording refused");
        let text = format!(
            "This event is not being recorded: {why}. Free some space on the server to record the next one."
        );
        live::chat::presenters_notice(&mut tx, &mut change, &event.id, &text).await?;
    }
    let said = match t {
        Transition::OpenGreenRoom => "The presenters are getting ready.",
        Transition::GoLive => "The event is live.",
        Transition::End => "The event has ended. Thank you for joining!",
    };
    live::chat::system(&mut tx, &mut change, &event.id, said).await?;
    core.commit(tx, change).await?;
    Ok(true)
}

/// Turns recording on or off for an event that has not gone live yet.
pub async fn set_recording(
    core: &Core,
    session: &Session,
    id: &EventId,
    record: bool,
) -> Result<EventView> {
    let event = get_managed(core, session, id).await?;
    let now = core.clock.now_ms();
    let mut change = Change::new(now);
    change.notify(&event.id, live::Notice::Status);
    let mut tx = core.store.begin().await?;
    if !tx.set_record(&event.id, record, now).await? {
        return Err(Error::Conflict(
            "Recording is switched on or off before the event goes live.".into(),
        ));
    }
    tx.audit(
        &session.user.id,
        if record {
            "event.recording_on"
        } else {
            "event.recording_off"
        },
        Some(&event.id),
        "",
        now,
    )
    .await?;
    core.commit(tx, change).await?;
    get_row(core, &event.id).await
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
