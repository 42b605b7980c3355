//! TensorFlow Serving REST predict: `POST /v1/models/{m}[/versions/{v}]:predict`
//! in row (`instances` → `predictions`) and columnar (`inputs` → `outputs`) form.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use inferd_core::telemetry::{Api, Interface};
use inferd_core::{ContentEncoding, InferInput, InferRequest, InferResponse, VersionRequest};
use inferd_tensor::{DataType, Signature, TensorSpec};
use serde_json::Value;

use super::rest_json::{
    is_b64, leaves_to_data, parse_body, row_count, shape_and_leaves, write_row, write_tensor,
};
use crate::transport::json_depth::check_json_depth;
use crate::transport::{ApiError, RestState};

const NO_FORMAT: &str = "Invalid JSON structure. Could not detect row or column format";

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Invalid request URL")
}

/// The name before `:predict` in the last path segment; `:classify` and
/// `:regress` are answered 501 with the reason.
fn predict_target(segment: &str) -> Result<&str, ApiError> {
    if let Some(target) = segment.strip_suffix(":predict") {
        return Ok(target);
    }
    for (verb, method) in [(":classify", "Classify"), (":regress", "Regress")] {
        if segment.ends_with(verb) {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                super::unsupported_method(method),
            ));
        }
    }
    Err(not_found())
}

pub async fn predict(
    State(state): State<RestState>,
    Path(segment): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let model = predict_target(&segment)?;
    run(&state, model, VersionRequest::Latest, body).await
}

pub async fn predict_version(
    State(state): State<RestState>,
    Path((model, segment)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let version = predict_target(&segment)?;
    run(&state, &model, VersionRequest::parse(version)?, body).await
}

/// `POST /v1/models/{m}/labels/{l}:predict`.
pub async fn predict_label(
    State(state): State<RestState>,
    Path((model, segment)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let label = predict_target(&segment)?;
    run(
        &state,
        &model,
        VersionRequest::Label(label.to_string()),
        body,
    )
    .await
}

async fn run(
    state: &RestState,
    model: &str,
    version: VersionRequest,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let call = state
        .core
        .call(Api::TensorFlowServing, Interface::Rest, model, version)?;
    check_json_depth(&body)?;
    let request = parse_body(&body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON in request body: {e}")))?;
    let call = match request.get("signature_name") {
        None => call,
        Some(Value::String(name)) => call.with_signature(name)?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "signature_name must be a string, got {other}"
            )));
        }
    };
    let signature = call.signature();
    let (inputs, row_format) = match (request.get("instances"), request.get("inputs")) {
        (Some(instances), None) => (row_inputs(signature, instances)?, true),
        (None, Some(columns)) => (column_inputs(signature, columns)?, false),
        _ => return Err(ApiError::bad_request(NO_FORMAT)),
    };
    let response = call
        .infer(InferRequest {
            inputs,
            ..InferRequest::default()
        })
        .await?;
    let body = if row_format {
        row_outputs(&response)
    } else {
        column_outputs(&response)
    };
    call.succeeded();
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Builds one input from a nested value, typed by the model.
fn input(spec: &TensorSpec, value: &Value, batch: Option<usize>) -> Result<InferInput, ApiError> {
    let (mut shape, leaves) = shape_and_leaves(value)
        .map_err(|e| ApiError::bad_request(format!("input {}: {e}", spec.name)))?;
    if let Some(rows) = batch {
        // Row format: `value` is the list of per-instance values.
        shape[0] = rows as i64;
    }
    // `{"b64": ...}` values for a numeric input are encoded images.
    let dtype = if !leaves.is_empty() && leaves.iter().all(|v| is_b64(v)) {
        DataType::Bytes
    } else {
        spec.dtype
    };
    let data = leaves_to_data(dtype, &leaves)
        .map_err(|e| ApiError::bad_request(format!("input {}: {e}", spec.name)))?;
    Ok(InferInput {
        name: spec.name.clone(),
        dtype,
        shape,
        data,
        encoding: ContentEncoding::Values,
        parameters: Default::default(),
    })
}

