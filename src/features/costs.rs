//! What events cost on Amazon IVS: an estimate before going live (from registrations and
//! duration), what this month's events used (measured by each stage's reconcile, at the
//! prices the operator configured), the operator's monthly ceiling past which nothing goes
//! live on IVS, and an event's viewer cap. AWS's own bill arrives a day late (Cost
//! Explorer), too late to stop a month from running over, so these figures are meetstage's.
//! The embedded provider costs nothing per person and has none of this.

use chrono::{Datelike, TimeZone, Utc};

use crate::{
    config::Usd,
    features::{
        Core, Error, FieldErrors, Result,
        accounts::Session,
        events::{EventView, Status},
        ids::EventId,
    },
    media::MediaProvider,
};

/// Chat messages each person is expected to send, for the estimate.
pub const MESSAGES_PER_PERSON: i64 = 6;
/// How long presenters are expected in the green room before going live, for the estimate.
pub const GREEN_ROOM_MINUTES: i64 = 30;
/// The longest gap between two looks at a stage that is counted as used (a reconcile that did
/// not run for a while, the process down): beyond it, IVS's own bill is the truth.
pub const MAX_SAMPLE_GAP_MS: i64 = 10 * 60_000;
/// The largest viewer cap: IVS's default limit of subscribers on one stage.
pub const MAX_VIEWER_CAP: i32 = 10_000;

const MS_PER_HOUR: i64 = 3_600_000;

/// Whether this deployment runs anything of an event on IVS (stage or chat room).
pub fn on_ivs(core: &Core) -> bool {
    matches!(core.media, MediaProvider::Ivs(_)) || core.chat.ivs().is_some()
}

/// One line of an estimate or a month: what, how much, and what it costs where a price is
/// configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub what: &'static str,
    pub quantity: String,
    pub cost: Option<Usd>,
}

/// An event's expected cost on IVS, for its organizer before it goes live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    pub lines: Vec<Line>,
    /// The sum, when every line has a price.
    pub total: Option<Usd>,
    /// The sum of the lines that have a price.
    pub priced: Usd,
    /// How the people were counted.
    pub basis: String,
}

/// What this month's events used on IVS so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Month {
    /// E.g. "December 2026".
    pub name: String,
    pub spent: Option<Usd>,
    pub ceiling: Option<Usd>,
    pub participant_hours: String,
}

impl Month {
    pub fn reached(&self) -> bool {
        matches!((self.spent, self.ceiling), (Some(s), Some(c)) if s >= c)
    }
}

/// What the organizer sees about cost on the event page and in the green room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostView {
    pub estimate: Estimate,
    pub month: Month,
    /// Said when the month, with this event as estimated, would pass the ceiling.
    pub warning: Option<String>,
    pub viewer_cap: Option<i32>,
}

impl CostView {
    pub fn total_text(&self) -> String {
        let e = &self.estimate;
        match (e.total, e.lines.iter().any(|l| l.cost.is_some())) {
            (Some(t), _) => format!("about {t}"),
            (None, false) => "no IVS price configured (quantities below)".into(),
            (None, true) => format!(
                "about {}, plus the lines without a configured price",
                e.priced
            ),
        }
    }

    pub fn month_text(&self) -> String {
        let m = &self.month;
        match (m.spent, m.ceiling) {
            (Some(s), Some(c)) => format!(
                "{}: {s} used of the {c} monthly ceiling ({} participant-hours).",
                m.name, m.participant_hours
            ),
            (Some(s), None) => format!(
                "{}: {s} used ({} participant-hours).",
                m.name, m.participant_hours
            ),
            (None, _) => format!(
                "{}: {} participant-hours used.",
                m.name, m.participant_hours
            ),
        }
    }

    pub fn cap_value(&self) -> String {
        self.viewer_cap.map(|c| c.to_string()).unwrap_or_default()
    }
}

/// Hours with one decimal, from a quantity in `unit`s per hour (minutes, milliseconds).
fn hours(amount: i64, per_hour: i64) -> String {
    let tenths = amount.saturating_mul(10) / per_hour.max(1);
    format!("{}.{}", tenths / 10, tenths % 10)
}

fn price(rate: Option<Usd>, amount: i64, per: i64) -> Option<Usd> {
    rate.map(|r| r.times(amount, per))
}

/// The sum, when every cost is known.
fn sum(costs: impl IntoIterator<Item = Option<Usd>>) -> Option<Usd> {
    costs
        .into_iter()
        .try_fold(Usd::default(), |acc, c| c.map(|c| acc.plus(c)))
}

