//! Reads certificates and keys and builds a rustls server configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::settings::{TlsFiles, TlsSource};
use super::ssl_config::read_ssl_config;

/// Why TLS material was refused; one line naming the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file (or SSLConfig field) holds no usable PEM item of the kind needed.
    #[error("{what}: {problem}")]
    Pem {
        /// The file, or the SSLConfig field.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// The SSLConfig text does not parse.
    #[error("{path}: {message}")]
    SslConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// rustls refused the combination (e.g. the key does not match the certificate).
    #[error("{0}")]
    Rustls(String),
}

/// TLS material as PEM text, with names for messages.
pub(super) struct PemMaterial {
    pub cert: (String, Vec<u8>),
    pub key: (String, Vec<u8>),
    pub client_ca: Option<(String, Vec<u8>)>,
}

fn read(path: &Path) -> Result<(String, Vec<u8>), TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((path.display().to_string(), bytes))
}

fn read_files(files: &TlsFiles) -> Result<PemMaterial, TlsError> {
    Ok(PemMaterial {
        cert: read(&files.cert)?,
        key: read(&files.key)?,
        client_ca: files.client_ca.as_deref().map(read).transpose()?,
    })
}

fn pem_error(what: &str, problem: impl ToString) -> TlsError {
    TlsError::Pem {
        what: what.to_string(),
        problem: problem.to_string(),
    }
}

fn certificates((what, pem): &(String, Vec<u8>)) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(what, e))?;
    if certs.is_empty() {
        return Err(pem_error(what, "no PEM certificate found"));
    }
    Ok(certs)
}

fn private_key((what, pem): &(String, Vec<u8>)) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => pem_error(what, "no PEM private key found"),
        other => pem_error(what, other),
    })
}

fn client_verifier(
    ca: &(String, Vec<u8>),
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots
            .add(cert)
            .map_err(|e| pem_error(&ca.0, format!("not a usable CA certificate: {e}")))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| pem_error(&ca.0, e))
}

/// Reads `source` and builds the configuration a listener accepts
/// connections with, offering `alpn` protocols.
pub(super) fn server_config(source: &TlsSource, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
    let material = match source {
        TlsSource::Files(files) => read_files(files)?,
        TlsSource::SslConfig(path) => read_ssl_config(path)?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match &material.client_ca {
        Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, &provider)?),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certificates(&material.cert)?, private_key(&material.key)?)
        .map_err(|e| {
            let problem = match e {
                rustls::Error::InconsistentKeys(_) => {
                    "the private key does not belong to the certificate".to_string()
                }
                other => other.to_string(),
            };
            TlsError::Rustls(format!(
                "{} and {}: {problem}",
                material.cert.0, material.key.0
            ))
        })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