/// The model's spec for input `name`; OVMS's sequence inputs are UINT64
/// (`sequence_id`) and UINT32 (`sequence_control_input`); for another name
/// the model does not have, a stand-in that lets validation answer
/// "Missing input" for the real one.
fn spec_for(signature: &Signature, name: &str) -> TensorSpec {
    use inferd_tensor::DataType;
    signature
        .inputs
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .unwrap_or_else(|| TensorSpec {
            name: name.to_string(),
            dtype: match name {
                "sequence_id" => DataType::U64,
                "sequence_control_input" => DataType::U32,
                _ => signature.inputs.first().map_or(DataType::F32, |s| s.dtype),
            },
            shape: vec![],
        })
}

/// Whether `value` names inputs (`{"a": ..., "b": ...}`) rather than being one.
fn is_named(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| !(o.len() == 1 && o.contains_key("b64")))
}

pub(crate) fn row_inputs(
    signature: &Signature,
    instances: &Value,
) -> Result<Vec<InferInput>, ApiError> {
    let rows = instances
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request(NO_FORMAT))?;
    if !rows.iter().all(is_named) {
        let [spec] = signature.inputs.as_slice() else {
            return Err(ApiError::bad_request(format!(
                "instances without input names need a model with one input; this one has {}",
                signature.inputs.len()
            )));
        };
        return Ok(vec![input(spec, instances, Some(rows.len()))?]);
    }
    let names: Vec<&String> = rows[0]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    names
        .into_iter()
        .map(|name| {
            let column: Vec<Value> = rows
                .iter()
                .map(|row| {
                    row.get(name).cloned().ok_or_else(|| {
                        ApiError::bad_request(format!("instance without input {name}"))
                    })
                })
                .collect::<Result<_, _>>()?;
            let spec = spec_for(signature, name);
            input(&spec, &Value::Array(column), Some(rows.len()))
        })
        .collect()
}

pub(crate) fn column_inputs(
    signature: &Signature,
    columns: &Value,
) -> Result<Vec<InferInput>, ApiError> {
    if !is_named(columns) {
        let [spec] = signature.inputs.as_slice() else {
            return Err(ApiError::bad_request(format!(
                "inputs without names need a model with one input; this one has {}",
                signature.inputs.len()
            )));
        };
        return Ok(vec![input(spec, columns, None)?]);
    }
    let map = columns
        .as_object()
        .ok_or_else(|| ApiError::bad_request(NO_FORMAT))?;
    map.iter()
        .map(|(name, value)| {
            let spec = spec_for(signature, name);
            input(&spec, value, None)
        })
        .collect()
}

/// Appends `"name":` as JSON.
fn write_key(out: &mut Vec<u8>, name: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, name);
    out.push(b':');
}

/// `{"predictions": ...}`: one output gives its rows as they are; several
/// give one object per row keyed by output name.
fn row_outputs(response: &InferResponse) -> Vec<u8> {
    let mut out = b"{\"predictions\":".to_vec();
    match response.outputs.as_slice() {
        [(_, tensor)] if !tensor.shape().is_empty() => write_tensor(&mut out, tensor),
        outputs => {
            let rows = outputs.first().map_or(0, |(_, t)| row_count(t));
            out.push(b'[');
            for row in 0..rows {
                if row > 0 {
                    out.push(b',');
                }
                if let [(_, tensor)] = outputs {
                    write_row(&mut out, tensor, row);
                    continue;
                }
                out.push(b'{');
                for (i, (name, tensor)) in outputs.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_key(&mut out, name);
                    write_row(&mut out, tensor, row);
                }
                out.push(b'}');
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    out
}

/// `{"outputs": ...}`: one output as its nested lists, several keyed by name.
fn column_outputs(response: &InferResponse) -> Vec<u8> {
    let mut out = b"{\"outputs\":".to_vec();
    if let [(_, tensor)] = response.outputs.as_slice() {
        write_tensor(&mut out, tensor);
    } else {
        out.push(b'{');
        for (i, (name, tensor)) in response.outputs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_key(&mut out, name);
            write_tensor(&mut out, tensor);
        }
        out.push(b'}');
    }
    out.push(b'}');
    out
}
