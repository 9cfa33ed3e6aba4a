//! Configuration: `MEETSTAGE_*` environment variables and flags (clap), over an optional TOML
//! file, over defaults. Every option is documented once, on [`Options`], and `meetstage serve
//! --help` prints that documentation.

use std::{fmt, net::SocketAddr, path::PathBuf};

use serde::Deserialize;
use url::Url;

/// Options as given; every field is optional so the three sources can be layered.
#[derive(clap::Args, Deserialize, Default, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// TOML file with any of these options (snake_case keys); flags and variables override it.
    #[arg(long, env = "MEETSTAGE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "MEETSTAGE_BIND")]
    pub bind: Option<SocketAddr>,

    /// Public URL people reach meetstage at; links in mail use it. `https://` turns on Secure
    /// cookies and HSTS [default: http://<bind>].
    #[arg(long, env = "MEETSTAGE_BASE_URL")]
    pub base_url: Option<Url>,

    /// Directory for the SQLite database, the secret key file and logged mail [default: ./data].
    #[arg(long, env = "MEETSTAGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// `sqlite://…` or `postgres://…` [default: sqlite://<data dir>/meetstage.db].
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Largest number of database connections in the pool [default: number of cores for
    /// SQLite, whose reads are CPU-bound; 16 for Postgres].
    #[arg(long, env = "MEETSTAGE_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<u32>,

    /// Key for signing CSRF tokens, at least 32 characters. When unset, one is generated once and
    /// kept in `<data dir>/secret.key`.
    #[arg(long, env = "MEETSTAGE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,

    /// Mail transport: `log` writes each message as an .eml file under `<data dir>/mail/`;
    /// `smtp` sends through MEETSTAGE_SMTP_URL; `ses` sends through Amazon SES v2 with the
    /// standard AWS credential chain (environment, profile, instance or task role) [default: log].
    #[arg(long, env = "MEETSTAGE_MAILER")]
    pub mailer: Option<String>,

    /// SMTP server for `mailer = smtp`: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://user:pass@host:465` (TLS), or `smtp://host:1025` (plain, local catchers only).
    #[arg(long, env = "MEETSTAGE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// AWS region of SES for `mailer = ses`, e.g. `eu-west-1`.
    #[arg(long, env = "MEETSTAGE_SES_REGION")]
    pub ses_region: Option<String>,

    /// SES configuration set to send with (event publishing, dedicated IPs) [default: none].
    #[arg(long, env = "MEETSTAGE_SES_CONFIGURATION_SET")]
    pub ses_configuration_set: Option<String>,

    /// ARN of the SES identity that authorises the From address, when sending on behalf of
    /// an identity owned by another account [default: none].
    #[arg(long, env = "MEETSTAGE_SES_FROM_ARN")]
    pub ses_from_arn: Option<String>,

    /// Other SES endpoint (a VPC endpoint or a local fake) [default: the region's].
    #[arg(long, env = "MEETSTAGE_SES_ENDPOINT_URL")]
    pub ses_endpoint_url: Option<Url>,

    /// `development` or `production`; production refuses settings that would lose data, such
    /// as the `log` mailer [default: development].
    #[arg(long, env = "MEETSTAGE_ENV")]
    pub environment: Option<String>,

    /// From address of every mail [default: "<community name> <noreply@localhost>"].
    #[arg(long, env = "MEETSTAGE_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// Mails delivered per second at most (SES allows 1/s in its sandbox, 14/s in
    /// production) [default: 14].
    #[arg(long, env = "MEETSTAGE_MAIL_RATE")]
    pub mail_rate: Option<f64>,

    /// Community name shown in the header, page titles and mail [default: meetstage].
    #[arg(long, env = "MEETSTAGE_COMMUNITY_NAME")]
    pub community_name: Option<String>,

    /// URL of the community logo (https:// or a path under /static/).
    #[arg(long, env = "MEETSTAGE_LOGO_URL")]
    pub logo_url: Option<String>,

    /// Accent colour as #rrggbb [default: #2f6fde].
    #[arg(long, env = "MEETSTAGE_ACCENT_COLOR")]
    pub accent_color: Option<String>,

    /// Footer links as `Label=https://…`, comma separated.
    #[arg(long, env = "MEETSTAGE_FOOTER_LINKS", value_delimiter = ',')]
    pub footer_links: Option<Vec<String>>,

    /// Origins allowed to call the API from other sites (CORS), comma separated [default: none].
    #[arg(long, env = "MEETSTAGE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,

    /// Take the client address from the last X-Forwarded-For entry; only behind a trusted proxy
    /// [default: false].
    #[arg(long, env = "MEETSTAGE_TRUST_PROXY")]
    pub trust_proxy: Option<bool>,

    /// Requests per minute per IP for visitors who are not logged in [default: 100].
    #[arg(long, env = "MEETSTAGE_RATE_LIMIT_ANONYMOUS")]
    pub rate_limit_anonymous: Option<u32>,

    /// Requests per minute per IP for logged-in people [default: 500].
    #[arg(long, env = "MEETSTAGE_RATE_LIMIT_USER")]
    pub rate_limit_user: Option<u32>,

    /// Login, sign-up and password-reset attempts per minute per IP [default: 10].
    #[arg(long, env = "MEETSTAGE_RATE_LIMIT_AUTH")]
    pub rate_limit_auth: Option<u32>,

    /// Hours of inactivity after which a session ends; every request extends it [default: 168].
    #[arg(long, env = "MEETSTAGE_SESSION_IDLE_HOURS")]
    pub session_idle_hours: Option<u32>,

    /// Password hashes computed at once; each takes 19 MiB [default: number of cores].
    #[arg(long, env = "MEETSTAGE_MAX_CONCURRENT_HASHES")]
    pub max_concurrent_hashes: Option<usize>,

    /// Log format: `json` or `pretty` [default: json]. Levels come from RUST_LOG.
    #[arg(long, env = "MEETSTAGE_LOG_FORMAT")]
    pub log_format: Option<String>,

    /// Bearer token Prometheus must send to read `/metrics` (at least 16 characters); without
    /// one, `/metrics` is not served [default: none].
    #[arg(long, env = "MEETSTAGE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// Seconds a client may take to send a request's headers before the connection is closed
    /// (slow clients must not hold connections open) [default: 10].
    #[arg(long, env = "MEETSTAGE_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,

    /// Seconds a shutdown waits for requests in flight before closing their connections
    /// [default: 10].
    #[arg(long, env = "MEETSTAGE_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
}

