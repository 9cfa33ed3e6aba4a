//! The event form, parsed at the edge: every field checked at once, the start converted
//! from the organizer's zone to UTC and bounded, so only a [`ValidEvent`] reaches the store.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{
    MAX_CAPACITY, MAX_DESCRIPTION, MAX_DURATION, MAX_TITLE, MAX_YEARS_AHEAD, MIN_DURATION,
};
use crate::{
    features::{FieldErrors, Result, validation::single_line},
    store::events::EventFields,
};

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
    #[serde(deserialize_with = "crate::features::validation::lenient_text")]
    #[schema(value_type = u32)]
    pub duration_minutes: String,
    /// Empty or null for no limit.
    #[serde(deserialize_with = "crate::features::validation::lenient_text")]
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
    pub(super) title: EventTitle,
    pub(super) description: EventDescription,
    pub(super) starts_at: DateTime<Utc>,
    pub(super) duration_minutes: i32,
    pub(super) time_zone: Tz,
    pub(super) capacity: Option<i32>,
    pub(super) members_only: bool,
}

impl ValidEvent {
    pub(super) fn fields(&self) -> EventFields<'_> {
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
}
