//! Carries room notices to every instance. `Local` hands them straight to this process's
//! rooms; with Postgres, every instance `NOTIFY`s after its commit and `LISTEN`s, so a question
//! asked on one instance appears on all. Payloads are small (an event id and a notice of ids);
//! each room reloads the rest from the database.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::features::live::{Notice, Scope};
use crate::store::{Store, notify::Heard};

const CHANNEL: &str = "meetstage_room";

#[derive(Clone, Debug, Default)]
pub enum Bus {
    /// One instance: notices stay in this process.
    #[default]
    Local,
    /// Several instances on one Postgres database.
    Postgres(mpsc::UnboundedSender<String>),
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    s: Scope,
    n: Notice,
}

impl Bus {
    /// The bus for this store: Postgres notifications when the database has them.
    pub fn for_store(store: &Store) -> Bus {
        store.notifier(CHANNEL).map_or(Bus::Local, Bus::Postgres)
    }

    /// Sends a notice to every instance; with one instance, `deliver` hands it to this
    /// process at once (with Postgres this process hears it back like the others).
    pub fn publish(&self, scope: Scope, notice: Notice, deliver: impl FnOnce(Scope, Notice)) {
        match self {
            Bus::Local => deliver(scope, notice),
            Bus::Postgres(tx) => {
                let env = Envelope {
                    s: scope,
                    n: notice,
                };
                let payload = serde_json::to_string(&env).expect("notices serialize");
                let _ = tx.send(payload);
            }
        }
    }

    /// Whether other instances hear this one.
    pub fn is_shared(&self) -> bool {
        !matches!(self, Bus::Local)
    }
}

/// Hands what every instance notified to `deliver` (this instance's reactions), until the
/// process ends; `missed` is called when notices may have been lost (the connection dropped).
pub async fn listen(
    store: &Store,
    deliver: impl Fn(Scope, Notice) + Send + 'static,
    missed: impl Fn() + Send + 'static,
) -> anyhow::Result<()> {
    let Some(mut heard) = store.listen(CHANNEL).await? else {
        return Ok(());
    };
    tokio::spawn(async move {
        while let Some(h) = heard.recv().await {
            match h {
                Heard::Payload(p) => match serde_json::from_str::<Envelope>(&p) {
                    Ok(env) => deliver(env.s, env.n),
                    Err(e) => tracing::warn!(error = %e, "an unreadable room notification"),
                },
                Heard::MayHaveMissed => missed(),
            }
        }
    });
    Ok(())
}
