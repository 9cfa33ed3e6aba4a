//! Where composed recordings live and are served from: the local directory (the default;
//! meetstage serves it with byte ranges) or any S3-compatible bucket through aws-sdk-s3
//! (AWS S3, MinIO, Cloudflare R2), whose objects meetstage streams to whoever may watch, with
//! the same checks and byte ranges. Every name a URL may ask for is checked here, so no
//! request reaches a path or key it builds itself.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;

use crate::{config::S3Settings, features::ids::EventId};

/// The files of one recording: the MP4 download, the HLS playlist and its segments.
pub const MP4: &str = "recording.mp4";
pub const PLAYLIST: &str = "index.m3u8";

/// Keys removed per DeleteObjects call (S3's limit).
const DELETE_BATCH: usize = 1000;

#[derive(Clone, Debug)]
pub enum RecordingStore {
    /// `<root>/<event>/` on this server's disk.
    Local { root: PathBuf },
    /// `<prefix><event>/<file>` in a bucket.
    S3(Box<S3Store>),
}

#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// Signed CloudFront delivery of the bucket, when configured.
    cdn: Option<super::cdn::Cdn>,
}

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no such file")]
    NotFound,
    /// The bucket did not answer as it should; the words are for the log.
    #[error("{0}")]
    Unreachable(String),
}

/// A file of a recording from the bucket, as the player asked for it.
pub struct Object {
    /// 206 with `content_range`, else 200.
    pub content_range: Option<String>,
    pub content_length: Option<i64>,
    pub body: ByteStream,
}

/// The type a player expects for each file.
pub fn content_type(name: &str) -> &'static str {
    if name == MP4 {
        "video/mp4"
    } else if name == PLAYLIST {
        "application/vnd.apple.mpegurl"
    } else {
        "video/mp2t"
    }
}

impl S3Store {
    pub async fn new(s: &S3Settings) -> S3Store {
        let sdk = crate::aws::sdk_config(&s.region, s.endpoint_url.as_ref()).await;
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            // Uploading a long event's MP4 takes minutes, not the 30 s other calls get.
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .operation_timeout(std::time::Duration::from_secs(3600))
                    .build(),
            )
            // MinIO and local fakes have no bucket subdomains.
            .force_path_style(s.endpoint_url.is_some())
            // Plain bodies with a length: what every S3-compatible store accepts.
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .build();
        S3Store {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: s.bucket.clone(),
            prefix: s.prefix.clone(),
            cdn: s.cdn.as_ref().map(|(url, id, key)| {
                super::cdn::Cdn::new(url, id, key.expose()).expect("checked with the config")
            }),
        }
    }

    fn key(&self, event: &EventId, name: &str) -> String {
        format!("{}{event}/{name}", self.prefix)
    }

    async fn upload(&self, key: &str, file: &Path, name: &str) -> Result<(), StoreError> {
        let body = ByteStream::from_path(file)
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type(name))
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable("PutObject", &e))?;
        Ok(())
    }

    /// Every key under the recording's prefix.
    async fn keys(&self, event: &EventId) -> Result<Vec<String>, StoreError> {
        self.list(&self.key(event, "")).await
    }

    /// Every key under `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unreachable("ListObjectsV2", &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(keys)
    }

    async fn remove(&self, keys: &[String]) -> Result<(), StoreError> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(k)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Unreachable(e.to_string()))?;
            let delete = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StoreError::Unreachable(e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| unreachable("DeleteObjects", &e))?;
            if let Some(e) = out.errors().first() {
                return Err(StoreError::Unreachable(format!(
                    "DeleteObjects: {} ({})",
                    e.code().unwrap_or("error"),
                    e.key().unwrap_or("")
                )));
            }
        }
        Ok(())
    }
}

/// Other writers' objects in the same bucket: what IVS composed, under keys it chose.
impl S3Store {
    /// The "directories" right under `prefix` (which ends in `/`).
    pub async fn dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unreachable("ListObjectsV2", &e))?;
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
        }
        Ok(out)
    }

    /// A small object (a playlist), whole: at most `most` bytes.
    pub async fn read(&self, key: &str, most: usize) -> Result<Vec<u8>, StoreError> {
        let out = self.get(key).await?;
        if out.content_length().is_some_and(|n| n > most as i64) {
            return Err(StoreError::Unreachable(format!(
                "{key} is over {most} bytes"
            )));
        }
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unreachable(format!("GetObject: {e}")))?;
        Ok(data.into_bytes().to_vec())
    }

    /// An object, into a file.
    pub async fn download(&self, key: &str, to: &Path) -> Result<(), StoreError> {
        use tokio::io::AsyncWriteExt;
        let mut body = self.get(key).await?.body;
        let mut file = tokio::fs::File::create(to).await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StoreError::Unreachable(format!("GetObject: {e}")))?;
            file.write_all(&chunk).await?;
        }
        Ok(file.flush().await?)
    }

    /// Removes every object under `prefix`.
    pub async fn remove_all(&self, prefix: &str) -> Result<(), StoreError> {
        let keys = self.list(prefix).await?;
        self.remove(&keys).await
    }

    async fn get(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_no_such_key() => StoreError::NotFound,
                _ => unreachable("GetObject", &e),
            })
    }
}