/// The estimate for an event: everyone registered (at most the viewer cap) and its
/// presenters on the stage for its whole duration, the presenters in the green room
/// beforehand, one screen shared throughout, the recording, and chat through IVS Chat.
pub async fn estimate(core: &Core, event: &EventView) -> Result<Estimate> {
    let costs = &core.config.ivs_costs;
    let presenters = i64::try_from(core.store.presenter_ids(&event.id).await?.len()).unwrap_or(0);
    let registered = event.registered_count.max(0);
    let viewers = match event.viewer_cap {
        Some(cap) => registered.min(i64::from(cap)),
        None => registered,
    };
    let people = viewers.saturating_add(presenters);
    let minutes = i64::from(event.duration_minutes.max(0));
    let mut lines = Vec::new();
    if let MediaProvider::Ivs(ivs) = &core.media {
        let participant_minutes = people
            .saturating_mul(minutes)
            .saturating_add(presenters.saturating_mul(GREEN_ROOM_MINUTES))
            .saturating_add(minutes);
        lines.push(Line {
            what: "IVS Real-Time participant-hours",
            quantity: hours(participant_minutes, 60),
            cost: price(costs.participant_hour, participant_minutes, 60),
        });
        if event.record && ivs.records() {
            lines.push(Line {
                what: "IVS composition hours (the recording)",
                quantity: hours(minutes, 60),
                cost: price(costs.composition_hour, minutes, 60),
            });
        }
    }
    if core.chat.ivs().is_some() {
        let sent = people.saturating_mul(MESSAGES_PER_PERSON);
        let delivered = sent.saturating_mul(people);
        lines.push(Line {
            what: "IVS Chat messages sent and delivered",
            quantity: format!("{sent} sent, {delivered} delivered"),
            cost: costs
                .chat_per_1000
                .map(|(s, d)| s.times(sent, 1000).plus(d.times(delivered, 1000))),
        });
    }
    let capped = if viewers < registered {
        " (the viewer cap)"
    } else {
        ""
    };
    Ok(Estimate {
        total: sum(lines.iter().map(|l| l.cost)),
        priced: lines
            .iter()
            .filter_map(|l| l.cost)
            .fold(Usd::default(), Usd::plus),
        basis: format!(
            "{viewers} watching{capped} and {presenters} presenting for {minutes} minutes, \
             {GREEN_ROOM_MINUTES} minutes of green room, one shared screen, \
             {MESSAGES_PER_PERSON} chat messages each"
        ),
        lines,
    })
}

/// The calendar month (UTC) `now` falls in: its key (`YYYY-MM`), its name and its bounds.
pub fn month_of(now_ms: i64) -> (String, String, i64, i64) {
    let at = Utc
        .timestamp_millis_opt(now_ms)
        .single()
        .unwrap_or_default();
    let start = Utc
        .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let (y, m) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(start);
    (
        at.format("%Y-%m").to_string(),
        at.format("%B %Y").to_string(),
        start.timestamp_millis(),
        end.timestamp_millis(),
    )
}

/// What this month's events used on IVS, measured, at the configured prices.
pub async fn month(core: &Core) -> Result<Month> {
    let costs = &core.config.ivs_costs;
    let (key, name, from, to) = month_of(core.clock.now_ms());
    let usage = core.store.month_usage(&key).await?;
    let participant_ms = usage
        .iter()
        .fold(0i64, |a, u| a.saturating_add(u.participant_ms));
    let composition_ms = usage
        .iter()
        .fold(0i64, |a, u| a.saturating_add(u.composition_ms));
    let participants = price(costs.participant_hour, participant_ms, MS_PER_HOUR);
    let composition = price(costs.composition_hour, composition_ms, MS_PER_HOUR)
        .or((composition_ms == 0).then_some(Usd::default()));
    let mut chat = Some(Usd::default());
    if core.chat.ivs().is_some() {
        // Each relayed message is delivered to about as many as the event's stage had at
        // its fullest (at least one).
        let relayed = core.store.relayed_messages(from, to).await?;
        let (mut sent, mut delivered) = (0i64, 0i64);
        for (event, n) in relayed {
            let audience = usage
                .iter()
                .find(|u| u.event_id == event)
                .map_or(1, |u| u.audience.max(1));
            sent = sent.saturating_add(n);
            delivered = delivered.saturating_add(n.saturating_mul(audience));
        }
        chat = match costs.chat_per_1000 {
            Some((s, d)) => Some(s.times(sent, 1000).plus(d.times(delivered, 1000))),
            None if sent == 0 => Some(Usd::default()),
            None => None,
        };
    }
    Ok(Month {
        name,
        spent: sum([participants, composition, chat]),
        ceiling: costs.monthly_ceiling,
        participant_hours: hours(participant_ms, MS_PER_HOUR),
    })
}

