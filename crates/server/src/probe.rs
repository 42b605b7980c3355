//! `--health_probe URL`: one HTTP GET for container health checks, where the
//! image has no shell or curl (the `tract-only` image is the binary alone).

use std::time::Duration;

use http::{Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

/// How long the whole probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not `http://host:port/path`.
    #[error(
        "--health_probe takes an http:// URL such as http://127.0.0.1:8000/v2/health/ready, not {0:?}"
    )]
    Url(String),
    /// No answer (connection refused, reset, or slower than the timeout).
    #[error("{url}: {reason}")]
    Unreachable {
        /// The URL probed.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer other than 200.
    #[error("{url} answered {status}")]
    NotReady {
        /// The URL probed.
        url: String,
        /// The status received.
        status: StatusCode,
    },
}

/// GETs `url` once; `Ok` when it answers 200 within [`PROBE_TIMEOUT`].
pub async fn probe(url: &str) -> Result<(), ProbeError> {
    let uri: Uri = url.parse().map_err(|_| ProbeError::Url(url.into()))?;
    let (Some("http"), Some(authority)) = (uri.scheme_str(), uri.authority().cloned()) else {
        return Err(ProbeError::Url(url.into()));
    };
    let unreachable = |reason: String| ProbeError::Unreachable {
        url: url.into(),
        reason,
    };
    let exchange = async {
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((authority.host(), port))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(connection);
        let request = Request::get(uri.path())
            .header(http::header::HOST, authority.as_str())
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|_| ProbeError::Url(url.into()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(response.status())
    };
    let status = tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable(format!("no answer within {PROBE_TIMEOUT:?}")))??;
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(ProbeError::NotReady {
            url: url.into(),
            status,
        })
    }
}
