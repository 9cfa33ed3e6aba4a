//! iCalendar (RFC 5545) for events: the download on each event page, the invite attached to
//! confirmation, update and cancellation mail, and the community's subscribable feed. The
//! icalendar crate escapes TEXT values and folds lines at 75 octets.

use icalendar::{Calendar, Component, Event as IcsEvent, EventLike, EventStatus};

use super::events::{EventView, Status};
use crate::config::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A feed or a download: no scheduling semantics.
    Publish,
    /// An invitation (confirmation or update) to one attendee.
    Request,
    /// The event was cancelled.
    Cancel,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Publish => "PUBLISH",
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// One address part of the From header, for ORGANIZER.
fn organizer_address(config: &Config) -> String {
    let from = &config.mail_from;
    match (from.find('<'), from.find('>')) {
        (Some(a), Some(b)) if a < b => from[a + 1..b].to_string(),
        _ => from.trim().to_string(),
    }
}

/// The same UID for an event forever, so calendar clients replace rather than duplicate it.
pub fn uid(config: &Config, event_id: &str) -> String {
    format!(
        "{event_id}@{}",
        config.base_url.host_str().unwrap_or("meetstage.invalid")
    )
}

fn vevent(
    config: &Config,
    e: &EventView,
    method: Method,
    attendee: Option<(&str, &str)>,
    stamp: chrono::DateTime<chrono::Utc>,
) -> IcsEvent {
    let page = config.link(&format!("/events/{}", e.id));
    let description = if e.description.is_empty() {
        page.clone()
    } else {
        format!("{}\n\n{page}", e.description)
    };
    let mut ev = IcsEvent::new();
    ev.uid(&uid(config, &e.id))
        .timestamp(stamp)
        .starts(e.starts_at)
        .ends(e.ends_at)
        .sequence(u32::try_from(e.sequence).unwrap_or(0))
        .summary(&e.title)
        .description(&description)
        .url(&page)
        .status(
            if method == Method::Cancel || e.status == Status::Cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            },
        )
        .add_property("ORGANIZER", format!("mailto:{}", organizer_address(config)));
    if let Some((name, email)) = attendee {
        ev.append_multi_property(
            icalendar::Property::new("ATTENDEE", format!("mailto:{email}"))
                .add_parameter("CN", &param_value(name))
                .add_parameter("RSVP", "FALSE")
                .done(),
        );
    }
    ev.done()
}

/// A parameter value (RFC 5545 §3.1): the crate writes parameters as given, so a name with a
/// quote, `;`, `:` or `,` could otherwise end the parameter and start new ones. Quotes and
/// control characters go; a value with the other separators is quoted.
fn param_value(raw: &str) -> String {
    let clean: String = raw
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    if clean.contains([';', ':', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

fn calendar(config: &Config, method: Method) -> Calendar {
    let mut cal = Calendar::empty();
    cal.append_property(("VERSION", "2.0"))
        .append_property((
            "PRODID",
            format!("-//meetstage//{}//EN", config.branding.community_name).as_str(),
        ))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", method.as_str()));
    cal
}

/// One event as a calendar file.
pub fn event_ics(
    config: &Config,
    e: &EventView,
    method: Method,
    attendee: Option<(&str, &str)>,
    stamp: chrono::DateTime<chrono::Utc>,
) -> String {
    let mut cal = calendar(config, method);
    cal.push(vevent(config, e, method, attendee, stamp));
    cal.done().to_string()
}

/// The community's feed of upcoming public events.
pub fn feed(config: &Config, events: &[EventView], stamp: chrono::DateTime<chrono::Utc>) -> String {
    let mut cal = calendar(config, Method::Publish);
    cal.append_property(("X-WR-CALNAME", config.branding.community_name.as_str()));
    for e in events {
        cal.push(vevent(config, e, Method::Publish, None, stamp));
    }
    cal.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::param_value;

    #[test]
    fn parameter_values_cannot_inject_parameters() {
        assert_eq!(param_value("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(
            param_value("Eve\";ROLE=CHAIR;X=\"y"),
            "\"Eve;ROLE=CHAIR;X=y\""
        );
        assert_eq!(
            param_value("Mallory\r\nATTENDEE:x"),
            "\"MalloryATTENDEE:x\""
        );
    }
}
