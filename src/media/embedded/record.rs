//! Recording on the embedded server: what the SFU already receives from each publisher,
//! written as it arrives, without transcoding: VP8 video into IVF files and Opus audio into
//! Ogg files, one per person, track and recording part, with a timeline beside them that
//! says when each track started. The forwarding loop only hands frames to a bounded queue;
//! a task per recording writes them, so a slow disk never holds up the stage (frames that do
//! not fit are counted and dropped). Everything written is flushed as it goes: a crash keeps
//! what came before it. ffmpeg composes the parts after the event.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use str0m::{format::Codec, media::Rid};
use tokio::sync::mpsc;

use crate::features::ids::{EventId, UserId};

/// Frames waiting for the disk, per recording.
const QUEUE: usize = 2048;
/// A track's clock this far from the wall clock is a new origin (a restarted encoder, say),
/// not a pause: the file goes on where the wall clock says, in seconds.
const DRIFT_SECS: u64 = 5;

/// Which of a publisher's tracks a frame belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Track {
    Microphone,
    Camera,
    Screen,
    ScreenAudio,
}

impl Track {
    fn name(self) -> &'static str {
        match self {
            Track::Microphone => "mic",
            Track::Camera => "camera",
            Track::Screen => "screen",
            Track::ScreenAudio => "screen-audio",
        }
    }
}

pub(super) struct Frame {
    /// The connection it came through: a reconnect starts new files (its clocks start afresh).
    pub conn: u64,
    pub user: UserId,
    pub track: Track,
    pub codec: Codec,
    /// The simulcast layer it belongs to: each layer's RTP clock has an origin of its own.
    pub layer: Option<Rid>,
    /// RTP time: 48 kHz for Opus, 90 kHz for video.
    pub time: u64,
    /// When the SFU received it.
    pub arrived: std::time::Instant,
    pub keyframe: bool,
    pub data: Arc<[u8]>,
}

/// The recordings running on this server, by stage, and those that just started (their
/// publishers are asked for a picture to start the video files with).
#[derive(Default)]
pub(super) struct Recorders {
    running: HashMap<EventId, mpsc::Sender<Frame>>,
    starting: Vec<EventId>,
    /// The simulcast layer recorded of each camera (stage, connection, media line).
    layers: HashMap<(EventId, u64, str0m::media::Mid), Rid>,
}

impl Recorders {
    /// Starts recording `stage` into a new part under `dir` (a restart resumes in a new part).
    pub(super) fn start(&mut self, stage: &EventId, dir: &Path) {
        if self.running.get(stage).is_some_and(|tx| !tx.is_closed()) {
            return;
        }
        let part = dir
            .join(stage.to_string())
            .join(format!("part-{}", now_ms()));
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = write_part(&part, rx) {
                tracing::error!(error = %e, dir = %part.display(), "recording stopped");
            }
        });
        self.running.insert(stage.clone(), tx);
        self.starting.push(stage.clone());
    }

    pub(super) fn take_starting(&mut self) -> Vec<EventId> {
        std::mem::take(&mut self.starting)
    }

    /// Stops recording `stage`: its writer finishes what is queued and closes its files.
    pub(super) fn stop(&mut self, stage: &EventId) {
        self.running.remove(stage);
        self.layers.retain(|(s, ..), _| s != stage);
    }

    /// Notes the layer recorded of a simulcast camera; true when it changed, so the camera
    /// is asked for a picture the new layer's stretch of the file can begin with.
    pub(super) fn switched_layer(
        &mut self,
        stage: &EventId,
        conn: u64,
        mid: str0m::media::Mid,
        rid: Rid,
    ) -> bool {
        self.layers.insert((stage.clone(), conn, mid), rid) != Some(rid)
    }

    pub(super) fn is_recording(&self, stage: &EventId) -> bool {
        self.running.contains_key(stage)
    }

    /// Queues a frame of `stage`; one the disk cannot keep up with is dropped and counted.
    pub(super) fn push(&mut self, stage: &EventId, frame: Frame) {
        let Some(tx) = self.running.get(stage) else {
            return;
        };
        match tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("meetstage_recording_frames_dropped_total").increment(1);
            }
            // The writer stopped (the disk failed): recording ends, the stage goes on.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.running.remove(stage);
            }
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One track's file and its clock.
struct TrackFile {
    out: std::io::BufWriter<std::fs::File>,
    kind: Container,
    clock: TrackClock,
}

/// A file's time runs on from its first frame. A frame from another simulcast layer, or
/// whose RTP clock jumped, starts a new stretch placed where the wall clock says (for
/// video, at a picture a decoder can begin with).
struct TrackClock {
    opened: std::time::Instant,
    /// Ticks per second: 90,000 for video, 48,000 for Opus.
    rate: u64,
    video: bool,
    layer: Option<Rid>,
    /// The RTP time at the start of this stretch, and where the stretch starts in the file.
    first: u64,
    base: u64,
    /// The file's time of the last frame written.
    last: u64,
}

