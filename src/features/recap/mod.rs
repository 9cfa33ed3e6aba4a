//! What an event leaves behind once it ends: the recap (who presented, the answered
//! questions, the links shared in the chat, the room's figures), the organizer's attendance
//! report and each attendee's certificate, and the recap mail to every registrant.

pub mod attendance;

pub use attendance::{Attendee, Certificate, Figures, Report};

use crate::{
    features::{
        Core, Error, Result,
        accounts::User,
        email,
        events::{self, EventView, Status},
        ids::EventId,
        live::chat,
    },
    store::{NewJob, recap::AnsweredRow},
};

/// Links kept from the chat, at most.
const MAX_LINKS: usize = 50;
/// Chat messages read for links, at most (the oldest first).
const MAX_MESSAGES: i64 = 5_000;

pub struct Recap {
    pub event: EventView,
    pub presenters: Vec<String>,
    pub answered: Vec<AnsweredRow>,
    pub links: Vec<String>,
    pub figures: Figures,
    /// Who watched it live (user ids): each may print a certificate.
    pub watched: Vec<String>,
    /// The recording, as far as this viewer may see it (organizers see its progress).
    pub recording: Option<crate::features::recordings::RecordingView>,
}

/// The recap of an ended event, for anyone who may see the event.
pub async fn recap(core: &Core, viewer: Option<&User>, id: &EventId) -> Result<Recap> {
    let event = events::get(core, viewer, id).await?;
    match event.status {
        Status::Ended => {}
        Status::Cancelled => {
            return Err(Error::Conflict(
                "This event was cancelled, so it has no recap.".into(),
            ));
        }
        _ => {
            return Err(Error::Conflict(
                "The recap appears here as soon as the event ends.".into(),
            ));
        }
    }
    let mut presenters = vec![event.owner_name.clone()];
    presenters.extend(
        core.store
            .co_presenters(&event.id)
            .await?
            .into_iter()
            .map(|(_, name)| name),
    );
    let answered = core.store.answered_questions(&event.id).await?;
    let bodies = core
        .store
        .group_chat_bodies(&event.id, MAX_MESSAGES)
        .await?;
    let links = links(&bodies, &core.config.room.chat_blocklist);
    let (figures, attendees) = attendance::compute(core, &event.id).await?;
    let watched = attendees
        .into_iter()
        .filter(|a| a.minutes > 0)
        .map(|a| a.user_id)
        .collect();
    let recording = crate::features::recordings::for_viewer(core, viewer, &event).await?;
    Ok(Recap {
        event,
        presenters,
        answered,
        links,
        figures,
        watched,
        recording,
    })
}

/// The web links in the messages, each once, in the order first shared; what the chat filter
/// would refuse today is left out.
fn links(bodies: &[String], blocklist: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for body in bodies {
        for word in body.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"')) {
            let word = word
                .trim_start_matches(['(', '[', '\''])
                .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '\'']);
            let Ok(url) = url::Url::parse(word) else {
                continue;
            };
            if !matches!(url.scheme(), "http" | "https")
                || !url.has_host()
                || chat::screen_text(word, blocklist).is_err()
            {
                continue;
            }
            let link = url.to_string();
            if !out.contains(&link) {
                out.push(link);
                if out.len() == MAX_LINKS {
                    return out;
                }
            }
        }
    }
    out
}

/// The recap mail, written with the end of the event: one job, keyed per event so a later
/// "the recording is ready" moves the same job instead of adding a second mail.
pub fn mail_job(event_id: &str, at: i64) -> NewJob {
    let mut job = email::notify_registrants(event_id, email::Purpose::Recap, 0, at);
    job.dedupe_key = Some(format!("recap:{event_id}"));
    job
}

/// The archive's job, when this server publishes one: written with the end of each event,
/// one pending at a time.
pub fn publish_job(core: &Core, at: i64) -> Option<NewJob> {
    core.config
        .publish
        .as_ref()
        .map(|_| crate::jobs::Job::Publish.at(at, Some("publish".into())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_are_taken_once_and_filtered() {
        let bodies = [
            "slides: https://example.org/talk.pdf, and the repo (https://github.com/x/y)."
                .to_string(),
            "again https://example.org/talk.pdf".to_string(),
            "not this: https://evil.test/x nor ftp://example.org/ nor javascript:alert(1)"
                .to_string(),
        ];
        assert_eq!(
            super::links(&bodies, &["evil.test".to_string()]),
            vec![
                "https://example.org/talk.pdf".to_string(),
                "https://github.com/x/y".to_string()
            ]
        );
    }
}
