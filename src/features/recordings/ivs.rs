//! Recordings on Amazon IVS. IVS composes the stage into HLS in the recordings bucket
//! itself, one output per composition (`<stage>/<session>/<composition>/composite/`); after
//! the end, the recording's job waits until every output is finished (its playlist ends),
//! fetches them, joins them (streams copied, no encoding) and puts the result in the
//! recording store like an embedded recording: the same player, download, access checks and
//! delete. IVS says when a composition ended through EventBridge (the hook brings the job
//! forward); the job also looks by itself, so nothing depends on that event arriving.

use std::path::{Path, PathBuf};

use crate::{
    features::{Core, ids::EventId},
    media::recording::{
        self, ComposeError, Composed,
        hls::{self, Media},
        storage::{S3Store, StoreError},
    },
    store::{recordings::RecordingRow, stages::CompositionRow},
};

/// IVS writes the last segments of an output shortly after the composition stops; the job
/// looks again this often …
pub const LOOK_AGAIN_MS: i64 = 2 * 60_000;
/// … and at most this long after the end, then joins what it found (an output IVS never
/// finished is used as far as it got).
const GIVE_UP_MS: i64 = 2 * 3_600_000;

/// A playlist read from the bucket, at most this big.
const PLAYLIST_BYTES: usize = 8 << 20;

/// What the job found.
pub enum Found {
    /// IVS is still writing: look again later.
    Later,
    /// Every output fetched and joined; None when IVS recorded nothing.
    Composed(Option<Composed>),
}

