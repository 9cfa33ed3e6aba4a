//! Postgres notifications, for live rooms shared by several instances: `NOTIFY` after a
//! change commits, `LISTEN` on every instance. SQLite has no such thing (and one instance).

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::{Db, Store, StoreResult};

/// What a listener hands on: a payload, or word that notifications may have been lost (the
/// connection dropped and was re-established), so listeners start over from the database.
#[derive(Debug)]
pub enum Heard {
    Payload(String),
    MayHaveMissed,
}

impl Store {
    /// Postgres only: a sender whose payloads are sent on `channel` one after another, in the
    /// order given (one task, one statement each).
    pub fn notifier(&self, channel: &'static str) -> Option<mpsc::UnboundedSender<String>> {
        let Db::Postgres(pool) = &self.db else {
            return None;
        };
        let pool = pool.clone();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(payload) = rx.recv().await {
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel)
                    .bind(&payload)
                    .execute(&pool)
                    .await;
                if let Err(e) = sent {
                    tracing::error!(error = %e, "NOTIFY failed; other instances miss a room change");
                }
            }
        });
        Some(tx)
    }

    /// Postgres only: everything notified on `channel`, from any instance (this one too).
    pub async fn listen(
        &self,
        channel: &'static str,
    ) -> StoreResult<Option<mpsc::Receiver<Heard>>> {
        let Db::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(async move {
            loop {
                // `try_recv` yields None when the connection was lost; the listener then
                // reconnects and listens again, and what was sent meanwhile is gone.
                let heard = match listener.try_recv().await {
                    Ok(Some(n)) => Heard::Payload(n.payload().to_string()),
                    Ok(None) => Heard::MayHaveMissed,
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        Heard::MayHaveMissed
                    }
                };
                if tx.send(heard).await.is_err() {
                    return;
                }
            }
        });
        Ok(Some(rx))
    }
}
