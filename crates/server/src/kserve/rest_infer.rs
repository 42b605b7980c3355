//! KServe v2 REST inference: JSON bodies and the binary tensor extension.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use inferd_core::telemetry::{Api, Interface};
use inferd_core::{
    ContentEncoding, InferInput, InferRequest, InferResponse, ParamValue, Parameters,
};
use inferd_tensor::{DataType, TensorData};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::parameters::{self, from_json};
use super::rest::version_request;
use super::rest_raw::raw_input;
use crate::transport::json_data::{decode, quote_non_finite, write_json};
use crate::transport::json_depth::check_json_depth;
use crate::transport::rest_body::ChunkedBody;
use crate::transport::{ApiError, RestState};

/// Header giving the length of the JSON part of a binary-extension body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

#[derive(Deserialize)]
struct InferBody<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(borrow)]
    inputs: Vec<InputBody<'a>>,
    #[serde(default)]
    outputs: Option<Vec<OutputBody>>,
}

#[derive(Deserialize)]
struct InputBody<'a> {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OutputBody {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

pub async fn infer(
    State(state): State<RestState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    run(&state, &model, None, &headers, body).await
}

pub async fn infer_version(
    State(state): State<RestState>,
    Path((model, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    run(&state, &model, Some(&version), &headers, body).await
}

fn body_error(state: &RestState, rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Request body exceeds the limit of {} bytes (--max_request_bytes)",
                state.max_request_bytes
            ),
        )
    } else {
        ApiError::new(
            rejection.status(),
            format!("Cannot read request body: {}", rejection.body_text()),
        )
    }
}

/// Splits a body into its JSON part and its binary part.
pub(crate) fn split_body(headers: &HeaderMap, body: &Bytes) -> Result<(Bytes, Bytes), ApiError> {
    let Some(value) = headers.get(HEADER_LENGTH) else {
        return Ok((body.clone(), Bytes::new()));
    };
    let length: usize = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::bad_request("Inference-Header-Content-Length must be a non-negative integer")
        })?;
    if length > body.len() {
        return Err(ApiError::bad_request(format!(
            "Inference-Header-Content-Length is {length} but the body has only {} bytes",
            body.len()
        )));
    }
    Ok((body.slice(..length), body.slice(length..)))
}

async fn run(
    state: &RestState,
    model: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|r| body_error(state, r))?;
    let call = state.core.call(
        Api::KServe,
        Interface::Rest,
        model,
        version_request(version)?,
    )?;
    let (json, binary) = split_body(headers, &body)?;
    let parsed = if json.is_empty() && headers.contains_key(HEADER_LENGTH) {
        // Triton's raw binary request: every output comes back binary.
        let input = raw_input(model, call.signature(), binary)?;
        ParsedRequest {
            request: InferRequest {
                inputs: vec![input],
                ..InferRequest::default()
            },
            binary_outputs: BinaryOutputs::All,
        }
    } else {
        parse_request(&json, binary)?
    };
    let id = parsed.request.id.clone();
    let response = call.infer(parsed.request).await?;
    let answer = encode_response(response, id, |name| parsed.binary_outputs.wants(name));
    call.succeeded();
    Ok(answer)
}

/// A decoded request and how its answer is to be written.
pub(crate) struct ParsedRequest {
    pub(crate) request: InferRequest,
    binary_outputs: BinaryOutputs,
}

/// Which outputs are answered in binary form.
enum BinaryOutputs {
    All,
    None,
    Named(Vec<String>),
}

impl BinaryOutputs {
    fn wants(&self, name: &str) -> bool {
        match self {
            BinaryOutputs::All => true,
            BinaryOutputs::None => false,
            BinaryOutputs::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

/// Decodes the JSON part of a body and the binary tensors that follow it.
pub(crate) fn parse_request(json: &[u8], mut binary: Bytes) -> Result<ParsedRequest, ApiError> {
    check_json_depth(json)?;
    // Bare NaN / Infinity / -Infinity, as inferd writes them, are read back.
    let quoted;
    let invalid =
        |e: serde_json::Error| ApiError::bad_request(format!("Invalid JSON in request body: {e}"));
    let parsed: InferBody<'_> = match serde_json::from_slice(json) {
        Ok(parsed) => parsed,
        Err(e) => {
            quoted = quote_non_finite(json).ok_or_else(|| invalid(e))?;
            serde_json::from_slice(&quoted).map_err(invalid)?
        }
    };
    let mut inputs = Vec::with_capacity(parsed.inputs.len());
    let sole_input = parsed.inputs.len() == 1;
    for input in parsed.inputs {
        inputs.push(decode_input(input, &mut binary, sole_input)?);
    }
    if !binary.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{} bytes of binary data follow the JSON header but no input claims them (binary_data_size)",
            binary.len()
        )));
    }
    let mut request_parameters = from_json(parsed.parameters)?;
    let all_binary = take_bool(&mut request_parameters, "binary_data_output").unwrap_or(false);
    let requested = parsed.outputs.unwrap_or_default();
    let mut outputs = Vec::with_capacity(requested.len());
    let mut output_parameters = BTreeMap::new();
    let mut binary_names = Vec::new();
    for output in requested {
        let mut own = from_json(output.parameters)?;
        if take_bool(&mut own, "binary_data").unwrap_or(all_binary) {
            binary_names.push(output.name.clone());
        }
        if !own.is_empty() {
            output_parameters.insert(output.name.clone(), own);
        }
        outputs.push(output.name);
    }
    let binary_outputs = match (outputs.is_empty(), all_binary) {
        (true, true) => BinaryOutputs::All,
        (true, false) => BinaryOutputs::None,
        (false, _) => BinaryOutputs::Named(binary_names),
    };
    Ok(ParsedRequest {
        request: InferRequest {
            id: parsed.id,
            parameters: request_parameters,
            inputs,
            outputs,
            output_parameters,
        },
        binary_outputs,
    })
}

