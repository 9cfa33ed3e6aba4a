//! Configuration: `MEETSTAGE_*` environment variables and flags (clap), over an optional TOML
//! file, over defaults. Every option is documented once, on [`Options`], and `meetstage serve
//! --help` prints that documentation. [`Config::from_options`] validates them into a [`Config`].

mod options;
mod providers;
#[cfg(test)]
mod tests;

use std::{fmt, net::SocketAddr, path::PathBuf};

use url::Url;

pub use options::{Options, Secret};
#[cfg(test)]
use providers::is_aws_region;
pub use providers::{
    ChatKind, IvsChatSettings, IvsCosts, IvsSettings, MailerKind, MediaKind, MediaTcp,
    RecordingStoreKind, S3Settings, SesSettings, TurnSettings, Usd,
};
use providers::{
    chat_kind, ivs_costs, mailer_kind, media_kind, media_tcp, recording_store_kind, turn,
};

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Debug)]
pub struct Branding {
    pub community_name: String,
    pub logo_url: Option<String>,
    pub accent_color: String,
    pub footer_links: Vec<(String, String)>,
}

/// The live room's limits.
#[derive(Clone, Debug)]
pub struct RoomSettings {
    pub stall: std::time::Duration,
    /// Messages waiting for one socket before its connection starts over from a snapshot.
    pub queue: usize,
    pub heartbeat: std::time::Duration,
    pub send_buffer: Option<usize>,
    pub actions_per_min: u32,
    pub chat_per_min: u32,
    pub reactions_per_min: u32,
    /// Lower-case hosts; a link to one of them or a subdomain is refused.
    pub chat_blocklist: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct RateLimits {
    pub anonymous_per_min: u32,
    pub user_per_min: u32,
    pub auth_per_min: u32,
}

/// A validated configuration with every default applied.
#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub base_url: Url,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub database_max_connections: u32,
    pub secret_key: Option<Secret>,
    pub mailer: MailerKind,
    pub mail_from: String,
    pub mail_rate_per_second: f64,
    pub branding: Branding,
    pub cors_origins: Vec<String>,
    pub trust_proxy: bool,
    pub rate_limits: RateLimits,
    pub session_idle_hours: u32,
    pub max_concurrent_hashes: usize,
    pub log_format: LogFormat,
    pub metrics_token: Option<Secret>,
    pub metrics_emf: bool,
    pub header_timeout: std::time::Duration,
    pub shutdown_grace: std::time::Duration,
    pub room: RoomSettings,
    /// Where the embedded media server listens (UDP), and the IP browsers reach it at.
    /// None: the HTTP listener's address, over UDP.
    pub media_udp: Option<SocketAddr>,
    pub media_public_ip: Option<std::net::IpAddr>,
    /// Where the ICE-over-TCP candidate listens, and TURN servers pages may relay through.
    pub media_tcp: MediaTcp,
    pub turn: Option<TurnSettings>,
    /// The most video one viewer is sent (bit/s).
    pub media_viewer_bps: Option<u64>,
    /// The most connections the embedded media server carries at once.
    pub media_max_connections: usize,
    pub media: MediaKind,
    pub chat: ChatKind,
    /// Where the archive of past public events is published after each event (a job).
    pub publish: Option<PublishSettings>,
    /// The ffmpeg program recordings are composed with.
    pub ffmpeg: PathBuf,
    /// Below this many free bytes the embedded server does not start a recording.
    pub recording_min_free_bytes: u64,
    pub recording_store: RecordingStoreKind,
    /// IVS prices and the monthly ceiling (for `media_provider` or `chat_provider` `ivs`).
    pub ivs_costs: IvsCosts,
}

/// Where the static archive goes: a directory, and optionally a git branch it is pushed to.
#[derive(Clone, Debug)]
pub struct PublishSettings {
    pub out: PathBuf,
    /// The repository and its branch.
    pub git: Option<(Secret, String)>,
}

