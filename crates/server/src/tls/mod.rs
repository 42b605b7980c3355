//! TLS and mutual TLS on both listeners, with rustls: the server's
//! certificate and key from PEM files (or TF Serving's `--ssl_config_file`),
//! client certificates required and checked against a CA bundle when one is
//! given, TLS 1.2 and 1.3 only, and the files re-read when they change, so
//! certificates rotate without a restart.

mod incoming;
mod material;
mod settings;
mod ssl_config;
mod watch;

pub use incoming::{TlsConnection, tls_incoming};
pub use material::TlsError;
pub use settings::{TlsFiles, TlsSettings, TlsSource};
pub use watch::{Alpn, ServerTls};
