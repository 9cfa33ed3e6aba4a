//! Attendance from the room's real presence (the visits each instance records as people come
//! and go), never from registrations: per person the first arrival, the last departure and
//! the minutes watched while the event was live; the unique and peak audience; questions and
//! chat.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::{
    features::{
        Core, Error, Result,
        accounts::{Session, User},
        events::{self, EventView},
        ids::EventId,
    },
    store::recap::{RoomFigures, VisitRow},
};

/// One person's time in the room.
#[derive(Clone, Debug)]
pub struct Attendee {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub first_joined: DateTime<Utc>,
    /// None while they are still in the room.
    pub last_left: Option<DateTime<Utc>>,
    /// Minutes in the room while the event was live (several tabs or visits count once).
    pub minutes: u32,
    pub asked: i64,
    pub answered: i64,
    pub messages: i64,
}

/// The whole room, for the organizer's report and the recap's figures.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Signed-in people who were in the room while it was live.
    pub people: usize,
    /// Times guests came in (guests are counted, not named).
    pub guest_visits: i64,
    /// The largest audience at once, guests included.
    pub peak: i64,
    pub questions: i64,
    pub answered: i64,
    pub messages: i64,
    /// Minutes the event was live.
    pub live_minutes: u32,
}

pub struct Report {
    pub event: EventView,
    pub figures: Figures,
    pub attendees: Vec<Attendee>,
}

/// The attendance report of an event its organizer (or an admin) manages.
pub async fn report(core: &Core, session: &Session, id: &EventId) -> Result<Report> {
    let event = events::get_managed(core, session, id).await?;
    let (figures, attendees) = compute(core, &event.id).await?;
    Ok(Report {
        event,
        figures,
        attendees,
    })
}

/// A certificate of attendance: the person watched the event while it was live.
pub struct Certificate {
    pub event: EventView,
    pub name: String,
    pub minutes: u32,
    pub live_minutes: u32,
}

pub async fn certificate(core: &Core, user: &User, id: &EventId) -> Result<Certificate> {
    let event = events::get(core, Some(user), id).await?;
    if event.status.as_str() != "ended" {
        return Err(Error::Conflict(
            "A certificate of attendance is ready once the event has ended.".into(),
        ));
    }
    let (figures, attendees) = compute(core, &event.id).await?;
    let me = attendees
        .into_iter()
        .find(|a| a.user_id == user.id && a.minutes > 0)
        .ok_or_else(|| {
            Error::Forbidden(
                "There is no certificate for you: you were not in this event's room while it was live."
                    .into(),
            )
        })?;
    Ok(Certificate {
        event,
        name: user.display_name.clone(),
        minutes: me.minutes,
        live_minutes: figures.live_minutes,
    })
}

/// The figures and the per-person rows of an event, from its visits.
pub async fn compute(core: &Core, event_id: &str) -> Result<(Figures, Vec<Attendee>)> {
    let room = core.store.room_figures(event_id).await?;
    let visits = core.store.visits(event_id).await?;
    let parts = core.store.taking_part(event_id).await?;
    let now = core.clock.now_ms();
    let window = live_window(&room, now);
    let mut people: BTreeMap<&str, Vec<&VisitRow>> = BTreeMap::new();
    for v in &visits {
        people.entry(v.user_id.as_str()).or_default().push(v);
    }
    let mut attendees = Vec::with_capacity(people.len());
    let mut spans = Vec::new();
    for (user, mine) in people {
        let merged = merge(mine.iter().map(|v| (v.joined_at, v.left_at.unwrap_or(now))));
        let watched: i64 = window.map_or(0, |w| {
            merged
                .iter()
                .map(|&(a, b)| (b.min(w.1) - a.max(w.0)).max(0))
                .sum()
        });
        spans.extend(merged);
        let first = mine[0];
        let still_here = mine.iter().any(|v| v.left_at.is_none());
        let part = parts.iter().find(|p| p.user_id == user);
        attendees.push(Attendee {
            user_id: user.to_string(),
            name: first.display_name.clone(),
            email: first.email.clone(),
            first_joined: at(mine.iter().map(|v| v.joined_at).min().unwrap_or(0)),
            last_left: (!still_here)
                .then(|| mine.iter().filter_map(|v| v.left_at).max())
                .flatten()
                .map(at),
            minutes: minutes(watched),
            asked: part.map_or(0, |p| p.asked),
            answered: part.map_or(0, |p| p.answered),
            messages: part.map_or(0, |p| p.messages),
        });
    }
    attendees.sort_by(|a, b| b.minutes.cmp(&a.minutes).then(a.name.cmp(&b.name)));
    let figures = Figures {
        people: attendees.iter().filter(|a| a.minutes > 0).count(),
        guest_visits: i64::from(room.guest_visits),
        peak: i64::from(room.peak_attendees).max(peak(&spans)),
        questions: parts.iter().map(|p| p.asked).sum(),
        answered: parts.iter().map(|p| p.answered).sum(),
        messages: parts.iter().map(|p| p.messages).sum(),
        live_minutes: window.map_or(0, |(a, b)| minutes(b - a)),
    };
    Ok((figures, attendees))
}

/// When the event was live (ms), if it went live: until it ended, or until now.
fn live_window(room: &RoomFigures, now: i64) -> Option<(i64, i64)> {
    let from = room.live_at?;
    Some((from, room.ended_at.unwrap_or(now).max(from)))
}

/// One person's visits as disjoint spans (two tabs at once count once).
fn merge(visits: impl Iterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = visits.filter(|(a, b)| b >= a).collect();
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The most spans open at once (each person's spans are already disjoint).
fn peak(spans: &[(i64, i64)]) -> i64 {
    let mut edges: Vec<(i64, i64)> = spans.iter().flat_map(|&(a, b)| [(a, 1), (b, -1)]).collect();
    // A departure at the same instant as an arrival comes first.
    edges.sort_unstable();
    let (mut now, mut most) = (0i64, 0i64);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most
}

/// Whole minutes, rounded to the nearest; a visit of any length under half a minute is 0.
fn minutes(ms: i64) -> u32 {
    u32::try_from(ms.max(0).saturating_add(30_000) / 60_000).unwrap_or(u32::MAX)
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The report as CSV; cells a spreadsheet would run as a formula are defused.
pub fn to_csv(attendees: &[Attendee]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "name",
        "email",
        "first_joined",
        "last_left",
        "minutes_watched",
        "questions_asked",
        "questions_answered",
        "chat_messages",
    ])
    .map_err(anyhow::Error::from)?;
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for a in attendees {
        w.write_record([
            crate::features::registrations::defuse(&a.name),
            crate::features::registrations::defuse(&a.email),
            time(&a.first_joined),
            a.last_left.as_ref().map(time).unwrap_or_default(),
            a.minutes.to_string(),
            a.asked.to_string(),
            a.answered.to_string(),
            a.messages.to_string(),
        ])
        .map_err(anyhow::Error::from)?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))?;
    Ok(String::from_utf8(bytes).map_err(anyhow::Error::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_and_visits_of_one_person_count_once() {
        assert_eq!(
            merge([(10, 20), (15, 30), (40, 50)].into_iter()),
            vec![(10, 30), (40, 50)]
        );
        assert_eq!(peak(&[(0, 10), (5, 15), (10, 20)]), 2);
        assert_eq!(peak(&[]), 0);
        assert_eq!(minutes(89_999), 1);
        assert_eq!(minutes(90_000), 2);
        assert_eq!(minutes(-5), 0);
    }
}
