//! The REST listener's accept loop (in place of `axum::serve`, which has no
//! read timeouts, connection cap or TLS): every connection gets a header
//! read timeout (a client that opens a request and stops sending cannot hold
//! a connection), the number of open connections is capped (one over the cap
//! is closed at once), TLS is negotiated first where configured, and on
//! shutdown connections with no request being answered (idle, or with a
//! request head still arriving) close at once while answers in progress
//! finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use std::convert::Infallible;

use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::{Service, ServiceExt};

use crate::tls::ServerTls;

/// The next connection on `listener` (the `what` listener, for messages),
/// with Nagle's algorithm off. A failed accept (out of file descriptors and
/// the like) is logged and retried after a short pause.
pub async fn next_connection(listener: &TcpListener, what: &str) -> TcpStream {
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                let _ = socket.set_nodelay(true);
                return socket;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot accept a {what} connection");
                tokio::time::sleep(ACCEPT_BACK_OFF).await;
            }
        }
    }
}

/// Pause after a failed accept.
const ACCEPT_BACK_OFF: Duration = Duration::from_millis(50);

/// The smallest read buffer hyper accepts for HTTP/1.
const MIN_HEAD_BYTES: usize = 8192;

/// Connection limits of the REST listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most (`--rest_max_connections`).
    pub max_connections: usize,
    /// Time a client has to send a request's headers, on a new connection
    /// or between keep-alive requests, and to finish a TLS handshake
    /// (`--rest_read_timeout_seconds`).
    pub header_read_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection (`--http2_max_streams`).
    pub http2_max_streams: u32,
    /// Largest request head (`--max_header_bytes`).
    pub max_header_bytes: usize,
}

/// The REST application a listener serves (see `transport::rest::router`).
pub trait RestApp:
    Service<
        http::Request<Incoming>,
        Response = Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> RestApp for T where
    T: Service<
            http::Request<Incoming>,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// What every connection task shares.
struct Shared<A> {
    builder: auto::Builder<TokioExecutor>,
    /// The same for TLS connections, where one buffer per answer (one TLS
    /// record) costs less than a vectored write of its parts (a record each).
    tls_builder: auto::Builder<TokioExecutor>,
    app: A,
    closing: watch::Receiver<bool>,
}

/// Counts a request as being answered while it lives.
struct Answering(Arc<AtomicUsize>);

impl Answering {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Answering(count.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<A: RestApp> Shared<A> {
    /// Serves one connection until it ends, or, once the server is closing,
    /// until its current answers are done.
    async fn serve<IO>(&self, io: IO, builder: &auto::Builder<TokioExecutor>)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let answering = Arc::new(AtomicUsize::new(0));
        let count = answering.clone();
        let app = self.app.clone();
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let guard = Answering::start(&count);
            let answer = app.clone().oneshot(request);
            async move {
                let response = answer.await;
                drop(guard);
                response
            }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        let mut closing = self.closing.clone();
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "REST connection ended with an error");
                }
                return;
            }
            _ = closing.wait_for(|closing| *closing) => {}
        }
        if answering.load(Ordering::Acquire) == 0 {
            // Idle, or a request head still arriving: nothing to finish.
            return;
        }
        connection.as_mut().graceful_shutdown();
        if let Err(error) = connection.await {
            tracing::debug!(%error, "REST connection ended with an error");
        }
    }

    /// Negotiates TLS (bounded by the header read timeout, and given up when
    /// the server closes), then serves the connection.
    async fn serve_tls(&self, socket: TcpStream, tls: &ServerTls, timeout: Duration) {
        let mut closing = self.closing.clone();
        let stream = tokio::select! {
            stream = tls.handshake(socket, timeout) => stream,
            _ = closing.wait_for(|closing| *closing) => None,
        };
        if let Some(stream) = stream {
            self.serve(stream, &self.tls_builder).await;
        }
    }
}

fn builder(limits: &ConnectionLimits, writev: bool) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .writev(writev)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEAD_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `stop`
/// resolves, then stops accepting, closes connections that have nothing to
/// answer and waits for the others.
pub async fn serve<A: RestApp>(
    listener: TcpListener,
    app: A,
    limits: ConnectionLimits,
    tls: Option<Arc<ServerTls>>,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let max_connections = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let open = Arc::new(Semaphore::new(max_connections as usize));
    let (closing_tx, closing) = watch::channel(false);
    let shared = Arc::new(Shared {
        builder: builder(&limits, true),
        tls_builder: builder(&limits, false),
        app,
        closing,
    });
    tokio::pin!(stop);
    loop {
        let socket = tokio::select! {
            () = &mut stop => break,
            socket = next_connection(&listener, "REST") => socket,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!("REST connection refused: --rest_max_connections reached");
            continue;
        };
        tokio::spawn(connection(
            shared.clone(),
            socket,
            tls.clone(),
            limits.header_read_timeout,
            permit,
        ));
    }
    drop(listener);
    let _ = closing_tx.send(true);
    // Every connection holds a permit until it ends.
    let _ = open.acquire_many(max_connections).await;
    Ok(())
}

async fn connection<A: RestApp>(
    shared: Arc<Shared<A>>,
    socket: TcpStream,
    tls: Option<Arc<ServerTls>>,
    handshake_timeout: Duration,
    _permit: OwnedSemaphorePermit,
) {
    match tls {
        Some(tls) => shared.serve_tls(socket, &tls, handshake_timeout).await,
        None => shared.serve(socket, &shared.builder).await,
    }
}
