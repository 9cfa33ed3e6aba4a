//! Start-up: `App::build(config, listener)` connects the database, runs migrations, wires the
//! layers together and returns an app ready to serve; tests build one on port 0.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{
    clock::Clock,
    config::Config,
    features::reactions::Bus,
    features::{
        Core,
        accounts::Hasher,
        reactions::{self, Reactions},
    },
    http::{self, AppState},
    jobs::Workers,
    mail::Mailer,
    media::recording::storage::{RecordingStore, S3Store},
    realtime::{Hub, Limits},
    store::Store,
};

pub struct App {
    state: AppState,
    listener: TcpListener,
    workers: bool,
}

impl App {
    /// Builds with the system clock.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<App> {
        App::build_with_clock(config, listener, Clock::System).await
    }

    pub async fn build_with_clock(
        config: Config,
        listener: TcpListener,
        clock: Clock,
    ) -> anyhow::Result<App> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let store = Store::connect(&config.database_url, config.database_max_connections)
            .await
            .context("connecting to the database")?;
        store.migrate().await.context("running migrations")?;
        store
            .release_stale_leases()
            .await
            .context("releasing leases of a previous run")?;
        let secret = Arc::new(load_or_create_key(&config)?);
        let mailer = Mailer::from_config(&config)
            .await
            .context("setting up mail")?;
        // With Postgres, live rooms hear changes made through other instances.
        let bus = Bus::for_store(&store);
        let (media, rosters) = start_media(&config, &listener).await?;
        let chat = match &config.chat {
            crate::config::ChatKind::Embedded => crate::chat::ChatProvider::Embedded,
            crate::config::ChatKind::Ivs(s) => crate::chat::ChatProvider::Ivs(
                crate::chat::ivs::IvsChat::start(s, store.clone()).await,
            ),
        };
        let hub = Hub::new(
            Limits {
                stall: config.room.stall,
                outbox: config.room.queue,
                heartbeat: config.room.heartbeat,
                send_buffer: config.room.send_buffer,
                actions_per_min: config.room.actions_per_min,
                chat_per_min: config.room.chat_per_min,
                reactions_per_min: config.room.reactions_per_min,
                ..Limits::default()
            },
            bus.clone(),
        );
        // What a committed change means beyond its rows, one reaction per concern; every
        // notice reaches each of them, on every instance (`features::reactions`).
        let reactions = Reactions::new(vec![
            Arc::new(hub.clone()),
            Arc::new(reactions::Media {
                media: media.clone(),
                store: store.clone(),
                recordings: crate::media::embedded::record::dir(&config.data_dir),
            }),
            Arc::new(reactions::Chat(chat.clone())),
            Arc::new(crate::features::recordings::Reaction {
                records: media.records(),
            }),
        ]);
        let recording_store = match &config.recording_store {
            crate::config::RecordingStoreKind::Local => RecordingStore::local(&config.data_dir),
            crate::config::RecordingStoreKind::S3(s) => {
                RecordingStore::S3(Box::new(S3Store::new(s).await))
            }
        };
        let core = Core {
            chat,
            recording_store,
            media,
            store: store.clone(),
            mailer,
            clock,
            hasher: Hasher::new(config.max_concurrent_hashes),
            bus,
            reactions: reactions.clone(),
            secret,
            config: Arc::new(config),
        };
        if let Some(mut rosters) = rosters {
            let hub = hub.clone();
            tokio::spawn(async move {
                while let Some((event, roster)) = rosters.recv().await {
                    hub.stage_changed(&event, roster);
                }
            });
        }
        // Rooms start over from a snapshot when notices may have been missed.
        crate::features::reactions::bus::listen(
            &core.store,
            move |scope, notice| reactions.heard(&scope, &notice),
            crate::realtime::room::mark_all_stale,
        )
        .await
        .context("listening for live-room changes")?;
        crate::features::accounts::schedule_cleanup(&core)
            .await
            .context("scheduling clean-up")?;
        let recording = crate::media::recording::Processing::probe(&core.config.ffmpeg).await;
        tracing::info!("{}", recording.describe());
        if matches!(core.mailer, crate::mail::Mailer::Ses(_)) {
            // A new SES account is in the sandbox: said at start, not found in a dead letter.
            let mailer = core.mailer.clone();
            tokio::spawn(async move {
                let status = mailer.status().await;
                if status.warning {
                    tracing::warn!("mail: {}", status.text);
                } else {
                    tracing::info!("mail: {}", status.text);
                }
            });
        }
        crate::http::assets::load_hls_js().await;
        Ok(App {
            state: AppState::new(core, hub, recording),
            listener,
            workers: true,
        })
    }

    /// Serves without the background job and mail workers: tests drive them step by step
    /// (`jobs::run_next_job`, `jobs::deliver_next`).
    pub fn without_workers(mut self) -> App {
        self.workers = false;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn core(&self) -> &Core {
        &self.state.core
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let housekeeping = tokio::spawn(housekeeping(state.clone()));
        // Alive before the first visit is recorded, so no other instance takes its visits
        // for a dead instance's.
        let core = &state.core;
        if let Err(e) = core
            .store
            .instance_seen(state.hub.instance(), core.clock.now_ms())
            .await
        {
            tracing::warn!(error = %e, "instance heartbeat failed");
        }
        let heartbeat = tokio::spawn(crate::realtime::heartbeat(core.clone(), state.hub.clone()));
        let workers = self.workers.then(|| Workers::spawn(&state.core));
        let emf = core
            .config
            .metrics_emf
            .then(|| tokio::spawn(crate::telemetry::report_emf(core.clock.clone())));
        let service = http::service(state.clone());
        tracing::info!(address = %self.local_addr(), base_url = %state.core.config.base_url, "meetstage is listening");
        let limits = http::serve::Limits {
            header_timeout: state.core.config.header_timeout,
            shutdown_grace: state.core.config.shutdown_grace,
        };
        // Live-room sockets are not requests: tell them the server is going away.
        let hub = state.hub.clone();
        let shutdown = async move {
            shutdown.await;
            hub.shutdown();
        };
        http::serve::serve(self.listener, service, limits, shutdown).await;
        housekeeping.abort();
        heartbeat.abort();
        if let Some(emf) = emf {
            emf.abort();
        }
        if let Some(w) = workers {
            w.stop();
        }
        // Rooms record their people's leaving as they close; the store outlives them.
        if !state.hub.rooms_finished(ROOMS_CLOSE_WITHIN).await {
            tracing::warn!("rooms still open at shutdown; the instance sweep closes their visits");
        }
        state.core.store.close().await;
        Ok(())
    }
}

