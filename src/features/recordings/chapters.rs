//! An event's chapters: each start of the live session, each person brought on stage, each
//! screen shared, each question answered, where they fall in the composed video.

use serde::{Deserialize, Serialize};

use super::clock;
use crate::{
    features::Core,
    media::recording::{self, parts::Kind},
};

/// Chapters kept, at most.
const MAX_CHAPTERS: usize = 200;
/// A question's text in a chapter title, at most (characters).
const TITLE_CHARS: usize = 80;
/// Whoever is on stage within this long of a part's start needs no chapter of their own.
const OPENING_MS: u64 = 5_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chapter {
    pub at_ms: u64,
    pub title: String,
}

impl Chapter {
    /// Where it starts, as people read it.
    pub fn at(&self) -> String {
        clock(self.at_ms)
    }
}

/// The chapters: each start of the live session, each person brought on stage, each screen
/// shared, each question answered, in the order they happened in the video.
pub(super) async fn chapters(
    core: &Core,
    event_id: &str,
    c: &recording::Composed,
) -> anyhow::Result<Vec<Chapter>> {
    let mut out = Vec::new();
    for (n, (_, offset)) in c.parts.iter().enumerate() {
        let title = if n == 0 { "Live" } else { "Live again" };
        out.push(Chapter {
            at_ms: *offset,
            title: title.into(),
        });
    }
    let mut seen: Vec<(&str, bool)> = Vec::new();
    for (at, user, kind) in &c.tracks {
        let screen = *kind == Kind::Screen;
        if !screen && !matches!(kind, Kind::Camera | Kind::Microphone) {
            continue;
        }
        if seen.contains(&(user.as_str(), screen)) {
            continue;
        }
        seen.push((user.as_str(), screen));
        let opening = c
            .parts
            .iter()
            .any(|(_, o)| *at >= *o && *at < o.saturating_add(OPENING_MS));
        if opening && !screen {
            continue;
        }
        let name = match core.store.user_by_id(user).await? {
            Some(u) => u.display_name,
            None => continue,
        };
        out.push(Chapter {
            at_ms: *at,
            title: if screen {
                format!("{name} shares the screen")
            } else {
                format!("{name} on stage")
            },
        });
    }
    for q in core.store.answered_questions(event_id).await? {
        if let Some(at) = video_time(c, q.answered_at) {
            let mut body: String = q.body.chars().take(TITLE_CHARS).collect();
            if q.body.chars().count() > TITLE_CHARS {
                body.push('…');
            }
            out.push(Chapter {
                at_ms: at,
                title: format!("Q: {body}"),
            });
        }
    }
    out.sort_by_key(|c| c.at_ms);
    out.truncate(MAX_CHAPTERS);
    Ok(out)
}

/// Where a moment (wall clock, ms) falls in the composed video, if it was recorded.
fn video_time(c: &recording::Composed, at: i64) -> Option<u64> {
    let mut found = None;
    for (n, &(started, offset)) in c.parts.iter().enumerate() {
        let end = c.parts.get(n + 1).map_or(c.duration_ms, |p| p.1);
        let into = u64::try_from(at.checked_sub(started)?).ok();
        if let Some(into) = into
            && offset.saturating_add(into) < end
        {
            found = Some(offset + into);
        }
    }
    found
}
