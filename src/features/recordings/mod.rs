//! An event's recording after the end: the job that composes what the embedded server
//! wrote, or fetches what Amazon IVS composed ([`ivs`]), with progress the organizer sees;
//! its chapters, who may play it, and the organizer's publish, unpublish and delete.

mod chapters;
pub mod ivs;

pub use chapters::Chapter;
use chapters::chapters;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::{
    features::live::{Notice, Phase, Scope},
    features::{
        Change, Core, Error, Result,
        accounts::{Session, User},
        events::{self, EventView, Status},
        ids::EventId,
    },
    jobs::Job,
    media::recording::{
        self,
        storage::{self, RecordingStore, StoreError},
    },
    store::{Effects, NewJob, StoreResult, Tx, recordings::RecordingRow},
};

/// The recap mail waits this long at least for the recording …
const RECAP_WAIT_MIN_MS: i64 = 30 * 60_000;
/// … and at most this long, however long the event was.
const RECAP_WAIT_MAX_MS: i64 = 6 * 3_600_000;

/// The recordings' concern at the end of an event: a recorded event that went live leaves a
/// recording waiting for its composing job, and the recap mail waits for it (bounded).
/// Written in the transaction that ends the event.
pub struct Reaction {
    /// Whether the media provider records at all (IVS without a storage configuration does
    /// not).
    pub records: bool,
}

impl crate::features::reactions::Reaction for Reaction {
    fn plan<'a>(
        &'a self,
        tx: &'a mut Tx,
        notices: &'a [(Scope, Notice)],
        effects: &'a mut Effects,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if !self.records {
                return Ok(());
            }
            for (scope, notice) in notices {
                let (Notice::Lifecycle { to: Phase::Over }, Some(event)) =
                    (notice, scope.event_id())
                else {
                    continue;
                };
                let Some(facts) = tx.end_facts(event).await? else {
                    continue;
                };
                // Cancelled, never live, or recording switched off: nothing to compose.
                let (Some(live_at), true) = (facts.live_at, facts.ended && facts.record) else {
                    continue;
                };
                let now = effects.now;
                tx.recording_waiting(event, now).await?;
                effects.jobs.push(process_job(event, now));
                // Composing takes up to about half the time live: the recap mail (planned
                // by the end itself, so pushed after it) waits that long and a margin,
                // and goes at once when the recording is ready.
                let wait = now
                    .saturating_sub(live_at)
                    .clamp(RECAP_WAIT_MIN_MS, RECAP_WAIT_MAX_MS);
                effects.jobs.push(crate::features::recap::mail_job(
                    event,
                    now.saturating_add(wait),
                ));
            }
            Ok(())
        })
    }
}

/// Why this server cannot start recording now, if it cannot: the embedded server writes to
/// the data directory's disk, which must keep the configured floor free (a full disk would
/// also stop the database and the mail queue). IVS records to S3 and is never refused here.
pub fn refusal(core: &Core) -> Option<String> {
    if !matches!(core.media, crate::media::MediaProvider::Embedded(_)) {
        return None;
    }
    let dir = crate::media::embedded::record::dir(&core.config.data_dir);
    let floor = core.config.recording_min_free_bytes;
    match recording::free_bytes(&dir) {
        Ok(free) if free >= floor => None,
        Ok(free) => Some(format!(
            "the server's disk had {} free and recording needs at least {}",
            megabytes(free),
            megabytes(floor)
        )),
        Err(e) => {
            tracing::error!(error = %e, dir = %dir.display(), "free disk space unknown");
            Some("the server could not tell how much disk space is free".into())
        }
    }
}

/// "1,024 MB".
fn megabytes(bytes: u64) -> String {
    let mb = (bytes / (1024 * 1024)).to_string();
    let mut out = String::new();
    for (i, c) in mb.chars().enumerate() {
        if i > 0 && (mb.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} MB")
}

/// The payload of the job that composes an event's recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub event_id: String,
}

/// The composing job, one per event: an event that goes live again replaces it.
pub fn process_job(event_id: &str, at: i64) -> NewJob {
    Job::Recording(Process {
        event_id: event_id.into(),
    })
    .at(at, Some(format!("recording:{event_id}")))
}

/// Where the embedded server's raw parts for `event` are.
fn raw_dir(core: &Core, event: &EventId) -> std::path::PathBuf {
    crate::media::embedded::record::dir(&core.config.data_dir).join(event.to_string())
}

/// A recording as pages show it.
#[derive(Clone, Debug)]
pub struct RecordingView {
    pub state: String,
    pub progress: i32,
    pub duration_ms: Option<i64>,
    pub published: bool,
    pub chapters: Vec<Chapter>,
    pub error: Option<String>,
}

