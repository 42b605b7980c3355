//! KServe v2 REST over one HTTP/1.1 keep-alive connection (TLS where the
//! target is `https://`): model metadata, and infer with JSON `data` or the
//! binary tensor extension.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use super::{CONNECT_TIMEOUT, ClientConfig, ModelInfo, ModelRef, describe, limited};
use crate::client::TlsClient;
use crate::data::{InputTensor, json_values};
use crate::error::{BenchError, RequestError};
use crate::model::{ModelInput, parse_datatype};
use crate::target::Target;

/// The binary extension's header: the length of the JSON part of the body.
const HEADER_LENGTH: HeaderName = HeaderName::from_static("inference-header-content-length");
/// How much of an error body a message quotes.
const ERROR_BODY_CHARS: usize = 300;

/// One HTTP/1.1 connection, reopened after the server closes it.
#[derive(Debug)]
pub struct RestConnection {
    target: Target,
    tls: Option<TlsClient>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl RestConnection {
    /// Connects to the target now, so that an unreachable server shows at once.
    pub async fn open(config: &ClientConfig) -> Result<RestConnection, RequestError> {
        Ok(RestConnection {
            target: config.target.clone(),
            tls: config.tls.clone(),
            sender: Some(handshake(&config.target, config.tls.as_ref()).await?),
        })
    }

    /// Sends `request` and reads the whole answer.
    async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), RequestError> {
        let sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => handshake(&self.target, self.tls.as_ref()).await?,
        };
        let sender = self.sender.insert(sender);
        let transport = |e: hyper::Error| RequestError::Transport(describe(&e));
        let result = async {
            sender.ready().await.map_err(transport)?;
            let response = sender.send_request(request).await.map_err(transport)?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(transport)?;
            Ok((status, body.to_bytes()))
        }
        .await;
        if result.is_err() {
            self.sender = None; // the connection's state is unknown
        }
        result
    }

    /// Drops the connection; the next send opens a new one.
    fn reset(&mut self) {
        self.sender = None;
    }
}

async fn handshake(
    target: &Target,
    tls: Option<&TlsClient>,
) -> Result<SendRequest<Full<Bytes>>, RequestError> {
    let transport = |message: String| RequestError::Transport(message);
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target.addr))
        .await
        .map_err(|_| transport(format!("connect timed out after {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| transport(e.to_string()))?;
    stream
        .set_nodelay(true)
        .map_err(|e| transport(e.to_string()))?;
    match tls {
        None => http1_over(stream).await,
        Some(tls) => {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(stream))
                .await
                .map_err(|_| {
                    transport(format!("TLS handshake timed out after {CONNECT_TIMEOUT:?}"))
                })?
                .map_err(|e| transport(format!("TLS handshake: {e}")))?;
            http1_over(stream).await
        }
    }
}

async fn http1_over<IO>(stream: IO) -> Result<SendRequest<Full<Bytes>>, RequestError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| RequestError::Transport(describe(&e)))?;
    tokio::spawn(connection); // ends when the sender is dropped or the peer closes
    Ok(sender)
}

