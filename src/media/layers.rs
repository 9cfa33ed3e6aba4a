//! Simulcast: which of a publisher's video layers each subscriber gets. Pages send their
//! camera in three layers (a quarter, half and full size, each capped at a bitrate); the
//! server forwards one per subscriber and video, the best its bandwidth estimate allows, and
//! only audio when even the smallest would not fit.

use std::time::{Duration, Instant};

use str0m::media::Rid;

/// The layers pages send, smallest first, each with the bitrate it is capped at (bit/s).
pub const LAYERS: [(&str, u64); 3] = [("q", 150_000), ("h", 500_000), ("f", 1_500_000)];
/// Kept for each person's audio before any video.
const AUDIO: u64 = 64_000;
/// Below this much per video, a subscriber gets audio only.
const MIN_VIDEO: u64 = 100_000;

/// A layer's rank (0: smallest), for layers we know.
pub fn rank(rid: &Rid) -> Option<usize> {
    LAYERS.iter().position(|(name, _)| **rid == **name)
}

/// The layer to send: `estimate` is what the subscriber's link carries (bit/s; None before
/// there is one), shared by `videos` videos and `audios` audio tracks; `available` the layers
/// the publisher sends now, smallest first. None: audio only.
pub fn choose(
    estimate: Option<u64>,
    videos: usize,
    audios: usize,
    available: &[Rid],
) -> Option<Rid> {
    let (&smallest, &largest) = (available.first()?, available.last()?);
    let Some(estimate) = estimate else {
        return Some(largest);
    };
    let per_video =
        estimate.saturating_sub(AUDIO.saturating_mul(audios as u64)) / videos.max(1) as u64;
    if per_video < MIN_VIDEO {
        return None;
    }
    let fits = |rid: &Rid| rank(rid).is_some_and(|r| LAYERS[r].1 <= per_video);
    Some(
        available
            .iter()
            .rev()
            .find(|r| fits(r))
            .copied()
            .unwrap_or(smallest),
    )
}

/// A subscriber's estimate starts here, enough for a full layer and audio: what arrives is
/// already encoded, so starting low would only hold back a picture the link may well carry.
pub const START: u64 = 2_500_000;
/// It grows up to this: two full layers and their audio.
pub const CEILING: u64 = 2 * START;
/// Nor falls below this, from where a second of calm lets the smallest layer back in.
const FLOOR: u64 = 100_000;
/// More lost than this, and the link is taken to be full.
const CONGESTED: f64 = 0.10;
/// Less lost than this, and there may be room for more.
const CALM: f64 = 0.02;
/// Growth per second of calm.
const GROWTH: f64 = 1.08;
/// After a cut, reports this soon still describe what was sent before it took effect (a
/// layer changes at its next key frame, and receiver reports come about once a second).
const SETTLE: Duration = Duration::from_secs(3);
/// After a loss, the estimate waits this long before growing again; each further loss
/// doubles the wait up to the longest, and a long calm brings it back to the first.
const FIRST_WAIT: Duration = Duration::from_secs(5);
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// What one subscriber's link carries, judged from the losses its browser reports about
/// once a second (RTCP receiver reports): cut by half the share lost when more than a tenth
/// is lost, grown by 8% a second while almost nothing is, after a wait that doubles each
/// time growing ended in loss, so a link just short of a layer does not flap between two.
/// This is the loss-based half of Google's congestion control; its delay-based half, run
/// per viewer on the server, cost a third of the SFU's time (BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct Link {
    estimate: u64,
    /// No further cut before this.
    settles_at: Instant,
    /// No growth before this.
    waits_until: Instant,
    wait: Duration,
}

impl Link {
    pub fn new(now: Instant) -> Link {
        Link {
            estimate: START,
            settles_at: now,
            waits_until: now,
            wait: FIRST_WAIT,
        }
    }

    /// Bit/s the link is taken to carry.
    pub fn estimate(&self) -> u64 {
        self.estimate
    }

