//! What a committed change means beyond its own rows. A feature describes its change as
//! notices ([`Notice`], ids only) in its [`Change`](super::Change); `Core::commit` hands them
//! to the reactions registered once in `app.rs`, one per concern (the rooms, the media
//! provider, the chat provider), and each obeys the same notices in three steps:
//!
//! 1. [`Reaction::plan`], inside the change's transaction: durable work the notice needs
//!    (a remote stage's jobs), committed with the change or not at all;
//! 2. [`Reaction::committed`], once, on the instance that made the change: calls that must
//!    happen exactly once (relaying a chat message to IVS Chat);
//! 3. [`Reaction::heard`], on every instance, in commit order: what this process holds
//!    (sockets, the embedded media server's connections) obeys at once.
//!
//! So a kick, a ban, an account disabled or the end of an event is one notice, and every
//! connection of that person — room socket, media, chat — follows it, on every instance.

pub mod bus;

pub use bus::Bus;

use std::{collections::BTreeMap, sync::Arc};

use futures_util::future::BoxFuture;

use super::{Core, ids::EventId, live};
use crate::{
    chat::ChatProvider,
    features::live::{AccountChange, Notice, Phase, Scope},
    media::MediaProvider,
    store::{Effects, Store, StoreResult, Tx},
};

/// One concern's way of obeying committed notices. Every step has nothing to do by default.
pub trait Reaction: Send + Sync {
    /// Inside the change's transaction, before it commits: durable work (jobs) to add.
    fn plan<'a>(
        &'a self,
        _tx: &'a mut Tx,
        _notices: &'a [(Scope, Notice)],
        _effects: &'a mut Effects,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Once, after the commit, on the instance that made the change.
    fn committed<'a>(
        &'a self,
        _core: &'a Core,
        _scope: &'a Scope,
        _notice: &'a Notice,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// On every instance, in commit order. Must not block: slow work is spawned.
    fn heard(&self, _scope: &Scope, _notice: &Notice) {}
}

/// The reactions of this process, in the order they were registered. Cheap to clone.
#[derive(Clone, Default)]
pub struct Reactions(Arc<[Arc<dyn Reaction>]>);

impl Reactions {
    pub fn new(list: Vec<Arc<dyn Reaction>>) -> Reactions {
        Reactions(list.into())
    }

    pub async fn plan(
        &self,
        tx: &mut Tx,
        notices: &[(Scope, Notice)],
        effects: &mut Effects,
    ) -> StoreResult<()> {
        if notices.is_empty() {
            return Ok(());
        }
        for r in self.0.iter() {
            r.plan(tx, notices, effects).await?;
        }
        Ok(())
    }

    pub async fn committed(&self, core: &Core, scope: &Scope, notice: &Notice) {
        for r in self.0.iter() {
            r.committed(core, scope, notice).await;
        }
    }

    pub fn heard(&self, scope: &Scope, notice: &Notice) {
        for r in self.0.iter() {
            r.heard(scope, notice);
        }
    }
}

/// The media provider. The embedded server's stages live in this process, so every instance
/// obeys what it hears; IVS stages are remote, so their commands are durable stage jobs
/// written with the change.
pub struct Media {
    pub media: MediaProvider,
    pub store: Store,
    /// Where the embedded server writes recordings.
    pub recordings: std::path::PathBuf,
}

