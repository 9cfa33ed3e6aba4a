//! Which mail goes to whom, and what it says. Mails are planned here as outbox rows (written
//! by the store in the same transaction as their cause) and rendered here at delivery time,
//! from the current state: a reminder for an event that was cancelled meanwhile is skipped.

use chrono::Duration;
use serde::{Deserialize, Serialize};

mod render;

pub use render::{Rendered, render};

use super::{Core, Result, events::Status};
use crate::{
    jobs::Job,
    store::{NewJob, outbox::NewMail},
};

/// Why a mail is sent: it decides the words, the category and whether it can be switched off.
/// Stored as its snake_case name (`Purpose::as_str`); a name no variant matches fails loudly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum Purpose {
    VerifyEmail,
    ChangeEmail,
    ResetPassword,
    AccountLocked,
    AccountExists,
    EventCreated,
    RegistrationConfirmed,
    Waitlisted,
    Reminder24h,
    Reminder1h,
    EventUpdated,
    EventCancelled,
    EventStarted,
    Recap,
}

impl Purpose {
    pub const ALL: [Purpose; 14] = [
        Purpose::VerifyEmail,
        Purpose::ChangeEmail,
        Purpose::ResetPassword,
        Purpose::AccountLocked,
        Purpose::AccountExists,
        Purpose::EventCreated,
        Purpose::RegistrationConfirmed,
        Purpose::Waitlisted,
        Purpose::Reminder24h,
        Purpose::Reminder1h,
        Purpose::EventUpdated,
        Purpose::EventCancelled,
        Purpose::EventStarted,
        Purpose::Recap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ChangeEmail => "change_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::AccountLocked => "account_locked",
            Purpose::AccountExists => "account_exists",
            Purpose::EventCreated => "event_created",
            Purpose::RegistrationConfirmed => "registration_confirmed",
            Purpose::Waitlisted => "waitlisted",
            Purpose::Reminder24h => "reminder_24h",
            Purpose::Reminder1h => "reminder_1h",
            Purpose::EventUpdated => "event_updated",
            Purpose::EventCancelled => "event_cancelled",
            Purpose::EventStarted => "event_started",
            Purpose::Recap => "recap",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The category a person can switch off; None for account mail, which always goes out.
    pub fn category(self) -> Option<Category> {
        match self {
            Purpose::Reminder24h | Purpose::Reminder1h => Some(Category::Reminders),
            Purpose::EventCreated
            | Purpose::RegistrationConfirmed
            | Purpose::Waitlisted
            | Purpose::EventUpdated
            | Purpose::EventCancelled
            | Purpose::EventStarted
            | Purpose::Recap => Some(Category::EventNews),
            Purpose::VerifyEmail
            | Purpose::ChangeEmail
            | Purpose::ResetPassword
            | Purpose::AccountLocked
            | Purpose::AccountExists => None,
        }
    }
}

/// One spelling everywhere (outbox rows, job payloads): the one `as_str` gives.
impl From<Purpose> for &'static str {
    fn from(p: Purpose) -> &'static str {
        p.as_str()
    }
}

impl TryFrom<String> for Purpose {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Purpose, String> {
        Purpose::parse(&s).ok_or_else(|| format!("unknown mail purpose {s:?}"))
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a person can switch off. Account mail belongs to no category and always goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Reminders,
    EventNews,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Reminders => "reminders",
            Category::EventNews => "event_news",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        match s {
            "reminders" => Some(Category::Reminders),
            "event_news" => Some(Category::EventNews),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::Reminders => "reminders before events",
            Category::EventNews => "news about events (confirmations, changes, cancellations)",
        }
    }
}

/// The signed one-click unsubscribe link for a user and category.
pub fn unsubscribe_link(core: &Core, user_id: &str, category: Category) -> String {
    let sig = core.sign(&["unsubscribe", user_id, category.as_str()]);
    core.config.link(&format!(
        "/unsubscribe?u={user_id}&c={}&s={sig}",
        category.as_str()
    ))
}

/// Turns a category off from a signed link; false when the link is not genuine.
pub async fn unsubscribe(
    core: &Core,
    user_id: &str,
    category: &str,
    signature: &str,
) -> Result<Option<Category>> {
    let Some(category) = Category::parse(category) else {
        return Ok(None);
    };
    if !core.verify(&["unsubscribe", user_id, category.as_str()], signature) {
        return Ok(None);
    }
    let (mut reminders, mut news) = core.store.mail_preferences(user_id).await?;
    match category {
        Category::Reminders => reminders = false,
        Category::EventNews => news = false,
    }
    core.store
        .set_mail_preferences(user_id, reminders, news, core.clock.now_ms())
        .await?;
    Ok(Some(category))
}

/// Which categories of mail a person gets: (reminders, event news).
pub async fn preferences(core: &Core, user_id: &str) -> Result<(bool, bool)> {
    Ok(core.store.mail_preferences(user_id).await?)
}

pub async fn set_preferences(
    core: &Core,
    user_id: &str,
    reminders: bool,
    event_news: bool,
) -> Result<()> {
    Ok(core
        .store
        .set_mail_preferences(user_id, reminders, event_news, core.clock.now_ms())
        .await?)
}

/// Extra data a mail needs beyond the user and the event. A link token lives here only until
/// the mail is sent.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Payload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// A place on the waitlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
}

