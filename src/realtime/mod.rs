//! Live rooms: one per event with people connected to this instance. Features publish what
//! changed ([`Notice`], ids only) after their transaction commits; the event's room reloads
//! what it needs, encodes each message once and hands the same bytes to every socket.
//!
//! - [`wire`]: the WebSocket frames.
//! - [`protocol`]: the messages and their names, shared with the browser.
//! - [`room`]: the task that owns a room's state and sequences its messages.
//! - [`connection`]: one socket's reader and writer.
//! - [`bus`]: carries notices to every instance (in process, or Postgres `LISTEN/NOTIFY`).

pub mod connection;
pub mod outbox;
pub mod room;
pub mod wire;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, watch};

use crate::features::{
    ids::UserId,
    live::{
        Notice, Participant, Scope,
        protocol::{Action, Reason},
    },
    reactions::Bus,
};
pub use room::RoomMsg;

/// Sizes and bounds of rooms and sockets.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A connection that cannot take a write for this long is cut off.
    pub stall: std::time::Duration,
    /// Largest message a browser may send.
    pub max_inbound: usize,
    /// Frames waiting for one connection's socket before it must start over from a snapshot.
    pub outbox: usize,
    /// The kernel's send buffer per room socket (None: the kernel sizes it).
    pub send_buffer: Option<usize>,
    /// How often this instance tells the others it is alive; one silent for three of these
    /// is presumed gone (its people no longer counted, its visits closed).
    pub heartbeat: std::time::Duration,
    /// Per person per minute: actions, chat messages, reactions.
    pub actions_per_min: u32,
    pub chat_per_min: u32,
    pub reactions_per_min: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stall: std::time::Duration::from_secs(8),
            max_inbound: 4096,
            outbox: 256,
            heartbeat: std::time::Duration::from_secs(10),
            send_buffer: None,
            actions_per_min: 60,
            chat_per_min: 20,
            reactions_per_min: 120,
        }
    }
}

/// Tells the database this instance is alive, and closes the visits of instances that
/// stopped saying so (they crashed, or were killed, before their people could leave).
pub async fn heartbeat(core: crate::features::Core, hub: Hub) {
    let every = hub.limits().heartbeat;
    let gone_after = i64::try_from(every.saturating_mul(3).as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = core.clock.now_ms();
        let swept = async {
            core.store.instance_seen(hub.instance(), now).await?;
            core.store
                .close_abandoned_visits(now.saturating_sub(gone_after))
                .await
        };
        match swept.await {
            Ok(0) => {}
            Ok(n) => tracing::info!(visits = n, "closed visits left open by a stopped instance"),
            Err(e) => tracing::warn!(error = %e, "instance heartbeat failed"),
        }
    }
}

/// The live rooms of this instance as a reaction: each committed notice goes to its event's
/// room (or to every room), which turns it into messages for its sockets or closes some.
impl crate::features::reactions::Reaction for Hub {
    fn heard(&self, scope: &Scope, notice: &Notice) {
        self.deliver(scope, notice.clone());
    }
}

/// The rooms of this instance, keyed by event. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(Limits::default(), Bus::Local)
    }
}

struct Inner {
    rooms: Mutex<HashMap<String, mpsc::Sender<RoomMsg>>>,
    limits: Limits,
    bus: Bus,
    /// This process, as other instances know it.
    instance: String,
    /// Budgets per person: actions, chat, reactions.
    budgets: [DefaultKeyedRateLimiter<UserId>; 3],
    checks: std::sync::atomic::AtomicU64,
    /// Rooms whose task has not finished, for a shutdown to wait on their last writes.
    running: watch::Sender<usize>,
}

/// Held by a room's task while it runs.
pub struct Running(Hub);