impl Reaction for Media {
    fn plan<'a>(
        &'a self,
        tx: &'a mut Tx,
        notices: &'a [(Scope, Notice)],
        effects: &'a mut Effects,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if !matches!(self.media, MediaProvider::Ivs(_)) {
                return Ok(());
            }
            // One disconnect per person and event, with the first (strongest) reason; someone
            // who may only no longer send keeps watching (`None`).
            let mut off: BTreeMap<(String, String), Option<&str>> = BTreeMap::new();
            for (scope, notice) in notices {
                let (user, reason) = match notice {
                    Notice::Lifecycle { to } => {
                        if let Some(event) = scope.event_id() {
                            effects
                                .jobs
                                .push(live::stage::lifecycle(event, *to, effects.now));
                        }
                        continue;
                    }
                    Notice::Removed { user, banned: true } => (user, "banned from this event"),
                    Notice::Removed { user, .. } => (user, "removed by a presenter"),
                    Notice::Account {
                        user,
                        change: AccountChange::Closed,
                    } => {
                        for event in tx.remote_presence_of(user.as_str()).await?.0 {
                            off.insert((event, user.to_string()), Some("account closed"));
                        }
                        continue;
                    }
                    Notice::Unseated { user } => {
                        if let Some(event) = scope.event_id() {
                            off.entry((event.to_string(), user.to_string()))
                                .or_insert(None);
                        }
                        continue;
                    }
                    _ => continue,
                };
                if let Some(event) = scope.event_id() {
                    let entry = off
                        .entry((event.to_string(), user.to_string()))
                        .or_insert(None);
                    entry.get_or_insert(reason);
                }
            }
            for ((event, user), reason) in off {
                match reason {
                    Some(reason) => effects.jobs.push(live::stage::disconnect(
                        &event,
                        &user,
                        reason,
                        effects.now,
                    )),
                    None => effects
                        .jobs
                        .extend(live::stage::unseat(&event, &user, effects.now)),
                }
            }
            Ok(())
        })
    }

    fn heard(&self, scope: &Scope, notice: &Notice) {
        let MediaProvider::Embedded(_) = &self.media else {
            return;
        };
        let event = scope.event_id().and_then(|e| e.parse::<EventId>().ok());
        match (notice, event) {
            (
                Notice::Account {
                    user,
                    change: AccountChange::Closed,
                },
                _,
            ) => self.media.disconnect_everywhere(user),
            (Notice::Removed { user, .. }, Some(event)) => self.media.disconnect(&event, user),
            // What they may send now: mute, no longer speaking, no longer presenting.
            (
                Notice::Standing { user } | Notice::Unseated { user } | Notice::Role { user },
                Some(event),
            ) => {
                let (media, store, user) = (self.media.clone(), self.store.clone(), user.clone());
                tokio::spawn(async move {
                    live::moderation::enforce_media(&store, &media, &event, &user).await
                });
            }
            (Notice::Lifecycle { to: Phase::Live }, Some(event)) => {
                let (media, store, dir) = (
                    self.media.clone(),
                    self.store.clone(),
                    self.recordings.clone(),
                );
                tokio::spawn(async move {
                    match store.event(&event).await {
                        Ok(Some(row)) if row.record => media.record(&event, &dir),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "loading an event to record failed"),
                    }
                });
            }
            (Notice::Lifecycle { to: Phase::Over }, Some(event)) => self.media.close_stage(&event),
            _ => {}
        }
    }
}

/// The chat provider. The built-in chat rides on the room sockets (the rooms obey); IVS Chat
/// is remote: committed messages are relayed to it once, and people removed from a room, or
/// whose account closed, are disconnected from its chat by durable jobs.
pub struct Chat(pub ChatProvider);

impl Reaction for Chat {
    fn plan<'a>(
        &'a self,
        tx: &'a mut Tx,
        notices: &'a [(Scope, Notice)],
        effects: &'a mut Effects,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if self.0.ivs().is_none() {
                return Ok(());
            }
            let mut off: BTreeMap<(String, String), &str> = BTreeMap::new();
            for (scope, notice) in notices {
                match notice {
                    // The chat room is made with the green room and deleted at the end.
                    Notice::Lifecycle {
                        to: to @ (Phase::GreenRoom | Phase::Over),
                    } => {
                        if let Some(event) = scope.event_id() {
                            effects
                                .jobs
                                .push(live::stage::lifecycle(event, *to, effects.now));
                        }
                    }
                    Notice::Removed { user, banned } => {
                        if let Some(event) = scope.event_id() {
                            let why = if *banned {
                                "banned from this event"
                            } else {
                                "removed by a presenter"
                            };
                            off.entry((event.to_string(), user.to_string()))
                                .or_insert(why);
                        }
                    }
                    Notice::Account {
                        user,
                        change: AccountChange::Closed,
                    } => {
                        for event in tx.remote_presence_of(user.as_str()).await?.1 {
                            off.entry((event, user.to_string()))
                                .or_insert("account closed");
                        }
                    }
                    _ => {}
                }
            }
            for ((event, user), reason) in off {
                effects
                    .jobs
                    .push(live::stage::leave_chat(&event, &user, reason, effects.now));
            }
            Ok(())
        })
    }

    fn committed<'a>(
        &'a self,
        core: &'a Core,
        scope: &'a Scope,
        notice: &'a Notice,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let (Notice::Chat { id }, Some(event)) = (notice, scope.event_id())
                && let Err(e) = live::chat::relay(core, event, id).await
            {
                // Committed all the same: pages show it from their next snapshot.
                tracing::error!(error = %e, "relaying a chat message failed");
            }
        })
    }
}
