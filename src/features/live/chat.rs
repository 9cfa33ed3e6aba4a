//! Chat: group messages, direct messages to the presenters (all of them see each), a
//! presenter's reply to one attendee, and system notices. Presenters turn group chat off and
//! on and delete messages; history stays in the database.

use std::collections::HashSet;

use super::{ActResult, Ctx, Reply, To, user_id};
use crate::{
    features::live::{
        Notice,
        protocol::{ChatView, Gone, Out, Reason, RoomRole},
    },
    features::{Change, Core, Result, corrupt, ids::MessageId, ids::UserId},
    store::{
        StoreResult, Tx,
        live::{ChatRow, NewChat},
    },
};

pub const MAX_CHAT: usize = 500;
/// A run of encoding characters this long is a blob, not a sentence.
const MAX_BLOB_RUN: usize = 200;

pub fn view(m: ChatRow, presenters: &HashSet<String>) -> Result<ChatView> {
    let kind = match (&m.user_id, m.direct) {
        (None, _) => "system",
        (Some(_), true) => "direct",
        (Some(_), false) => "group",
    };
    Ok(ChatView {
        id: m.id.parse().map_err(|_| corrupt("message id", &m.id))?,
        kind: kind.to_string(),
        author_role: m.user_id.as_ref().map(|u| {
            if presenters.contains(u) {
                RoomRole::Presenter
            } else {
                RoomRole::Attendee
            }
        }),
        author_id: m.user_id.as_deref().map(user_id).transpose()?,
        author: m.author.unwrap_or_else(|| "meetstage".into()),
        to_id: m.to_user.as_deref().map(user_id).transpose()?,
        to: m.to_name,
        text: m.body,
        sent_at: m.created_at,
        relay_id: m.relay_id,
    })
}

pub(super) async fn render(
    core: &Core,
    event_id: &str,
    id: &MessageId,
    out: &mut Vec<(To, Out)>,
) -> Result<()> {
    let Some(row) = core.store.chat_message(id).await? else {
        return Ok(());
    };
    let presenters = super::presenter_ids(core, event_id).await?;
    let direct = row.direct;
    let deleted = row.deleted;
    let msg = view(row, &presenters)?;
    // A direct message goes to the presenters and to the one attendee it is from or for.
    let audiences = if direct {
        let person = msg.to_id.clone().or_else(|| msg.author_id.clone());
        let mut to = vec![To::Presenters];
        to.extend(person.map(To::Person));
        to
    } else {
        vec![To::Everyone]
    };
    // Group chat and notices reach pages through IVS Chat when it delivers them (`relay`).
    if !direct && !core.chat.on_room_socket() {
        return Ok(());
    }
    for to in audiences {
        let m = if deleted {
            Out::ChatDeleted(Gone { id: id.to_string() })
        } else {
            Out::Chat(msg.clone())
        };
        out.push((to, m));
    }
    Ok(())
}

/// How a page receives the room's group chat.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum ChatTicket {
    /// Over the live-room socket.
    Embedded,
    /// From the event's IVS Chat room: connect to `endpoint` with `token` (a WebSocket
    /// subprotocol); ask again after `expires_at` (ms) or a dropped connection.
    Ivs {
        endpoint: String,
        token: String,
        expires_at: i64,
    },
}

/// A chat ticket for someone admitted to the room (banned people are not). On IVS, one
/// receive-only token per page: sending always goes through the room's rules here.
pub async fn ticket(core: &Core, event_id: &str, who: &super::Participant) -> Result<ChatTicket> {
    let Some(ivs) = core.chat.ivs() else {
        return Ok(ChatTicket::Embedded);
    };
    let Some(room) = core.store.chat_room(event_id).await? else {
        return Err(crate::features::Error::Conflict(
            "The chat opens with the green room; try again in a few seconds.".into(),
        ));
    };
    let user = who.user.as_ref().map_or("guest", |u| u.as_str());
    let role = if who.runs_room() {
        "presenter"
    } else {
        "attendee"
    };
    let t = ivs
        .token(&room, user, role)
        .await
        .map_err(|e| crate::features::Error::Internal(e.into()))?;
    Ok(ChatTicket::Ivs {
        endpoint: ivs.messaging_url.to_string(),
        token: t.token,
        expires_at: t.expires_at,
    })
}