/// What the organizer sees: the estimate, the month, and a warning when the event would take
/// the month past the ceiling. None where nothing runs on IVS.
pub async fn view(core: &Core, event: &EventView) -> Result<Option<CostView>> {
    if !on_ivs(core) {
        return Ok(None);
    }
    let estimate = estimate(core, event).await?;
    let month = month(core).await?;
    let warning = match (month.spent, month.ceiling, estimate.total) {
        (Some(s), Some(c), _) if s >= c => Some(format!(
            "This month's IVS use has reached the operator's ceiling of {c}: events cannot go live until next month, unless the operator raises it."
        )),
        (Some(s), Some(c), Some(t)) if s.plus(t) > c => Some(format!(
            "As estimated, this event would take the month past the operator's ceiling of {c}; once the ceiling is reached, no further event goes live on IVS this month. A viewer cap keeps the estimate down."
        )),
        _ => None,
    };
    Ok(Some(CostView {
        estimate,
        month,
        warning,
        viewer_cap: event.viewer_cap,
    }))
}

/// Refuses to open a green room or go live on IVS once the month has reached the ceiling.
pub async fn may_start(core: &Core) -> Result<()> {
    if !on_ivs(core) || core.config.ivs_costs.monthly_ceiling.is_none() {
        return Ok(());
    }
    let m = month(core).await?;
    if let (true, Some(spent), Some(ceiling)) = (m.reached(), m.spent, m.ceiling) {
        return Err(Error::Conflict(format!(
            "This deployment has used {spent} of Amazon IVS in {}, which reaches the operator's monthly ceiling of {ceiling}, so no event goes live on IVS until the month ends. Ask the operator to raise the ceiling (ivs_monthly_ceiling_usd).",
            m.name
        )));
    }
    Ok(())
}

/// Sets the event's viewer cap (None: no cap) while it has not ended.
pub async fn set_viewer_cap(
    core: &Core,
    session: &Session,
    id: &EventId,
    cap: Option<i32>,
) -> Result<EventView> {
    let event = super::events::get_managed(core, session, id).await?;
    if let Some(c) = cap
        && !(1..=MAX_VIEWER_CAP).contains(&c)
    {
        return Err(Error::Invalid(FieldErrors::single(
            "viewer_cap",
            format!(
                "Give a number of viewers from 1 to {MAX_VIEWER_CAP}, or leave it empty for no cap."
            ),
        )));
    }
    let now = core.clock.now_ms();
    let mut tx = core.store.begin().await?;
    if matches!(event.status, Status::Ended | Status::Cancelled)
        || !tx.set_viewer_cap(&event.id, cap, now).await?
    {
        return Err(Error::Conflict(
            "The event is over; its viewer cap no longer matters.".into(),
        ));
    }
    let said = cap.map_or_else(|| "none".to_string(), |c| c.to_string());
    tx.audit(
        &session.user.id,
        "event.viewer_cap",
        Some(&event.id),
        &said,
        now,
    )
    .await?;
    core.commit(tx, super::Change::new(now)).await?;
    super::events::get_row(core, &event.id).await
}

/// The refusal a viewer hears when the stage's places are taken.
pub fn full(cap: i32) -> Error {
    Error::Conflict(format!(
        "The stage is full: its organizer allowed {cap} people to watch at once. You can still follow the chat and ask questions; a place frees up when someone leaves, so try again in a minute."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_parse_and_show_to_the_cent() {
        assert_eq!(Usd::parse("0.072"), Some(Usd(72_000_000)));
        assert_eq!(Usd::parse("12"), Some(Usd(12_000_000_000)));
        assert_eq!(Usd::parse(".5"), Some(Usd(500_000_000)));
        assert_eq!(Usd::parse("0.0000000001"), None, "ten decimals");
        assert_eq!(Usd::parse("-1"), None);
        assert_eq!(Usd::parse("1e3"), None);
        assert_eq!(Usd::parse(""), None);
        assert_eq!(Usd::parse("."), None);
        assert_eq!(Usd::parse("1000001"), None, "over a million");
        assert_eq!(
            Usd(72_000_000).times(102, 1).to_string(),
            "$7.35",
            "rounded up"
        );
        assert_eq!(Usd(1).to_string(), "under $0.01");
        assert_eq!(Usd(0).to_string(), "$0.00");
        assert_eq!(Usd(i64::MAX).times(i64::MAX, 1), Usd(i64::MAX), "saturates");
    }

    #[test]
    fn months_have_keys_names_and_bounds() {
        let dec = Utc
            .with_ymd_and_hms(2026, 12, 31, 23, 59, 0)
            .unwrap()
            .timestamp_millis();
        let (key, name, from, to) = month_of(dec);
        assert_eq!((key.as_str(), name.as_str()), ("2026-12", "December 2026"));
        assert_eq!(
            from,
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            to,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(hours(102 * 60 + 3, 60), "102.0");
        assert_eq!(hours(90, 60), "1.5");
    }
}
