//! Forwarding: each publisher's media to the subscribers of its stage (one simulcast layer
//! per subscriber and video), and key frame requests back to publishers.

use str0m::stats::MediaEgressStats;

use super::{
    record::{Frame, Recorders, Track},
    serve::Pass,
    *,
};

/// Hands each publisher's media to the subscribers of its stage, subscribers' keyframe
/// requests to the publishers whose video they watch, and asks every publisher for a
/// picture when someone starts watching.
pub(super) fn forward(
    peers: &mut [Peer],
    screens: &HashMap<EventId, UserId>,
    recorders: &mut Recorders,
    pass: Pass,
) {
    let now = Instant::now();
    // What each stage sends, for sharing a subscriber's estimate among its videos.
    let mut sending: HashMap<EventId, usize> = HashMap::new();
    for p in peers.iter().filter(|p| p.role == MediaRole::Publisher) {
        *sending.entry(p.stage.clone()).or_default() += 1;
    }
    // Key frames a layer switch waits for: (publisher, media line, layer).
    let mut wanted: Vec<(usize, Mid, Option<Rid>)> = Vec::new();
    for (from, data) in pass.media {
        let p = &peers[from];
        let (Some((kind, index)), Some(slot)) = (p.track(data.mid), p.slot) else {
            continue;
        };
        // Enforced here, whatever the muted person's page does.
        if kind == MediaKind::Audio && p.muted {
            continue;
        }
        let target = match index {
            0 => slot,
            1 if p.user.is_some() && screens.get(&p.stage) == p.user.as_ref() => SCREEN,
            _ => continue,
        };
        let (stage, user) = (p.stage.clone(), p.user.clone());
        // Only simulcast frames choose among layers.
        let available = match data.rid {
            Some(_) => p.sent_layers(data.mid, now),
            None => Vec::new(),
        };
        if recorders.is_recording(&stage)
            && let Some(user) = &user
            // Of a simulcast camera, the largest layer it sends now.
            && (data.rid.is_none() || available.last() == data.rid.as_ref())
        {
            if let Some(rid) = data.rid
                && recorders.switched_layer(&stage, p.id, data.mid, rid)
            {
                wanted.push((from, data.mid, Some(rid)));
            }
            let track = match (kind, target) {
                (MediaKind::Audio, SCREEN) => Track::ScreenAudio,
                (MediaKind::Audio, _) => Track::Microphone,
                (MediaKind::Video, SCREEN) => Track::Screen,
                (MediaKind::Video, _) => Track::Camera,
            };
            recorders.push(
                &stage,
                Frame {
                    conn: p.id,
                    user: user.clone(),
                    track,
                    codec: data.params.spec().codec,
                    layer: data.rid,
                    time: data.time.numer(),
                    arrived: now,
                    keyframe: data.is_keyframe(),
                    data: data.data.clone(),
                },
            );
        }
        let seats = sending.get(&stage).copied().unwrap_or(1);
        let videos = seats + usize::from(screens.contains_key(&stage));
        for (j, peer) in peers.iter_mut().enumerate() {
            // Nobody receives their own media back: their page shows it from the device.
            if j == from
                || peer.stage != stage
                || peer.role != MediaRole::Subscriber
                || peer.user == user
            {
                continue;
            }
            let Some(&mid) = peer.mids(kind).get(target) else {
                continue;
            };
            if let Some(rid) = data.rid {
                match peer.lane(mid, rid, &data, videos, seats, &available) {
                    Lane::Send => {}
                    Lane::Skip => continue,
                    Lane::Switch(to) => {
                        wanted.push((from, data.mid, to));
                        continue;
                    }
                    Lane::SendAndSwitch(to) => wanted.push((from, data.mid, to)),
                }
            }
            peer.guarded(|peer| {
                let Some(writer) = peer.rtc.writer(mid) else {
                    return;
                };
                let Some(pt) = writer.match_params(data.params) else {
                    return;
                };
                let writer = match (data.ext_vals.audio_level, data.ext_vals.voice_activity) {
                    (Some(level), voice) => writer.audio_level(level, voice.unwrap_or(false)),
                    _ => writer,
                };
                if let Err(e) = writer.write(pt, data.network_time, data.time, data.data.clone()) {
                    tracing::debug!(error = %e, "forwarding media failed");
                }
            });
            peer.dirty = true;
        }
    }
    for (from, req) in pass.keyframes {
        let Some((MediaKind::Video, target)) = peers[from].track(req.mid) else {
            continue;
        };
        let layer = peers[from].lanes.get(&req.mid).copied();
        let stage = peers[from].stage.clone();
        let screen = screens.get(&stage).cloned();
        for (i, peer) in peers.iter().enumerate() {
            if peer.stage != stage || peer.role != MediaRole::Publisher {
                continue;
            }
            let index = if target == SCREEN && peer.user == screen {
                1
            } else if Some(target) == peer.slot {
                0
            } else {
                continue;
            };
            if let Some(&mid) = peer.video.get(index) {
                wanted.push((i, mid, layer));
            }
        }
    }
    let fresh_stages = pass.fresh.iter().map(|&i| peers[i].stage.clone());
    let recordings = recorders.take_starting();
    for stage in fresh_stages
        .collect::<Vec<_>>()
        .into_iter()
        .chain(recordings)
    {
        for (i, peer) in peers.iter().enumerate() {
            if peer.stage != stage || peer.role != MediaRole::Publisher {
                continue;
            }
            for &mid in &peer.video {
                let layers = peer.sent_layers(mid, now);
                if layers.is_empty() {
                    wanted.push((i, mid, None));
                }
                wanted.extend(layers.into_iter().map(|rid| (i, mid, Some(rid))));
            }
        }
    }
    for (i, mid, rid) in wanted {
        let peer = &mut peers[i];
        let last = peer.asked.entry((mid, rid)).or_insert(now - KEYFRAME_EVERY);
        if now.duration_since(*last) < KEYFRAME_EVERY {
            continue;
        }
        *last = now;
        peer.guarded(|p| {
            if let Some(mut writer) = p.rtc.writer(mid) {
                let _ = writer.request_keyframe(rid, KeyframeRequestKind::Pli);
            }
        });
        peer.dirty = true;
    }
}