fn unreachable<E>(what: &str, e: &aws_sdk_s3::error::SdkError<E>) -> StoreError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError::Unreachable(crate::aws::describe(what, e).1)
}

impl RecordingStore {
    pub fn local(data_dir: &Path) -> RecordingStore {
        RecordingStore::Local {
            root: data_dir.join("vod"),
        }
    }

    /// Puts what composing made in place of any earlier version. On disk the files are
    /// written beside it first, then swapped in; in a bucket the segments go first and the
    /// playlist last (a player never finds a segment missing), then what the earlier
    /// version had and this one has not is removed.
    pub async fn put(&self, event: &EventId, mp4: &Path, hls: &Path) -> Result<(), StoreError> {
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
                Ok(tokio::fs::rename(&next, &dir).await?)
            }
            RecordingStore::S3(s3) => {
                let mut files: Vec<(String, PathBuf)> = Vec::new();
                let mut entries = tokio::fs::read_dir(hls).await?;
                while let Some(e) = entries.next_entry().await? {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if servable(&name) && name != PLAYLIST {
                        files.push((name, e.path()));
                    }
                }
                files.sort();
                files.push((MP4.into(), mp4.to_path_buf()));
                files.push((PLAYLIST.into(), hls.join(PLAYLIST)));
                let before = s3.keys(event).await?;
                let mut now = std::collections::HashSet::with_capacity(files.len());
                for (name, path) in &files {
                    let key = s3.key(event, name);
                    s3.upload(&key, path, name).await?;
                    now.insert(key);
                }
                let stale: Vec<String> = before.into_iter().filter(|k| !now.contains(k)).collect();
                s3.remove(&stale).await
            }
        }
    }

    /// A file of the recording from the bucket, with the byte range the player asked for.
    pub async fn object(
        &self,
        event: &EventId,
        name: &str,
        range: Option<&str>,
    ) -> Result<Object, StoreError> {
        let RecordingStore::S3(s3) = self else {
            return Err(StoreError::NotFound);
        };
        if !servable(name) {
            return Err(StoreError::NotFound);
        }
        let out = s3
            .client
            .get_object()
            .bucket(&s3.bucket)
            .key(s3.key(event, name))
            .set_range(range.map(str::to_string))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_no_such_key() => StoreError::NotFound,
                _ => unreachable("GetObject", &e),
            })?;
        Ok(Object {
            content_range: out.content_range().map(str::to_string),
            content_length: out.content_length(),
            body: out.body,
        })
    }

    /// The bucket, when the store is one.
    pub fn s3(&self) -> Option<&S3Store> {
        match self {
            RecordingStore::S3(s3) => Some(s3.as_ref()),
            RecordingStore::Local { .. } => None,
        }
    }

    /// The CloudFront distribution players fetch from, and the key of the recording's
    /// directory on it (`vod/<event>/`); None when meetstage serves the files itself.
    pub fn cdn(&self, event: &EventId) -> Option<(&super::cdn::Cdn, String)> {
        match self {
            RecordingStore::S3(s3) => s3
                .cdn
                .as_ref()
                .map(|cdn| (cdn, format!("{}{event}/", s3.prefix))),
            RecordingStore::Local { .. } => None,
        }
    }

    /// A small text file of the recording (the playlist), whole; at most 4 MB (a 24-hour
    /// playlist is about 400 KB).
    pub async fn text(&self, event: &EventId, name: &str) -> Result<String, StoreError> {
        const MOST: usize = 4 << 20;
        let bytes = match self {
            RecordingStore::Local { .. } => {
                let path = self.local_file(event, name).ok_or(StoreError::NotFound)?;
                match tokio::fs::read(path).await {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(StoreError::NotFound);
                    }
                    other => other?,
                }
            }
            RecordingStore::S3(s3) if servable(name) => s3.read(&s3.key(event, name), MOST).await?,
            RecordingStore::S3(_) => return Err(StoreError::NotFound),
        };
        if bytes.len() > MOST {
            return Err(StoreError::Unreachable(format!("{name} is over 4 MB")));
        }
        String::from_utf8(bytes).map_err(|_| StoreError::Unreachable(format!("{name} is not text")))
    }

    /// The local file behind `name`, if `name` is one a recording has.
    pub fn local_file(&self, event: &EventId, name: &str) -> Option<PathBuf> {
        if !servable(name) {
            return None;
        }
        match self {
            RecordingStore::Local { root } => Some(root.join(event.to_string()).join(name)),
            RecordingStore::S3(_) => None,
        }
    }

    /// Removes every file of the recording.
    pub async fn delete(&self, event: &EventId) -> Result<(), StoreError> {
        match self {
            RecordingStore::Local { root } => {
                match tokio::fs::remove_dir_all(root.join(event.to_string())).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                    _ => Ok(()),
                }
            }
            RecordingStore::S3(s3) => {
                let keys = s3.keys(event).await?;
                s3.remove(&keys).await
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
