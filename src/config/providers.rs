//! The external services a deployment chooses: how mail leaves (log files, SMTP, SES), where
//! live media runs (the embedded server or Amazon IVS) and where chat runs (the rooms or IVS
//! Chat), each with the settings it needs, validated here.

use std::{fmt, path::PathBuf};

use url::Url;

use super::{ConfigError, Options, Secret};

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

/// Who carries a stage's media.
#[derive(Clone, Debug)]
pub enum MediaKind {
    /// The SFU in this process.
    Embedded,
    Ivs(Box<IvsSettings>),
}

#[derive(Clone, Debug)]
pub struct IvsSettings {
    pub region: String,
    pub public_key_arn: String,
    pub private_key: Secret,
    /// Where composed recordings go, and how they are encoded; both or neither.
    pub recording: Option<(String, String)>,
    pub endpoint_url: Option<Url>,
    pub web_sdk: PathBuf,
    /// What EventBridge sends with IVS's events.
    pub events_token: Option<Secret>,
}

/// Who delivers the group chat.
#[derive(Clone, Debug)]
pub enum ChatKind {
    /// The live-room socket.
    Embedded,
    Ivs(IvsChatSettings),
}

#[derive(Clone, Debug)]
pub struct IvsChatSettings {
    pub region: String,
    pub endpoint_url: Option<Url>,
    /// Where pages connect to receive the room's messages.
    pub messaging_url: Url,
}

/// How mail leaves: `log` (files), `smtp` with its URL, or `ses` with a region and a verified
/// sender.
pub(super) fn mailer_kind(o: &mut Options) -> Result<MailerKind, ConfigError> {
    Ok(match o.mailer.as_deref().unwrap_or("log") {
        "log" => MailerKind::Log,
        "smtp" => match o.smtp_url.take() {
            Some(url)
                if url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://") =>
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
            let region = o
                .ses_region
                .take()
                .filter(|r| is_aws_region(r))
                .ok_or_else(|| {
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
                configuration_set: o.ses_configuration_set.take().filter(|c| !c.is_empty()),
                from_arn: o.ses_from_arn.take().filter(|a| !a.is_empty()),
                endpoint_url: o.ses_endpoint_url.take(),
            })
        }
        other => {
            return Err(ConfigError(format!(
                "unknown mailer `{other}` (use `log`, `smtp` or `ses`)"
            )));
        }
    })
}

pub(super) fn media_kind(o: &Options) -> Result<MediaKind, ConfigError> {
    match o.media_provider.as_deref().unwrap_or("embedded") {
        "embedded" => Ok(MediaKind::Embedded),
        "ivs" => {
            let needs = |what: &str| ConfigError(format!("media_provider `ivs` needs {what}"));
            let region = o
                .ivs_region
                .clone()
                .filter(|r| is_aws_region(r))
                .ok_or_else(|| needs("ivs_region, e.g. eu-west-1"))?;
            let public_key_arn = o
                .ivs_public_key_arn
                .clone()
                .filter(|a| a.starts_with("arn:") && a.contains(":public-key/"))
                .ok_or_else(|| needs("ivs_public_key_arn (arn:aws:ivs:…:public-key/…)"))?;
            let private_key = o
                .ivs_private_key
                .clone()
                .filter(|k| k.expose().contains("PRIVATE KEY-----"))
                .ok_or_else(|| needs("ivs_private_key: the P-384 private key in PEM"))?;
            let storage_configuration_arn = o
                .ivs_storage_configuration_arn
                .clone()
                .filter(|a| !a.is_empty());
            let encoder_configuration_arn = o
                .ivs_encoder_configuration_arn
                .clone()
                .filter(|a| !a.is_empty());
            let recording = match (storage_configuration_arn, encoder_configuration_arn) {
                (None, None) => None,
                (Some(s), Some(e))
                    if s.starts_with("arn:")
                        && s.contains(":storage-configuration/")
                        && e.starts_with("arn:")
                        && e.contains(":encoder-configuration/") =>
                {
                    Some((s, e))
                }
                _ => {
                    return Err(ConfigError(
                        "recording on IVS needs both ivs_storage_configuration_arn \
                         (arn:aws:ivs:…:storage-configuration/…) and \
                         ivs_encoder_configuration_arn (arn:aws:ivs:…:encoder-configuration/…)"
                            .into(),
                    ));
                }
            };
            if let Some(u) = &o.ivs_endpoint_url
                && u.scheme() != "http"
                && u.scheme() != "https"
            {
                return Err(ConfigError("ivs_endpoint_url must be http(s)".into()));
            }
            if o.ivs_events_token
                .as_ref()
                .is_some_and(|t| t.expose().len() < 32)
            {
                return Err(ConfigError(
                    "ivs_events_token must be at least 32 characters".into(),
                ));
            }
            Ok(MediaKind::Ivs(Box::new(IvsSettings {
                events_token: o.ivs_events_token.clone(),
                region,
                public_key_arn,
                private_key,
                recording,
                endpoint_url: o.ivs_endpoint_url.clone(),
                web_sdk: o.ivs_web_sdk.clone().unwrap_or_else(|| {
                    PathBuf::from(
                        "static/vendor/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js",
                    )
                }),
            })))
        }
        other => Err(ConfigError(format!(
            "unknown media_provider `{other}` (use `embedded` or `ivs`)"
        ))),
    }
}