impl TrackClock {
    fn new(first: &Frame, video: bool) -> TrackClock {
        TrackClock {
            opened: first.arrived,
            rate: if video { 90_000 } else { 48_000 },
            video,
            layer: first.layer,
            first: first.time,
            base: 0,
            last: 0,
        }
    }

    /// Where `f` goes in the file, or None to drop it (another layer's frame that a decoder
    /// cannot begin with).
    fn place(&mut self, f: &Frame) -> Option<u64> {
        let wall = u64::try_from(
            f.arrived
                .saturating_duration_since(self.opened)
                .as_micros()
                .saturating_mul(u128::from(self.rate))
                / 1_000_000,
        )
        .unwrap_or(u64::MAX);
        let drift = DRIFT_SECS.saturating_mul(self.rate);
        let at = self.base.saturating_add(f.time.saturating_sub(self.first));
        let jumped = f.time < self.first || at.abs_diff(wall) > drift;
        if f.layer != self.layer || jumped {
            if self.video && f.layer != self.layer && !f.keyframe {
                return None;
            }
            self.layer = f.layer;
            self.first = f.time;
            self.base = wall.max(self.last.saturating_add(1));
            self.last = self.base;
            return Some(self.base);
        }
        self.last = self.last.max(at);
        Some(at)
    }
}

enum Container {
    Ivf,
    Ogg { serial: u32, page: u32 },
}

/// Writes one recording part until its queue closes.
fn write_part(dir: &Path, mut rx: mpsc::Receiver<Frame>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut timeline = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("timeline.jsonl"))?;
    let mut line = |value: serde_json::Value| -> std::io::Result<()> {
        writeln!(timeline, "{value}")?;
        timeline.flush()
    };
    line(serde_json::json!({ "at": now_ms(), "started": true }))?;
    let mut files: HashMap<(u64, UserId, Track), TrackFile> = HashMap::new();
    let mut counts: HashMap<(UserId, Track), u32> = HashMap::new();
    while let Some(f) = rx.blocking_recv() {
        let key = (f.conn, f.user.clone(), f.track);
        if !files.contains_key(&key) {
            // A video file starts at a picture a decoder can begin with.
            let kind = match f.codec {
                Codec::Vp8 if f.keyframe => Container::Ivf,
                Codec::Opus => Container::Ogg {
                    serial: rand::random(),
                    page: 0,
                },
                _ => continue,
            };
            let n = counts.entry((f.user.clone(), f.track)).or_default();
            *n += 1;
            let ext = if matches!(kind, Container::Ivf) {
                "ivf"
            } else {
                "ogg"
            };
            let name = format!("{}-{}-{n}.{ext}", f.user, f.track.name());
            let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join(&name))?);
            let kind = match kind {
                Container::Ivf => {
                    out.write_all(&ivf_header(&f.data))?;
                    Container::Ivf
                }
                Container::Ogg { serial, .. } => {
                    let mut page = 0;
                    ogg_page(&mut out, serial, &mut page, 0, 0x02, &opus_head())?;
                    ogg_page(&mut out, serial, &mut page, 0, 0, &opus_tags())?;
                    Container::Ogg { serial, page }
                }
            };
            line(serde_json::json!({
                "at": now_ms(), "user": f.user, "track": f.track.name(), "file": name,
            }))?;
            let video = matches!(kind, Container::Ivf);
            files.insert(
                key.clone(),
                TrackFile {
                    out,
                    kind,
                    clock: TrackClock::new(&f, video),
                },
            );
        }
        let Some(file) = files.get_mut(&key) else {
            continue;
        };
        let Some(at) = file.clock.place(&f) else {
            continue;
        };
        match &mut file.kind {
            Container::Ivf => {
                let size = u32::try_from(f.data.len()).unwrap_or(u32::MAX);
                file.out.write_all(&size.to_le_bytes())?;
                file.out.write_all(&at.to_le_bytes())?;
                file.out.write_all(&f.data)?;
            }
            Container::Ogg { serial, page } => {
                // The granule position counts 48 kHz samples to the end of this packet.
                let granule = at.saturating_add(opus_samples(&f.data));
                ogg_page(&mut file.out, *serial, page, granule, 0, &f.data)?;
            }
        }
        file.out.flush()?;
    }
    line(serde_json::json!({ "at": now_ms(), "stopped": true }))
}

/// An IVF file header for VP8 at a 90 kHz time base, with the picture size of the first
/// (key) frame.
fn ivf_header(keyframe: &[u8]) -> [u8; 32] {
    let (w, h) = match keyframe.get(6..10) {
        Some(d) => (
            u16::from_le_bytes([d[0], d[1]]) & 0x3fff,
            u16::from_le_bytes([d[2], d[3]]) & 0x3fff,
        ),
        None => (0, 0),
    };
    let mut head = [0u8; 32];
    head[0..4].copy_from_slice(b"DKIF");
    head[6..8].copy_from_slice(&32u16.to_le_bytes());
    head[8..12].copy_from_slice(b"VP80");
    head[12..14].copy_from_slice(&w.to_le_bytes());
    head[14..16].copy_from_slice(&h.to_le_bytes());
    head[16..20].copy_from_slice(&90_000u32.to_le_bytes());
    head[20..24].copy_from_slice(&1u32.to_le_bytes());
    head
}

