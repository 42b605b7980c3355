//! A listener's current TLS configuration, rebuilt when its files change.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::material::{TlsError, server_config};
use super::settings::TlsSource;

/// How often certificate files are checked for changes.
pub const TLS_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The application protocols a listener offers in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// gRPC: HTTP/2 only (gRPC clients insist on `h2`).
    Grpc,
    /// REST: HTTP/2 or HTTP/1.1.
    Rest,
}

impl Alpn {
    fn protocols(self) -> &'static [&'static [u8]] {
        match self {
            Alpn::Grpc => &[b"h2"],
            Alpn::Rest => &[b"h2", b"http/1.1"],
        }
    }
}

/// Size and modification time of each watched file (`None`: unreadable).
type Stamp = Vec<Option<(u64, SystemTime)>>;

fn stamp(paths: &[PathBuf]) -> Stamp {
    paths
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            Some((meta.len(), meta.modified().ok()?))
        })
        .collect()
}

/// One listener's TLS: the configuration new connections get, and what it
/// was built from.
pub struct ServerTls {
    name: &'static str,
    source: TlsSource,
    alpn: Alpn,
    current: RwLock<Arc<ServerConfig>>,
    /// The stamp last tried, successfully or not (so a bad file is reported
    /// once per change, not once per poll).
    tried: Mutex<Stamp>,
}

impl ServerTls {
    /// Reads the material for the listener called `name` (for messages);
    /// fails if it is not usable.
    pub fn new(name: &'static str, source: TlsSource, alpn: Alpn) -> Result<Arc<Self>, TlsError> {
        let tried = stamp(&source.watched_files());
        let config = server_config(&source, alpn.protocols())?;
        Ok(Arc::new(ServerTls {
            name,
            source,
            alpn,
            current: RwLock::new(Arc::new(config)),
            tried: Mutex::new(tried),
        }))
    }

    /// Negotiates TLS on `socket` with the current configuration, within
    /// `timeout`; `None` (logged at debug level) if it fails or takes longer.
    pub async fn handshake(
        &self,
        socket: TcpStream,
        timeout: Duration,
    ) -> Option<TlsStream<TcpStream>> {
        let config = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match tokio::time::timeout(timeout, TlsAcceptor::from(config).accept(socket)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                tracing::debug!(listener = self.name, %error, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(listener = self.name, "TLS handshake timed out");
                None
            }
        }
    }

    /// Re-reads the files if they changed since the last try; new
    /// connections get the new configuration, open ones keep theirs. A
    /// configuration that does not build leaves the old one in place.
    pub fn reload_if_changed(&self) {
        let now = stamp(&self.source.watched_files());
        {
            let mut tried = self.tried.lock().unwrap_or_else(|e| e.into_inner());
            if *tried == now {
                return;
            }
            *tried = now;
        }
        match server_config(&self.source, self.alpn.protocols()) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                tracing::info!(listener = self.name, "TLS certificates reloaded");
            }
            Err(error) => tracing::warn!(
                listener = self.name,
                %error,
                "TLS certificates changed but cannot be used; serving with the previous ones"
            ),
        }
    }

    /// Checks the files every [`TLS_POLL_INTERVAL`] until `stop` resolves.
    pub async fn watch(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(TLS_POLL_INTERVAL) => {
                    let tls = self.clone();
                    // File reads and key parsing are blocking work.
                    let _ = tokio::task::spawn_blocking(move || tls.reload_if_changed()).await;
                }
            }
        }
    }
}