    /// Takes one report: `sent` bit/s were sent over the `interval` it covers, and the
    /// receiver lost `lost` of them (0 to 1).
    pub fn report(&mut self, now: Instant, sent: u64, lost: f64, interval: Duration) {
        if lost > CONGESTED {
            // Soon after a cut, the losses are still those of what was sent before it.
            if now < self.settles_at {
                return;
            }
            // From what was sent, or from the estimate when that is lower already, so that
            // losses that go on when nothing more can be taken away keep cutting.
            let base = self.estimate.min(sent) as f64;
            self.estimate = ((base * (1.0 - lost / 2.0)) as u64).max(FLOOR);
            self.settles_at = now + SETTLE;
            self.waits_until = now + self.wait;
            self.wait = (self.wait * 2).min(LONGEST_WAIT);
        } else if lost < CALM && now >= self.waits_until {
            let grown = self.estimate as f64 * GROWTH.powf(interval.as_secs_f64().min(2.0));
            self.estimate = (grown as u64).clamp(FLOOR, CEILING);
            // A minute of growing or holding without loss: the link is not on an edge.
            if now.duration_since(self.waits_until) >= LONGEST_WAIT {
                self.wait = FIRST_WAIT;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link that carries `capacity` bit/s, fed what `choose` sends one video and audio:
    /// what it carries is received, the rest lost. Returns the layer each second.
    fn drive(link: &mut Link, capacity: u64, seconds: u64, start: Instant) -> Vec<Option<Rid>> {
        let second = Duration::from_secs(1);
        (1..=seconds)
            .map(|t| {
                let layer = choose(Some(link.estimate()), 1, 1, &all());
                let sent = AUDIO + layer.as_ref().and_then(rank).map_or(0, |r| LAYERS[r].1);
                let lost = 1.0 - (capacity.min(sent) as f64 / sent as f64);
                link.report(start + second * t as u32, sent, lost, second);
                layer
            })
            .collect()
    }

    #[test]
    fn a_link_settles_on_the_layer_it_carries_and_does_not_flap() {
        let f = Some(Rid::from("f"));
        let h = Some(Rid::from("h"));
        let q = Some(Rid::from("q"));
        let start = Instant::now();
        // Plenty: the full layer throughout.
        let mut link = Link::new(start);
        assert!(
            drive(&mut link, 10_000_000, 60, start)
                .iter()
                .all(|l| *l == f)
        );
        assert_eq!(link.estimate(), CEILING, "calm grows it to the ceiling");
        // 1 Mbit/s: the full layer loses a third, so half size a second later, and over ten
        // minutes the full layer is tried again about once a minute (the wait doubles).
        let mut link = Link::new(start);
        let layers = drive(&mut link, 1_000_000, 600, start);
        assert_eq!(layers[..2], [f, h]);
        let tries = layers.windows(2).filter(|w| w[1] == f && w[0] != f).count();
        assert!(
            (5..=15).contains(&tries),
            "{tries} returns to the full layer"
        );
        let settled = layers[60..].iter().filter(|l| **l == h).count();
        assert!(settled * 100 >= 540 * 95, "half size {settled} of 540 s");
        // 300 kbit/s: the smallest; 120 kbit/s: not even that, so audio only, mostly.
        let mut link = Link::new(start);
        let layers = drive(&mut link, 300_000, 120, start);
        assert!(layers[10..].iter().filter(|l| **l == q).count() >= 100);
        let mut link = Link::new(start);
        let layers = drive(&mut link, 120_000, 120, start);
        assert!(layers[10..].iter().filter(|l| l.is_none()).count() >= 100);
    }

    #[test]
    fn a_link_that_recovers_gets_the_full_layer_back() {
        let start = Instant::now();
        let mut link = Link::new(start);
        drive(&mut link, 400_000, 30, start);
        assert!(link.estimate() < 500_000);
        let later = start + Duration::from_secs(30);
        let layers = drive(&mut link, 10_000_000, 120, later);
        assert_eq!(layers.last(), Some(&Some(Rid::from("f"))));
        // Reports with no loss but before the wait is over change nothing.
        let mut link = Link::new(start);
        link.report(start, 1_000_000, 0.5, Duration::from_secs(1));
        let cut = link.estimate();
        assert_eq!(cut, 750_000);
        link.report(
            start + Duration::from_secs(1),
            700_000,
            0.0,
            Duration::from_secs(1),
        );
        assert_eq!(link.estimate(), cut);
        // Losses reported before the cut could take effect do not cut again; later ones do.
        link.report(
            start + Duration::from_secs(2),
            1_000_000,
            0.5,
            Duration::from_secs(1),
        );
        assert_eq!(link.estimate(), cut);
        link.report(start + SETTLE, 700_000, 0.2, Duration::from_secs(1));
        assert_eq!(link.estimate(), 630_000);
        // A tiny sender's loss never takes it under the floor.
        link.report(start + SETTLE * 2, 10_000, 0.9, Duration::from_secs(1));
        assert_eq!(link.estimate(), FLOOR);
    }

    fn all() -> Vec<Rid> {
        LAYERS.iter().map(|(n, _)| Rid::from(*n)).collect()
    }

    #[test]
    fn the_estimate_picks_the_layer() {
        let q = Some(Rid::from("q"));
        let h = Some(Rid::from("h"));
        let f = Some(Rid::from("f"));
        // No estimate yet, or plenty: the full layer.
        assert_eq!(choose(None, 1, 1, &all()), f);
        assert_eq!(choose(Some(5_000_000), 1, 1, &all()), f);
        // Shared among videos, after audio.
        assert_eq!(choose(Some(3_200_000), 2, 2, &all()), f);
        assert_eq!(choose(Some(3_000_000), 2, 2, &all()), h);
        assert_eq!(choose(Some(3_000_000), 4, 4, &all()), h);
        assert_eq!(choose(Some(600_000), 1, 1, &all()), h);
        assert_eq!(choose(Some(400_000), 1, 1, &all()), q);
        // Between the floor and the smallest cap: still the smallest.
        assert_eq!(choose(Some(180_000), 1, 1, &all()), q);
        // Not even that: audio only.
        assert_eq!(choose(Some(150_000), 1, 1, &all()), None);
        assert_eq!(choose(Some(600_000), 6, 6, &all()), None);
    }

    #[test]
    fn only_layers_being_sent_are_chosen() {
        let sent = [Rid::from("q"), Rid::from("h")];
        assert_eq!(choose(Some(5_000_000), 1, 1, &sent), Some(Rid::from("h")));
        assert_eq!(choose(None, 1, 1, &[]), None);
        assert_eq!(rank(&Rid::from("x")), None);
    }
}
