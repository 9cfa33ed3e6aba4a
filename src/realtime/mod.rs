//! In-process fan-out of room notices. Features and jobs publish what happened to an event
//! (status changes, "5 minutes left"); each live-room WebSocket subscribes to its event.
//! Within one process only: several instances would need a shared channel (Postgres
//! LISTEN/NOTIFY), which comes with the live room.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde::Serialize;
use tokio::sync::broadcast;

/// What a room is told, as sent to its sockets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// The event moved to another status (staging, live, ended).
    Status { status: String },
    /// The event stops on its own at `ends_at` (ms since the epoch).
    EndingSoon { minutes_left: u32, ends_at: i64 },
}

/// Slow subscribers drop old notices rather than hold everyone back.
const BUFFER: usize = 64;

#[derive(Clone, Default)]
pub struct Hub {
    rooms: Arc<Mutex<HashMap<String, broadcast::Sender<Notice>>>>,
}

impl Hub {
    pub fn subscribe(&self, event_id: &str) -> broadcast::Receiver<Notice> {
        let mut rooms = self.rooms.lock().expect("hub lock");
        rooms
            .entry(event_id.to_string())
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe()
    }

    /// Tells everyone in the room; returns how many heard it.
    pub fn publish(&self, event_id: &str, notice: Notice) -> usize {
        let mut rooms = self.rooms.lock().expect("hub lock");
        let Some(tx) = rooms.get(event_id) else {
            return 0;
        };
        let heard = tx.send(notice).unwrap_or(0);
        if heard == 0 {
            // Nobody is listening any more: forget the room.
            rooms.remove(event_id);
        }
        heard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notices_reach_subscribers_of_that_event_only() {
        let hub = Hub::default();
        let mut a = hub.subscribe("a");
        let mut b = hub.subscribe("b");
        let n = Notice::Status {
            status: "live".into(),
        };
        assert_eq!(hub.publish("a", n.clone()), 1);
        assert_eq!(a.recv().await.unwrap(), n);
        assert!(b.try_recv().is_err());
        drop(b);
        assert_eq!(hub.publish("b", n.clone()), 0);
        assert!(hub.rooms.lock().unwrap().get("b").is_none());
        assert_eq!(hub.publish("nobody", n), 0);
    }
}
