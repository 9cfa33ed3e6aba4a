//! Reading the HLS that Amazon IVS composes into the bucket (a multivariant playlist, one
//! media playlist per rendition, its segments), so it can be fetched and joined into the
//! event's recording. Every URI in it is checked to stay under its playlist's directory.

/// Segments fetched from one playlist, at most (24 hours of 2-second segments is 43,200).
pub const MAX_SEGMENTS: usize = 50_000;

/// The media playlist of the largest rendition in a multivariant playlist (the one with the
/// highest `BANDWIDTH`); None when it names none, or only URIs that leave its directory.
pub fn best_variant(multivariant: &str) -> Option<String> {
    let mut best: Option<(u64, String)> = None;
    let mut bandwidth = None;
    for line in multivariant.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            bandwidth = Some(
                attribute(attrs, "BANDWIDTH")
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(0),
            );
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(b) = bandwidth.take()
            && relative(line)
            && best.as_ref().is_none_or(|(top, _)| b > *top)
        {
            best = Some((b, line.to_string()));
        }
    }
    best.map(|(_, uri)| uri)
}

/// What a media playlist holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Media {
    /// Every file it names (an `EXT-X-MAP` initialization section first), relative to it.
    pub files: Vec<String>,
    pub duration_ms: u64,
    /// `#EXT-X-ENDLIST`: the writer finished it.
    pub ended: bool,
}

/// Reads a media playlist. An error names what is wrong with it: a URI that leaves its
/// directory, or more segments than [`MAX_SEGMENTS`].
pub fn media(playlist: &str) -> Result<Media, String> {
    let mut files = Vec::new();
    let mut duration_ms = 0u64;
    let mut ended = false;
    for line in playlist.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-MAP:") {
            let uri = attribute(attrs, "URI").ok_or("an EXT-X-MAP without a URI")?;
            if !relative(&uri) {
                return Err(format!("a URI that leaves the recording: {uri:?}"));
            }
            if !files.contains(&uri) {
                files.push(uri);
            }
        } else if let Some(extinf) = line.strip_prefix("#EXTINF:") {
            let secs = extinf.split(',').next().unwrap_or("").trim();
            let secs: f64 = secs.parse().map_err(|_| format!("EXTINF {secs:?}"))?;
            if !(0.0..=3600.0).contains(&secs) {
                return Err(format!("a segment of {secs} s"));
            }
            duration_ms = duration_ms.saturating_add((secs * 1000.0).round() as u64);
        } else if line == "#EXT-X-ENDLIST" {
            ended = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            if !relative(line) {
                return Err(format!("a URI that leaves the recording: {line:?}"));
            }
            files.push(line.to_string());
            if files.len() > MAX_SEGMENTS {
                return Err(format!("more than {MAX_SEGMENTS} segments"));
            }
        }
    }
    Ok(Media {
        files,
        duration_ms,
        ended,
    })
}

/// A quoted or bare attribute of a tag's attribute list: `URI="init.mp4"`, `BANDWIDTH=2500`.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let mut rest = attrs;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => {
                let (v, n) = q.split_once('"')?;
                (v, n.strip_prefix(',').unwrap_or(n))
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if key.trim() == name {
            return Some(value.to_string());
        }
        rest = next;
    }
    None
}

/// A path below the playlist's own directory: at most four plain names (letters, digits,
/// `.`, `_`, `-`), none of them `.` or `..`; no scheme, no query, no leading slash.
pub fn relative(uri: &str) -> bool {
    let names: Vec<&str> = uri.split('/').collect();
    uri.len() <= 300
        && names.len() <= 4
        && names.iter().all(|n| {
            !n.is_empty()
                && *n != "."
                && *n != ".."
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_rendition_is_chosen() {
        let m = "#EXTM3U\n#EXT-X-VERSION:3\n\
                 #EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.4D401F,mp4a.40.2\"\n\
                 360p30/playlist.m3u8\n\
                 #EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720\n\
                 720p30/playlist.m3u8\n\
                 #EXT-X-STREAM-INF:BANDWIDTH=9000000\n\
                 https://elsewhere.example/1080p.m3u8\n";
        assert_eq!(best_variant(m).as_deref(), Some("720p30/playlist.m3u8"));
        assert_eq!(best_variant("#EXTM3U\n"), None);
    }

    #[test]
    fn a_media_playlist_gives_its_files_length_and_end() {
        let p = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n\
                 #EXTINF:2.000,\n0.mp4\n#EXTINF:1.5,\n1.mp4\n#EXT-X-ENDLIST\n";
        assert_eq!(
            media(p).unwrap(),
            Media {
                files: vec!["init.mp4".into(), "0.mp4".into(), "1.mp4".into()],
                duration_ms: 3_500,
                ended: true
            }
        );
        let open = media("#EXTM3U\n#EXTINF:2,\n0.ts\n").unwrap();
        assert!(!open.ended);
        assert_eq!(open.duration_ms, 2_000);
    }

    #[test]
    fn uris_that_leave_the_recording_are_refused() {
        for bad in [
            "../x.ts",
            "/abs.ts",
            "a/../../b.ts",
            "https://evil.example/x.ts",
            "x.ts?y=1",
            "a/b/c/d/e.ts",
            "",
        ] {
            assert!(!relative(bad), "{bad}");
            let p = format!("#EXTM3U\n#EXTINF:2,\n{bad}\n");
            if !bad.is_empty() {
                assert!(media(&p).is_err(), "{bad}");
            }
        }
        assert!(media("#EXT-X-MAP:URI=\"../init.mp4\"\n").is_err());
        assert!(media("#EXTINF:nan,\n0.ts\n").is_err());
        assert!(media("#EXTINF:-1,\n0.ts\n").is_err());
        assert!(relative("720p30-abc/segment_00001.ts"));
    }
}