/// An infer request built once: path, headers and body.
#[derive(Debug, Clone)]
pub struct RestRequest {
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl RestRequest {
    /// A JSON or binary-extension infer request for `tensors`; binary
    /// requests ask for binary outputs too.
    pub fn build(
        binary: bool,
        authority: &str,
        model: &ModelRef,
        tensors: &[InputTensor],
    ) -> Result<RestRequest, BenchError> {
        let inputs: Vec<Value> = tensors
            .iter()
            .map(|t| {
                let mut input = json!({
                    "name": t.spec.name,
                    "shape": t.spec.shape,
                    "datatype": t.spec.datatype.name(),
                });
                if binary {
                    input["parameters"] = json!({"binary_data_size": t.raw.len()});
                } else {
                    input["data"] = Value::Array(json_values(t.spec.datatype, &t.raw));
                }
                input
            })
            .collect();
        let mut document = json!({"inputs": inputs});
        if binary {
            document["parameters"] = json!({"binary_data_output": true});
        }
        let mut body = serde_json::to_vec(&document)
            .map_err(|e| BenchError::Model(format!("cannot encode the request: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(HOST, header_value(authority)?);
        if binary {
            headers.insert(HEADER_LENGTH, HeaderValue::from(body.len()));
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            tensors.iter().for_each(|t| body.extend_from_slice(&t.raw));
        } else {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(RestRequest {
            uri: model_uri(model, "/infer")?,
            headers,
            body: Bytes::from(body),
        })
    }

    fn to_request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// An infer client over its own connection.
#[derive(Debug)]
pub struct KserveRestClient {
    connection: RestConnection,
    request: RestRequest,
    timeout: Duration,
}

impl KserveRestClient {
    /// A client that will send `request` over `connection`.
    pub fn new(connection: RestConnection, request: RestRequest, timeout: Duration) -> Self {
        KserveRestClient {
            connection,
            request,
            timeout,
        }
    }

    /// Sends the request once; a non-2xx status is an error.
    pub async fn infer(&mut self) -> Result<(), RequestError> {
        let request = self.request.to_request();
        let result = limited(self.timeout, async {
            let (status, body) = self.connection.send(request).await?;
            check_status(status, &body)
        })
        .await;
        if let Err(RequestError::Timeout(_)) = result {
            self.connection.reset(); // an answer may still be on its way
        }
        result
    }
}

/// The model's inputs from `GET /v2/models/{name}[/versions/{v}]`.
pub async fn metadata(
    connection: &mut RestConnection,
    authority: &str,
    model: &ModelRef,
) -> Result<ModelInfo, BenchError> {
    let failed = |message: String| BenchError::Metadata {
        model: model.name.clone(),
        message,
    };
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = model_uri(model, "")?;
    request.headers_mut().insert(HOST, header_value(authority)?);
    let (status, body) = connection
        .send(request)
        .await
        .map_err(|e| failed(e.to_string()))?;
    check_status(status, &body).map_err(|e| failed(e.to_string()))?;
    let document: Value = serde_json::from_slice(&body)
        .map_err(|e| failed(format!("the answer is not JSON: {e}")))?;
    let Some(inputs) = document["inputs"].as_array() else {
        return Err(failed("the answer has no \"inputs\" list".to_string()));
    };
    let inputs = inputs
        .iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap_or_default().to_string();
            let dims = t["shape"]
                .as_array()
                .map(|d| d.iter().filter_map(Value::as_i64).collect());
            Ok(ModelInput {
                datatype: parse_datatype(&name, t["datatype"].as_str().unwrap_or_default())?,
                dims,
                name,
            })
        })
        .collect::<Result<_, BenchError>>()?;
    Ok(ModelInfo {
        inputs,
        signature_name: String::new(),
    })
}

fn check_status(status: StatusCode, body: &[u8]) -> Result<(), RequestError> {
    if status.is_success() {
        return Ok(());
    }
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    Err(RequestError::Http {
        status: status.as_u16(),
        body: message.chars().take(ERROR_BODY_CHARS).collect(),
    })
}

/// `/v2/models/{name}[/versions/{v}]{suffix}`, the name percent-encoded.
fn model_uri(model: &ModelRef, suffix: &str) -> Result<Uri, BenchError> {
    let mut path = format!("/v2/models/{}", percent_encode(&model.name));
    if let Some(version) = model.version {
        path.push_str(&format!("/versions/{version}"));
    }
    path.push_str(suffix);
    Uri::try_from(path).map_err(|e| BenchError::Usage(format!("model name {}: {e}", model.name)))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn header_value(text: &str) -> Result<HeaderValue, BenchError> {
    HeaderValue::from_str(text)
        .map_err(|_| BenchError::Usage(format!("'{text}' is not a valid host")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InputSpec;
    use inferd_tensor::DataType;

    fn tensors() -> Vec<InputTensor> {
        let spec = |name: &str| InputSpec {
            name: name.into(),
            datatype: DataType::I16,
            shape: vec![1, 2],
        };
        vec![
            InputTensor {
                spec: spec("a"),
                raw: Bytes::from_static(&[1, 0, 2, 0]),
            },
            InputTensor {
                spec: spec("b"),
                raw: Bytes::from_static(&[3, 0, 4, 0]),
            },
        ]
    }

    fn model() -> ModelRef {
        ModelRef {
            name: "my model".into(),
            version: Some(2),
        }
    }

    #[test]
    fn json_requests_carry_data() {
        let request =
            RestRequest::build(false, "localhost:8000", &model(), &tensors()).expect("built");
        assert_eq!(request.uri.path(), "/v2/models/my%20model/versions/2/infer");
        let body: Value = serde_json::from_slice(&request.body).expect("JSON");
        assert_eq!(
            body["inputs"][1],
            json!({"name": "b", "shape": [1, 2], "datatype": "INT16", "data": [3, 4]})
        );
        assert_eq!(request.headers[HOST], "localhost:8000");
    }

    #[test]
    fn binary_requests_append_raw_bytes_after_the_header() {
        let request = RestRequest::build(true, "127.0.0.1:1", &model(), &tensors()).expect("built");
        let length: usize = request.headers[&HEADER_LENGTH]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("number");
        let header: Value = serde_json::from_slice(&request.body[..length]).expect("JSON header");
        assert_eq!(header["inputs"][0]["parameters"]["binary_data_size"], 4);
        assert_eq!(header["parameters"]["binary_data_output"], true);
        assert_eq!(&request.body[length..], &[1, 0, 2, 0, 3, 0, 4, 0]);
    }
}