impl PublishSettings {
    /// From the three options; the git URL and branch need a directory.
    pub fn parse(
        out: Option<PathBuf>,
        git: Option<Secret>,
        branch: Option<String>,
    ) -> Result<Option<PublishSettings>, ConfigError> {
        let branch = branch.unwrap_or_else(|| "gh-pages".into());
        if branch.is_empty()
            || branch.starts_with(['-', '/', '.'])
            || branch.contains("..")
            || !branch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'))
        {
            return Err(ConfigError(format!(
                "publish_branch {branch:?}: use letters, digits, -, _, / and ."
            )));
        }
        match (out, git) {
            (Some(out), git) => Ok(Some(PublishSettings {
                out,
                git: git.map(|g| (g, branch)),
            })),
            (None, Some(_)) => Err(ConfigError(
                "publish_git_url needs publish_dir, where the archive is written first".into(),
            )),
            (None, None) => Ok(None),
        }
    }
}

impl Config {
    /// Origins pages connect to besides this site: IVS's when media or chat run there.
    pub fn remote_origins(&self) -> Vec<String> {
        let mut out = Vec::new();
        if matches!(self.media, MediaKind::Ivs(_)) {
            out.extend([
                "https://*.live-video.net".into(),
                "wss://*.live-video.net".into(),
            ]);
        }
        if let ChatKind::Ivs(c) = &self.chat {
            out.push(c.messaging_url.origin().ascii_serialization());
        }
        out.extend(self.media_origin());
        out
    }

    /// The CDN replays play from, when recordings are delivered through one.
    pub fn media_origin(&self) -> Option<String> {
        match &self.recording_store {
            RecordingStoreKind::S3(s) => s
                .cdn
                .as_ref()
                .map(|(url, ..)| url.origin().ascii_serialization()),
            RecordingStoreKind::Local => None,
        }
    }