pub(super) fn chat_kind(o: &Options) -> Result<ChatKind, ConfigError> {
    match o.chat_provider.as_deref().unwrap_or("embedded") {
        "embedded" => Ok(ChatKind::Embedded),
        "ivs" => {
            let region = o
                .ivs_chat_region
                .clone()
                .or_else(|| o.ivs_region.clone())
                .filter(|r| is_aws_region(r))
                .ok_or_else(|| {
                    ConfigError("chat_provider `ivs` needs ivs_chat_region, e.g. eu-west-1".into())
                })?;
            for (name, url) in [
                ("ivs_chat_endpoint_url", &o.ivs_chat_endpoint_url),
                ("ivs_chat_messaging_url", &o.ivs_chat_messaging_url),
            ] {
                if let Some(u) = url
                    && !matches!(u.scheme(), "http" | "https" | "ws" | "wss")
                {
                    return Err(ConfigError(format!("{name} must be http(s) or ws(s)")));
                }
            }
            let messaging_url = match &o.ivs_chat_messaging_url {
                Some(u) => u.clone(),
                None => Url::parse(&format!("wss://edge.ivschat.{region}.amazonaws.com"))
                    .map_err(|e| ConfigError(format!("ivs_chat_region: {e}")))?,
            };
            Ok(ChatKind::Ivs(IvsChatSettings {
                region,
                endpoint_url: o.ivs_chat_endpoint_url.clone(),
                messaging_url,
            }))
        }
        other => Err(ConfigError(format!(
            "unknown chat_provider `{other}` (use `embedded` or `ivs`)"
        ))),
    }
}

/// Where composed recordings are kept: this server's disk, or an S3-compatible bucket.
#[derive(Clone, Debug)]
pub enum RecordingStoreKind {
    Local,
    S3(Box<S3Settings>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// Keys start with this (`vod/` by default), then `<event>/<file>`.
    pub prefix: String,
    /// MinIO, Cloudflare R2 or a local fake (path-style addressing); `user:password@` gives
    /// credentials.
    pub endpoint_url: Option<Url>,
    /// Signed CloudFront delivery: the distribution, the key pair id and the private key.
    pub cdn: Option<(Url, String, Secret)>,
}

/// `local` (the default) or `s3` with a bucket, and a region unless an endpoint is given.
pub(super) fn recording_store_kind(o: &Options) -> Result<RecordingStoreKind, ConfigError> {
    match o.recording_store.as_deref().unwrap_or("local") {
        "local" => Ok(RecordingStoreKind::Local),
        "s3" => {
            let bucket = o.recording_s3_bucket.clone().unwrap_or_default();
            let valid = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                })
                && !bucket.starts_with(['-', '.'])
                && !bucket.ends_with(['-', '.']);
            if !valid {
                return Err(ConfigError(
                    "recording_store `s3` needs recording_s3_bucket: 3 to 63 lower-case letters, digits, dots or dashes".into(),
                ));
            }
            if let Some(u) = &o.recording_s3_endpoint_url
                && !matches!(u.scheme(), "http" | "https")
            {
                return Err(ConfigError(
                    "recording_s3_endpoint_url must be http(s)".into(),
                ));
            }
            let region = match (&o.recording_s3_region, &o.recording_s3_endpoint_url) {
                (Some(r), _) if is_aws_region(r) || r == "auto" => r.clone(),
                (Some(_), _) => {
                    return Err(ConfigError(
                        "recording_s3_region must look like eu-west-1 (or auto, for R2)".into(),
                    ));
                }
                // MinIO and its kind ignore the region, but requests are signed with one.
                (None, Some(_)) => "us-east-1".into(),
                (None, None) => {
                    return Err(ConfigError(
                        "recording_store `s3` needs recording_s3_region (or an endpoint URL)"
                            .into(),
                    ));
                }
            };
            let prefix = o
                .recording_s3_prefix
                .clone()
                .unwrap_or_else(|| "vod/".into());
            let prefix_ok = prefix.len() <= 200
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'))
                && !prefix.starts_with('/')
                && !prefix.contains("..");
            if !prefix_ok {
                return Err(ConfigError(
                    "recording_s3_prefix: letters, digits, - _ . / only, at most 200".into(),
                ));
            }
            Ok(RecordingStoreKind::S3(Box::new(S3Settings {
                bucket,
                region,
                prefix,
                endpoint_url: o.recording_s3_endpoint_url.clone(),
                cdn: cdn(o)?,
            })))
        }
        other => Err(ConfigError(format!(
            "unknown recording_store `{other}` (use `local` or `s3`)"
        ))),
    }
}