/// How long a shutdown waits for the rooms to record their people's leaving.
const ROOMS_CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Forgets quiet addresses in the in-memory rate limiters (durable clean-up is a job).
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        state.limits.prune();
    }
}

/// The CSRF signing key: from configuration, else generated once into the data directory so
/// it survives restarts.
fn load_or_create_key(config: &Config) -> anyhow::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    if let Some(k) = &config.secret_key {
        return Ok(Sha256::digest(k.expose().as_bytes()).into());
    }
    let path = config.data_dir.join("secret.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let bytes = hex::decode(text.trim()).context("secret.key is not hex")?;
        return bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("secret.key must hold 32 bytes"));
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    write_private(&path, &hex::encode(key))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

/// The configured media provider; the embedded one also hands back its stage rosters, which
/// the live rooms relay to pages.
async fn start_media(
    config: &Config,
    listener: &TcpListener,
) -> anyhow::Result<(
    crate::media::MediaProvider,
    Option<crate::media::embedded::Rosters>,
)> {
    use crate::{config::MediaKind, media::MediaProvider};
    match &config.media {
        MediaKind::Embedded => {
            let udp = match config.media_udp {
                Some(a) => a,
                None => listener
                    .local_addr()
                    .context("reading the listener's address")?,
            };
            let start = |tcp| {
                crate::media::embedded::Sfu::start(
                    udp,
                    tcp,
                    config.media_public_ip,
                    config.media_viewer_bps,
                    config.media_max_connections,
                )
            };
            let started = match config.media_tcp {
                crate::config::MediaTcp::Off => start(None).await,
                crate::config::MediaTcp::At(tcp) => start(Some(tcp)).await,
                crate::config::MediaTcp::Beside => {
                    // The port after the UDP one (any free one when the UDP port is too);
                    // taken, media still works for everyone whose network allows UDP.
                    let port = match udp.port() {
                        0 => 0,
                        p => p.saturating_add(1),
                    };
                    let tcp = std::net::SocketAddr::new(udp.ip(), port);
                    match start(Some(tcp)).await {
                        Ok(sfu) => Ok(sfu),
                        Err(e) => {
                            tracing::warn!(tcp = %tcp, error = %e, "no ICE over TCP: browsers whose network blocks UDP get no media; set media_tcp to a free port");
                            start(None).await
                        }
                    }
                }
            };
            let (sfu, rosters) =
                started.with_context(|| format!("starting the media server on UDP {udp}"))?;
            Ok((MediaProvider::Embedded(sfu), Some(rosters)))
        }
        MediaKind::Ivs(settings) => {
            let ivs = crate::media::ivs::Ivs::new(settings)
                .await
                .context("setting up Amazon IVS")?;
            if settings.recording.is_none() {
                tracing::warn!("no IVS storage and encoder configuration: events are not recorded");
            }
            Ok((MediaProvider::Ivs(ivs), None))
        }
    }
}
