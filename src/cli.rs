//! The command line: `serve`, `migrate` and `admin create`.

use std::io::BufRead;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::{
    App,
    config::{Config, Options},
    features::admin,
    store::Store,
};

#[derive(Parser)]
#[command(
    name = "meetstage",
    version,
    about = "Self-hostable platform for user-group virtual meetups"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the web server (runs migrations first).
    Serve(Options),
    /// Apply database migrations and exit.
    Migrate(Options),
    /// Write the static archive of past public events to a directory (and push it to a git
    /// branch), for GitHub Pages or any static host. Members-only events are never published.
    Publish {
        /// Directory to write the archive to [default: publish_dir].
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Git repository to commit the archive to and push [default: publish_git_url].
        #[arg(long)]
        git: Option<String>,
        /// Branch that holds the archive [default: publish_branch, or gh-pages].
        #[arg(long)]
        branch: Option<String>,
        #[command(flatten)]
        options: Options,
    },
    /// Compose a raw recording (`<data>/recordings/<event>`) into an MP4 and an HLS playlist
    /// in `--out`, as the job after an event does; prints the duration and the time taken.
    Compose {
        /// The event's raw recording directory (its `part-*` directories).
        #[arg(long)]
        raw: std::path::PathBuf,
        /// Where to write `recording.mp4` and `hls/`.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The ffmpeg program [default: ffmpeg, found on PATH].
        #[arg(long, default_value = "ffmpeg")]
        ffmpeg: std::path::PathBuf,
    },
    /// Administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Make an account an administrator, creating it if needed.
    Create {
        /// Email of the account.
        #[arg(long)]
        email: String,
        /// Display name for a new account [default: Administrator].
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password of a new account from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        options: Options,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(options) => {
            let config = Config::from_options(options.with_file()?)?;
            crate::telemetry::init_logging(config.log_format);
            tracing::info!(config = ?config, "starting");
            let listener = TcpListener::bind(config.bind)
                .await
                .with_context(|| format!("binding {}", config.bind))?;
            App::build(config, listener)
                .await?
                .run_until(shutdown_signal())
                .await
        }
        Command::Compose { raw, out, ffmpeg } => {
            let started = std::time::Instant::now();
            let composed = crate::media::recording::compose(&ffmpeg, &raw, &out, |p| {
                eprint!("\rcomposing: {p:3}%");
            })
            .await?;
            eprintln!();
            let taken = started.elapsed().as_secs_f64();
            match composed {
                None => println!("nothing was recorded in {}", raw.display()),
                Some(c) => {
                    let seconds = c.duration_ms as f64 / 1000.0;
                    println!(
                        "{}: {seconds:.1} s of video composed in {taken:.1} s ({:.2}x its duration)",
                        c.mp4.display(),
                        taken / seconds.max(0.001)
                    );
                }
            }
            Ok(())
        }
        Command::Migrate(options) => {
            let config = Config::from_options(options.with_file()?)?;
            std::fs::create_dir_all(&config.data_dir)?;
            let store = Store::connect(&config.database_url, 1).await?;
            store.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Publish {
            out,
            git,
            branch,
            options,
        } => {
            let config = Config::from_options(options.with_file()?)?;
            let target = match out {
                Some(out) => crate::config::PublishSettings::parse(
                    Some(out),
                    git.map(crate::config::Secret::new),
                    branch,
                )?
                .context("an output directory")?,
                None => config
                    .publish
                    .clone()
                    .context("give --out DIR, or set publish_dir in the configuration")?,
            };
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let app = App::build(config, listener).await?;
            let done = crate::publish::run(app.core(), &target).await?;
            println!(
                "published {} event{} to {}{}",
                done.events,
                if done.events == 1 { "" } else { "s" },
                target.out.display(),
                match (&target.git, done.pushed) {
                    (Some((_, branch)), true) => format!(", pushed to {branch}"),
                    (Some(_), false) => ", nothing new to push".into(),
                    (None, _) => String::new(),
                }
            );
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    display_name,
                    password_stdin,
                    options,
                },
        } => {
            let config = Config::from_options(options.with_file()?)?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let app = App::build(config, listener).await?;
            let created = admin::bootstrap_admin(
                app.core(),
                &email,
                display_name.as_deref(),
                password.as_deref(),
            )
            .await
            .map_err(|e| match e {
                crate::features::Error::Invalid(f) => anyhow::anyhow!("{f}"),
                other => anyhow::anyhow!(other),
            })?;
            println!(
                "{email} is now an administrator{}",
                match created {
                    admin::Bootstrap::Created => " (new account)",
                    admin::Bootstrap::Promoted { password_set: true } => " (password changed)",
                    admin::Bootstrap::Promoted {
                        password_set: false,
                    } => "",
                }
            );
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
