//! Which mail goes to whom, and what it says. Mails are planned here as outbox rows (written
//! by the store in the same transaction as their cause) and rendered here at delivery time,
//! from the current state: a reminder for an event that was cancelled meanwhile is skipped.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{
    Core, Result,
    calendar::{self, Method},
    events::{EventView, Status},
};
use crate::{
    clock::from_ms,
    jobs::Job,
    mail::{Attachment, Content},
    store::{
        NewJob,
        outbox::{NewMail, OutboxRow},
    },
};

pub const VERIFY_EMAIL: &str = "verify_email";
pub const CHANGE_EMAIL: &str = "change_email";
pub const RESET_PASSWORD: &str = "reset_password";
pub const ACCOUNT_LOCKED: &str = "account_locked";
pub const EVENT_CREATED: &str = "event_created";
pub const REGISTRATION_CONFIRMED: &str = "registration_confirmed";
pub const WAITLISTED: &str = "waitlisted";
pub const ACCOUNT_EXISTS: &str = "account_exists";
pub const REMINDER_24H: &str = "reminder_24h";
pub const REMINDER_1H: &str = "reminder_1h";
pub const EVENT_UPDATED: &str = "event_updated";
pub const EVENT_CANCELLED: &str = "event_cancelled";
pub const EVENT_STARTED: &str = "event_started";
pub const RECAP: &str = "recap";

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

    pub fn of(purpose: &str) -> Option<Category> {
        match purpose {
            REMINDER_24H | REMINDER_1H => Some(Category::Reminders),
            EVENT_CREATED
            | REGISTRATION_CONFIRMED
            | WAITLISTED
            | EVENT_UPDATED
            | EVENT_CANCELLED
            | EVENT_STARTED
            | RECAP => Some(Category::EventNews),
            _ => None,
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
    purpose: &'static str,
    user_id: &str,
    to: Option<&str>,
    payload: Payload,
    key: String,
    now: i64,
) -> NewMail {
    NewMail {
        key: format!("{purpose}:{user_id}:{key}"),
        purpose,
        user_id: user_id.to_string(),
        event_id: None,
        to_address: to.map(str::to_string),
        payload: serde_json::to_string(&payload).unwrap_or_else(|_| "{}".into()),
        now,
    }
}

/// A mail about an event to one person; one per purpose, person and `version`.
pub fn event_mail(
    purpose: &'static str,
    event_id: &str,
    user_id: &str,
    version: impl std::fmt::Display,
    now: i64,
) -> NewMail {
    NewMail {
        key: format!("{purpose}:{event_id}:{user_id}:{version}"),
        purpose,
        user_id: user_id.to_string(),
        event_id: Some(event_id.to_string()),
        to_address: None,
        payload: "{}".into(),
        now,
    }
}

/// The confirmation for whoever gets a seat (registered, or moved up from the waitlist).
pub fn confirmation(event_id: &str, user_id: &str, now: i64) -> NewMail {
    event_mail(REGISTRATION_CONFIRMED, event_id, user_id, now, now)
}

/// "You are on the waitlist, number N."
pub fn waitlisted(event_id: &str, user_id: &str, position: i64, now: i64) -> NewMail {
    let mut mail = event_mail(WAITLISTED, event_id, user_id, now, now);
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
    pub purpose: String,
    /// Distinguishes successive mails of the same purpose (the start time, the sequence).
    pub version: i64,
    /// A reminder is dropped rather than sent late once the event has started.
    #[serde(default)]
    pub starts_at: Option<i64>,
}

fn reminder_key(event_id: &str, purpose: &str) -> String {
    format!("{purpose}:{event_id}")
}

/// Reminder jobs for an event starting at `starts_at`: the ones still ahead are (re)scheduled,
/// the ones already past are cancelled.
pub fn reminders(event_id: &str, starts_at: i64, now: i64) -> (Vec<NewJob>, Vec<String>) {
    let mut jobs = Vec::new();
    let mut cancel = Vec::new();
    for (purpose, before) in [
        (REMINDER_24H, Duration::hours(24)),
        (REMINDER_1H, Duration::hours(1)),
    ] {
        let run_at = starts_at - before.num_milliseconds();
        let key = reminder_key(event_id, purpose);
        if run_at > now {
            let payload = FanOut {
                event_id: event_id.into(),
                purpose: purpose.into(),
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
    [REMINDER_24H, REMINDER_1H]
        .iter()
        .map(|p| reminder_key(event_id, p))
        .collect()
}

/// The trigger point for the recap: called when an event's recording is published (the
/// recording issue calls it); mails every registrant once.
pub async fn recording_published(core: &Core, event_id: &str) -> Result<()> {
    let now = core.clock.now_ms();
    let job = notify_registrants(event_id, RECAP, 0, now);
    Ok(core.store.schedule_job(&job, now).await?)
}

/// A job that mails every registrant now; the request that causes it writes one row,
/// whatever the number of registrants.
pub fn notify_registrants(event_id: &str, purpose: &'static str, version: i64, now: i64) -> NewJob {
    let payload = FanOut {
        event_id: event_id.into(),
        purpose: purpose.into(),
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
    let purpose = match f.purpose.as_str() {
        REMINDER_24H => REMINDER_24H,
        REMINDER_1H => REMINDER_1H,
        EVENT_UPDATED => EVENT_UPDATED,
        EVENT_CANCELLED => EVENT_CANCELLED,
        EVENT_STARTED => EVENT_STARTED,
        RECAP => RECAP,
        other => anyhow::bail!("no fan-out for {other}"),
    };
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

// --- rendering at delivery ------------------------------------------------------------------

pub enum Rendered {
    Send { to: String, content: Box<Content> },
    Skip(&'static str),
}

fn when(e: &EventView) -> String {
    let tz: chrono_tz::Tz = e.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let local = e.starts_at.with_timezone(&tz);
    format!(
        "{} ({}), {} minutes",
        local.format("%A %-d %B %Y, %H:%M"),
        e.time_zone,
        e.duration_minutes
    )
}

/// Renders one outbox row from the current state of its user and event.
pub async fn render(core: &Core, row: &OutboxRow) -> Result<Rendered> {
    let Some(user) = core.store.user_by_id(&row.user_id).await? else {
        return Ok(Rendered::Skip("the account no longer exists"));
    };
    if user.deleted_at.is_some() {
        return Ok(Rendered::Skip("the account was deleted"));
    }
    let category = Category::of(&row.purpose);
    if let Some(c) = category {
        let (reminders, news) = core.store.mail_preferences(&user.id).await?;
        if !(match c {
            Category::Reminders => reminders,
            Category::EventNews => news,
        }) {
            return Ok(Rendered::Skip("unsubscribed"));
        }
    }
    let payload: Payload = serde_json::from_str(&row.payload).unwrap_or_default();
    let community = &core.config.branding.community_name;
    let to = row.to_address.clone().unwrap_or_else(|| user.email.clone());
    let link = |path: &str| core.config.link(path);
    let token = || payload.token.clone().unwrap_or_default();
    let content = match row.purpose.as_str() {
        VERIFY_EMAIL => Content::new(format!("Confirm your email for {community}"))
            .greeting(&user.display_name)
            .para("Confirm your email address to register for events and present.")
            .action("Confirm email", link(&format!("/account/verify?token={}", token())))
            .note("The link works once and expires in 48 hours. If you did not sign up, ignore this mail."),
        CHANGE_EMAIL => Content::new(format!("Confirm your new email for {community}"))
            .greeting(&user.display_name)
            .para("Confirm that this is the new email address of your account.")
            .action("Confirm new email", link(&format!("/account/verify?token={}", token())))
            .note("Until you confirm, mail keeps going to your old address."),
        RESET_PASSWORD => Content::new(format!("Reset your {community} password"))
            .greeting(&user.display_name)
            .para("Someone asked to reset the password of your account. Choose a new one here:")
            .action("Choose a new password", link(&format!("/account/reset?token={}", token())))
            .note("The link works once and expires in 1 hour. If you did not ask, ignore this mail; your password stays as it is."),
        ACCOUNT_EXISTS => Content::new(format!("Signing up to {community}"))
            .greeting(&user.display_name)
            .para("Someone tried to sign up with this email address, but you already have an account.")
            .para("If it was you, log in instead. Forgot your password? Choose a new one from the login page.")
            .action("Log in", link("/login"))
            .note("If it was not you, you can ignore this mail; nothing changed."),
        ACCOUNT_LOCKED => {
            let until = from_ms(payload.until.unwrap_or_default());
            Content::new(format!("Logins to your {community} account were paused"))
                .greeting(&user.display_name)
                .para(format!(
                    "Someone typed a wrong password for your account {} times in a row from one device, so we paused logins from that device until {} UTC. Your other devices are not affected.",
                    super::accounts::MAX_FAILED_LOGINS,
                    until.format("%Y-%m-%d %H:%M")
                ))
                .para("If this was not you, choose a new password now.")
                .action("Reset password", link("/account/forgot"))
        }
        purpose => {
            let Some(event_id) = &row.event_id else {
                return Ok(Rendered::Skip("no event"));
            };
            let Some(e) = core.store.event(event_id).await?.map(EventView::try_from).transpose()? else {
                return Ok(Rendered::Skip("the event no longer exists"));
            };
            let page = link(&format!("/events/{}", e.id));
            let invite = |method: Method| Attachment {
                filename: "invite.ics".into(),
                content_type: format!("text/calendar; method={}; charset=UTF-8", match method {
                    Method::Cancel => "CANCEL",
                    _ => "REQUEST",
                }),
                body: calendar::event_ics(&core.config, &e, method, Some((&user.display_name, &to)), core.clock.now()),
            };
            match purpose {
                EVENT_CREATED => Content::new(format!("Event created: {}", e.title))
                    .greeting(&user.display_name)
                    .para(format!("Your event \u{201c}{}\u{201d} is scheduled for {}.", e.title, when(&e)))
                    .para("Share its page so people can register. You can edit or cancel it there.")
                    .action("Open the event", page),
                REGISTRATION_CONFIRMED => {
                    let registered = core.store.registration_status(&e.id, &user.id).await?;
                    if registered.as_deref() != Some("registered") || !e.status.accepts_registrations() {
                        return Ok(Rendered::Skip("no longer registered"));
                    }
                    Content::new(format!("You're registered: {}", e.title))
                        .greeting(&user.display_name)
                        .para(format!("You have a seat at \u{201c}{}\u{201d}, {}.", e.title, when(&e)))
                        .para("We will remind you a day and an hour before it starts.")
                        .action("Open the event", page)
                        .note("Can't make it? Cancel your registration on the event page so someone on the waitlist gets your seat.")
                        .attach(invite(Method::Request))
                }
                WAITLISTED => {
                    let status = core.store.registration_status(&e.id, &user.id).await?;
                    if status.as_deref() != Some("waitlisted") || !e.status.accepts_registrations() {
                        return Ok(Rendered::Skip("no longer on the waitlist"));
                    }
                    Content::new(format!("You're on the waitlist: {}", e.title))
                        .greeting(&user.display_name)
                        .para(format!(
                            "\u{201c}{}\u{201d} ({}) is full. You are number {} on the waitlist.",
                            e.title,
                            when(&e),
                            payload.position.unwrap_or(1)
                        ))
                        .para("When a seat frees up, the next person in line gets it automatically, and we mail them at once.")
                        .action("Open the event", page)
                        .note("Changed your mind? Leave the waitlist on the event page.")
                }
                REMINDER_24H | REMINDER_1H => {
                    if e.status != Status::Scheduled || core.clock.now() >= e.starts_at {
                        return Ok(Rendered::Skip("the event is no longer upcoming"));
                    }
                    let soon = if purpose == REMINDER_1H { "in an hour" } else { "tomorrow" };
                    Content::new(format!("Reminder: {} starts {soon}", e.title))
                        .greeting(&user.display_name)
                        .para(format!("\u{201c}{}\u{201d} starts {soon}: {}.", e.title, when(&e)))
                        .action("Open the event", page)
                }
                EVENT_UPDATED => Content::new(format!("Changed: {}", e.title))
                    .greeting(&user.display_name)
                    .para(format!("The time of \u{201c}{}\u{201d} changed. It now starts {}.", e.title, when(&e)))
                    .action("Open the event", page)
                    .attach(invite(Method::Request)),
                EVENT_STARTED => {
                    if e.status != Status::Live {
                        return Ok(Rendered::Skip("the event is no longer live"));
                    }
                    Content::new(format!("We're live: {}", e.title))
                        .greeting(&user.display_name)
                        .para(format!("\u{201c}{}\u{201d} has started. Join now to watch, chat and ask questions.", e.title))
                        .action("Join the event", page)
                }
                RECAP => Content::new(format!("Recap: {}", e.title))
                    .greeting(&user.display_name)
                    .para(format!("Thank you for joining \u{201c}{}\u{201d}. The recording is published.", e.title))
                    .action("Watch the recording", page),
                EVENT_CANCELLED => Content::new(format!("Cancelled: {}", e.title))
                    .greeting(&user.display_name)
                    .para(format!("\u{201c}{}\u{201d}, planned for {}, was cancelled by its organizer.", e.title, when(&e)))
                    .action("See other events", link("/"))
                    .attach(invite(Method::Cancel)),
                // Fails loudly (retried, then dead with this reason), never silently skipped.
                other => return Err(super::corrupt("mail purpose", other)),
            }
        }
    };
    let content = match category {
        Some(c) => content.unsubscribe(unsubscribe_link(core, &user.id, c), c.label()),
        None => content,
    };
    Ok(Rendered::Send {
        to,
        content: Box::new(content),
    })
}