/// A value that must never reach a log or an error page: its `Debug` prints REDACTED, and
/// the value itself only comes out through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl Options {
    /// Fills every unset field of `self` from `other`.
    pub fn or(self, other: Options) -> Options {
        Options {
            config: self.config.or(other.config),
            bind: self.bind.or(other.bind),
            base_url: self.base_url.or(other.base_url),
            data_dir: self.data_dir.or(other.data_dir),
            database_url: self.database_url.or(other.database_url),
            database_max_connections: self
                .database_max_connections
                .or(other.database_max_connections),
            secret_key: self.secret_key.or(other.secret_key),
            mailer: self.mailer.or(other.mailer),
            smtp_url: self.smtp_url.or(other.smtp_url),
            ses_region: self.ses_region.or(other.ses_region),
            ses_configuration_set: self.ses_configuration_set.or(other.ses_configuration_set),
            ses_from_arn: self.ses_from_arn.or(other.ses_from_arn),
            ses_endpoint_url: self.ses_endpoint_url.or(other.ses_endpoint_url),
            environment: self.environment.or(other.environment),
            mail_from: self.mail_from.or(other.mail_from),
            mail_rate: self.mail_rate.or(other.mail_rate),
            community_name: self.community_name.or(other.community_name),
            logo_url: self.logo_url.or(other.logo_url),
            accent_color: self.accent_color.or(other.accent_color),
            footer_links: self.footer_links.or(other.footer_links),
            cors_origins: self.cors_origins.or(other.cors_origins),
            trust_proxy: self.trust_proxy.or(other.trust_proxy),
            rate_limit_anonymous: self.rate_limit_anonymous.or(other.rate_limit_anonymous),
            rate_limit_user: self.rate_limit_user.or(other.rate_limit_user),
            rate_limit_auth: self.rate_limit_auth.or(other.rate_limit_auth),
            session_idle_hours: self.session_idle_hours.or(other.session_idle_hours),
            max_concurrent_hashes: self.max_concurrent_hashes.or(other.max_concurrent_hashes),
            log_format: self.log_format.or(other.log_format),
            metrics_token: self.metrics_token.or(other.metrics_token),
            header_timeout_secs: self.header_timeout_secs.or(other.header_timeout_secs),
            shutdown_grace_secs: self.shutdown_grace_secs.or(other.shutdown_grace_secs),
        }
    }

    /// Layers the TOML file named by `--config` (if any) under the given options.
    pub fn with_file(self) -> Result<Options, ConfigError> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let file: Options =
            toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        Ok(self.or(file))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, PartialEq, Eq)]
