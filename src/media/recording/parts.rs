//! Reading what the embedded server recorded: each part's timeline and, from the files
//! themselves, when each track really ran (a camera switched off leaves a gap, a crash a
//! short file). Nothing here trusts the timeline's file names beyond the part's directory.

use std::{
    io::{BufRead, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

/// A gap longer than this in a video track ends a run: the camera was off.
const GAP_MS: u64 = 2_000;
/// How far past a part's stop a track may run (frames queued at the end).
const END_SLACK_MS: u64 = 1_000;
/// Timeline lines read per part, at most.
const MAX_LINES: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Camera,
    Screen,
    Microphone,
    ScreenAudio,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "camera" => Kind::Camera,
            "screen" => Kind::Screen,
            "mic" => Kind::Microphone,
            "screen-audio" => Kind::ScreenAudio,
            _ => return None,
        })
    }

    pub fn is_video(self) -> bool {
        matches!(self, Kind::Camera | Kind::Screen)
    }
}

/// One recorded track: when (in ms from its part's start) it ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    pub path: PathBuf,
    pub user: String,
    pub kind: Kind,
    /// Where the file's first frame falls in the part.
    pub start_ms: u64,
    /// Spans with frames, from the part's start, in order.
    pub runs: Vec<(u64, u64)>,
}

/// One recording part: from one start (Go Live, or a restart) to its stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub started_at: i64,
    pub duration_ms: u64,
    pub tracks: Vec<Track>,
}

/// The parts of an event's recording with something in them, in order.
pub fn read(event_dir: &Path) -> std::io::Result<Vec<Part>> {
    let mut parts = Vec::new();
    let entries = match std::fs::read_dir(event_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(parts),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("part-") || !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(part) = read_part(&entry.path())?
            && part.duration_ms > 0
            && !part.tracks.is_empty()
        {
            parts.push(part);
        }
    }
    parts.sort_by_key(|p| p.started_at);
    Ok(parts)
}

fn read_part(dir: &Path) -> std::io::Result<Option<Part>> {
    let file = match std::fs::File::open(dir.join("timeline.jsonl")) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (mut started, mut stopped) = (None, None);
    let mut tracks = Vec::new();
    for line in std::io::BufReader::new(file).lines().take(MAX_LINES) {
        // A line cut short by a crash is the end of what was written.
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            break;
        };
        let Some(at) = v["at"].as_i64() else { continue };
        if v["started"] == true {
            started.get_or_insert(at);
        } else if v["stopped"] == true {
            stopped = Some(at);
        } else if let (Some(user), Some(kind), Some(name)) = (
            v["user"].as_str(),
            v["track"].as_str().and_then(Kind::parse),
            v["file"].as_str(),
        ) && safe_name(name)
        {
            tracks.push((at, user.to_string(), kind, dir.join(name)));
        }
    }
    let Some(started) = started else {
        return Ok(None);
    };
    // What a track says past the part's own end is a broken clock, not hours of video.
    let limit = stopped
        .and_then(|s| u64::try_from(s.saturating_sub(started)).ok())
        .map_or(u64::MAX, |wall| wall.saturating_add(END_SLACK_MS));
    let mut out = Vec::new();
    for (at, user, kind, path) in tracks {
        let start_ms = u64::try_from(at.saturating_sub(started)).unwrap_or(0);
        let spans = match path.extension().and_then(|e| e.to_str()) {
            Some("ivf") => ivf_runs(&path)?,
            _ => ogg_span(&path)?.into_iter().collect(),
        };
        let runs: Vec<(u64, u64)> = spans
            .into_iter()
            .map(|(a, b)| (start_ms.saturating_add(a), start_ms.saturating_add(b)))
            .map(|(a, b)| (a.min(limit), b.min(limit)))
            .filter(|(a, b)| b > a)
            .collect();
        if !runs.is_empty() {
            out.push(Track {
                path,
                user,
                kind,
                start_ms,
                runs,
            });
        }
    }
    let last = out
        .iter()
        .filter_map(|t| t.runs.last().map(|r| r.1))
        .max()
        .unwrap_or(0);
    let duration_ms = match stopped {
        Some(s) => u64::try_from(s.saturating_sub(started))
            .unwrap_or(0)
            .max(last),
        None => last,
    };
    Ok(Some(Part {
        started_at: started,
        duration_ms,
        tracks: out,
    }))
}

