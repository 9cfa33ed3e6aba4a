//! The static archive a community can publish: an index of its past public events and one
//! page per event with its recap, written to a directory that GitHub Pages or any static
//! host serves, and optionally committed and pushed to a git branch. `meetstage publish` runs
//! it by hand; with `publish_dir` configured, a job runs it again after each event ends.
//! Members-only events are never published.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use askama::Template;

use crate::{
    config::Secret,
    features::{
        Core,
        events::{self, Section, Status},
        recap::{self, Recap},
    },
};

/// Events published, at most (the newest first).
const MAX_EVENTS: usize = 2_000;
/// How long one git command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(120);
/// What this module writes into the output directory; anything else there (a CNAME file,
/// say) is left alone.
const OWNED: [&str; 5] = [
    "index.html",
    "style.css",
    "theme.css",
    "favicon.svg",
    "events",
];

/// Where the archive goes (the configuration's, or the command line's).
pub type Target = crate::config::PublishSettings;

/// What a run did.
#[derive(Debug, PartialEq, Eq)]
pub struct Published {
    pub events: usize,
    /// A commit was pushed (false when the archive had not changed, or no git is set).
    pub pushed: bool,
}

struct Site {
    community: String,
    /// The live site's home page.
    home: String,
    published_on: String,
}

#[derive(Template)]
#[template(path = "publish/index.html")]
struct IndexPage<'a> {
    site: &'a Site,
    root: &'a str,
    events: &'a [Recap],
}

#[derive(Template)]
#[template(path = "publish/event.html")]
struct EventPage<'a> {
    site: &'a Site,
    root: &'a str,
    r: &'a Recap,
    live_link: String,
    /// The published recording's MP4 on the live site (the archive holds no video).
    video_link: String,
    description_html: String,
}

/// Writes the archive, then commits and pushes it when a repository is set.
pub async fn run(core: &Core, target: &Target) -> anyhow::Result<Published> {
    let events = write(core, &target.out).await?;
    let pushed = match &target.git {
        Some((url, branch)) => push(&target.out, url, branch).await?,
        None => false,
    };
    Ok(Published { events, pushed })
}

/// The ended public events, newest first, with their recaps.
async fn recaps(core: &Core) -> anyhow::Result<Vec<Recap>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = events::list(core, None, Section::Past, cursor.as_deref(), 100).await?;
        for e in page.items {
            // Past also holds scheduled events that never started; only ended ones have a recap.
            if e.status != Status::Ended || e.members_only {
                continue;
            }
            out.push(recap::recap(core, None, &e.id).await?);
            if out.len() >= MAX_EVENTS {
                return Ok(out);
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Writes the archive into `out`; returns how many events it holds.
pub async fn write(core: &Core, out: &Path) -> anyhow::Result<usize> {
    let recaps = recaps(core).await?;
    let site = Site {
        community: core.config.branding.community_name.clone(),
        home: core.config.link("/"),
        published_on: core.clock.now().format("%d %B %Y").to_string(),
    };
    let mut files: Vec<(PathBuf, String)> = vec![
        (
            "index.html".into(),
            IndexPage {
                site: &site,
                root: "",
                events: &recaps,
            }
            .render()?,
        ),
        ("style.css".into(), asset("app.css")?),
        ("favicon.svg".into(), asset("favicon.svg")?),
        (
            "theme.css".into(),
            crate::http::assets::theme_css(&core.config.branding.accent_color),
        ),
    ];
    for r in &recaps {
        let page = EventPage {
            site: &site,
            root: "../",
            r,
            live_link: core.config.link(&format!("/events/{}/recap", r.event.id)),
            video_link: core
                .config
                .link(&format!("/events/{}/recording/recording.mp4", r.event.id)),
            description_html: crate::http::pages::linked(&r.event.description),
        };
        files.push((
            Path::new("events").join(format!("{}.html", r.event.id)),
            page.render()?,
        ));
    }
    let out = out.to_path_buf();
    let count = recaps.len();
    tokio::task::spawn_blocking(move || replace(&out, &files))
        .await
        .context("writing the archive")??;
    Ok(count)
}

fn asset(name: &str) -> anyhow::Result<String> {
    crate::http::assets::static_file(name)
        .map(str::to_string)
        .with_context(|| format!("the static file {name}"))
}

/// Replaces what this module owns in `out` with `files`.
fn replace(out: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for name in OWNED {
        let path = out.join(name);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else if path.exists() {
            std::fs::remove_file(&path)?;
        }
    }
    std::fs::create_dir_all(out.join("events"))?;
    for (name, body) in files {
        std::fs::write(out.join(name), body)
            .with_context(|| format!("writing {}", out.join(name).display()))?;
    }
    Ok(())
}

/// Commits `site` to `branch` of the repository at `url` and pushes it. The branch holds
/// the archive alone; a run that changes nothing pushes nothing.
async fn push(site: &Path, url: &Secret, branch: &str) -> anyhow::Result<bool> {
    let url = url.expose();
    let work = WorkDir::new()?;
    let dir = work.0.as_path();
    git(dir, &["init", "-q"], url).await?;
    let exists = git(dir, &["fetch", "-q", "--depth", "1", url, branch], url)
        .await
        .is_ok();
    if exists {
        git(dir, &["checkout", "-q", "-B", branch, "FETCH_HEAD"], url).await?;
    } else {
        let head = format!("refs/heads/{branch}");
        git(dir, &["symbolic-ref", "HEAD", &head], url).await?;
    }
    let (from, to) = (site.to_path_buf(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || mirror(&from, &to))
        .await
        .context("copying the archive")??;
    git(dir, &["add", "-A"], url).await?;
    if exists
        && git(dir, &["diff", "--cached", "--quiet"], url)
            .await
            .is_ok()
    {
        return Ok(false);
    }
    git(
        dir,
        &[
            "-c",
            "user.name=meetstage",
            "-c",
            "user.email=meetstage@localhost",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "-m",
            "Publish the archive of past events",
        ],
        url,
    )
    .await?;
    git(
        dir,
        &["push", "-q", url, &format!("HEAD:refs/heads/{branch}")],
        url,
    )
    .await?;
    Ok(true)
}

/// A scratch directory for git, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> anyhow::Result<WorkDir> {
        let dir = std::env::temp_dir().join(format!("meetstage-publish-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).context("a work directory for git")?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes `to` (a work tree) hold exactly the files of `from`, keeping its `.git`.
fn mirror(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(to)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    copy_tree(from, to)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == ".git" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&dst)?;
            copy_tree(&src, &dst)?;
        } else if entry.file_type()?.is_file() {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Runs git in `dir`, never asking for a password; its errors never show the repository's
/// address, which may carry a token.
async fn git(dir: &Path, args: &[&str], url: &str) -> anyhow::Result<()> {
    let run = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(GIT_TIMEOUT, run)
        .await
        .map_err(|_| anyhow::anyhow!("git {} took longer than {GIT_TIMEOUT:?}", args[0]))?
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr).replace(url, "<repository>");
        bail!("git {} failed: {}", args[0], said.trim());
    }
    Ok(())
}
