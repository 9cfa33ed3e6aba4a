//! The accept loop. Like `axum::serve`, plus the two limits a public server needs: a client
//! must send its request headers within `header_timeout` (a slow-loris client cannot hold
//! connections open), and a shutdown waits at most `shutdown_grace` for requests in flight
//! before it closes what is left. HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which
//! the proxy in front terminates, and a live-room upgrade then hands over the bare TCP stream.

use std::{convert::Infallible, future::Future, net::SocketAddr, pin::pin, time::Duration};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response},
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{mpsc, watch},
};
use tower::{Service, ServiceExt};

pub struct Limits {
    pub header_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// Serves `service` on `listener` until `shutdown` resolves, then drains for at most the
/// grace period. Every request carries `ConnectInfo<SocketAddr>`.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    // Each connection holds a sender; when the last is gone, every connection has finished.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let svc = service.clone().map_request(move |req: Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(remote));
            req
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
            .with_upgrades();
        let (alive, mut stopping) = (alive.clone(), stopping.clone());
        tokio::spawn(async move {
            let _alive = alive;
            let mut conn = pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = async { stopping.wait_for(|s| *s).await.is_ok() } => {
                    // Finish the request in flight, then close; an idle connection closes now.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    tokio::select! {
        _ = all_done.recv() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(grace = ?limits.shutdown_grace, "requests still open after the grace period; closing them");
        }
    }
}
