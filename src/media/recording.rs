//! Recordings need ffmpeg to be composed into something people can play. Whether this server
//! has it is found once at start, logged, and shown on `/readyz`: without it events still run.

use std::{path::Path, time::Duration};

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