/// Signed CloudFront delivery: all three options or none, and a key that parses (checked
/// here, so a bad one stops the start rather than the first replay).
fn cdn(o: &Options) -> Result<Option<(Url, String, Secret)>, ConfigError> {
    match (
        &o.recording_cdn_url,
        &o.recording_cdn_key_pair_id,
        &o.recording_cdn_private_key,
    ) {
        (None, None, None) => Ok(None),
        (Some(url), Some(id), Some(key)) => {
            if !matches!(url.scheme(), "https" | "http") || url.query().is_some() {
                return Err(ConfigError(
                    "recording_cdn_url must be the distribution's https:// URL".into(),
                ));
            }
            crate::media::recording::cdn::Cdn::new(url, id, key.expose())
                .map_err(|e| ConfigError(format!("recording_cdn: {e}")))?;
            Ok(Some((url.clone(), id.clone(), key.clone())))
        }
        _ => Err(ConfigError(
            "signed CloudFront delivery needs recording_cdn_url, recording_cdn_key_pair_id \
             and recording_cdn_private_key together"
                .into(),
        )),
    }
}

/// `eu-west-1`, `us-gov-east-1`: lower-case words and a number, joined by dashes.
pub(super) fn is_aws_region(s: &str) -> bool {
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

/// An amount of US dollars, kept in billionths: a chat message costs a small fraction of a
/// cent, and whole numbers add up exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Usd(pub i64);

impl Usd {
    pub const NANOS_PER_DOLLAR: i64 = 1_000_000_000;
    /// The largest price or ceiling accepted, so sums of them cannot overflow.
    const MAX_DOLLARS: i64 = 1_000_000;

    /// `12`, `0.072` or `0.00000225`: digits, a point, at most nine decimals, at most a
    /// million dollars.
    pub fn parse(s: &str) -> Option<Usd> {
        let (whole, frac) = s.trim().split_once('.').unwrap_or((s.trim(), ""));
        let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty()
            || whole.len() > 7
            || frac.len() > 9
            || !digits(whole)
            || !digits(frac)
        {
            return None;
        }
        let dollars: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let nanos: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().ok()?
        };
        // At most seven whole digits, so this cannot overflow.
        let total = dollars * Self::NANOS_PER_DOLLAR + nanos;
        (total <= Self::MAX_DOLLARS * Self::NANOS_PER_DOLLAR).then_some(Usd(total))
    }

    /// `count` of a thing priced per `per` units; saturating, as a display is all it feeds.
    pub fn times(self, count: i64, per: i64) -> Usd {
        let n = i128::from(self.0) * i128::from(count) / i128::from(per.max(1));
        Usd(i64::try_from(n).unwrap_or(i64::MAX))
    }

    pub fn plus(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

/// Dollars and cents, rounded up to the cent (what an estimate should err on); a positive
/// amount under a cent says so.
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = (self.0.max(0) as u64).div_ceil(10_000_000);
        if self.0 > 0 && self.0 < 10_000_000 {
            return f.write_str("under $0.01");
        }
        write!(f, "${}.{:02}", cents / 100, cents % 100)
    }
}