/// Removes a protocol parameter the frontend reads itself; `None` when
/// absent or not a boolean.
fn take_bool(parameters: &mut Parameters, key: &str) -> Option<bool> {
    match parameters.remove(key)? {
        ParamValue::Bool(value) => Some(value),
        _ => None,
    }
}

fn decode_input(
    input: InputBody<'_>,
    binary: &mut Bytes,
    sole_input: bool,
) -> Result<InferInput, ApiError> {
    let dtype = DataType::from_name(&input.datatype).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input precision - unknown datatype {}; input name: {}",
            input.datatype, input.name
        ))
    })?;
    let mut parameters = from_json(input.parameters)?;
    let binary_size = parameters.remove("binary_data_size");
    let (data, encoding) = match (binary_size, input.data) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(format!(
                "input {} has both data and binary_data_size; use one",
                input.name
            )));
        }
        (Some(size), None) => {
            let size = size
                .as_u64()
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "binary_data_size of input {} must be a non-negative integer",
                        input.name
                    ))
                })?;
            if size > binary.len() {
                return Err(ApiError::bad_request(format!(
                    "binary_data_size of input {} is {size} but only {} bytes remain in the body",
                    input.name,
                    binary.len()
                )));
            }
            let wire = binary.split_to(size);
            let data = TensorData::from_wire(dtype, wire).map_err(|e| {
                ApiError::bad_request(format!("Invalid content of input {}: {e}", input.name))
            })?;
            (data, ContentEncoding::Raw)
        }
        (None, Some(raw)) => {
            let data = decode(dtype, raw).map_err(|e| {
                ApiError::bad_request(format!(
                    "Invalid data of input {} ({dtype}): {e}",
                    input.name
                ))
            })?;
            let encoding = match dtype {
                DataType::Bytes => ContentEncoding::JsonStrings,
                _ => ContentEncoding::Values,
            };
            (data, encoding)
        }
        (None, None) if dtype == DataType::Bytes && sole_input && !binary.is_empty() => {
            // OVMS: the request's only input may take the whole binary part
            // as one encoded image, without binary_data_size.
            let image = std::mem::take(binary);
            (TensorData::Strings(vec![image]), ContentEncoding::Raw)
        }
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "input {} has neither data nor binary_data_size",
                input.name
            )));
        }
    };
    Ok(InferInput {
        name: input.name,
        dtype,
        shape: input.shape,
        data,
        encoding,
        parameters,
    })
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes the response JSON by hand: tensor data goes straight from the
/// output buffers to text, with TFS-style tokens for non-finite floats.
fn encode_response(
    response: InferResponse,
    id: Option<String>,
    wants_binary: impl Fn(&str) -> bool,
) -> Response {
    let mut json = Vec::with_capacity(256);
    let mut blobs = Vec::new();
    json.extend_from_slice(b"{\"model_name\":");
    write_str(&mut json, &response.model_name);
    let mut number = itoa::Buffer::new();
    json.extend_from_slice(b",\"model_version\":\"");
    json.extend_from_slice(number.format(response.model_version).as_bytes());
    json.push(b'"');
    if let Some(id) = &id {
        json.extend_from_slice(b",\"id\":");
        write_str(&mut json, id);
    }
    if !response.parameters.is_empty() {
        json.extend_from_slice(b",\"parameters\":");
        parameters::write_json(&mut json, &response.parameters);
    }
    json.extend_from_slice(b",\"outputs\":[");
    for (i, (name, tensor)) in response.outputs.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.extend_from_slice(b"{\"name\":");
        write_str(&mut json, name);
        json.extend_from_slice(b",\"datatype\":\"");
        json.extend_from_slice(tensor.dtype().name().as_bytes());
        json.extend_from_slice(b"\",\"shape\":[");
        for (d, dim) in tensor.shape().iter().enumerate() {
            if d > 0 {
                json.push(b',');
            }
            json.extend_from_slice(number.format(*dim).as_bytes());
        }
        json.push(b']');
        if wants_binary(name) {
            let wire = tensor.to_wire();
            json.extend_from_slice(b",\"parameters\":{\"binary_data_size\":");
            json.extend_from_slice(number.format(wire.len()).as_bytes());
            json.extend_from_slice(b"}}");
            blobs.push(wire);
        } else {
            json.extend_from_slice(b",\"data\":");
            write_json(&mut json, tensor);
            json.push(b'}');
        }
    }
    json.extend_from_slice(b"]}");
    if blobs.is_empty() {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response();
    }
    let header_length = json.len();
    let chunks = std::iter::once(Bytes::from(json)).chain(blobs);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::HeaderName::from_static(HEADER_LENGTH),
                HeaderValue::from(header_length),
            ),
        ],
        Body::new(ChunkedBody::new(chunks)),
    )
        .into_response()
}
