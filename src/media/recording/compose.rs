//! Composing a recording part into 720p H.264 + AAC with the layout attendees saw: the shared
//! screen large with the cameras beside it, or the cameras in a grid. The layout changes
//! whenever a track starts or stops; each video is decoded once and placed by expressions of
//! time, so a screen shared fifty times costs no more decoding than once.

use std::{collections::BTreeMap, ffi::OsString, fmt::Write, path::Path};

use super::parts::{Kind, Part};

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 720;
/// The width of the column of cameras beside a shared screen.
const SIDE: u32 = 320;
const BACKGROUND: &str = "0x15181d";

/// Where a video goes on the 1280×720 picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// A stretch of the part's timeline (start and end in ms) in which a video sits on a tile.
type Span = (u64, u64, Tile);

/// The tiles for a screen (if one is shared) and `cameras` cameras, as the room shows them.
pub fn layout(screen: bool, cameras: usize) -> (Option<Tile>, Vec<Tile>) {
    if screen {
        if cameras == 0 {
            return (Some(full()), Vec::new());
        }
        let screen = Tile {
            x: 0,
            y: 0,
            w: WIDTH - SIDE,
            h: HEIGHT,
        };
        let side = (0..cameras.min(4) as u32)
            .map(|i| Tile {
                x: WIDTH - SIDE,
                y: i * (HEIGHT / 4),
                w: SIDE,
                h: HEIGHT / 4,
            })
            .collect();
        return (Some(screen), side);
    }
    let (cols, rows) = match cameras {
        0 => return (None, Vec::new()),
        1 => return (None, vec![full()]),
        2 => (2, 1),
        3 | 4 => (2, 2),
        5 | 6 => (3, 2),
        7..=9 => (3, 3),
        _ => (4, 3),
    };
    let (w, h) = (WIDTH / cols, HEIGHT / 2.max(rows));
    // One row sits in the middle of the picture.
    let top = (HEIGHT - h * rows) / 2;
    let tiles = (0..cameras.min((cols * rows) as usize) as u32)
        .map(|i| Tile {
            x: (i % cols) * w,
            y: top + (i / cols) * h,
            w,
            h,
        })
        .collect();
    (None, tiles)
}

fn full() -> Tile {
    Tile {
        x: 0,
        y: 0,
        w: WIDTH,
        h: HEIGHT,
    }
}

/// For each video track of the part (by index), where it shows and when: (from, to, tile).
pub fn placements(part: &Part) -> BTreeMap<usize, Vec<(u64, u64, Tile)>> {
    let videos: Vec<usize> = (0..part.tracks.len())
        .filter(|&i| part.tracks[i].kind.is_video())
        .collect();
    let mut cuts: Vec<u64> = vec![0, part.duration_ms];
    for &i in &videos {
        for &(a, b) in &part.tracks[i].runs {
            cuts.extend([a.min(part.duration_ms), b.min(part.duration_ms)]);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: BTreeMap<usize, Vec<(u64, u64, Tile)>> = BTreeMap::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let mid = a + (b - a) / 2;
        let on = |i: &usize| {
            part.tracks[*i]
                .runs
                .iter()
                .any(|&(s, e)| s <= mid && mid < e)
        };
        let active: Vec<usize> = videos.iter().copied().filter(on).collect();
        // The screen shared last is the one shown; cameras in the order they came.
        let screen = active
            .iter()
            .copied()
            .filter(|&i| part.tracks[i].kind == Kind::Screen)
            .max_by_key(|&i| part.tracks[i].start_ms);
        let cameras: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&i| part.tracks[i].kind == Kind::Camera)
            .collect();
        let (screen_tile, camera_tiles) = layout(screen.is_some(), cameras.len());
        if let (Some(i), Some(t)) = (screen, screen_tile) {
            push(&mut out, i, a, b, t);
        }
        for (&i, &t) in cameras.iter().zip(&camera_tiles) {
            push(&mut out, i, a, b, t);
        }
    }
    out
}