impl Drop for Running {
    fn drop(&mut self) {
        self.0
            .inner
            .running
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Hub {
    pub fn new(limits: Limits, bus: Bus) -> Hub {
        let budget = |per_min: u32| {
            let n = std::num::NonZeroU32::new(per_min.max(1)).expect("at least one");
            RateLimiter::keyed(Quota::per_minute(n))
        };
        Hub {
            inner: Arc::new(Inner {
                budgets: [
                    budget(limits.actions_per_min),
                    budget(limits.chat_per_min),
                    budget(limits.reactions_per_min),
                ],
                checks: Default::default(),
                running: watch::Sender::new(0),
                rooms: Mutex::default(),
                limits,
                bus,
                instance: uuid::Uuid::now_v7().to_string(),
            }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether other instances share this one's rooms.
    pub fn is_shared(&self) -> bool {
        self.inner.bus.is_shared()
    }

    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Spends one unit of the person's budget for this kind of action (chat and reactions
    /// have their own). Guests have no budget: they may only watch.
    pub fn allow(&self, who: &Participant, action: &Action) -> Result<(), Reason> {
        let budget = match action {
            Action::Resync(_) => return Ok(()),
            Action::Chat(_) | Action::Direct(_) | Action::Reply(_) => 1,
            Action::React(_) => 2,
            _ => 0,
        };
        let Some(user) = &who.user else {
            return Err(Reason::SignIn);
        };
        let limiter = &self.inner.budgets[budget];
        // Forget people who have been quiet for a while, now and then.
        let n = self
            .inner
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n.is_multiple_of(4096) {
            for l in &self.inner.budgets {
                l.retain_recent();
            }
        }
        limiter.check_key(user).map_err(|_| Reason::RateLimited)
    }

    /// The bus that carries notices between instances.
    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    /// Tells every instance's room of `event_id` something only rooms care about (presence,
    /// reactions); committed changes go through `Core::commit` and its reactions instead.
    pub fn publish(&self, event_id: &str, notice: Notice) {
        self.inner
            .bus
            .publish(Scope::event(event_id), notice, |scope, notice| {
                self.deliver(&scope, notice)
            });
    }

    /// Hands a notice to this instance's room of the event, or to every room of this
    /// instance.
    pub fn deliver(&self, scope: &Scope, notice: Notice) {
        match scope {
            Scope::Event(event_id) => {
                let inbox = self.rooms().get(event_id).cloned();
                if let Some(inbox) = inbox {
                    room::deliver(&inbox, RoomMsg::Notice(notice));
                }
            }
            Scope::Everywhere => {
                let rooms: Vec<_> = self.rooms().values().cloned().collect();
                for inbox in rooms {
                    room::deliver(&inbox, RoomMsg::Notice(notice.clone()));
                }
            }
        }
    }

    /// Tells this instance's room of `event` who sends on its stage now.
    pub fn stage_changed(
        &self,
        event: &crate::features::ids::EventId,
        roster: crate::media::Roster,
    ) {
        let inbox = self.rooms().get(event.as_str()).cloned();
        if let Some(inbox) = inbox {
            room::deliver(&inbox, RoomMsg::Stage(roster));
        }
    }

    /// The room of `event_id`, started by `start` when this instance has none yet.
    pub(crate) fn room(
        &self,
        event_id: &str,
        start: impl FnOnce() -> mpsc::Sender<RoomMsg>,
    ) -> mpsc::Sender<RoomMsg> {
        let mut rooms = self.rooms();
        match rooms.get(event_id) {
            Some(inbox) if !inbox.is_closed() => inbox.clone(),
            _ => {
                let inbox = start();
                rooms.insert(event_id.to_string(), inbox.clone());
                inbox
            }
        }
    }

    /// Called by a room that emptied: forgets it unless a new one already took its place.
    pub(crate) fn forget(&self, event_id: &str, inbox: &mpsc::Sender<RoomMsg>) {
        let mut rooms = self.rooms();
        if rooms.get(event_id).is_some_and(|i| i.same_channel(inbox)) {
            rooms.remove(event_id);
        }
    }

    /// Rooms open on this instance.
    pub fn room_count(&self) -> usize {
        self.rooms().len()
    }

    /// Closes every room, telling each socket the server is going away.
    pub fn shutdown(&self) {
        let rooms: Vec<_> = self.rooms().drain().map(|(_, inbox)| inbox).collect();
        for inbox in rooms {
            room::deliver(&inbox, RoomMsg::Shutdown);
        }
    }

    /// Counts a room's task as running until the returned guard is dropped.
    pub fn running(&self) -> Running {
        self.inner.running.send_modify(|n| *n += 1);
        Running(self.clone())
    }

    /// Waits, at most `limit`, for every room to finish: after a shutdown each records its
    /// people's leaving, which needs the database still open.
    pub async fn rooms_finished(&self, limit: std::time::Duration) -> bool {
        let mut running = self.inner.running.subscribe();
        tokio::time::timeout(limit, running.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<RoomMsg>>> {
        // A panic elsewhere while holding this lock leaves the map itself intact.
        self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}