/// Hands a committed group message or notice (or its deletion) to IVS Chat, when IVS Chat
/// delivers the room's chat. Direct messages stay on the live-room socket.
pub async fn relay(core: &Core, event_id: &str, id: &MessageId) -> Result<()> {
    let Some(ivs) = core.chat.ivs() else {
        return Ok(());
    };
    let Some(row) = core.store.chat_message(id).await? else {
        return Ok(());
    };
    if row.direct {
        return Ok(());
    }
    let Some(room) = core.store.chat_room(event_id).await? else {
        tracing::warn!(event.id = %event_id, "no IVS chat room yet; the message shows from the next snapshot");
        return Ok(());
    };
    let relay = if row.deleted {
        // IVS's id for it is looked up when the relay runs: the message's own relay, queued
        // before this one, may still be under way.
        crate::chat::ivs::Relay::Delete {
            room,
            id: id.to_string(),
        }
    } else {
        let presenters = super::presenter_ids(core, event_id).await?;
        let msg = view(row, &presenters)?;
        crate::chat::ivs::Relay::Message {
            room,
            id: id.to_string(),
            json: serde_json::to_string(&msg)
                .map_err(|e| crate::features::Error::Internal(e.into()))?,
        }
    };
    ivs.relay(relay);
    Ok(())
}

/// Refuses what a room must not carry: `data:` URIs, long encoded blobs, links to blocked hosts.
pub fn screen(cx: &Ctx<'_>, text: &str) -> Result<(), Reason> {
    screen_text(text, &cx.core.config.room.chat_blocklist)
}

pub fn screen_text(text: &str, blocklist: &[String]) -> Result<(), Reason> {
    let lower = text.to_lowercase();
    if lower.contains("data:") {
        return Err(Reason::Blocked);
    }
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_') {
            run += 1;
            if run >= MAX_BLOB_RUN {
                return Err(Reason::Blocked);
            }
        } else {
            run = 0;
        }
    }
    for word in lower.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '(' | ')'))
    {
        let word = word.trim_matches(|c: char| matches!(c, ',' | ';' | '!' | '\'' | '[' | ']'));
        let blocked = hosts_of(word).iter().any(|host| {
            blocklist
                .iter()
                .any(|b| host == b || host.ends_with(&format!(".{b}")))
        });
        if blocked {
            return Err(Reason::Blocked);
        }
    }
    Ok(())
}