pub enum MailerKind {
    Log,
    Smtp { url: Secret },
    Ses(SesSettings),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SesSettings {
    pub region: String,
    pub configuration_set: Option<String>,
    pub from_arn: Option<String>,
    pub endpoint_url: Option<Url>,
}

/// The SMTP URL holds a password: show only the scheme and host.
impl fmt::Debug for MailerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailerKind::Log => f.write_str("Log"),
            MailerKind::Smtp { url } => {
                let shown = Url::parse(url.expose())
                    .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")))
                    .unwrap_or_default();
                write!(f, "Smtp({shown})")
            }
            MailerKind::Ses(s) => write!(f, "Ses({})", s.region),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Branding {
    pub community_name: String,
    pub logo_url: Option<String>,
    pub accent_color: String,
    pub footer_links: Vec<(String, String)>,
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
    pub header_timeout: std::time::Duration,
    pub shutdown_grace: std::time::Duration,
}

impl Config {
    pub fn from_options(o: Options) -> Result<Config, ConfigError> {
        let bind = o
            .bind
            .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("literal address"));
        let base_url = match o.base_url {
            Some(u) if u.scheme() == "http" || u.scheme() == "https" => u,
            Some(u) => return Err(ConfigError(format!("base_url must be http(s), got {u}"))),
            None => Url::parse(&format!("http://{bind}")).expect("address is a valid URL"),
        };
        let data_dir = o.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let database_url = o.database_url.unwrap_or_else(|| {
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
        let mailer = match o.mailer.as_deref().unwrap_or("log") {
            "log" => MailerKind::Log,
            "smtp" => match o.smtp_url {
                Some(url)
                    if url.expose().starts_with("smtp://")
                        || url.expose().starts_with("smtps://") =>
                {
                    MailerKind::Smtp { url }
                }
                _ => {
                    return Err(ConfigError(
                        "mailer `smtp` needs smtp_url (smtp://… or smtps://…)".into(),
                    ));
                }
            },
            "ses" => {
                let region = o.ses_region.filter(|r| is_aws_region(r)).ok_or_else(|| {
                    ConfigError("mailer `ses` needs ses_region, e.g. eu-west-1".into())
                })?;
                // SES sends only from a verified identity; the built-in default never is one.
                if o.mail_from.is_none() {
                    return Err(ConfigError(
                        "mailer `ses` needs mail_from: an address or domain verified in SES".into(),
                    ));
                }
                if let Some(u) = &o.ses_endpoint_url
                    && !matches!(u.scheme(), "http" | "https")
                {
                    return Err(ConfigError("ses_endpoint_url must be http(s)".into()));
                }
                MailerKind::Ses(SesSettings {
                    region,
                    configuration_set: o.ses_configuration_set.filter(|c| !c.is_empty()),
                    from_arn: o.ses_from_arn.filter(|a| !a.is_empty()),
                    endpoint_url: o.ses_endpoint_url,
                })
            }
            other => {
                return Err(ConfigError(format!(
                    "unknown mailer `{other}` (use `log`, `smtp` or `ses`)"
                )));
            }
        };
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
        let community_name = o.community_name.unwrap_or_else(|| "meetstage".into());
        let accent_color = o.accent_color.unwrap_or_else(|| "#2f6fde".into());
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
        for link in o.footer_links.unwrap_or_default() {
            let (label, url) = link
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("footer link `{link}` is not Label=URL")))?;
            if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
            {
                return Err(ConfigError(format!(
                    "footer link URL `{url}` must be http(s)"
                )));
            }
            footer_links.push((label.trim().to_string(), url.trim().to_string()));
        }
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
        let seconds = |v: Option<u64>, name: &str| match v.unwrap_or(10) {
            s @ 1..=3600 => Ok(std::time::Duration::from_secs(s)),
            _ => Err(ConfigError(format!(
                "{name} must be from 1 to 3600 seconds"
            ))),
        };
        let header_timeout = seconds(o.header_timeout_secs, "header_timeout_secs")?;
        let shutdown_grace = seconds(o.shutdown_grace_secs, "shutdown_grace_secs")?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let sqlite = database_url.starts_with("sqlite:");
        Ok(Config {
            bind,
            mail_rate_per_second,
            base_url,
            mail_from: o
                .mail_from
                .unwrap_or_else(|| format!("{community_name} <noreply@localhost>")),
            branding: Branding {
                community_name,
                logo_url: o.logo_url,
                accent_color,
                footer_links,
            },
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
            header_timeout,
            shutdown_grace,
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

/// `eu-west-1`, `us-gov-east-1`: lower-case words and a number, joined by dashes.
fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
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
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::from_options(Options::default()).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.database_url, "sqlite://data/meetstage.db?mode=rwc");
        assert_eq!(c.mailer, MailerKind::Log);
        assert!(!c.is_https());
        assert_eq!(c.link("/events/1"), "http://127.0.0.1:8080/events/1");
    }

