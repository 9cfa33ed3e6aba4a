//! Amazon IVS Chat through aws-sdk-ivschat: one room per event (made and deleted by the stage
//! jobs), a receive-only chat token per page, every group message and system notice relayed
//! with `SendEvent`, deletions with `DeleteMessage`, kicks and bans with `DisconnectUser`.
//! IVS names a relayed message by the id SendEvent answers with (kept as `relay_id`), and
//! DeleteMessage takes that id. Nobody gets the SEND_MESSAGE capability: messages reach the
//! room only through meetstage, after its rules and its database, so restrictions and bans
//! bite exactly as with the built-in chat.

use aws_sdk_ivschat::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
};
use tokio::sync::mpsc;

use crate::{config::IvsChatSettings, store::Store};

/// The event name pages listen for; IVS's own are `aws:DELETE_MESSAGE` and friends.
pub const MESSAGE_EVENT: &str = "meetstage:message";
/// Minutes a page's chat connection may last before it reconnects with a new token.
pub const SESSION_MINUTES: i32 = 180;
/// `SendEvent` takes at most 1 KB of attributes.
const MAX_ATTRIBUTE_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum IvsChatError {
    #[error("IVS Chat: not found")]
    NotFound,
    #[error("IVS Chat {0}")]
    Failed(String),
}

/// One thing to tell a room, in the order changes committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relay {
    /// A message as JSON (the live-room socket's `chat` shape), sent in as many events as its
    /// size needs: attributes `id`, `part`, `parts`, `message` (that part of the JSON).
    Message {
        room: String,
        id: String,
        json: String,
    },
    Delete {
        room: String,
        id: String,
    },
}

/// The largest piece of a message's JSON in one event, measured as IVS receives it: inside a
/// JSON string, where every quote and backslash of the piece is escaped again. The rest of the
/// 1 KB holds the other attributes (`id`, `part`, `parts`) with room to spare.
const PART_BYTES: usize = MAX_ATTRIBUTE_BYTES - 200;

/// How many bytes `c` takes inside a JSON string (serde_json's escaping).
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Splits `json` into pieces of at most `PART_BYTES` bytes once escaped as a JSON string, at
/// character boundaries.
pub fn parts(json: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, c) in json.char_indices() {
        let n = escaped_len(c);
        if size + n > PART_BYTES {
            out.push(&json[start..i]);
            start = i;
            size = 0;
        }
        size += n;
    }
    if start < json.len() {
        out.push(&json[start..]);
    }
    out
}

/// A page's chat token.
pub struct ChatToken {
    pub token: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct IvsChat {
    client: Client,
    pub messaging_url: url::Url,
    relay: mpsc::UnboundedSender<Relay>,
}

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    what: &str,
    e: SdkError<E>,
) -> IvsChatError {
    match crate::aws::describe(what, &e) {
        (true, _) => IvsChatError::NotFound,
        (false, text) => IvsChatError::Failed(text),
    }
}

