//! Rendering at delivery: each outbox row becomes a message from the current state of its
//! user and event, or is skipped when it no longer applies (event cancelled, account
//! deleted, seat lost, category switched off).

use super::*;
use crate::{
    clock::from_ms,
    features::{
        Core, Result,
        calendar::{self, Method},
        corrupt,
        events::{EventView, Status},
    },
    mail::{Attachment, Content},
    store::outbox::OutboxRow,
};

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
    let purpose =
        Purpose::parse(&row.purpose).ok_or_else(|| corrupt("mail purpose", &row.purpose))?;
    let category = purpose.category();
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
    let content = match purpose {
        Purpose::VerifyEmail => Content::new(format!("Confirm your email for {community}"))
            .greeting(&user.display_name)
            .para("Confirm your email address to register for events and present.")
            .action("Confirm email", link(&format!("/account/verify?token={}", token())))
            .note("The link works once and expires in 48 hours. If you did not sign up, ignore this mail."),
        Purpose::ChangeEmail => Content::new(format!("Confirm your new email for {community}"))
            .greeting(&user.display_name)
            .para("Confirm that this is the new email address of your account.")
            .action("Confirm new email", link(&format!("/account/verify?token={}", token())))
            .note("Until you confirm, mail keeps going to your old address."),
        Purpose::ResetPassword => Content::new(format!("Reset your {community} password"))
            .greeting(&user.display_name)
            .para("Someone asked to reset the password of your account. Choose a new one here:")
            .action("Choose a new password", link(&format!("/account/reset?token={}", token())))
            .note("The link works once and expires in 1 hour. If you did not ask, ignore this mail; your password stays as it is."),
        Purpose::AccountExists => Content::new(format!("Signing up to {community}"))
            .greeting(&user.display_name)
            .para("Someone tried to sign up with this email address, but you already have an account.")
            .para("If it was you, log in instead. Forgot your password? Choose a new one from the login page.")
            .action("Log in", link("/login"))
            .note("If it was not you, you can ignore this mail; nothing changed."),
        Purpose::AccountLocked => {
            let until = from_ms(payload.until.unwrap_or_default());
            Content::new(format!("Logins to your {community} account were paused"))
                .greeting(&user.display_name)
                .para(format!(
                    "Someone typed a wrong password for your account {} times in a row from one device, so we paused logins from that device until {} UTC. Your other devices are not affected.",
                    crate::features::accounts::MAX_FAILED_LOGINS,
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
                Purpose::EventCreated => Content::new(format!("Event created: {}", e.title))
                    .greeting(&user.display_name)
                    .para(format!("Your event \u{201c}{}\u{201d} is scheduled for {}.", e.title, when(&e)))
                    .para("Share its page so people can register. You can edit or cancel it there.")
                    .action("Open the event", page),
                Purpose::RegistrationConfirmed => {
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
                Purpose::Waitlisted => {
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
                Purpose::Reminder24h | Purpose::Reminder1h => {
                    if e.status != Status::Scheduled || core.clock.now() >= e.starts_at {
                        return Ok(Rendered::Skip("the event is no longer upcoming"));
                    }
                    let soon = if purpose == Purpose::Reminder1h { "in an hour" } else { "tomorrow" };
                    Content::new(format!("Reminder: {} starts {soon}", e.title))
                        .greeting(&user.display_name)
                        .para(format!("\u{201c}{}\u{201d} starts {soon}: {}.", e.title, when(&e)))
                        .action("Open the event", page)
                }
                Purpose::EventUpdated => Content::new(format!("Changed: {}", e.title))
                    .greeting(&user.display_name)
                    .para(format!("The time of \u{201c}{}\u{201d} changed. It now starts {}.", e.title, when(&e)))
                    .action("Open the event", page)
                    .attach(invite(Method::Request)),
                Purpose::EventStarted => {
                    if e.status != Status::Live {
                        return Ok(Rendered::Skip("the event is no longer live"));
                    }
                    Content::new(format!("We're live: {}", e.title))
                        .greeting(&user.display_name)
                        .para(format!("\u{201c}{}\u{201d} has started. Join now to watch, chat and ask questions.", e.title))
                        .action("Join the live event", link(&format!("/events/{}/live", e.id)))
                }
                Purpose::Recap => {
                    if e.status != Status::Ended {
                        return Ok(Rendered::Skip("the event did not end"));
                    }
                    Content::new(format!("Recap: {}", e.title))
                        .greeting(&user.display_name)
                        .para(format!("Thank you for your interest in \u{201c}{}\u{201d}.", e.title))
                        .para("Its recap has the questions the presenters answered, the links shared in the chat and who presented.")
                        .action("Open the recap", link(&format!("/events/{}/recap", e.id)))
                }
                Purpose::EventCancelled => Content::new(format!("Cancelled: {}", e.title))
                    .greeting(&user.display_name)
                    .para(format!("\u{201c}{}\u{201d}, planned for {}, was cancelled by its organizer.", e.title, when(&e)))
                    .action("See other events", link("/"))
                    .attach(invite(Method::Cancel)),
                // Fails loudly (retried, then dead with this reason), never silently skipped.
                Purpose::VerifyEmail
                | Purpose::ChangeEmail
                | Purpose::ResetPassword
                | Purpose::AccountLocked
                | Purpose::AccountExists => {
                    return Err(corrupt("event mail purpose", purpose.as_str()));
                }
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