/// What Amazon IVS costs, as the operator configured it from AWS's price page, and the
/// monthly ceiling past which events do not go live on IVS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IvsCosts {
    pub participant_hour: Option<Usd>,
    pub composition_hour: Option<Usd>,
    /// Per 1,000 messages sent, and per 1,000 delivered.
    pub chat_per_1000: Option<(Usd, Usd)>,
    pub monthly_ceiling: Option<Usd>,
}

pub(super) fn ivs_costs(o: &Options) -> Result<IvsCosts, ConfigError> {
    let usd = |name: &str, v: &Option<String>| -> Result<Option<Usd>, ConfigError> {
        v.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                Usd::parse(s).ok_or_else(|| {
                    ConfigError(format!(
                        "{name} `{s}`: give US dollars as a number such as 0.072 (at most 9 decimals, at most 1000000)"
                    ))
                })
            })
            .transpose()
    };
    let chat_per_1000 = match o.ivs_chat_per_1000_usd.as_deref() {
        None | Some("") => None,
        Some(pair) => {
            let (sent, delivered) = pair.split_once(',').ok_or_else(|| {
                ConfigError(format!(
                    "ivs_chat_per_1000_usd `{pair}`: give two prices, sent and delivered, e.g. 0.00225,0.0002"
                ))
            })?;
            let one = |v: &str| usd("ivs_chat_per_1000_usd", &Some(v.to_string()));
            Some((
                one(sent)?.unwrap_or_default(),
                one(delivered)?.unwrap_or_default(),
            ))
        }
    };
    let costs = IvsCosts {
        participant_hour: usd("ivs_participant_hour_usd", &o.ivs_participant_hour_usd)?,
        composition_hour: usd("ivs_composition_hour_usd", &o.ivs_composition_hour_usd)?,
        chat_per_1000,
        monthly_ceiling: usd("ivs_monthly_ceiling_usd", &o.ivs_monthly_ceiling_usd)?,
    };
    if costs.monthly_ceiling.is_some() && costs.participant_hour.is_none() {
        return Err(ConfigError(
            "ivs_monthly_ceiling_usd needs ivs_participant_hour_usd: the ceiling is checked against what IVS usage cost at that price".into(),
        ));
    }
    Ok(costs)
}

/// Where the embedded media server's ICE-over-TCP candidate listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaTcp {
    Off,
    /// The UDP port + 1, skipped with a warning when taken.
    Beside,
    At(std::net::SocketAddr),
}

/// TURN servers pages may relay media through, with the secret their credentials derive from.
#[derive(Clone, Debug)]
pub struct TurnSettings {
    pub urls: Vec<String>,
    pub secret: Secret,
}

pub(super) fn media_tcp(o: &Options) -> Result<MediaTcp, ConfigError> {
    Ok(match o.media_tcp.as_deref().map(str::trim) {
        None | Some("") => MediaTcp::Beside,
        Some("off") => MediaTcp::Off,
        Some(a) => MediaTcp::At(a.parse().map_err(|_| {
            ConfigError(format!(
                "media_tcp `{a}`: give an address and port such as 0.0.0.0:8081, or off"
            ))
        })?),
    })
}

/// At most this many TURN URLs, each at most this long.
const MAX_TURN_URLS: usize = 8;
const MAX_TURN_URL: usize = 256;

pub(super) fn turn(o: &Options) -> Result<Option<TurnSettings>, ConfigError> {
    let urls: Vec<String> = o
        .turn_urls
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect();
    if urls.is_empty() {
        return Ok(None);
    }
    if urls.len() > MAX_TURN_URLS {
        return Err(ConfigError(format!(
            "turn_urls: at most {MAX_TURN_URLS} servers"
        )));
    }
    for u in &urls {
        if !(u.starts_with("turn:") || u.starts_with("turns:"))
            || u.len() > MAX_TURN_URL
            || u.chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '"')
        {
            return Err(ConfigError(format!(
                "turn_urls: `{u}` is not a TURN URL (turn:host:port or turns:host:port?transport=tcp)"
            )));
        }
    }
    let secret = o
        .turn_secret
        .clone()
        .filter(|s| s.expose().len() >= 16)
        .ok_or_else(|| {
            ConfigError(
                "turn_urls needs turn_secret (at least 16 characters): the TURN servers' static-auth-secret".into(),
            )
        })?;
    Ok(Some(TurnSettings { urls, secret }))
}