    #[test]
    fn flags_and_variables_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meetstage.toml");
        std::fs::write(&path, "community_name = \"From file\"\naccent_color = \"#112233\"\nfooter_links = [\"Code of conduct=https://example.org/coc\"]\n").unwrap();
        let cli = Options {
            config: Some(path),
            community_name: Some("From flag".into()),
            ..Options::default()
        };
        let c = Config::from_options(cli.with_file().unwrap()).unwrap();
        assert_eq!(c.branding.community_name, "From flag");
        assert_eq!(c.branding.accent_color, "#112233");
        assert_eq!(
            c.branding.footer_links,
            vec![(
                "Code of conduct".to_string(),
                "https://example.org/coc".to_string()
            )]
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let bad = |o: Options| Config::from_options(o).unwrap_err().to_string();
        assert!(
            bad(Options {
                accent_color: Some("red".into()),
                ..Options::default()
            })
            .contains("accent_color")
        );
        assert!(
            bad(Options {
                database_url: Some("mysql://x".into()),
                ..Options::default()
            })
            .contains("database_url")
        );
        assert!(
            bad(Options {
                secret_key: Some(Secret::new("short")),
                ..Options::default()
            })
            .contains("at least 32")
        );
        assert!(
            bad(Options {
                mailer: Some("pigeon".into()),
                ..Options::default()
            })
            .contains("unknown mailer")
        );
        assert!(
            bad(Options {
                logo_url: Some("javascript:alert(1)".into()),
                ..Options::default()
            })
            .contains("logo_url")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("typo.toml");
        std::fs::write(&path, "comunity_name = \"x\"\n").unwrap();
        let err = Options {
            config: Some(path),
            ..Options::default()
        }
        .with_file()
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Config::from_options(Options {
            database_url: Some("postgres://app:hunter2hunter2@db/meetstage".into()),
            secret_key: Some(Secret::new("k".repeat(40))),
            base_url: Some("https://meet.example.org".parse().unwrap()),
            ..Options::default()
        })
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains(&"k".repeat(40)),
            "{shown}"
        );
        assert!(shown.contains("REDACTED"));
        assert!(c.is_https());
    }

    #[test]
    fn smtp_needs_a_url_and_production_refuses_the_log_mailer() {
        let err = |o: Options| Config::from_options(o).unwrap_err().to_string();
        assert!(
            err(Options {
                mailer: Some("smtp".into()),
                ..Options::default()
            })
            .contains("needs smtp_url")
        );
        assert!(
            err(Options {
                environment: Some("production".into()),
                ..Options::default()
            })
            .contains("would lose mail")
        );
        let smtp = Options {
            mailer: Some("smtp".into()),
            smtp_url: Some(Secret::new(
                "smtp://u:topsecret@mail.example.org:587?tls=required",
            )),
            environment: Some("production".into()),
            ..Options::default()
        };
        let c = Config::from_options(smtp).unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("Smtp(smtp://mail.example.org)") && !shown.contains("topsecret"),
            "{shown}"
        );
    }

    #[test]
    fn ses_needs_a_region_and_a_verified_from_address() {
        let err = |o: Options| Config::from_options(o).unwrap_err().to_string();
        let ses = || Options {
            mailer: Some("ses".into()),
            ses_region: Some("eu-west-1".into()),
            mail_from: Some("Meetup <events@example.org>".into()),
            environment: Some("production".into()),
            ..Options::default()
        };
        assert!(
            err(Options {
                ses_region: None,
                ..ses()
            })
            .contains("needs ses_region")
        );
        assert!(
            err(Options {
                ses_region: Some("Ireland".into()),
                ..ses()
            })
            .contains("needs ses_region")
        );
        assert!(
            err(Options {
                mail_from: None,
                ..ses()
            })
            .contains("needs mail_from")
        );
        let c = Config::from_options(Options {
            ses_configuration_set: Some("meetups".into()),
            ..ses()
        })
        .unwrap();
        assert_eq!(
            c.mailer,
            MailerKind::Ses(SesSettings {
                region: "eu-west-1".into(),
                configuration_set: Some("meetups".into()),
                from_arn: None,
                endpoint_url: None,
            })
        );
        assert!(is_aws_region("us-gov-east-1") && !is_aws_region("eu-west"));
    }
}