/// The hosts `word` may lead to: as a browser's URL parser reads it (userinfo, a backslash
/// for a slash, percent-encoded dots, IDNA's full-width letters and ideographic full stops),
/// with or without a scheme, and as plain text before the first `/`, `?`, `#` or `:`.
fn hosts_of(word: &str) -> Vec<String> {
    let mut hosts = Vec::with_capacity(3);
    let with_scheme = url::Url::parse(word).ok().filter(|u| u.has_host());
    let without = || url::Url::parse(&format!("http://{word}")).ok();
    if let Some(u) = with_scheme.or_else(without)
        && let Some(h) = u.host_str()
    {
        hosts.push(h.trim_end_matches('.').to_string());
    }
    let rest = word.split_once("://").map_or(word, |(_, r)| r);
    let plain = rest
        .split(['/', '\\', '?', '#', ':'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    hosts.push(plain.rsplit_once('@').map_or(plain, |(_, h)| h).to_string());
    hosts
}

async fn insert(
    cx: &Ctx<'_>,
    body: &str,
    direct: bool,
    to_user: Option<&UserId>,
) -> ActResult<Reply> {
    let id = MessageId::new();
    let mut change = Change::new(cx.now);
    change.notify(cx.event.id.to_string(), Notice::Chat { id: id.clone() });
    let mut tx = cx.core.store.begin().await?;
    tx.insert_chat(NewChat {
        id: &id,
        event_id: &cx.event.id,
        user_id: Some(cx.user),
        direct,
        to_user: to_user.map(|u| u.as_str()),
        body,
        now: cx.now,
    })
    .await?;
    cx.core.commit(tx, change).await?;
    Ok(None)
}

/// Text and standing checks every chat message passes.
async fn checked(cx: &Ctx<'_>, raw: &str) -> ActResult<String> {
    let body = super::text(raw, MAX_CHAT)?;
    screen(cx, &body)?;
    if !cx.who.runs_room() && cx.standing().await?.chat_restricted {
        return Err(Reason::Restricted.into());
    }
    Ok(body)
}

pub async fn post(cx: &Ctx<'_>, raw: &str) -> ActResult<Reply> {
    let body = checked(cx, raw).await?;
    if !cx.who.runs_room() && !cx.core.store.chat_open(&cx.event.id).await? {
        return Err(Reason::ChatClosed.into());
    }
    insert(cx, &body, false, None).await
}

/// A message to the presenters, which every presenter sees.
pub async fn direct(cx: &Ctx<'_>, raw: &str) -> ActResult<Reply> {
    let body = checked(cx, raw).await?;
    insert(cx, &body, true, None).await
}

/// A presenter's answer to one attendee's direct message.
pub async fn reply(cx: &Ctx<'_>, to: &UserId, raw: &str) -> ActResult<Reply> {
    cx.require_presenter()?;
    let body = checked(cx, raw).await?;
    // Only to someone who has been in this event's room.
    if !cx.core.store.attended(&cx.event.id, to).await? {
        return Err(Reason::NotPresent.into());
    }
    insert(cx, &body, true, Some(to)).await
}

pub async fn delete(cx: &Ctx<'_>, id: &MessageId) -> ActResult<Reply> {
    cx.require_presenter()?;
    let mut change = Change::new(cx.now);
    change.notify(cx.event.id.to_string(), Notice::Chat { id: id.clone() });
    let mut tx = cx.core.store.begin().await?;
    if !tx.delete_chat(&cx.event.id, id).await? {
        return Err(Reason::NotFound.into());
    }
    tx.audit(
        cx.user,
        "room.chat.delete",
        Some(id.as_str()),
        &cx.event.id,
        cx.now,
    )
    .await?;
    cx.core.commit(tx, change).await?;
    Ok(None)
}

pub async fn set_open(cx: &Ctx<'_>, open: bool) -> ActResult<Reply> {
    cx.require_presenter()?;
    let mut change = Change::new(cx.now);
    change.notify(cx.event.id.to_string(), Notice::ChatSettings);
    let mut tx = cx.core.store.begin().await?;
    tx.set_chat_open(&cx.event.id, open, cx.now).await?;
    let said = if open {
        "Group chat is on."
    } else {
        "The presenters turned group chat off."
    };
    system(&mut tx, &mut change, &cx.event.id, said).await?;
    tx.audit(
        cx.user,
        "room.chat.open",
        Some(&cx.event.id),
        &open.to_string(),
        cx.now,
    )
    .await?;
    cx.core.commit(tx, change).await?;
    Ok(None)
}

/// A notice from meetstage itself in the room's chat, written in the caller's transaction.
pub async fn system(
    tx: &mut Tx,
    change: &mut Change,
    event_id: &str,
    text: &str,
) -> StoreResult<()> {
    notice(tx, change, event_id, text, false).await
}

/// A system notice only the presenters see (kept like a direct message to them).
pub async fn presenters_notice(
    tx: &mut Tx,
    change: &mut Change,
    event_id: &str,
    text: &str,
) -> StoreResult<()> {
    notice(tx, change, event_id, text, true).await
}

async fn notice(
    tx: &mut Tx,
    change: &mut Change,
    event_id: &str,
    text: &str,
    direct: bool,
) -> StoreResult<()> {
    let id = MessageId::new();
    tx.insert_chat(NewChat {
        id: &id,
        event_id,
        user_id: None,
        direct,
        to_user: None,
        body: text,
        now: change.effects.now,
    })
    .await?;
    change.notify(event_id.to_string(), Notice::Chat { id });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screening_refuses_data_uris_blobs_and_blocked_links() {
        let block = vec!["spam.example".to_string()];
        assert_eq!(
            screen_text("see DATA:text/html,<b>", &block),
            Err(Reason::Blocked)
        );
        assert_eq!(
            screen_text(&"QUJD".repeat(60), &block),
            Err(Reason::Blocked)
        );
        assert!(screen_text(&"word ".repeat(90), &block).is_ok());
        for bad in [
            "https://spam.example/x",
            "go to www.spam.example now",
            "http://a.b.spam.example:8080/",
            "(spam.example)",
            "https://user@spam.example",
            "https://user:pass@spam.example/",
            "https:\\\\spam.example\\path",
            "http://spam%2Eexample/",
            "spam\u{3002}example",
            "https://\u{ff53}\u{ff50}\u{ff41}\u{ff4d}.example/",
            "mailto:x@spam.example",
            "see spam.example, ok",
            "HTTPS://SPAM.EXAMPLE.",
        ] {
            assert_eq!(screen_text(bad, &block), Err(Reason::Blocked), "{bad}");
        }
        for good in [
            "https://notspam.example/",
            "spam.example.org is fine",
            "hello",
        ] {
            assert!(screen_text(good, &block).is_ok(), "{good}");
        }
    }
}