/// Names the recorder writes: `{user}-{track}-{n}.{ivf|ogg}`, nothing with a path in it.
fn safe_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    matches!(ext, "ivf" | "ogg")
        && !stem.is_empty()
        && stem.len() <= 200
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The runs of frames in an IVF file (ms from its first frame): a gap over two seconds
/// splits a run. A frame cut short by a crash ends the file.
fn ivf_runs(path: &Path) -> std::io::Result<Vec<(u64, u64)>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(Vec::new());
    };
    let len = file.metadata()?.len();
    let mut r = std::io::BufReader::new(file);
    let mut head = [0u8; 32];
    if r.read_exact(&mut head).is_err() || &head[0..4] != b"DKIF" {
        return Ok(Vec::new());
    }
    let header = u64::from(u16::from_le_bytes([head[6], head[7]]));
    let rate = u64::from(u32::from_le_bytes([head[16], head[17], head[18], head[19]])).max(1);
    let scale = u64::from(u32::from_le_bytes([head[20], head[21], head[22], head[23]])).max(1);
    let ms = |ts: u64| ts.saturating_mul(scale).saturating_mul(1000) / rate;
    let mut pos = r.seek(SeekFrom::Start(header))?;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut frame = [0u8; 12];
    // One frame lasts about this long at the end of a run (30 fps).
    let tail = 33;
    while pos.saturating_add(12) <= len {
        if r.read_exact(&mut frame).is_err() {
            break;
        }
        let size = u64::from(u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]));
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&frame[4..12]);
        let at = ms(u64::from_le_bytes(ts));
        let next = pos.saturating_add(12).saturating_add(size);
        if next > len {
            break;
        }
        match runs.last_mut() {
            Some(run) if at <= run.1.saturating_add(GAP_MS) => run.1 = run.1.max(at + tail),
            _ => runs.push((at, at + tail)),
        }
        pos = r.seek(SeekFrom::Start(next))?;
    }
    Ok(runs)
}

/// The span of an Ogg Opus file: from 0 to its last page's granule position (48 kHz).
fn ogg_span(path: &Path) -> std::io::Result<Option<(u64, u64)>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(None);
    };
    let len = file.metadata()?.len();
    let mut r = std::io::BufReader::new(file);
    let mut pos = 0u64;
    let mut last = 0u64;
    let mut head = [0u8; 27];
    while pos.saturating_add(27) <= len {
        if r.read_exact(&mut head).is_err() || &head[0..4] != b"OggS" {
            break;
        }
        let mut lacing = vec![0u8; usize::from(head[26])];
        if r.read_exact(&mut lacing).is_err() {
            break;
        }
        let body: u64 = lacing.iter().map(|&b| u64::from(b)).sum();
        let next = pos + 27 + lacing.len() as u64 + body;
        if next > len {
            break;
        }
        let mut g = [0u8; 8];
        g.copy_from_slice(&head[6..14]);
        let granule = u64::from_le_bytes(g);
        if granule != u64::MAX {
            last = last.max(granule);
        }
        pos = r.seek(SeekFrom::Start(next))?;
    }
    Ok((last > 0).then_some((0, last / 48)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_a_path_are_refused() {
        assert!(safe_name("0190-abc-camera-1.ivf"));
        assert!(!safe_name("../etc/passwd.ivf"));
        assert!(!safe_name("a/b.ogg"));
        assert!(!safe_name("camera-1.mp4"));
        assert!(!safe_name(".ivf"));
    }

    #[test]
    fn a_camera_switched_off_leaves_two_runs_and_a_cut_frame_ends_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.ivf");
        let mut f = Vec::new();
        let mut head = [0u8; 32];
        head[0..4].copy_from_slice(b"DKIF");
        head[6..8].copy_from_slice(&32u16.to_le_bytes());
        head[16..20].copy_from_slice(&90_000u32.to_le_bytes());
        head[20..24].copy_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&head);
        // Frames at 0 s, 1 s, then 5 s (a gap), then one whose data is missing.
        for (ts, size) in [(0u64, 3u32), (90_000, 3), (450_000, 3)] {
            f.extend_from_slice(&size.to_le_bytes());
            f.extend_from_slice(&ts.to_le_bytes());
            f.extend_from_slice(&[1, 2, 3]);
        }
        f.extend_from_slice(&100u32.to_le_bytes());
        f.extend_from_slice(&540_000u64.to_le_bytes());
        std::fs::write(&path, f).unwrap();
        assert_eq!(ivf_runs(&path).unwrap(), vec![(0, 1033), (5000, 5033)]);

        // A clock that jumps by hours inside a 6 s part is clipped to the part's end.
        let mut f = head.to_vec();
        for ts in [0u64, 90_000, 90_000 * 40_000] {
            f.extend_from_slice(&3u32.to_le_bytes());
            f.extend_from_slice(&ts.to_le_bytes());
            f.extend_from_slice(&[1, 2, 3]);
        }
        std::fs::write(dir.path().join("u-camera-1.ivf"), f).unwrap();
        std::fs::write(
            dir.path().join("timeline.jsonl"),
            "{\"at\":1000,\"started\":true}\n\
             {\"at\":1000,\"user\":\"u\",\"track\":\"camera\",\"file\":\"u-camera-1.ivf\"}\n\
             {\"at\":7000,\"stopped\":true}\n",
        )
        .unwrap();
        let part = read_part(dir.path()).unwrap().unwrap();
        assert_eq!(part.duration_ms, 6000);
        assert_eq!(part.tracks[0].runs, vec![(0, 1033)]);
    }
}
