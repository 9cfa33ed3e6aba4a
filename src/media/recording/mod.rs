//! Recordings need ffmpeg to be composed into something people can play. Whether this server
//! has it is found once at start, logged, and shown on `/readyz`: without it events still run
//! and the raw recording waits. After the end, [`compose`] turns the embedded server's parts
//! into one MP4 and an HLS playlist.

pub mod cdn;
pub mod compose;
pub mod hls;
pub mod parts;
pub mod storage;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Whether recordings can be processed here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Processing {
    /// ffmpeg answered; its version line.
    Ready(String),
    /// Why not, in words for the operator.
    Unavailable(String),
}

impl Processing {
    /// Runs `ffmpeg -version` (bounded to five seconds).
    pub async fn probe(ffmpeg: &Path) -> Processing {
        let run = tokio::process::Command::new(ffmpeg)
            .arg("-version")
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(Duration::from_secs(5), run).await {
            Err(_) => Processing::Unavailable(format!(
                "{} -version did not answer within 5 s",
                ffmpeg.display()
            )),
            Ok(Err(e)) => {
                Processing::Unavailable(format!("{} cannot be run: {e}", ffmpeg.display()))
            }
            Ok(Ok(out)) if !out.status.success() => Processing::Unavailable(format!(
                "{} -version failed ({})",
                ffmpeg.display(),
                out.status
            )),
            Ok(Ok(out)) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let first = text.lines().next().unwrap_or("ffmpeg").trim();
                // The version line only: "ffmpeg version 5.1.6-0+deb12u1 Copyright …".
                let version = first.split(" Copyright").next().unwrap_or(first);
                Processing::Ready(version.chars().take(120).collect())
            }
        }
    }

    /// One line for the log and `/readyz`.
    pub fn describe(&self) -> String {
        match self {
            Processing::Ready(v) => format!("recording: available ({v})"),
            Processing::Unavailable(why) => format!(
                "recording: not available ({why}); events run, recordings cannot be processed here"
            ),
        }
    }
}

/// Bytes an unprivileged writer may still use on the file system that holds `dir` (or its
/// nearest existing parent: the recordings' directory is made when the first one starts).
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut at = dir;
    while !at.exists() {
        at = at.parent().unwrap_or(Path::new("/"));
    }
    let st = rustix::fs::statvfs(at)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// What composing made, in `work`: `recording.mp4` and `hls/` (`index.m3u8`, segments).
#[derive(Clone, Debug)]
pub struct Composed {
    pub duration_ms: u64,
    /// Each part: when it started (wall clock, ms) and where it begins in the video.
    pub parts: Vec<(i64, u64)>,
    /// Each track's first appearance: where in the video, whose, which kind.
    pub tracks: Vec<(u64, String, parts::Kind)>,
    pub mp4: PathBuf,
    pub hls: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("reading the recording: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} cannot be run ({1}); the raw recording is kept for later")]
    Unavailable(String, String),
    #[error("ffmpeg failed ({status}): {tail}")]
    Failed { status: String, tail: String },
    #[error("ffmpeg took longer than {0} s")]
    TimedOut(u64),
}

impl ComposeError {
    /// What went wrong, for the organizer (the details are logged, with paths and ffmpeg's
    /// own words, for the operator).
    pub fn summary(&self) -> &'static str {
        match self {
            ComposeError::Io(_) => "the raw recording could not be read",
            ComposeError::Unavailable(..) => "ffmpeg is not available on this server",
            ComposeError::Failed { .. } => "ffmpeg could not compose it",
            ComposeError::TimedOut(_) => "composing took too long",
        }
    }
}

/// Composes the parts under `event_dir` in `work` (kept between attempts: a part composed
/// before a crash is not composed again). None when nothing was recorded. `progress` hears
/// 0–100.
pub async fn compose(
    ffmpeg: &Path,
    event_dir: &Path,
    work: &Path,
    mut progress: impl FnMut(u8),
) -> Result<Option<Composed>, ComposeError> {
    let dir = event_dir.to_owned();
    let parts = tokio::task::spawn_blocking(move || parts::read(&dir))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    if parts.is_empty() {
        return Ok(None);
    }
    tokio::fs::create_dir_all(work).await?;
    let total: u64 = parts.iter().map(|p| p.duration_ms).sum::<u64>().max(1);
    let mut done = 0u64;
    let mut files = Vec::new();
    let mut offsets = Vec::new();
    let mut tracks = Vec::new();
    for part in &parts {
        offsets.push((part.started_at, done));
        for t in &part.tracks {
            tracks.push((done + t.start_ms, t.user.clone(), t.kind));
        }
        let file = work.join(format!("part-{}.mp4", part.started_at));
        if !tokio::fs::try_exists(&file).await? {
            let tmp = work.join("part.tmp.mp4");
            let args = compose::ffmpeg_args(part, &tmp);
            let base = done;
            run(ffmpeg, &args, part.duration_ms, |at| {
                let p = (base + at.min(part.duration_ms)) * 95 / total;
                progress(u8::try_from(p).unwrap_or(95));
            })
            .await?;
            tokio::fs::rename(&tmp, &file).await?;
        }
        done += part.duration_ms;
        files.push(file);
    }
    progress(95);
    let (mp4, hls) = finish(ffmpeg, &files, work, total).await?;
    progress(99);
    Ok(Some(Composed {
        duration_ms: done,
        parts: offsets,
        tracks,
        mp4,
        hls,
    }))
}

