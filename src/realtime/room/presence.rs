//! Who is in a room: people and guests here, and on other instances as their notices tell
//! (each instance says it is alive every heartbeat; one silent for three is forgotten).

use std::collections::BTreeMap;

use super::{Room, TICK};
use crate::features::{
    ids::UserId,
    live::{
        self, Notice,
        protocol::{Gone, Out, Person, PresenceView, Reactions},
    },
};

impl Room {
    /// Distinct people here and on other instances, plus guests.
    pub(super) fn presence(&self) -> u64 {
        let mut ids: std::collections::HashSet<&UserId> = self.people.keys().collect();
        let mut guests = self.guests;
        for r in self.remote.values() {
            ids.extend(r.people.keys());
            guests = guests.saturating_add(r.guests);
        }
        (ids.len() as u64).saturating_add(guests)
    }

    pub(super) fn people_list(&self) -> Vec<Person> {
        let mut list: BTreeMap<&UserId, Person> = BTreeMap::new();
        for r in self.remote.values() {
            for (id, p) in &r.people {
                list.insert(id, p.clone());
            }
        }
        for (id, p) in &self.people {
            list.insert(
                id,
                Person {
                    user_id: id.clone(),
                    name: p.name.clone(),
                    role: p.role,
                },
            );
        }
        let mut v: Vec<Person> = list.into_values().collect();
        v.sort_by(|a, b| {
            (a.role.runs_room(), &a.name)
                .cmp(&(b.role.runs_room(), &b.name))
                .reverse()
        });
        v
    }

    /// Tells presenters someone left, unless they are still here or on another instance.
    pub(super) fn left_everywhere(&mut self, user: &UserId) {
        let still_here = self.people.contains_key(user)
            || self.remote.values().any(|r| r.people.contains_key(user));
        if !still_here {
            self.publish(
                true,
                &Out::PersonLeft(Gone {
                    id: user.to_string(),
                }),
            );
        }
    }

    /// Forgets instances silent for three heartbeats: they stopped without saying who left.
    pub(super) fn forget_silent(&mut self) {
        let limit = u64::try_from(self.hub.limits().heartbeat.saturating_mul(3).as_millis())
            .unwrap_or(u64::MAX);
        let now = crate::realtime::connection::mono_ms();
        let silent: Vec<String> = self
            .remote
            .iter()
            .filter(|(_, r)| now.saturating_sub(r.heard) > limit)
            .map(|(id, _)| id.clone())
            .collect();
        for id in silent {
            tracing::info!(instance = %id, event.id = %self.event_id, "an instance went silent; no longer counting its people");
            if let Some(gone) = self.remote.remove(&id) {
                for user in gone.people.keys() {
                    self.left_everywhere(user);
                }
            }
            self.presence_changed = true;
        }
    }

    /// Counts the people already here through other instances when this room starts, from
    /// their open visits; their instances' heartbeats then keep the counts (and guests) fresh.
    pub(super) async fn catch_up(&mut self) {
        if let Ok(event) = self.event_id.parse() {
            self.stage = self.core.media.roster(&event);
        }
        if !self.hub.is_shared() {
            return;
        }
        let instance = self.hub.instance().to_string();
        match live::present_elsewhere(&self.core, &self.event_id, &instance).await {
            Ok(found) => {
                let now = crate::realtime::connection::mono_ms();
                for (instance, person) in found {
                    let entry = self.remote.entry(instance).or_default();
                    entry.heard = now;
                    entry.people.insert(person.user_id.clone(), person);
                }
            }
            Err(e) => tracing::warn!(error = %e, "loading who is here elsewhere failed"),
        }
    }

    /// Lets other instances know someone came or went here.
    pub(super) fn tell_others(&self, user: Option<UserId>, joined: bool) {
        if !self.hub.is_shared() {
            return;
        }
        self.hub.publish(
            &self.event_id,
            Notice::Presence {
                instance: self.hub.instance().to_string(),
                user,
                joined,
                anonymous: self.guests,
            },
        );
    }

    /// Someone came or went on another instance (or it said it is alive, `user` None).
    pub(super) async fn heard_from(
        &mut self,
        instance: String,
        user: Option<UserId>,
        joined: bool,
        anonymous: u64,
    ) {
        if instance == self.hub.instance() {
            return;
        }
        // The role is recomputed here from the record, never taken from the notice.
        let person = match (&user, joined) {
            (Some(u), true) => live::person(&self.core, &self.event_id, u)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "loading a remote person failed");
                    None
                }),
            _ => None,
        };
        let entry = self.remote.entry(instance).or_default();
        entry.guests = anonymous;
        entry.heard = crate::realtime::connection::mono_ms();
        match (user, person) {
            (_, Some(p)) if entry.people.insert(p.user_id.clone(), p.clone()).is_none() => {
                self.publish(true, &Out::PersonJoined(p));
            }
            (Some(u), None) if !joined && entry.people.remove(&u).is_some() => {
                self.left_everywhere(&u);
            }
            _ => {}
        }
        self.presence_changed = true;
    }

    /// The attendance report's figures: guests who came in, and a larger audience than
    /// before. Written off the room's loop, so a slow database never holds up a broadcast.
    fn write_figures(&mut self, count: u64) {
        let arrivals = std::mem::take(&mut self.guest_arrivals);
        let peak = (count > self.peak).then(|| {
            self.peak = count;
            i32::try_from(count).unwrap_or(i32::MAX)
        });
        if arrivals == 0 && peak.is_none() {
            return;
        }
        let (store, event) = (self.core.store.clone(), self.event_id.clone());
        tokio::spawn(async move {
            let arrivals = i32::try_from(arrivals).unwrap_or(i32::MAX);
            if arrivals > 0
                && let Err(e) = store.add_guest_visits(&event, arrivals).await
            {
                tracing::warn!(error = %e, "counting guests failed");
            }
            if let Some(peak) = peak
                && let Err(e) = store.raise_peak(&event, peak).await
            {
                tracing::warn!(error = %e, "recording the peak audience failed");
            }
        });
    }

    /// Every 250 ms: liveness every second, this instance's heartbeat, the presence count
    /// and the reaction bursts, one frame each however many came.
    pub(super) fn tick(&mut self) {
        self.ticks += 1;
        if self.ticks.is_multiple_of(4) {
            self.check_liveness();
        }
        let beat = (self.hub.limits().heartbeat.as_millis() / TICK.as_millis()).max(1);
        if u128::from(self.ticks).is_multiple_of(beat) {
            // Said even when nothing changed, so the others know this instance is alive.
            self.tell_others(None, true);
            self.forget_silent();
        }
        if self.presence_changed {
            self.presence_changed = false;
            self.tell_others(None, true);
            let count = self.presence();
            self.write_figures(count);
            let p = Out::Presence(PresenceView { count });
            self.publish(false, &p);
            self.publish(true, &p);
        }
        if !self.reactions.is_empty() {
            let counts = std::mem::take(&mut self.reactions);
            if self.hub.is_shared() {
                self.hub.publish(
                    &self.event_id,
                    Notice::Reactions {
                        instance: self.hub.instance().to_string(),
                        counts: counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    },
                );
            }
            let r = Out::Reactions(Reactions { counts });
            self.publish(false, &r);
            self.publish(true, &r);
        }
    }
}
