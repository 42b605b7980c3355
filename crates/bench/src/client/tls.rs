//! TLS for the clients (`https://` targets), with rustls: the server's
//! certificate must chain to `--tls-ca` (the system's roots are never used,
//! so an https target without `--tls-ca` is refused), and `--tls-cert` with
//! `--tls-key` present a client certificate for mutual TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::BenchError;

/// Certificate files of a TLS run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CAs the server's certificate must chain to.
    pub ca: Option<PathBuf>,
    /// Client certificate chain (mutual TLS).
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
}

/// Everything a connection needs to negotiate TLS.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn usage(message: String) -> BenchError {
    BenchError::Usage(message)
}

fn read(path: &Path) -> Result<Vec<u8>, BenchError> {
    std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

impl TlsClient {
    /// Reads `files` for a connection to `host`, offering `alpn` protocols.
    pub fn new(files: &TlsFiles, host: &str, alpn: &[&[u8]]) -> Result<TlsClient, BenchError> {
        let ca = files
            .ca
            .as_deref()
            .ok_or_else(|| usage("an https:// --url needs --tls-ca".into()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
            let cert = cert.map_err(|e| usage(format!("{}: {e}", ca.display())))?;
            roots
                .add(cert)
                .map_err(|e| usage(format!("{}: {e}", ca.display())))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| usage(e.to_string()))?
            .with_root_certificates(roots);
        let mut config = match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| usage(format!("{}: {e}", cert.display())))?;
                let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                    .map_err(|e| usage(format!("{}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| usage(format!("client certificate: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(usage("--tls-cert and --tls-key go together".into())),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|e| usage(format!("TLS server name {host}: {e}")))?;
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// Negotiates TLS over `stream`.
    pub async fn connect(&self, stream: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
    }
}