fn opus_head() -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(2); // channels
    h.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes()); // gain
    h.push(0); // mapping family
    h
}

fn opus_tags() -> Vec<u8> {
    let vendor = b"meetstage";
    let mut t = b"OpusTags".to_vec();
    t.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    t.extend_from_slice(vendor);
    t.extend_from_slice(&0u32.to_le_bytes());
    t
}

/// Samples (at 48 kHz) in one Opus packet, from its TOC byte (RFC 6716, section 3.1).
fn opus_samples(packet: &[u8]) -> u64 {
    let Some(&toc) = packet.first() else {
        return 0;
    };
    let config = toc >> 3;
    let frame: u64 = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x3 {
        0 => 1,
        1 | 2 => 2,
        _ => packet.get(1).map_or(1, |c| u64::from(c & 0x3f)),
    };
    frame * frames
}

/// Writes one Ogg page holding one packet (RFC 3533).
fn ogg_page(
    out: &mut impl Write,
    serial: u32,
    page: &mut u32,
    granule: u64,
    flags: u8,
    packet: &[u8],
) -> std::io::Result<()> {
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push(u8::try_from(packet.len() % 255).unwrap_or(0));
    if lacing.len() > 255 {
        return Ok(()); // over 65 KB: no Opus packet is this large
    }
    let mut p = Vec::with_capacity(27 + lacing.len() + packet.len());
    p.extend_from_slice(b"OggS");
    p.push(0);
    p.push(flags);
    p.extend_from_slice(&granule.to_le_bytes());
    p.extend_from_slice(&serial.to_le_bytes());
    p.extend_from_slice(&page.to_le_bytes());
    p.extend_from_slice(&[0; 4]);
    p.push(lacing.len() as u8);
    p.extend_from_slice(&lacing);
    p.extend_from_slice(packet);
    let crc = ogg_crc(&p);
    p[22..26].copy_from_slice(&crc.to_le_bytes());
    *page = page.wrapping_add(1);
    out.write_all(&p)
}

/// Ogg's CRC-32: polynomial 0x04c11db7, not reflected, starting from zero.
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Where an event's recording parts are, under the data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_durations_and_the_ogg_checksum() {
        assert_eq!(opus_samples(&[0xF8, 0xFF, 0xFE]), 960); // CELT FB 20 ms, one frame
        assert_eq!(opus_samples(&[0x08]), 960); // SILK NB 20 ms
        assert_eq!(opus_samples(&[0xF9]), 1920); // two frames
        // The checksum of "OggS" with nothing else, as libogg computes it.
        assert_eq!(ogg_crc(b"OggS"), 0x5fb0_a94f);
    }

    fn frame(layer: &str, time: u64, ms: u64, keyframe: bool, t0: std::time::Instant) -> Frame {
        Frame {
            conn: 1,
            user: UserId::new(),
            track: Track::Camera,
            codec: Codec::Vp8,
            layer: Some(layer.into()),
            time,
            arrived: t0 + std::time::Duration::from_millis(ms),
            keyframe,
            data: Arc::from(&[][..]),
        }
    }

    /// Each simulcast layer's RTP clock has its own origin: a switch of layer waits for a
    /// key frame and goes on where the wall clock says; so does a clock that jumps.
    #[test]
    fn a_new_layer_or_a_jumping_clock_goes_on_at_the_wall_clock() {
        let t0 = std::time::Instant::now();
        let first = frame("h", 1_000_000, 0, true, t0);
        let mut c = TrackClock::new(&first, true);
        assert_eq!(c.place(&first), Some(0));
        assert_eq!(
            c.place(&frame("h", 1_090_000, 1000, false, t0)),
            Some(90_000)
        );
        // Layer m's clock starts somewhere else entirely; its delta frames are dropped.
        assert_eq!(c.place(&frame("m", 7_777, 2000, false, t0)), None);
        assert_eq!(c.place(&frame("m", 10_777, 2033, true, t0)), Some(182_970));
        assert_eq!(c.place(&frame("m", 13_777, 2066, false, t0)), Some(185_970));
        // Within a layer, a clock that jumps by hours (or back) is a new origin too.
        let jump = 13_777 + 90_000 * 3600;
        assert_eq!(c.place(&frame("m", jump, 2100, false, t0)), Some(189_000));
        assert_eq!(
            c.place(&frame("m", jump + 3000, 2133, false, t0)),
            Some(192_000)
        );
        assert_eq!(c.place(&frame("m", 5, 2166, false, t0)), Some(194_940));
    }
}