/// Deleting, stopping or disconnecting what is already gone is done.
fn done<T, E: ProvideErrorMetadata + std::error::Error + 'static>(
    what: &str,
    r: Result<T, SdkError<E>>,
) -> Result<(), IvsChatError> {
    match r.map_err(|e| failed(what, e)) {
        Ok(_) | Err(IvsChatError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

impl IvsChat {
    /// The client, and the task that relays messages one at a time, in commit order (it keeps
    /// the ids IVS gives messages in `store`).
    pub async fn start(settings: &IvsChatSettings, store: Store) -> IvsChat {
        let sdk = crate::aws::sdk_config(&settings.region, settings.endpoint_url.as_ref()).await;
        let client = Client::new(&sdk);
        let (tx, mut rx) = mpsc::unbounded_channel::<Relay>();
        let worker = client.clone();
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                // A failure (or a panic) loses one relay, never the ones after it.
                let sent = crate::jobs::guarded(async { Ok(send(&worker, &store, &r).await?) });
                if let Err(e) = sent.await {
                    // The message is in the database and in every page's next snapshot.
                    tracing::warn!(error = %e, "relaying chat to IVS failed");
                }
            }
        });
        IvsChat {
            client,
            messaging_url: settings.messaging_url.clone(),
            relay: tx,
        }
    }

    /// Queues a relay; it runs after those queued before it.
    pub fn relay(&self, r: Relay) {
        let _ = self.relay.send(r);
    }

    pub async fn create_room(&self, event_id: &str) -> Result<String, IvsChatError> {
        let out = self
            .client
            .create_room()
            .name(format!("meetstage-{event_id}"))
            .tags("meetstage:event", event_id)
            .send()
            .await
            .map_err(|e| failed("CreateRoom", e))?;
        out.arn
            .ok_or_else(|| IvsChatError::Failed("CreateRoom: no ARN in the answer".into()))
    }

    /// Deletes a room (which disconnects everyone); one already gone is fine.
    pub async fn delete_room(&self, arn: &str) -> Result<(), IvsChatError> {
        done(
            "DeleteRoom",
            self.client.delete_room().identifier(arn).send().await,
        )
    }

    /// A receive-only token for one page; `user` is our user id or "guest", `role` shown to
    /// nobody but kept in the connection's attributes.
    pub async fn token(
        &self,
        room: &str,
        user: &str,
        role: &str,
    ) -> Result<ChatToken, IvsChatError> {
        let out = self
            .client
            .create_chat_token()
            .room_identifier(room)
            .user_id(user)
            .attributes("role", role)
            .session_duration_in_minutes(SESSION_MINUTES)
            .send()
            .await
            .map_err(|e| failed("CreateChatToken", e))?;
        Ok(ChatToken {
            token: out.token.unwrap_or_default(),
            expires_at: out
                .session_expiration_time
                .and_then(|t| t.to_millis().ok())
                .unwrap_or_default(),
        })
    }

    /// Ends a person's connections to the room (kicked, banned); none is fine.
    pub async fn disconnect(
        &self,
        room: &str,
        user: &str,
        reason: &str,
    ) -> Result<(), IvsChatError> {
        done(
            "DisconnectUser",
            self.client
                .disconnect_user()
                .room_identifier(room)
                .user_id(user)
                .reason(reason)
                .send()
                .await,
        )
    }
}

async fn send(client: &Client, store: &Store, r: &Relay) -> Result<(), IvsChatError> {
    let stored = |e: crate::store::StoreError| IvsChatError::Failed(format!("store: {e}"));
    match r {
        Relay::Message { room, id, json } => {
            let pieces = parts(json);
            for (i, piece) in pieces.iter().enumerate() {
                let out = client
                    .send_event()
                    .room_identifier(room)
                    .event_name(MESSAGE_EVENT)
                    .attributes("id", id)
                    .attributes("part", i.to_string())
                    .attributes("parts", pieces.len().to_string())
                    .attributes("message", *piece)
                    .send()
                    .await
                    .map_err(|e| failed("SendEvent", e))?;
                // The first part's id stands for the message (pages map it back to ours).
                if i == 0
                    && let Some(relay_id) = out.id()
                {
                    store
                        .set_chat_relay_id(id, relay_id)
                        .await
                        .map_err(stored)?;
                }
            }
        }
        Relay::Delete { room, id } => {
            let relay_id = store
                .chat_message(id)
                .await
                .map_err(stored)?
                .and_then(|m| m.relay_id);
            // Never relayed (IVS was down): pages have it only from a snapshot, and the next
            // snapshot leaves it out.
            let Some(relay_id) = relay_id else {
                tracing::warn!(message.id = %id, "deleting a message IVS never carried");
                return Ok(());
            };
            client
                .delete_message()
                .room_identifier(room)
                .id(relay_id)
                .reason("deleted by a presenter")
                .send()
                .await
                .map_err(|e| failed("DeleteMessage", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_split_at_character_boundaries_within_the_limit() {
        assert_eq!(parts("{}"), vec!["{}"]);
        assert!(parts("").is_empty());
        // 4,000 characters that JSON escapes (twice: once in the message's JSON, again as the
        // attribute's value), with multi-byte ones between.
        let text: String = "\"\\\n\tü😀\u{1}<".chars().cycle().take(4000).collect();
        let json = serde_json::to_string(&serde_json::json!({ "text": text })).unwrap();
        let pieces = parts(&json);
        assert!(pieces.len() > 1);
        for (i, piece) in pieces.iter().enumerate() {
            let attributes = serde_json::json!({
                "id": "0190f0f0-0000-7000-8000-000000000001",
                "part": i.to_string(),
                "parts": pieces.len().to_string(),
                "message": piece,
            });
            let size = serde_json::to_string(&attributes).unwrap().len();
            assert!(size <= MAX_ATTRIBUTE_BYTES, "part {i} is {size} bytes");
        }
        assert_eq!(pieces.concat(), json);
    }
}