/// What a subscriber's video line does with one simulcast frame.
enum Lane {
    Send,
    Skip,
    /// Skip it, and ask for a key frame of the layer it should switch to (None: audio only).
    Switch(Option<Rid>),
    /// Send it while waiting for that key frame.
    SendAndSwitch(Option<Rid>),
}

impl Peer {
    /// What a subscriber may be sent (bit/s): what its link carries, within the operator's cap.
    fn estimate(&self) -> u64 {
        let link = self.link.estimate();
        self.cap.map_or(link, |cap| cap.min(link))
    }

    /// Adds one line's sending to what its link is judged on.
    pub(super) fn count_sent(&mut self, stats: &MediaEgressStats) {
        let (bytes, packets) = self
            .totals
            .insert(stats.mid, (stats.bytes, stats.packets))
            .unwrap_or_default();
        let packets = stats.packets.saturating_sub(packets);
        self.sent.bytes = self
            .sent
            .bytes
            .saturating_add(stats.bytes.saturating_sub(bytes));
        if let Some(lost) = stats.loss {
            self.sent.reported = self.sent.reported.saturating_add(packets);
            self.sent.lost += f64::from(lost.clamp(0.0, 1.0)) * packets as f64;
            self.sent.fresh = true;
        }
    }

    /// Judges the link on what was sent and lost since last time, once a report came in.
    pub(super) fn judge_link(&mut self, now: Instant) {
        let since = *self.sent.since.get_or_insert(now);
        if !self.sent.fresh {
            return;
        }
        let interval = now.duration_since(since);
        if self.sent.reported > 0 && !interval.is_zero() {
            let bps = (self.sent.bytes as f64 * 8.0 / interval.as_secs_f64()) as u64;
            let lost = self.sent.lost / self.sent.reported as f64;
            self.link.report(now, bps, lost, interval);
        }
        self.sent = Sent {
            since: Some(now),
            ..Sent::default()
        };
    }

    /// The simulcast layers a publisher sends on a media line now, smallest first.
    fn sent_layers(&self, mid: Mid, now: Instant) -> Vec<Rid> {
        let mut rids: Vec<Rid> = self
            .layers
            .get(&mid)
            .into_iter()
            .flatten()
            .filter(|(_, at)| now.duration_since(*at) < LAYER_GONE)
            .map(|(rid, _)| *rid)
            .collect();
        rids.sort_by_key(|r| layers::rank(r).unwrap_or(usize::MAX));
        rids
    }

    /// Whether this subscriber's line `mid` takes a frame of layer `rid`: it keeps one layer,
    /// and moves to the one its estimate allows at that layer's next key frame.
    fn lane(
        &mut self,
        mid: Mid,
        rid: Rid,
        data: &MediaData,
        videos: usize,
        audios: usize,
        available: &[Rid],
    ) -> Lane {
        let want = layers::choose(Some(self.estimate()), videos, audios, available);
        let current = self.lanes.get(&mid).copied();
        match (want, current) {
            // Audio only: the line goes quiet.
            (None, _) => {
                self.lanes.remove(&mid);
                Lane::Skip
            }
            (Some(w), Some(c)) if w == c => {
                if rid == c {
                    Lane::Send
                } else {
                    Lane::Skip
                }
            }
            (Some(w), _) if rid == w && data.is_keyframe() => {
                self.lanes.insert(mid, w);
                Lane::Send
            }
            (Some(w), Some(c)) if rid == c && available.contains(&c) => {
                Lane::SendAndSwitch(Some(w))
            }
            (Some(w), _) if rid == w => Lane::Switch(Some(w)),
            _ => Lane::Skip,
        }
    }
}