/// Adds a span, joined to the previous one when it continues it in the same place.
fn push(out: &mut BTreeMap<usize, Vec<(u64, u64, Tile)>>, i: usize, a: u64, b: u64, t: Tile) {
    let spans = out.entry(i).or_default();
    match spans.last_mut() {
        Some(last) if last.1 == a && last.2 == t => last.1 = b,
        _ => spans.push((a, b, t)),
    }
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `value` while t is in one of the spans, summed: each span is [from, to).
fn by_time(spans: &[(u64, u64, u32)]) -> String {
    if let [(_, _, v)] = spans {
        return v.to_string();
    }
    let mut e = String::new();
    for (a, b, v) in spans {
        if !e.is_empty() {
            e.push('+');
        }
        let _ = write!(e, "{v}*gte(t,{})*lt(t,{})", secs(*a), secs(*b));
    }
    e
}

/// The arguments for ffmpeg that compose `part` into `out` (MP4), reporting progress on
/// stdout.
pub fn ffmpeg_args(part: &Part, out: &Path) -> Vec<OsString> {
    let mut args = super::ffmpeg_base();
    let placed = placements(part);
    let d = secs(part.duration_ms);
    let mut graph = format!("color=c={BACKGROUND}:s={WIDTH}x{HEIGHT}:r=30:d={d}[bg0];");
    let mut layer = 0;
    let mut input = 0;
    for (i, spans) in &placed {
        let track = &part.tracks[*i];
        // A camera that changes its size mid-stream goes on through the same graph.
        args.extend(["-reinit_filter", "0", "-i"].map(OsString::from));
        args.push(track.path.clone().into_os_string());
        // One branch per tile size this video takes; its position moves with time.
        let mut sizes: BTreeMap<(u32, u32), Vec<Span>> = BTreeMap::new();
        for &(a, b, t) in spans {
            sizes.entry((t.w, t.h)).or_default().push((a, b, t));
        }
        let _ = write!(
            graph,
            "[{input}:v]setpts=PTS-STARTPTS+{}/TB,split={}",
            secs(track.start_ms),
            sizes.len()
        );
        for k in 0..sizes.len() {
            let _ = write!(graph, "[v{input}s{k}]");
        }
        graph.push(';');
        for (k, ((w, h), spans)) in sizes.iter().enumerate() {
            let xs: Vec<_> = spans.iter().map(|&(a, b, t)| (a, b, t.x)).collect();
            let ys: Vec<_> = spans.iter().map(|&(a, b, t)| (a, b, t.y)).collect();
            let on: Vec<_> = spans.iter().map(|&(a, b, _)| (a, b, 1)).collect();
            let _ = write!(
                graph,
                "[v{input}s{k}]scale={w}:{h}:force_original_aspect_ratio=decrease:\
                 force_divisible_by=2[v{input}z{k}];\
                 [bg{layer}][v{input}z{k}]overlay=x='{}+({w}-w)/2':y='{}+({h}-h)/2':\
                 eof_action=pass:enable='{}'[bg{}];",
                by_time(&xs),
                by_time(&ys),
                by_time(&on),
                layer + 1
            );
            layer += 1;
        }
        input += 1;
    }
    let _ = write!(graph, "[bg{layer}]format=yuv420p[v];");
    let mut voices = Vec::new();
    for track in part.tracks.iter().filter(|t| !t.kind.is_video()) {
        args.push("-i".into());
        args.push(track.path.clone().into_os_string());
        let _ = write!(
            graph,
            "[{input}:a]asetpts=PTS-STARTPTS,aresample=48000:async=1000,\
             adelay=delays={}:all=1[a{input}];",
            track.start_ms
        );
        voices.push(format!("[a{input}]"));
        input += 1;
    }
    match voices.len() {
        0 => {
            let _ = write!(graph, "anullsrc=r=48000:cl=stereo,atrim=0:{d}[a]");
        }
        1 => {
            let _ = write!(graph, "{}apad=whole_dur={d}[a]", voices[0]);
        }
        n => {
            let _ = write!(
                graph,
                "{}amix=inputs={n}:duration=longest:normalize=0,apad=whole_dur={d}[a]",
                voices.concat()
            );
        }
    }
    args.extend(
        [
            "-filter_complex",
            &graph,
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-r",
            "30",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ac",
            "2",
            "-t",
            &d,
            "-movflags",
            "+faststart",
        ]
        .map(OsString::from),
    );
    args.push(out.as_os_str().to_owned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::recording::parts::Track;

    fn track(kind: Kind, runs: &[(u64, u64)]) -> Track {
        Track {
            path: format!("/r/{kind:?}.x").into(),
            user: "u".into(),
            kind,
            start_ms: runs[0].0,
            runs: runs.to_vec(),
        }
    }

    #[test]
    fn grids_fit_the_picture() {
        for n in 1..=12 {
            let (_, tiles) = layout(false, n);
            assert_eq!(tiles.len(), n);
            for t in tiles {
                assert!(t.x + t.w <= WIDTH && t.y + t.h <= HEIGHT, "{n}: {t:?}");
            }
        }
        let (screen, side) = layout(true, 6);
        assert_eq!(screen.unwrap().w, 960);
        assert_eq!(side.len(), 4, "at most four cameras beside the screen");
    }

    /// Three hours with a screen shared and stopped thirty times: each share large in its
    /// own span, the camera aside meanwhile and full between, the output as long as the
    /// part (no overflow in the times, no share lost).
    #[test]
    fn three_hours_with_a_screen_shared_thirty_times() {
        const HOURS_3: u64 = 3 * 3_600_000;
        let share = |n: u64| (n * 360_000 + 60_000, n * 360_000 + 180_000);
        let mut tracks = vec![track(Kind::Camera, &[(0, HOURS_3)])];
        tracks.extend((0..30).map(|n| track(Kind::Screen, &[share(n)])));
        tracks.push(track(Kind::Microphone, &[(0, HOURS_3)]));
        let part = Part {
            started_at: 1_800_000_000_000,
            duration_ms: HOURS_3,
            tracks,
        };
        let placed = placements(&part);
        let camera = &placed[&0];
        assert_eq!(camera.len(), 61, "full, aside, full, … thirty times");
        assert_eq!(camera.last().unwrap().1, HOURS_3);
        let big = layout(true, 1).0.unwrap();
        for n in 0..30 {
            let (a, b) = share(n);
            assert_eq!(placed[&(n as usize + 1)], vec![(a, b, big)]);
            assert_eq!(camera[2 * n as usize + 1].0, a);
        }
        let args: Vec<String> = ffmpeg_args(&part, Path::new("/o.mp4"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args[args.iter().position(|a| a == "-t").unwrap() + 1],
            "10800.000"
        );
        assert_eq!(args.iter().filter(|a| *a == "-i").count(), 32);
    }

    /// A camera alone fills the picture, moves aside while the screen is shared, and comes
    /// back; its place is one branch per size with positions by time.
    #[test]
    fn the_layout_follows_the_screen() {
        let part = Part {
            started_at: 0,
            duration_ms: 30_000,
            tracks: vec![
                track(Kind::Camera, &[(0, 30_000)]),
                track(Kind::Screen, &[(10_000, 20_000)]),
                track(Kind::Microphone, &[(0, 30_000)]),
            ],
        };
        let placed = placements(&part);
        let camera = &placed[&0];
        assert_eq!(camera.len(), 3);
        assert_eq!(camera[0].2, full());
        assert_eq!(
            (camera[1].0, camera[1].1, camera[1].2.w),
            (10_000, 20_000, 320)
        );
        assert_eq!(camera[2].2, full());
        assert_eq!(
            placed[&1],
            vec![(10_000, 20_000, layout(true, 1).0.unwrap())]
        );
        assert!(!placed.contains_key(&2), "audio has no place");

        let args: Vec<String> = ffmpeg_args(&part, Path::new("/o.mp4"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("split=2[v0s0][v0s1]"), "{graph}");
        assert!(
            graph.contains("enable='1*gte(t,0.000)*lt(t,10.000)+1*gte(t,20.000)*lt(t,30.000)'")
        );
        assert!(graph.contains("adelay=delays=0:all=1"));
        assert_eq!(args.iter().filter(|a| *a == "-i").count(), 3);
    }
}
