//! Simulcast: which of a publisher's video layers each subscriber gets. Pages send their
//! camera in three layers (a quarter, half and full size, each capped at a bitrate); the
//! server forwards one per subscriber and video, the best its bandwidth estimate allows, and
//! only audio when even the smallest would not fit.

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

#[cfg(test)]
mod tests {
    use super::*;

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
