//! The REST listener's accept loop (in place of `axum::serve`, which has no
//! read timeouts or connection cap): every connection gets a header read
//! timeout (a client that opens a request and stops sending cannot hold a
//! connection), the number of open connections is capped (one over the cap
//! is closed at once), and on shutdown idle keep-alive connections close at
//! once while requests in flight finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The smallest read buffer hyper accepts for HTTP/1.
const MIN_HEAD_BYTES: usize = 8192;

/// Connection limits of the REST listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most (`--rest_max_connections`).
    pub max_connections: usize,
    /// Time a client has to send a request's headers, on a new connection
    /// or between keep-alive requests (`--rest_read_timeout_seconds`).
    pub header_read_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection (`--http2_max_streams`).
    pub http2_max_streams: u32,
    /// Largest request head (`--max_header_bytes`).
    pub max_header_bytes: usize,
}

/// Serves `app` on `listener` until `stop` resolves, then stops accepting,
/// closes idle connections and waits for requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEAD_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let socket = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(error) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::warn!(%error, "cannot accept a REST connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!("REST connection refused: --rest_max_connections reached");
            continue;
        };
        let _ = socket.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(socket), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = connection.await {
                tracing::debug!(%error, "REST connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