    pub fn from_options(mut o: Options) -> Result<Config, ConfigError> {
        let media = media_kind(&o)?;
        let chat = chat_kind(&o)?;
        let ivs_costs = ivs_costs(&o)?;
        let recording_store = recording_store_kind(&o)?;
        // IVS writes its compositions to a bucket; meetstage fetches them from there.
        if let MediaKind::Ivs(ivs) = &media
            && ivs.recording.is_some()
            && !matches!(recording_store, RecordingStoreKind::S3(_))
        {
            return Err(ConfigError(
                "recording on IVS needs recording_store `s3` with the storage configuration's \
                 bucket (recording_s3_bucket), where IVS writes and meetstage reads"
                    .into(),
            ));
        }
        let bind = o
            .bind
            .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("literal address"));
        let base_url = match o.base_url.take() {
            Some(u) if u.scheme() == "http" || u.scheme() == "https" => u,
            Some(u) => return Err(ConfigError(format!("base_url must be http(s), got {u}"))),
            None => Url::parse(&format!("http://{bind}")).expect("address is a valid URL"),
        };
        let data_dir = o.data_dir.take().unwrap_or_else(|| PathBuf::from("data"));
        let database_url = o.database_url.take().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("meetstage.db").display()
            )
        });
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "database_url must start with sqlite: or postgres://".into(),
            ));
        }
        if let Some(k) = &o.secret_key
            && k.expose().len() < 32
        {
            return Err(ConfigError(
                "secret_key must be at least 32 characters".into(),
            ));
        }
        let mailer = mailer_kind(&mut o)?;
        let production = match o.environment.as_deref().unwrap_or("development") {
            "development" => false,
            "production" => true,
            other => {
                return Err(ConfigError(format!(
                    "environment `{other}`: use development or production"
                )));
            }
        };
        if production && mailer == MailerKind::Log {
            return Err(ConfigError(
                "the log mailer only writes files and would lose mail in production; set mailer = smtp or ses".into(),
            ));
        }
        let mail_rate_per_second = o.mail_rate.unwrap_or(14.0);
        if !(mail_rate_per_second.is_finite() && mail_rate_per_second > 0.0) {
            return Err(ConfigError(
                "mail_rate must be a positive number of mails per second".into(),
            ));
        }
        let branding = branding(&mut o)?;
        let log_format = match o.log_format.as_deref().unwrap_or("json") {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => {
                return Err(ConfigError(format!(
                    "log_format `{other}`: use json or pretty"
                )));
            }
        };
        if let Some(t) = &o.metrics_token
            && t.expose().len() < 16
        {
            return Err(ConfigError(
                "metrics_token must be at least 16 characters".into(),
            ));
        }
        let header_timeout = seconds(o.header_timeout_secs, "header_timeout_secs")?;
        let shutdown_grace = seconds(o.shutdown_grace_secs, "shutdown_grace_secs")?;
        let room = room_settings(&mut o)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let sqlite = database_url.starts_with("sqlite:");
        let max = crate::media::embedded::MAX_PEERS;
        let media_max_connections = match o.media_max_connections {
            None => max,
            Some(n) if (1..=max).contains(&n) => n,
            Some(_) => {
                return Err(ConfigError(format!(
                    "media_max_connections must be from 1 to {max}"
                )));
            }
        };
        let media_viewer_bps = match o.media_viewer_kbps {
            None => None,
            Some(k @ 100..=100_000) => Some(k * 1000),
            Some(_) => {
                return Err(ConfigError(
                    "media_viewer_kbps must be from 100 to 100000".into(),
                ));
            }
        };
        let recording_min_free_bytes = match o.recording_min_free_mb.unwrap_or(1024) {
            // Up to 1 PB: a floor beyond any disk turns recording off on purpose.
            mb @ 0..=1_000_000_000 => mb * 1024 * 1024,
            _ => {
                return Err(ConfigError(
                    "recording_min_free_mb must be from 0 to 1000000000".into(),
                ));
            }
        };
        let publish = PublishSettings::parse(
            o.publish_dir.take(),
            o.publish_git_url.take(),
            o.publish_branch.take(),
        )?;
        Ok(Config {
            publish,
            ffmpeg: o.ffmpeg.take().unwrap_or_else(|| PathBuf::from("ffmpeg")),
            recording_min_free_bytes,
            recording_store,
            media,
            chat,
            ivs_costs,
            media_udp: o.media_udp,
            media_public_ip: o.media_public_ip,
            media_tcp: media_tcp(&o)?,
            turn: turn(&o)?,
            media_viewer_bps,
            media_max_connections,
            bind,
            mail_rate_per_second,
            base_url,
            mail_from: o
                .mail_from
                .unwrap_or_else(|| format!("{} <noreply@localhost>", branding.community_name)),
            branding,
            data_dir,
            database_url,
            database_max_connections: o
                .database_max_connections
                .unwrap_or(if sqlite { cores as u32 } else { 16 })
                .max(1),
            secret_key: o.secret_key,
            mailer,
            cors_origins: o.cors_origins.unwrap_or_default(),
            trust_proxy: o.trust_proxy.unwrap_or(false),
            rate_limits: RateLimits {
                anonymous_per_min: o.rate_limit_anonymous.unwrap_or(100).max(1),
                user_per_min: o.rate_limit_user.unwrap_or(500).max(1),
                auth_per_min: o.rate_limit_auth.unwrap_or(10).max(1),
            },
            session_idle_hours: o.session_idle_hours.unwrap_or(168).max(1),
            max_concurrent_hashes: o.max_concurrent_hashes.unwrap_or(cores).max(1),
            log_format,
            metrics_token: o.metrics_token,
            metrics_emf: o.metrics_emf.unwrap_or(false),
            header_timeout,
            shutdown_grace,
            room,
        })
    }

    /// A configuration for tests and embedding: every default, with the given data directory.
    pub fn for_data_dir(data_dir: PathBuf) -> Config {
        Config::from_options(Options {
            data_dir: Some(data_dir),
            ..Options::default()
        })
        .expect("defaults are valid")
    }

    pub fn is_https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// An absolute link to a path of this site, for mail.
    pub fn link(&self, path: &str) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }
}

