//! TF Serving's `--ssl_config_file`: a text-format `SSLConfig` holding the
//! PEM text of the key, the certificate and, for client verification, the CA.

use std::path::Path;

use inferd_proto::tensorflow::serving::SslConfig;
use inferd_proto::text_format;

use super::material::{PemMaterial, TlsError};

fn field(name: &str, value: String) -> (String, Vec<u8>) {
    (format!("--ssl_config_file {name}"), value.into_bytes())
}

/// Reads the file; `custom_ca` is used only with `client_verify: true`, as
/// in TF Serving.
pub(super) fn read_ssl_config(path: &Path) -> Result<PemMaterial, TlsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let config: SslConfig =
        text_format::parse("tensorflow.serving.SSLConfig", &text).map_err(|e| {
            TlsError::SslConfig {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })?;
    if config.client_verify && config.custom_ca.trim().is_empty() {
        return Err(TlsError::SslConfig {
            path: path.to_path_buf(),
            message: "client_verify needs custom_ca".into(),
        });
    }
    Ok(PemMaterial {
        cert: field("server_cert", config.server_cert),
        key: field("server_key", config.server_key),
        client_ca: config
            .client_verify
            .then(|| field("custom_ca", config.custom_ca)),
    })
}