/// Joins the parts' MP4s (in order) into `work/recording.mp4` and cuts it into an HLS VOD
/// in `work/hls/`, copying the streams (no encoding).
pub async fn finish(
    ffmpeg: &Path,
    files: &[PathBuf],
    work: &Path,
    total: u64,
) -> Result<(PathBuf, PathBuf), ComposeError> {
    let mp4 = work.join("recording.mp4");
    if files.len() == 1 {
        tokio::fs::copy(&files[0], &mp4).await?;
    } else {
        let list: String = files
            .iter()
            .map(|f| format!("file '{}'\n", f.display()))
            .collect();
        let list_file = work.join("parts.txt");
        tokio::fs::write(&list_file, list).await?;
        let mut args = ffmpeg_base();
        args.extend(["-f", "concat", "-safe", "0", "-i"].map(OsString::from));
        args.push(list_file.into_os_string());
        args.extend(["-c", "copy", "-movflags", "+faststart"].map(OsString::from));
        args.push(mp4.clone().into_os_string());
        run(ffmpeg, &args, total, |_| {}).await?;
    }
    let hls = work.join("hls");
    if tokio::fs::try_exists(&hls).await? {
        tokio::fs::remove_dir_all(&hls).await?;
    }
    tokio::fs::create_dir_all(&hls).await?;
    let mut args = ffmpeg_base();
    args.push("-i".into());
    args.push(mp4.clone().into_os_string());
    args.extend(
        [
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            "6",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
        ]
        .map(OsString::from),
    );
    args.push(hls.join("seg-%05d.ts").into_os_string());
    args.push(hls.join("index.m3u8").into_os_string());
    run(ffmpeg, &args, total, |_| {}).await?;
    Ok((mp4, hls))
}

/// Copies the streams an HLS media playlist (on disk, with its segments) holds into one MP4.
pub async fn remux(
    ffmpeg: &Path,
    playlist: &Path,
    out: &Path,
    duration_ms: u64,
    at: impl FnMut(u64),
) -> Result<(), ComposeError> {
    let mut args = ffmpeg_base();
    args.push("-i".into());
    args.push(playlist.as_os_str().to_owned());
    // ADTS AAC from MPEG-TS segments needs its headers rewritten for MP4.
    args.extend(
        [
            "-c",
            "copy",
            "-bsf:a",
            "aac_adtstoasc",
            "-movflags",
            "+faststart",
        ]
        .map(OsString::from),
    );
    args.push(out.as_os_str().to_owned());
    run(ffmpeg, &args, duration_ms, at).await
}

/// What every ffmpeg run here starts with: quiet, never reading stdin, progress on stdout.
pub(crate) fn ffmpeg_base() -> Vec<OsString> {
    [
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
    ]
    .map(OsString::from)
    .to_vec()
}

/// The end of ffmpeg's error output kept for the operator.
const STDERR_KEPT: usize = 64 * 1024;

/// Runs ffmpeg, reporting how far (ms of output) it got; gives up after three times the
/// media's duration plus ten minutes (a hung process is killed, not waited for forever).
async fn run(
    ffmpeg: &Path,
    args: &[OsString],
    media_ms: u64,
    mut at: impl FnMut(u64),
) -> Result<(), ComposeError> {
    let mut child = tokio::process::Command::new(ffmpeg)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ComposeError::Unavailable(ffmpeg.display().to_string(), e.to_string()))?;
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let limit = media_ms.saturating_mul(3) / 1000 + 600;
    let work = async {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        // Read all of stderr alongside, so a chatty ffmpeg never blocks on a full pipe
        // (a recording with broken frames can print megabytes); only the end is kept.
        let errors = tokio::spawn(async move {
            let mut tail = std::collections::VecDeque::with_capacity(STDERR_KEPT);
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                for &b in &chunk[..n] {
                    if tail.len() == STDERR_KEPT {
                        tail.pop_front();
                    }
                    tail.push_back(b);
                }
            }
            Vec::from(tail)
        });
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(us) = line.strip_prefix("out_time_us=")
                && let Ok(us) = us.trim().parse::<u64>()
            {
                at(us / 1000);
            }
        }
        let status = child.wait().await?;
        let err = errors.await.unwrap_or_default();
        Ok::<_, ComposeError>((status, err))
    };
    match tokio::time::timeout(Duration::from_secs(limit), work).await {
        Err(_) => Err(ComposeError::TimedOut(limit)),
        Ok(Err(e)) => Err(e),
        Ok(Ok((status, _))) if status.success() => Ok(()),
        Ok(Ok((status, err))) => {
            let text = String::from_utf8_lossy(&err);
            let tail: String = text
                .trim()
                .chars()
                .rev()
                .take(400)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Err(ComposeError::Failed {
                status: status.to_string(),
                tail,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that prints megabytes of errors is read to its end (never left blocked on a
    /// full pipe), and only the end of what it said is kept.
    #[tokio::test]
    async fn a_chatty_ffmpeg_is_read_to_the_end() {
        let script = "head -c 3000000 /dev/zero | tr '\\0' x >&2; echo out_time_us=2000000; \
                      printf ' the end' >&2; exit 3";
        let args = ["-c", script].map(OsString::from);
        let mut seen = 0;
        let run = run(Path::new("sh"), &args, 1_000, |ms| seen = ms);
        let result = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("read to the end");
        match result {
            Err(ComposeError::Failed { status, tail }) => {
                assert!(status.contains('3'), "{status}");
                assert!(tail.ends_with("x the end"), "{tail}");
                assert_eq!(tail.chars().count(), 400);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(seen, 2_000);
    }
}