/// The community's name, colour, logo and footer links, as pages and mail show them.
fn branding(o: &mut Options) -> Result<Branding, ConfigError> {
    let community_name = o
        .community_name
        .take()
        .unwrap_or_else(|| "meetstage".into());
    let accent_color = o.accent_color.take().unwrap_or_else(|| "#2f6fde".into());
    if !is_hex_colour(&accent_color) {
        return Err(ConfigError(format!(
            "accent_color must look like #1a2b3c, got {accent_color}"
        )));
    }
    if let Some(logo) = &o.logo_url
        && !(logo.starts_with("https://") || logo.starts_with("/static/"))
    {
        return Err(ConfigError(
            "logo_url must start with https:// or /static/".into(),
        ));
    }
    let mut footer_links = Vec::new();
    for link in o.footer_links.take().unwrap_or_default() {
        let (label, url) = link
            .split_once('=')
            .ok_or_else(|| ConfigError(format!("footer link `{link}` is not Label=URL")))?;
        if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/')) {
            return Err(ConfigError(format!(
                "footer link URL `{url}` must be http(s)"
            )));
        }
        footer_links.push((label.trim().to_string(), url.trim().to_string()));
    }
    Ok(Branding {
        community_name,
        logo_url: o.logo_url.take(),
        accent_color,
        footer_links,
    })
}

/// A number of seconds from 1 to 3600 (10 when not set).
fn seconds(v: Option<u64>, name: &str) -> Result<std::time::Duration, ConfigError> {
    match v.unwrap_or(10) {
        s @ 1..=3600 => Ok(std::time::Duration::from_secs(s)),
        _ => Err(ConfigError(format!(
            "{name} must be from 1 to 3600 seconds"
        ))),
    }
}

/// A per-minute budget from 1 to 10,000.
fn per_min(v: Option<u32>, default: u32, name: &str) -> Result<u32, ConfigError> {
    match v.unwrap_or(default) {
        n @ 1..=10_000 => Ok(n),
        _ => Err(ConfigError(format!("{name} must be from 1 to 10000"))),
    }
}

/// The live rooms' bounds: stalls, queues, heartbeats, budgets, blocked link hosts.
fn room_settings(o: &mut Options) -> Result<RoomSettings, ConfigError> {
    Ok(RoomSettings {
        // Cut within 10 s: silence for 8 s, noticed within the next second's check.
        stall: seconds(o.room_stall_secs.or(Some(8)), "room_stall_secs")?,
        queue: match o.room_queue.unwrap_or(256) {
            n @ 4..=65_536 => n,
            _ => return Err(ConfigError("room_queue must be from 4 to 65536".into())),
        },
        heartbeat: match o.room_heartbeat_secs.unwrap_or(10) {
            s @ 1..=60 => std::time::Duration::from_secs(s),
            _ => {
                return Err(ConfigError(
                    "room_heartbeat_secs must be from 1 to 60".into(),
                ));
            }
        },
        send_buffer: match o.room_send_buffer {
            None => None,
            Some(n @ 4096..=16_777_216) => Some(n),
            Some(_) => {
                return Err(ConfigError(
                    "room_send_buffer must be from 4096 to 16777216 bytes".into(),
                ));
            }
        },
        actions_per_min: per_min(o.room_actions_per_min, 60, "room_actions_per_min")?,
        chat_per_min: per_min(o.room_chat_per_min, 20, "room_chat_per_min")?,
        reactions_per_min: per_min(o.room_reactions_per_min, 120, "room_reactions_per_min")?,
        chat_blocklist: o
            .chat_blocklist
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|h| h.trim().trim_start_matches("*.").to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
    })
}

fn is_hex_colour(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Secrets stay out of logs: the database password and the key are never printed.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = match Url::parse(&self.database_url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("REDACTED"));
                u.to_string()
            }
            _ => self.database_url.clone(),
        };
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("base_url", &self.base_url.as_str())
            .field("data_dir", &self.data_dir)
            .field("database_url", &db)
            .field("secret_key", &self.secret_key)
            .field("metrics_token", &self.metrics_token)
            .field("mailer", &self.mailer)
            .field("branding", &self.branding)
            .field("cors_origins", &self.cors_origins)
            .field("trust_proxy", &self.trust_proxy)
            .field("rate_limits", &self.rate_limits)
            .field("publish", &self.publish)
            .finish_non_exhaustive()
    }
}