/// Why it could not: the organizer's words, and the cause for the log and the retry.
pub type Failure = (&'static str, anyhow::Error);

fn store_failure(e: StoreError) -> Failure {
    ("the recording store could not be reached", e.into())
}

fn compose_failure(e: ComposeError) -> Failure {
    (e.summary(), e.into())
}

/// One composition's output, as far as IVS wrote it.
struct Output {
    composition: CompositionRow,
    /// `<stage>/<session>/<composition>/composite/media/hls/`
    dir: String,
    /// The largest rendition's playlist, relative to `dir`.
    variant: String,
    /// The variant playlist as read, and what it holds.
    playlist: String,
    media: Media,
}

/// Looks for every composition's output and, once all are finished (or the wait is over),
/// fetches and joins them in `work`. `progress` hears 0–95.
pub async fn collect(
    core: &Core,
    row: &RecordingRow,
    work: &Path,
    mut progress: impl FnMut(u8),
) -> Result<Found, Failure> {
    let Some(s3) = core.recording_store.s3() else {
        let why = "recordings on Amazon IVS need the S3 recording store";
        return Err((why, anyhow::anyhow!("recording_store is not s3")));
    };
    let compositions = core
        .store
        .compositions(&row.event_id)
        .await
        .map_err(|e| ("the database could not be read", e.into()))?;
    let waited_long = core.clock.now_ms().saturating_sub(row.updated_at) >= GIVE_UP_MS;
    let mut outputs = Vec::new();
    for c in compositions {
        // IVS said it ended (EventBridge) and nothing is there: it recorded nothing.
        let said_ended = c.ended_at.is_some();
        match output(core, s3, c).await.map_err(store_failure)? {
            Some(o) if o.media.ended || waited_long => outputs.push(o),
            None if said_ended || waited_long => {}
            _ => return Ok(Found::Later),
        }
    }
    outputs.retain(|o| !o.media.files.is_empty());
    if outputs.is_empty() {
        return Ok(Found::Composed(None));
    }
    tokio::fs::create_dir_all(work)
        .await
        .map_err(|e| ("the server's disk could not be written", e.into()))?;
    let total: u64 = outputs
        .iter()
        .map(|o| o.media.duration_ms)
        .sum::<u64>()
        .max(1);
    let files_total: usize = outputs.iter().map(|o| o.media.files.len()).sum();
    let mut fetched = 0usize;
    let mut parts = Vec::new();
    let mut files = Vec::new();
    let mut done = 0u64;
    for o in &outputs {
        // Named after the composition, so a later try finds what an earlier one fetched.
        let id = resource_id(&o.composition.arn).unwrap_or("composition");
        let local = work.join(format!("ivs-{id}"));
        let playlist = fetch(s3, o, &local, |_| {
            fetched += 1;
            progress(u8::try_from(fetched * 50 / files_total.max(1)).unwrap_or(50));
        })
        .await
        .map_err(store_failure)?;
        let mp4 = work.join(format!("part-{id}.mp4"));
        if !tokio::fs::try_exists(&mp4).await.unwrap_or(false) {
            let tmp = work.join("part.tmp.mp4");
            let base = done;
            recording::remux(
                &core.config.ffmpeg,
                &playlist,
                &tmp,
                o.media.duration_ms,
                |at| {
                    let p = 50 + (base + at.min(o.media.duration_ms)) * 45 / total;
                    progress(u8::try_from(p).unwrap_or(95));
                },
            )
            .await
            .map_err(compose_failure)?;
            tokio::fs::rename(&tmp, &mp4)
                .await
                .map_err(|e| ("the server's disk could not be written", e.into()))?;
        }
        parts.push((o.composition.started_at, done));
        done += o.media.duration_ms;
        files.push(mp4);
    }
    progress(95);
    let (mp4, hls) = recording::finish(&core.config.ffmpeg, &files, work, total)
        .await
        .map_err(compose_failure)?;
    Ok(Found::Composed(Some(Composed {
        duration_ms: done,
        parts,
        tracks: Vec::new(),
        mp4,
        hls,
    })))
}

/// Where IVS wrote a composition's output, and how far: found through the bucket itself
/// (IVS deletes a stopped composition after a few minutes, with the prefix it reported), and
/// remembered. None while nothing is there yet.
async fn output(
    core: &Core,
    s3: &S3Store,
    c: CompositionRow,
) -> Result<Option<Output>, StoreError> {
    let (Some(stage), Some(id)) = (resource_id(&c.stage_arn), resource_id(&c.arn)) else {
        tracing::warn!(composition.arn = %c.arn, "not an IVS composition ARN; skipped");
        return Ok(None);
    };
    // The multivariant playlist found while looking is the one read: fetched once.
    let (base, multivariant) = match &c.prefix {
        Some(p) => (p.clone(), text(s3, &format!("{p}{MULTIVARIANT}")).await?),
        None => {
            let mut found = None;
            for session in s3.dirs(&format!("{stage}/")).await? {
                let base = format!("{session}{id}/");
                match text(s3, &format!("{base}{MULTIVARIANT}")).await {
                    Ok(playlist) => {
                        found = Some((base, playlist));
                        break;
                    }
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            let Some((base, playlist)) = found else {
                return Ok(None);
            };
            core.store
                .set_composition_prefix(&c.arn, &base)
                .await
                .map_err(|e| StoreError::Unreachable(e.to_string()))?;
            (base, playlist)
        }
    };
    let dir = format!("{base}composite/media/hls/");
    let Some(variant) = hls::best_variant(&multivariant) else {
        return Ok(None);
    };
    let playlist = text(s3, &format!("{dir}{variant}")).await?;
    let media = match hls::media(&playlist) {
        Ok(m) => m,
        Err(why) => {
            tracing::error!(composition.arn = %c.arn, why, "an IVS playlist that cannot be used");
            return Ok(None);
        }
    };
    Ok(Some(Output {
        composition: c,
        dir,
        variant,
        playlist,
        media,
    }))
}

/// The multivariant playlist of a composition's output, under its prefix.
const MULTIVARIANT: &str = "composite/media/hls/multivariant.m3u8";

async fn text(s3: &S3Store, key: &str) -> Result<String, StoreError> {
    let bytes = s3.read(key, PLAYLIST_BYTES).await?;
    String::from_utf8(bytes).map_err(|_| StoreError::Unreachable(format!("{key} is not text")))
}

/// The last part of an ARN (`arn:aws:ivs:…:stage/AbCd` → `AbCd`), when it is a plain id.
fn resource_id(arn: &str) -> Option<&str> {
    let id = arn.rsplit('/').next()?;
    (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(id)
}

/// Fetches an output's media playlist and its files into `local` (a file fetched before a
/// crash is not fetched again); returns the local playlist, ended for ffmpeg even where IVS
/// never finished it.
async fn fetch(
    s3: &S3Store,
    o: &Output,
    local: &Path,
    mut each: impl FnMut(&str),
) -> Result<PathBuf, StoreError> {
    let variant_dir = o.variant.rsplit_once('/').map_or("", |(d, _)| d);
    let at = |name: &str| -> (String, PathBuf) {
        let rel = if variant_dir.is_empty() {
            name.to_string()
        } else {
            format!("{variant_dir}/{name}")
        };
        (format!("{}{rel}", o.dir), local.join(&rel))
    };
    for name in &o.media.files {
        let (key, path) = at(name);
        if !tokio::fs::try_exists(&path).await? {
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            let tmp = path.with_extension("part");
            s3.download(&key, &tmp).await?;
            tokio::fs::rename(&tmp, &path).await?;
        }
        each(name);
    }
    let path = local.join(&o.variant);
    let mut playlist = o.playlist.clone();
    if !o.media.ended {
        playlist.push_str("\n#EXT-X-ENDLIST\n");
    }
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    tokio::fs::write(&path, playlist).await?;
    Ok(path)
}

/// Removes what IVS wrote for the event's compositions (once joined into the recording, or
/// when the organizer deletes it).
pub async fn remove_outputs(core: &Core, event: &EventId) -> anyhow::Result<()> {
    let Some(s3) = core.recording_store.s3() else {
        return Ok(());
    };
    for c in core.store.compositions(&event.to_string()).await? {
        if let Some(prefix) = &c.prefix {
            s3.remove_all(prefix).await?;
        }
    }
    Ok(())
}

/// An event Amazon EventBridge forwards from IVS (through an API destination), as much of it
/// as matters here.
#[derive(Debug, serde::Deserialize)]
pub struct IvsEvent {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// The composition's ARN, for composition events.
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub detail: IvsEventDetail,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct IvsEventDetail {
    #[serde(default)]
    pub event_name: String,
}

/// IVS said a composition session ended or failed: if it recorded one of our events, whose
/// recording waits, the job looks now rather than at its next look. True when it was ours.
/// Events may come late, twice or never (EventBridge is best-effort): this only brings the
/// job forward.
pub async fn heard(core: &Core, e: &IvsEvent) -> crate::features::Result<bool> {
    let ends = e.source == "aws.ivs"
        && e.detail_type == "IVS Composition State Change"
        && matches!(
            e.detail.event_name.as_str(),
            "Session End" | "Session Failure"
        );
    if !ends {
        return Ok(false);
    }
    let now = core.clock.now_ms();
    let mut ours = false;
    for arn in e.resources.iter().take(10) {
        let Some(event) = core.store.composition_ended(arn, now).await? else {
            continue;
        };
        ours = true;
        tracing::info!(event.id = %event, composition.arn = %arn, what = %e.detail.event_name, "IVS composition ended");
        if core
            .store
            .recording(&event)
            .await?
            .is_some_and(|r| r.state == "waiting")
        {
            core.store
                .schedule_job(&super::process_job(&event, now), now)
                .await?;
        }
    }
    Ok(ours)
}
