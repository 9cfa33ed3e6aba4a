//! The options as given, from flags, `MEETSTAGE_*` variables and a TOML file, layered; and
//! [`Secret`], the type every secret option is read into.

use std::{fmt, net::SocketAddr, path::PathBuf};

use serde::Deserialize;
use url::Url;

use super::ConfigError;

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

    /// UDP address the embedded media server listens on [default: the HTTP listener's address
    /// and port, over UDP].
    #[arg(long, env = "MEETSTAGE_MEDIA_UDP")]
    pub media_udp: Option<SocketAddr>,

    /// TCP address of the media server's ICE-over-TCP candidate, for browsers whose network
    /// blocks UDP; `off` for none [default: the UDP address, port + 1, skipped with a warning
    /// when that port is taken].
    #[arg(long, env = "MEETSTAGE_MEDIA_TCP")]
    pub media_tcp: Option<String>,

    /// TURN servers browsers may relay media through when neither UDP nor TCP reaches the
    /// media server directly: comma-separated `turn:` / `turns:` URLs, e.g.
    /// `turns:turn.example.org:443?transport=tcp` [default: none].
    #[arg(long, env = "MEETSTAGE_TURN_URLS")]
    pub turn_urls: Option<String>,

    /// The TURN servers' shared secret (coturn `static-auth-secret`): each page gets a
    /// username and password from it that expire after a day [default: none].
    #[arg(long, env = "MEETSTAGE_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,

    /// The IP address browsers reach the media server at, when it differs from the UDP
    /// address (NAT, containers) [default: the UDP address; loopback when that is 0.0.0.0].
    #[arg(long, env = "MEETSTAGE_MEDIA_PUBLIC_IP")]
    pub media_public_ip: Option<std::net::IpAddr>,

    /// The most video one viewer is sent, in kbit/s, whatever their link carries (100 to
    /// 100000; a smaller value sends smaller layers, below a layer's worth, audio only)
    /// [default: as much as their link carries].
    #[arg(long, env = "MEETSTAGE_MEDIA_VIEWER_KBPS")]
    pub media_viewer_kbps: Option<u64>,

    /// The most media connections (cameras, screens, viewers) the embedded media server
    /// carries at once; beyond it newcomers are told it is full. Past its CPU, every viewer
    /// loses frames and memory climbs: one 1 vCPU / 1 GiB server holds about 350 (1 to 4096)
    /// [default: 4096].
    #[arg(long, env = "MEETSTAGE_MEDIA_MAX_CONNECTIONS")]
    pub media_max_connections: Option<usize>,

    /// Who carries cameras, microphones and screens: `embedded` (the SFU in this process, one
    /// UDP port) or `ivs` (Amazon IVS Real-Time stages, for large audiences) [default: embedded].
    #[arg(long, env = "MEETSTAGE_MEDIA_PROVIDER")]
    pub media_provider: Option<String>,

    /// AWS region of the IVS stages for `media_provider = ivs`, e.g. `eu-west-1`.
    #[arg(long, env = "MEETSTAGE_IVS_REGION")]
    pub ivs_region: Option<String>,

    /// ARN IVS gave the imported public key (`aws ivs-realtime import-public-key`); tokens
    /// name it as their signer.
    #[arg(long, env = "MEETSTAGE_IVS_PUBLIC_KEY_ARN")]
    pub ivs_public_key_arn: Option<String>,

    /// The EC P-384 private key (PEM) whose public half is imported into IVS; participant
    /// tokens are signed with it here, so joining a stage costs no AWS call.
    #[arg(long, env = "MEETSTAGE_IVS_PRIVATE_KEY", hide_env_values = true)]
    pub ivs_private_key: Option<Secret>,

    /// ARN of the IVS storage configuration (an S3 bucket) that composed recordings are
    /// written to; without it events on IVS are not recorded [default: none].
    #[arg(long, env = "MEETSTAGE_IVS_STORAGE_CONFIGURATION_ARN")]
    pub ivs_storage_configuration_arn: Option<String>,

    /// ARN of the IVS encoder configuration composed recordings are encoded with (size,
    /// frame rate, bit rate); needed with a storage configuration [default: none].
    #[arg(long, env = "MEETSTAGE_IVS_ENCODER_CONFIGURATION_ARN")]
    pub ivs_encoder_configuration_arn: Option<String>,

    /// Other IVS Real-Time endpoint (a VPC endpoint or a local fake; a loopback address needs
    /// no AWS credentials) [default: the region's].
    #[arg(long, env = "MEETSTAGE_IVS_ENDPOINT_URL")]
    pub ivs_endpoint_url: Option<Url>,

    /// Token EventBridge sends (header `x-meetstage-token`) when it forwards IVS's events to
    /// `/api/v1/hooks/ivs`: a recording is then fetched as soon as IVS finished it, rather
    /// than at the next look [default: none, the endpoint does not exist].
    #[arg(long, env = "MEETSTAGE_IVS_EVENTS_TOKEN", hide_env_values = true)]
    pub ivs_events_token: Option<Secret>,

    /// File the IVS Web Broadcast SDK is served from to pages (`npm ci` in `static/vendor`
    /// puts the pinned version at the default path) [default: static/vendor/node_modules/
    /// amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js].
    #[arg(long, env = "MEETSTAGE_IVS_WEB_SDK")]
    pub ivs_web_sdk: Option<PathBuf>,

    /// What Amazon IVS charges per participant-hour (each presenter and viewer connected to a
    /// stage), in US dollars, from aws.amazon.com/ivs/pricing for your region, e.g. `0.072`;
    /// organizers then see each event's estimated cost [default: none, quantities only].
    #[arg(long, env = "MEETSTAGE_IVS_PARTICIPANT_HOUR_USD")]
    pub ivs_participant_hour_usd: Option<String>,

    /// What IVS charges per hour of server-side composition (the recording), in US dollars
    /// [default: none].
    #[arg(long, env = "MEETSTAGE_IVS_COMPOSITION_HOUR_USD")]
    pub ivs_composition_hour_usd: Option<String>,

    /// What IVS Chat charges per 1,000 messages sent, and per 1,000 delivered, in US dollars,
    /// as two numbers `sent,delivered`, e.g. `0.00225,0.0002` [default: none].
    #[arg(long, env = "MEETSTAGE_IVS_CHAT_PER_1000_USD")]
    pub ivs_chat_per_1000_usd: Option<String>,

    /// The most this deployment may spend on IVS in a calendar month (UTC), in US dollars:
    /// once what was used this month reaches it, going live (and opening a green room) on IVS
    /// is refused until the next month. Needs ivs_participant_hour_usd [default: no ceiling].
    #[arg(long, env = "MEETSTAGE_IVS_MONTHLY_CEILING_USD")]
    pub ivs_monthly_ceiling_usd: Option<String>,

    /// Who delivers the room's group chat: `embedded` (the live-room socket) or `ivs` (an
    /// Amazon IVS Chat room per event; messages still pass meetstage's rules and are kept in
    /// its database) [default: embedded].
    #[arg(long, env = "MEETSTAGE_CHAT_PROVIDER")]
    pub chat_provider: Option<String>,

    /// AWS region of the IVS Chat rooms [default: ivs_region].
    #[arg(long, env = "MEETSTAGE_IVS_CHAT_REGION")]
    pub ivs_chat_region: Option<String>,

    /// Other IVS Chat endpoint (a local fake; `user:password@` gives credentials)
    /// [default: the region's].
    #[arg(long, env = "MEETSTAGE_IVS_CHAT_ENDPOINT_URL")]
    pub ivs_chat_endpoint_url: Option<Url>,

    /// The WebSocket pages receive IVS Chat on [default: wss://edge.ivschat.<region>.amazonaws.com].
    #[arg(long, env = "MEETSTAGE_IVS_CHAT_MESSAGING_URL")]
    pub ivs_chat_messaging_url: Option<Url>,

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

    /// Also write the engagement and job metrics to standard output once a minute as
    /// CloudWatch embedded metric format (for the awslogs driver on ECS) [default: false].
    #[arg(long, env = "MEETSTAGE_METRICS_EMF")]
    pub metrics_emf: Option<bool>,

    /// Bearer token Prometheus must send to read `/metrics` (at least 16 characters); without
    /// one, `/metrics` is not served [default: none].
    #[arg(long, env = "MEETSTAGE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// The ffmpeg program that composes recordings [default: ffmpeg, found on PATH].
    #[arg(long, env = "MEETSTAGE_FFMPEG")]
    pub ffmpeg: Option<PathBuf>,

    /// Free space, in MB, the data directory's disk must have for the embedded media server
    /// to start recording an event; below it the event goes live unrecorded and the
    /// presenters are told why [default: 1024].
    #[arg(long, env = "MEETSTAGE_RECORDING_MIN_FREE_MB")]
    pub recording_min_free_mb: Option<u64>,

    /// Where composed recordings are kept: `local` (the data directory, served by meetstage)
    /// or `s3` (any S3-compatible bucket: AWS S3, MinIO, Cloudflare R2) [default: local].
    #[arg(long, env = "MEETSTAGE_RECORDING_STORE")]
    pub recording_store: Option<String>,

    /// The bucket recordings go to, with `recording_store = s3`.
    #[arg(long, env = "MEETSTAGE_RECORDING_S3_BUCKET")]
    pub recording_s3_bucket: Option<String>,

    /// The bucket's region (`auto` for R2) [default: us-east-1 with an endpoint URL].
    #[arg(long, env = "MEETSTAGE_RECORDING_S3_REGION")]
    pub recording_s3_region: Option<String>,

    /// Keys of recordings start with this [default: vod/].
    #[arg(long, env = "MEETSTAGE_RECORDING_S3_PREFIX")]
    pub recording_s3_prefix: Option<String>,

    /// An S3-compatible endpoint (MinIO, R2), addressed path-style; `user:password@` in it
    /// gives credentials, else the standard AWS chain [default: AWS S3].
    #[arg(
        long,
        env = "MEETSTAGE_RECORDING_S3_ENDPOINT_URL",
        hide_env_values = true
    )]
    pub recording_s3_endpoint_url: Option<Url>,

    /// A CloudFront distribution in front of the recordings bucket (`https://media.example.org`):
    /// players then fetch the video from it with signed URLs, after meetstage checked who may
    /// watch; needs the two options below [default: none, meetstage streams the files].
    #[arg(long, env = "MEETSTAGE_RECORDING_CDN_URL")]
    pub recording_cdn_url: Option<Url>,

    /// The id CloudFront gave the public key of a trusted key group of that distribution.
    #[arg(long, env = "MEETSTAGE_RECORDING_CDN_KEY_PAIR_ID")]
    pub recording_cdn_key_pair_id: Option<String>,

    /// The RSA private key (PEM) of that public key; URLs are signed with it.
    #[arg(
        long,
        env = "MEETSTAGE_RECORDING_CDN_PRIVATE_KEY",
        hide_env_values = true
    )]
    pub recording_cdn_private_key: Option<Secret>,

    /// Directory the static archive of past public events is written to after each event
    /// ends (see `meetstage publish`) [default: none, not published].
    #[arg(long, env = "MEETSTAGE_PUBLISH_DIR")]
    pub publish_dir: Option<PathBuf>,

    /// Git repository the archive is committed and pushed to (an https URL with a token, an
    /// ssh URL, or a path); needs `publish_dir` [default: none].
    #[arg(long, env = "MEETSTAGE_PUBLISH_GIT_URL", hide_env_values = true)]
    pub publish_git_url: Option<Secret>,

    /// Branch of `publish_git_url` that holds the archive [default: gh-pages].
    #[arg(long, env = "MEETSTAGE_PUBLISH_BRANCH")]
    pub publish_branch: Option<String>,

    /// Seconds a client may take to send a request's headers before the connection is closed
    /// (slow clients must not hold connections open) [default: 10].
    #[arg(long, env = "MEETSTAGE_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,

    /// Seconds a shutdown waits for requests in flight before closing their connections
    /// [default: 10].
    #[arg(long, env = "MEETSTAGE_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,

    /// Seconds a live-room connection may stop reading before it is cut off, so one stalled
    /// client never holds the others back [default: 8].
    #[arg(long, env = "MEETSTAGE_ROOM_STALL_SECS")]
    pub room_stall_secs: Option<u64>,

    /// Live-room messages that may wait for one connection's socket before it starts over
    /// from a fresh snapshot [default: 256].
    #[arg(long, env = "MEETSTAGE_ROOM_QUEUE")]
    pub room_queue: Option<usize>,

    /// Caps the kernel's send buffer of each live-room socket, in bytes (the kernel doubles
    /// it), bounding the kernel memory a client that stops reading can hold; unset, the kernel
    /// sizes it, which measured cheaper per write [default: unset].
    #[arg(long, env = "MEETSTAGE_ROOM_SEND_BUFFER")]
    pub room_send_buffer: Option<usize>,

    /// Seconds between an instance's "still alive" notes to the others; one silent for three
    /// of these is presumed gone, its people uncounted and their visits closed [default: 10].
    #[arg(long, env = "MEETSTAGE_ROOM_HEARTBEAT_SECS")]
    pub room_heartbeat_secs: Option<u64>,

    /// Live-room actions (questions, votes, hands, moderation) per person per minute
    /// [default: 60].
    #[arg(long, env = "MEETSTAGE_ROOM_ACTIONS_PER_MIN")]
    pub room_actions_per_min: Option<u32>,

    /// Chat messages per person per minute [default: 20].
    #[arg(long, env = "MEETSTAGE_ROOM_CHAT_PER_MIN")]
    pub room_chat_per_min: Option<u32>,

    /// Reactions per person per minute [default: 120].
    #[arg(long, env = "MEETSTAGE_ROOM_REACTIONS_PER_MIN")]
    pub room_reactions_per_min: Option<u32>,

    /// Link hosts refused in chat and questions, comma separated; subdomains count too
    /// [default: none].
    #[arg(long, env = "MEETSTAGE_CHAT_BLOCKLIST", value_delimiter = ',')]
    pub chat_blocklist: Option<Vec<String>>,
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
            ffmpeg: self.ffmpeg.or(other.ffmpeg),
            recording_min_free_mb: self.recording_min_free_mb.or(other.recording_min_free_mb),
            recording_store: self.recording_store.or(other.recording_store),
            recording_s3_bucket: self.recording_s3_bucket.or(other.recording_s3_bucket),
            recording_s3_region: self.recording_s3_region.or(other.recording_s3_region),
            recording_s3_prefix: self.recording_s3_prefix.or(other.recording_s3_prefix),
            recording_s3_endpoint_url: self
                .recording_s3_endpoint_url
                .or(other.recording_s3_endpoint_url),
            recording_cdn_url: self.recording_cdn_url.or(other.recording_cdn_url),
            recording_cdn_key_pair_id: self
                .recording_cdn_key_pair_id
                .or(other.recording_cdn_key_pair_id),
            recording_cdn_private_key: self
                .recording_cdn_private_key
                .or(other.recording_cdn_private_key),
            publish_dir: self.publish_dir.or(other.publish_dir),
            publish_git_url: self.publish_git_url.or(other.publish_git_url),
            publish_branch: self.publish_branch.or(other.publish_branch),
            metrics_emf: self.metrics_emf.or(other.metrics_emf),
            header_timeout_secs: self.header_timeout_secs.or(other.header_timeout_secs),
            shutdown_grace_secs: self.shutdown_grace_secs.or(other.shutdown_grace_secs),
            room_stall_secs: self.room_stall_secs.or(other.room_stall_secs),
            room_queue: self.room_queue.or(other.room_queue),
            media_udp: self.media_udp.or(other.media_udp),
            media_public_ip: self.media_public_ip.or(other.media_public_ip),
            media_tcp: self.media_tcp.or(other.media_tcp),
            turn_urls: self.turn_urls.or(other.turn_urls),
            turn_secret: self.turn_secret.or(other.turn_secret),
            media_viewer_kbps: self.media_viewer_kbps.or(other.media_viewer_kbps),
            media_max_connections: self.media_max_connections.or(other.media_max_connections),
            media_provider: self.media_provider.or(other.media_provider),
            chat_provider: self.chat_provider.or(other.chat_provider),
            ivs_chat_region: self.ivs_chat_region.or(other.ivs_chat_region),
            ivs_chat_endpoint_url: self.ivs_chat_endpoint_url.or(other.ivs_chat_endpoint_url),
            ivs_chat_messaging_url: self.ivs_chat_messaging_url.or(other.ivs_chat_messaging_url),
            ivs_region: self.ivs_region.or(other.ivs_region),
            ivs_public_key_arn: self.ivs_public_key_arn.or(other.ivs_public_key_arn),
            ivs_private_key: self.ivs_private_key.or(other.ivs_private_key),
            ivs_storage_configuration_arn: self
                .ivs_storage_configuration_arn
                .or(other.ivs_storage_configuration_arn),
            ivs_events_token: self.ivs_events_token.or(other.ivs_events_token),
            ivs_encoder_configuration_arn: self
                .ivs_encoder_configuration_arn
                .or(other.ivs_encoder_configuration_arn),
            ivs_endpoint_url: self.ivs_endpoint_url.or(other.ivs_endpoint_url),
            ivs_web_sdk: self.ivs_web_sdk.or(other.ivs_web_sdk),
            ivs_participant_hour_usd: self
                .ivs_participant_hour_usd
                .or(other.ivs_participant_hour_usd),
            ivs_composition_hour_usd: self
                .ivs_composition_hour_usd
                .or(other.ivs_composition_hour_usd),
            ivs_chat_per_1000_usd: self.ivs_chat_per_1000_usd.or(other.ivs_chat_per_1000_usd),
            ivs_monthly_ceiling_usd: self
                .ivs_monthly_ceiling_usd
                .or(other.ivs_monthly_ceiling_usd),
            room_send_buffer: self.room_send_buffer.or(other.room_send_buffer),
            room_heartbeat_secs: self.room_heartbeat_secs.or(other.room_heartbeat_secs),
            room_actions_per_min: self.room_actions_per_min.or(other.room_actions_per_min),
            room_chat_per_min: self.room_chat_per_min.or(other.room_chat_per_min),
            room_reactions_per_min: self.room_reactions_per_min.or(other.room_reactions_per_min),
            chat_blocklist: self.chat_blocklist.or(other.chat_blocklist),
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
