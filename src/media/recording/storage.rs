//! Where composed recordings live and are served from. The local directory is the default
//! (meetstage serves it with byte ranges); every name a URL may ask for is checked here, so
//! no request reaches a path it builds itself.

use std::path::{Path, PathBuf};

use crate::features::ids::EventId;

/// The files of one recording: the MP4 download, the HLS playlist and its segments.
pub const MP4: &str = "recording.mp4";
pub const PLAYLIST: &str = "index.m3u8";

#[derive(Clone, Debug)]
pub enum RecordingStore {
    /// `<root>/<event>/` on this server's disk.
    Local { root: PathBuf },
}

impl RecordingStore {
    pub fn local(data_dir: &Path) -> RecordingStore {
        RecordingStore::Local {
            root: data_dir.join("vod"),
        }
    }

    /// Puts what composing made in place of any earlier version: the files are written
    /// beside it first, then swapped in, so a player never sees half of each.
    pub async fn put(&self, event: &EventId, mp4: &Path, hls: &Path) -> std::io::Result<()> {
        match self {
            RecordingStore::Local { root } => {
                let dir = root.join(event.to_string());
                let next = root.join(format!("{event}.next"));
                if tokio::fs::try_exists(&next).await? {
                    tokio::fs::remove_dir_all(&next).await?;
                }
                tokio::fs::create_dir_all(&next).await?;
                tokio::fs::copy(mp4, next.join(MP4)).await?;
                let mut entries = tokio::fs::read_dir(hls).await?;
                while let Some(e) = entries.next_entry().await? {
                    tokio::fs::copy(e.path(), next.join(e.file_name())).await?;
                }
                if tokio::fs::try_exists(&dir).await? {
                    tokio::fs::remove_dir_all(&dir).await?;
                }
                tokio::fs::rename(&next, &dir).await
            }
        }
    }

    /// The local file behind `name`, if `name` is one a recording has.
    pub fn local_file(&self, event: &EventId, name: &str) -> Option<PathBuf> {
        if !servable(name) {
            return None;
        }
        match self {
            RecordingStore::Local { root } => Some(root.join(event.to_string()).join(name)),
        }
    }

    /// Removes every file of the recording.
    pub async fn delete(&self, event: &EventId) -> std::io::Result<()> {
        match self {
            RecordingStore::Local { root } => {
                match tokio::fs::remove_dir_all(root.join(event.to_string())).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// The names a recording's URL may ask for: the MP4, the playlist and `seg-NNNNN.ts`.
pub fn servable(name: &str) -> bool {
    if name == MP4 || name == PLAYLIST {
        return true;
    }
    name.strip_prefix("seg-")
        .and_then(|n| n.strip_suffix(".ts"))
        .is_some_and(|n| (5..=6).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_recordings_own_names_are_served() {
        for ok in [
            "recording.mp4",
            "index.m3u8",
            "seg-00000.ts",
            "seg-123456.ts",
        ] {
            assert!(servable(ok), "{ok}");
        }
        for bad in [
            "../index.m3u8",
            "seg-../../x.ts",
            "seg-1.ts",
            "seg-00001.ts/..",
            "timeline.jsonl",
            "seg-0000a.ts",
            "",
        ] {
            assert!(!servable(bad), "{bad}");
        }
    }
}
