//! Which certificate files each listener uses, from the command line.

use std::path::PathBuf;

use crate::cli::Cli;

/// PEM files of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CAs that client certificates must chain to; `None`: no client
    /// certificate asked for.
    pub client_ca: Option<PathBuf>,
}

/// Where one listener's TLS material comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Separate PEM files.
    Files(TlsFiles),
    /// TF Serving's text-format SSLConfig, PEM text inside.
    SslConfig(PathBuf),
}

impl TlsSource {
    /// The files whose changes mean the material must be read again.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        match self {
            TlsSource::Files(files) => {
                let mut paths = vec![files.cert.clone(), files.key.clone()];
                paths.extend(files.client_ca.clone());
                paths
            }
            TlsSource::SslConfig(path) => vec![path.clone()],
        }
    }
}

/// TLS of both listeners; `None` is plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The gRPC port.
    pub grpc: Option<TlsSource>,
    /// The REST port.
    pub rest: Option<TlsSource>,
}

/// One listener's flags, or the shared ones where the listener has none.
fn files(
    port: &str,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    client_ca: &Option<PathBuf>,
    shared: &Option<TlsFiles>,
) -> Result<Option<TlsFiles>, String> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: client_ca
                .clone()
                .or_else(|| shared.as_ref().and_then(|s| s.client_ca.clone())),
        })),
        (None, None) => match (client_ca, shared) {
            (Some(_), None) => Err(format!(
                "--{port}tls_client_ca needs a server certificate: set --{port}tls_cert and --{port}tls_key"
            )),
            (Some(ca), Some(shared)) => Ok(Some(TlsFiles {
                client_ca: Some(ca.clone()),
                ..shared.clone()
            })),
            (None, shared) => Ok(shared.clone()),
        },
        _ => Err(format!(
            "--{port}tls_cert and --{port}tls_key go together; set both or neither"
        )),
    }
}

impl TlsSettings {
    /// Reads the TLS flags: `--tls_*` for both ports, `--grpc_tls_*` and
    /// `--rest_tls_*` for one, `--ssl_config_file` (TF Serving) for gRPC.
    pub fn from_cli(cli: &Cli) -> Result<Self, String> {
        let shared = files("", &cli.tls_cert, &cli.tls_key, &cli.tls_client_ca, &None)?;
        let grpc = files(
            "grpc_",
            &cli.grpc_tls_cert,
            &cli.grpc_tls_key,
            &cli.grpc_tls_client_ca,
            &shared,
        )?;
        let rest = files(
            "rest_",
            &cli.rest_tls_cert,
            &cli.rest_tls_key,
            &cli.rest_tls_client_ca,
            &shared,
        )?;
        let grpc = match (&cli.ssl_config_file, grpc) {
            (Some(_), Some(_)) => {
                return Err(
                    "--ssl_config_file sets the gRPC port's TLS; do not combine it with --tls_* or --grpc_tls_* flags"
                        .into(),
                );
            }
            (Some(path), None) => Some(TlsSource::SslConfig(path.clone())),
            (None, files) => files.map(TlsSource::Files),
        };
        Ok(TlsSettings {
            grpc,
            rest: rest.map(TlsSource::Files),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn settings(args: &[&str]) -> Result<TlsSettings, String> {
        let mut all = vec!["inferd", "--model_name", "m", "--model_path", "/m"];
        all.extend_from_slice(args);
        TlsSettings::from_cli(&Cli::parse_from(all))
    }

    fn files(cert: &str, key: &str, ca: Option<&str>) -> Option<TlsSource> {
        Some(TlsSource::Files(TlsFiles {
            cert: cert.into(),
            key: key.into(),
            client_ca: ca.map(Into::into),
        }))
    }

    #[test]
    fn plain_text_by_default() {
        assert_eq!(settings(&[]).unwrap(), TlsSettings::default());
    }

    #[test]
    fn shared_flags_cover_both_ports_and_per_port_flags_override() {
        let s = settings(&["--tls_cert", "c", "--tls_key", "k", "--tls_client_ca", "ca"]).unwrap();
        assert_eq!(s.grpc, files("c", "k", Some("ca")));
        assert_eq!(s.rest, files("c", "k", Some("ca")));
        let s = settings(&[
            "--tls_cert",
            "c",
            "--tls_key",
            "k",
            "--rest_tls_cert",
            "rc",
            "--rest_tls_key",
            "rk",
        ])
        .unwrap();
        assert_eq!(s.grpc, files("c", "k", None));
        assert_eq!(s.rest, files("rc", "rk", None));
        let s = settings(&["--grpc_tls_cert", "g", "--grpc_tls_key", "gk"]).unwrap();
        assert_eq!(s.grpc, files("g", "gk", None));
        assert_eq!(s.rest, None);
        let s = settings(&[
            "--tls_cert",
            "c",
            "--tls_key",
            "k",
            "--grpc_tls_client_ca",
            "ca",
        ])
        .unwrap();
        assert_eq!(s.grpc, files("c", "k", Some("ca")));
        assert_eq!(s.rest, files("c", "k", None));
    }

    #[test]
    fn ssl_config_file_is_the_grpc_port() {
        let s = settings(&["--ssl_config_file", "ssl.txt"]).unwrap();
        assert_eq!(s.grpc, Some(TlsSource::SslConfig("ssl.txt".into())));
        assert_eq!(s.rest, None);
    }

    #[test]
    fn refuses_incomplete_or_conflicting_flags() {
        let e = settings(&["--tls_cert", "c"]).unwrap_err();
        assert!(e.contains("--tls_cert and --tls_key go together"), "{e}");
        let e = settings(&["--rest_tls_client_ca", "ca"]).unwrap_err();
        assert!(
            e.contains("--rest_tls_client_ca needs a server certificate"),
            "{e}"
        );
        let e = settings(&[
            "--ssl_config_file",
            "s",
            "--tls_cert",
            "c",
            "--tls_key",
            "k",
        ])
        .unwrap_err();
        assert!(e.contains("do not combine"), "{e}");
    }
}