/// An account mail (confirmation, reset, lockout). `key` must be unique per intended mail.
pub fn account_mail(
    purpose: Purpose,
    user_id: &str,
    to: Option<&str>,
    payload: Payload,
    key: String,
    now: i64,
) -> NewMail {
    NewMail {
        key: format!("{purpose}:{user_id}:{key}"),
        purpose: purpose.as_str(),
        user_id: user_id.to_string(),
        event_id: None,
        to_address: to.map(str::to_string),
        payload: serde_json::to_string(&payload).unwrap_or_else(|_| "{}".into()),
        now,
    }
}

/// A mail about an event to one person; one per purpose, person and `version`.
pub fn event_mail(
    purpose: Purpose,
    event_id: &str,
    user_id: &str,
    version: impl std::fmt::Display,
    now: i64,
) -> NewMail {
    NewMail {
        key: format!("{purpose}:{event_id}:{user_id}:{version}"),
        purpose: purpose.as_str(),
        user_id: user_id.to_string(),
        event_id: Some(event_id.to_string()),
        to_address: None,
        payload: "{}".into(),
        now,
    }
}

/// The confirmation for whoever gets a seat (registered, or moved up from the waitlist).
pub fn confirmation(event_id: &str, user_id: &str, now: i64) -> NewMail {
    event_mail(Purpose::RegistrationConfirmed, event_id, user_id, now, now)
}

/// "You are on the waitlist, number N."
pub fn waitlisted(event_id: &str, user_id: &str, position: i64, now: i64) -> NewMail {
    let mut mail = event_mail(Purpose::Waitlisted, event_id, user_id, now, now);
    mail.payload = serde_json::to_string(&Payload {
        position: Some(position),
        ..Payload::default()
    })
    .expect("plain data");
    mail
}

// --- jobs that fan out to every registrant --------------------------------------------------

/// Fan-outs write this many outbox rows per transaction.
const FANOUT_BATCH: i64 = 500;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanOut {
    pub event_id: String,
    pub purpose: Purpose,
    /// Distinguishes successive mails of the same purpose (the start time, the sequence).
    pub version: i64,
    /// A reminder is dropped rather than sent late once the event has started.
    #[serde(default)]
    pub starts_at: Option<i64>,
}

fn reminder_key(event_id: &str, purpose: Purpose) -> String {
    format!("{purpose}:{event_id}")
}

/// Reminder jobs for an event starting at `starts_at`: the ones still ahead are (re)scheduled,
/// the ones already past are cancelled.
pub fn reminders(event_id: &str, starts_at: i64, now: i64) -> (Vec<NewJob>, Vec<String>) {
    let mut jobs = Vec::new();
    let mut cancel = Vec::new();
    for (purpose, before) in [
        (Purpose::Reminder24h, Duration::hours(24)),
        (Purpose::Reminder1h, Duration::hours(1)),
    ] {
        let run_at = starts_at - before.num_milliseconds();
        let key = reminder_key(event_id, purpose);
        if run_at > now {
            let payload = FanOut {
                event_id: event_id.into(),
                purpose,
                version: starts_at,
                starts_at: Some(starts_at),
            };
            jobs.push(Job::Reminder(payload).at(run_at, Some(key)));
        } else {
            cancel.push(key);
        }
    }
    (jobs, cancel)
}

pub fn cancel_reminders(event_id: &str) -> Vec<String> {
    [Purpose::Reminder24h, Purpose::Reminder1h]
        .iter()
        .map(|p| reminder_key(event_id, *p))
        .collect()
}

/// The recording is ready: the recap mail (written with the end of the event) goes now, with
/// the recording in it, if it has not gone already.
pub async fn recording_published(core: &Core, event_id: &str) -> Result<()> {
    let now = core.clock.now_ms();
    let job = crate::features::recap::mail_job(event_id, now);
    Ok(core.store.schedule_job(&job, now).await?)
}

/// A job that mails every registrant now; the request that causes it writes one row,
/// whatever the number of registrants.
pub fn notify_registrants(event_id: &str, purpose: Purpose, version: i64, now: i64) -> NewJob {
    let payload = FanOut {
        event_id: event_id.into(),
        purpose,
        version,
        starts_at: None,
    };
    Job::NotifyRegistrants(payload).at(now, None)
}

/// Job handler: mails every registered person of an event, in batches; an outbox row per
/// person and version, so running it again after a crash adds nothing twice.
pub async fn fan_out(core: &Core, f: FanOut, is_reminder: bool) -> anyhow::Result<()> {
    let Some(event) = core.store.event(&f.event_id).await? else {
        return Ok(());
    };
    if is_reminder {
        let now = core.clock.now_ms();
        // Never for a cancelled, started or ended event; never late.
        if event.status != Status::Scheduled.as_str()
            || f.starts_at != Some(event.starts_at)
            || now >= event.starts_at
        {
            return Ok(());
        }
    }
    let purpose = f.purpose;
    if purpose.category().is_none() {
        anyhow::bail!("no fan-out for account mail ({purpose})");
    }
    let mut after = String::new();
    loop {
        let users = core
            .store
            .registered_user_ids(&f.event_id, &after, FANOUT_BATCH)
            .await?;
        let Some(last) = users.last().cloned() else {
            break;
        };
        let now = core.clock.now_ms();
        let mails: Vec<NewMail> = users
            .iter()
            .map(|u| event_mail(purpose, &f.event_id, u, f.version, now))
            .collect();
        core.store.enqueue_mails(&mails).await?;
        after = last;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_and_unknown_names_are_refused() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str()),
                "fan-out payloads store the same name"
            );
        }
        assert_eq!(Purpose::parse("newsletter"), None);
        assert_eq!(Purpose::VerifyEmail.category(), None);
        assert_eq!(Purpose::Reminder1h.category(), Some(Category::Reminders));
    }
}