impl RecordingView {
    fn from_row(r: RecordingRow) -> RecordingView {
        RecordingView {
            chapters: serde_json::from_str(&r.chapters).unwrap_or_default(),
            state: r.state,
            progress: r.progress,
            duration_ms: r.duration_ms,
            published: r.published,
            error: r.error,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state == "ready"
    }

    /// The state in a sentence, for the organizer.
    pub fn status_text(&self) -> String {
        match self.state.as_str() {
            "waiting" => "Waiting to be processed.".into(),
            "processing" => format!("Processing: {}%.", self.progress),
            "ready" if self.published => format!("Ready ({}), published.", self.duration()),
            "ready" => format!(
                "Ready ({}), not published: only you can watch it.",
                self.duration()
            ),
            "empty" => "Nothing was recorded: nobody sent audio or video while live.".into(),
            "refused" => format!(
                "Not recorded: when the event went live, {}.",
                self.error.as_deref().unwrap_or("recording could not start")
            ),
            "failed" => format!(
                "Processing failed: {}. It is tried again automatically; the raw recording is kept.",
                self.error.as_deref().unwrap_or("unknown error")
            ),
            _ => String::new(),
        }
    }

    /// "1:02:03" or "4:05".
    pub fn duration(&self) -> String {
        clock(u64::try_from(self.duration_ms.unwrap_or(0)).unwrap_or(0))
    }
}

/// A position in a video as people read it: "4:05", "1:02:03".
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The event's recording for whoever may see it: its organizer always (with progress and
/// errors), everyone else once it is ready and published. None when there is nothing to show.
pub async fn for_viewer(
    core: &Core,
    viewer: Option<&User>,
    event: &EventView,
) -> Result<Option<RecordingView>> {
    if event.status == Status::Cancelled {
        return Ok(None);
    }
    let Some(row) = core.store.recording(&event.id).await? else {
        return Ok(None);
    };
    let view = RecordingView::from_row(row);
    let manages = viewer.is_some_and(|u| event.can_manage(u));
    Ok(match view.state.as_str() {
        "deleted" => None,
        _ if manages => Some(view),
        "ready" if view.published => Some(view),
        _ => None,
    })
}

/// The local file a viewer asked for, when they may have it: the event is visible to them
/// (members-only needs a login), not cancelled, and its recording ready and published (its
/// organizer may also play an unpublished one).
pub async fn file(
    core: &Core,
    viewer: Option<&User>,
    id: &EventId,
    name: &str,
    range: Option<&str>,
) -> Result<Served> {
    let event = events::get(core, viewer, id).await?;
    let recording = match for_viewer(core, viewer, &event).await? {
        Some(r) if r.is_ready() => r,
        _ => return Err(Error::NotFound),
    };
    if !storage::servable(name) {
        return Err(Error::NotFound);
    }
    if let Some((cdn, dir)) = core.recording_store.cdn(&event.id) {
        // Good for the whole video and a margin (a viewer may pause), never for long: a
        // recording unpublished or deleted stops playing for whoever still holds a URL.
        let duration_s = recording.duration_ms.unwrap_or(0) / 1000;
        let valid = duration_s
            .saturating_add(CDN_MARGIN_S)
            .clamp(CDN_MARGIN_S, CDN_LONGEST_S);
        let expires = core.clock.now_ms() / 1000 + valid;
        let grant = cdn.grant(&dir, expires);
        if name != storage::PLAYLIST {
            return Ok(Served::Redirect(cdn.url(&format!("{dir}{name}"), &grant)));
        }
        let playlist = match core.recording_store.text(&event.id, name).await {
            Ok(text) => text,
            Err(StoreError::NotFound) => return Err(Error::NotFound),
            Err(e) => return Err(unreachable_store(&event.id, e)),
        };
        return Ok(Served::Playlist(
            crate::media::recording::cdn::signed_playlist(cdn, &playlist, &dir, &grant),
        ));
    }
    match &core.recording_store {
        RecordingStore::Local { .. } => core
            .recording_store
            .local_file(&event.id, name)
            .map(Served::File)
            .ok_or(Error::NotFound),
        RecordingStore::S3(_) => match core.recording_store.object(&event.id, name, range).await {
            Ok(o) => Ok(Served::Object(o)),
            Err(StoreError::NotFound) => Err(Error::NotFound),
            Err(e) => Err(unreachable_store(&event.id, e)),
        },
    }
}

/// A signed URL lasts the video's length and this margin …
const CDN_MARGIN_S: i64 = 30 * 60;
/// … and never longer than this.
const CDN_LONGEST_S: i64 = 12 * 3600;

/// The bucket did not answer: logged, and the player told plainly.
fn unreachable_store(event: &EventId, e: StoreError) -> Error {
    tracing::warn!(event.id = %event, error = %e, "a recording's file could not be read");
    Error::Unavailable(
        "The recording cannot be reached right now. Please try again in a minute.".into(),
    )
}

/// Where a recording's file comes from.
pub enum Served {
    File(std::path::PathBuf),
    Object(crate::media::recording::storage::Object),
    /// A signed URL on the CDN.
    Redirect(String),
    /// The playlist, its segments on the CDN.
    Playlist(String),
}

/// Publishes or unpublishes a ready recording.
pub async fn set_published(
    core: &Core,
    session: &Session,
    id: &EventId,
    published: bool,
) -> Result<()> {
    let event = events::get_managed(core, session, id).await?;
    let now = core.clock.now_ms();
    let mut tx = core.store.begin().await?;
    if !tx
        .set_recording_published(&event.id, published, now)
        .await?
    {
        return Err(Error::Conflict(
            "Only a recording that is ready can be published or unpublished.".into(),
        ));
    }
    let action = if published {
        "recording.published"
    } else {
        "recording.unpublished"
    };
    tx.audit(&session.user.id, action, Some(&event.id), "", now)
        .await?;
    core.commit(tx, Change::new(now)).await?;
    Ok(())
}

/// Deletes the recording: every composed file and every raw part. It never comes back.
pub async fn delete(core: &Core, session: &Session, id: &EventId) -> Result<()> {
    let event = events::get_managed(core, session, id).await?;
    let now = core.clock.now_ms();
    let mut tx = core.store.begin().await?;
    if !tx.recording_deleted(&event.id, now).await? {
        return Err(Error::Conflict(
            "There is no recording to delete, or it is being processed right now.".into(),
        ));
    }
    tx.audit(
        &session.user.id,
        "recording.deleted",
        Some(&event.id),
        "",
        now,
    )
    .await?;
    core.commit(tx, Change::new(now)).await?;
    // The row says deleted first: nothing serves a file from here on, even if removing
    // them fails half way (then the admin sees the error and the files can go by hand).
    core.recording_store
        .delete(&event.id)
        .await
        .map_err(anyhow::Error::from)?;
    remove_dir(&raw_dir(core, &event.id)).await?;
    ivs::remove_outputs(core, &event.id).await?;
    Ok(())
}

/// Composes a failed recording again now, instead of waiting for the next automatic try (or
/// after the tries ran out).
pub async fn retry(core: &Core, session: &Session, id: &EventId) -> Result<()> {
    let event = events::get_managed(core, session, id).await?;
    let now = core.clock.now_ms();
    let mut change = Change::new(now);
    // Scheduling under the job's key again revives a dead-lettered one.
    change.effects.jobs.push(process_job(&event.id, now));
    let mut tx = core.store.begin().await?;
    if !tx.recording_retry(&event.id, now).await? {
        return Err(Error::Conflict(
            "Only a recording whose processing failed can be processed again.".into(),
        ));
    }
    tx.audit(
        &session.user.id,
        "recording.retried",
        Some(&event.id),
        "",
        now,
    )
    .await?;
    core.commit(tx, change).await?;
    Ok(())
}

/// A recording that is not done yet, as the admin's page lists it.
pub struct Unfinished {
    pub event_id: String,
    pub title: String,
    pub state: String,
    pub progress: i32,
    /// The composing job: its tries so far, its last error (in full: this page is for the
    /// operator), whether it gave up, and when it tries next.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub dead: bool,
    pub next_try: Option<chrono::DateTime<chrono::Utc>>,
}

/// Recordings waiting, being processed or failed, oldest first: the admin sees what gave
/// up and can send it round again.
pub async fn unfinished(core: &Core, session: &Session) -> Result<Vec<Unfinished>> {
    crate::features::admin::require_admin(session)?;
    let jobs = core.store.jobs_by_kind(crate::jobs::RECORDING).await?;
    let dead = core.store.dead_jobs().await?;
    let mut out = Vec::new();
    for row in core.store.unfinished_recordings(200).await? {
        let (r, title) = (row.recording, row.title);
        let key = format!("recording:{}", r.event_id);
        let job = jobs.iter().find(|j| j.dedupe_key.as_deref() == Some(&key));
        let dead = dead.iter().any(|j| j.dedupe_key.as_deref() == Some(&key));
        out.push(Unfinished {
            title,
            state: r.state,
            progress: r.progress,
            attempts: job.map_or(0, |j| j.attempts),
            last_error: job.and_then(|j| j.last_error.clone()).or(r.error),
            dead,
            next_try: job
                .filter(|_| !dead)
                .map(|j| crate::clock::from_ms(j.run_at)),
            event_id: r.event_id,
        });
    }
    Ok(out)
}

async fn remove_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    match tokio::fs::remove_dir_all(dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The recording failed for `why` (the organizer's words); the job fails with `cause`, to be
/// retried with backoff.
async fn failed(core: &Core, event: &str, why: &str, cause: anyhow::Error) -> anyhow::Result<()> {
    let now = core.clock.now_ms();
    core.store
        .set_recording_state(event, "failed", 0, Some(why), now)
        .await?;
    Err(cause)
}

/// The job: composes the raw parts with ffmpeg, puts the result in the recording store,
/// and lets the recap mail go. A failure is retried by the job runner with backoff; the
/// raw parts stay until the organizer deletes the recording.
pub async fn process(core: &Core, job: Process) -> anyhow::Result<()> {
    let Ok(id) = job.event_id.parse::<EventId>() else {
        anyhow::bail!("not an event id: {:?}", job.event_id);
    };
    let Some(row) = core.store.recording(&id.to_string()).await? else {
        return Ok(());
    };
    if row.state == "deleted" {
        return Ok(());
    }
    let work = raw_dir(core, &id).join("work");
    let ivs = matches!(core.media, crate::media::MediaProvider::Ivs(_));
    let (tx, rx) = tokio::sync::watch::channel(0u8);
    let writer = tokio::spawn(write_progress(core.clone(), row.event_id.clone(), rx));
    let report = |p| {
        tx.send_replace(p);
    };
    let composed = if ivs {
        // Stays `waiting` (its time is the end's) until IVS finished writing.
        ivs::collect(core, &row, &work, report).await
    } else {
        let now = core.clock.now_ms();
        core.store
            .set_recording_state(&row.event_id, "processing", 0, None, now)
            .await?;
        recording::compose(&core.config.ffmpeg, &raw_dir(core, &id), &work, report)
            .await
            .map(ivs::Found::Composed)
            .map_err(|e| (e.summary(), e.into()))
    };
    drop(tx);
    let _ = writer.await;
    let now = core.clock.now_ms();
    let composed = match composed {
        Ok(ivs::Found::Composed(c)) => c,
        Ok(ivs::Found::Later) => {
            let again = process_job(&row.event_id, now.saturating_add(ivs::LOOK_AGAIN_MS));
            core.store.schedule_job(&again, now).await?;
            return Ok(());
        }
        Err((why, cause)) => return failed(core, &row.event_id, why, cause).await,
    };
    match composed {
        None => {
            core.store
                .set_recording_state(&row.event_id, "empty", 100, None, now)
                .await?;
        }
        Some(c) => {
            if let Err(e) = core.recording_store.put(&id, &c.mp4, &c.hls).await {
                let why = "the recording store could not be reached";
                return failed(core, &row.event_id, why, e.into()).await;
            }
            let chapters = chapters(core, &row.event_id, &c).await?;
            let chapters = serde_json::to_string(&chapters)?;
            let duration = i64::try_from(c.duration_ms).unwrap_or(i64::MAX);
            core.store
                .recording_ready(&row.event_id, duration, &chapters, now)
                .await?;
            remove_dir(&work).await?;
            if ivs {
                // The recording holds it all now: IVS's own copy would double the bill.
                if let Err(e) = ivs::remove_outputs(core, &id).await {
                    tracing::warn!(event = %id, error = %e, "IVS's outputs were not removed");
                }
            }
            tracing::info!(event = %id, duration_ms = c.duration_ms, "recording ready");
        }
    }
    // The recap mail waited for this; the archive gains the video.
    crate::features::email::recording_published(core, &row.event_id).await?;
    if let Some(job) = crate::features::recap::publish_job(core, now) {
        core.store.schedule_job(&job, now).await?;
    }
    Ok(())
}

/// Writes the progress as it changes, at most once a second.
async fn write_progress(core: Core, event: String, mut rx: tokio::sync::watch::Receiver<u8>) {
    let mut last = 0u8;
    while rx.changed().await.is_ok() {
        let p = *rx.borrow_and_update();
        if p > last {
            last = p;
            let now = core.clock.now_ms();
            if let Err(e) = core
                .store
                .set_recording_state(&event, "processing", i32::from(p), None, now)
                .await
            {
                tracing::warn!(error = %e, "recording progress not written");
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
