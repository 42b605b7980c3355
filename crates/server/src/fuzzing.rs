//! Entry points for the fuzz targets in `fuzz/`, also run over the committed
//! seed corpora by the unit tests below. Each one takes client bytes through the parser a
//! request meets on the wire and on through core validation against a fixed
//! model signature, as the server would, and throws the result away: the
//! fuzzer looks for panics, hangs and runaway allocation, not for answers.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use inferd_core::{InferRequest, VersionRequest, validate};
use inferd_tensor::{DataType, Dim, Signature, TensorSpec};
use prost::Message;

use crate::kserve::HEADER_LENGTH;
use crate::proto::kserve::ModelInferRequest;
use crate::proto::tensorflow::serving::PredictRequest;

/// The signature requests are checked against: one input of each kind of
/// shape (dynamic batch, fixed, range) and of the main element types.
fn signature() -> Signature {
    Signature {
        inputs: vec![
            TensorSpec::new("a", DataType::F32, vec![Dim::Any, Dim::Fixed(3)]),
            TensorSpec::new("b", DataType::I64, vec![Dim::Fixed(2)]),
            TensorSpec::new("c", DataType::Bytes, vec![Dim::Range(1, 4)]),
            TensorSpec::new("d", DataType::F16, vec![Dim::Any]),
        ],
        outputs: vec![TensorSpec::new("y", DataType::F32, vec![Dim::Any])],
    }
}

fn check(request: InferRequest) {
    let _ = validate(&signature(), request);
}

/// KServe REST infer body. The first byte chooses whether the body has a
/// binary part; if so the next two bytes (little-endian) are the
/// `Inference-Header-Content-Length` value.
pub fn kserve_rest(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    let body = if mode & 1 == 1 && rest.len() >= 2 {
        let length = u16::from_le_bytes([rest[0], rest[1]]);
        headers.insert(HEADER_LENGTH, HeaderValue::from(length));
        Bytes::copy_from_slice(&rest[2..])
    } else {
        Bytes::copy_from_slice(rest)
    };
    let Ok((json, binary)) = crate::kserve::rest_infer::split_body(&headers, &body) else {
        return;
    };
    if let Ok(parsed) = crate::kserve::rest_infer::parse_request(&json, binary) {
        check(parsed.request);
    }
}

/// One encoded image, decoded as an image input would take it: to a
/// dynamic BGR FP32 input, and resized to a fixed grey UINT8 one.
pub fn images(data: &[u8]) {
    use inferd_image::{Channels, ImageTarget, decode_batch};
    let targets = [
        ImageTarget {
            height: Dim::Any,
            width: Dim::Range(1, 64),
            channels: Channels::Bgr,
            dtype: DataType::F32,
        },
        ImageTarget {
            height: Dim::Fixed(7),
            width: Dim::Fixed(5),
            channels: Channels::Grey,
            dtype: DataType::U8,
        },
    ];
    for target in &targets {
        let _ = decode_batch(&[data], target, 1);
    }
}

/// TF Serving REST predict body, row or column form.
pub fn tfs_rest(data: &[u8]) {
    use crate::tfs::rest_predict::{column_inputs, row_inputs};
    if crate::transport::json_depth::check_json_depth(data).is_err() {
        return;
    }
    let Ok(body) = crate::tfs::rest_json::parse_body(data) else {
        return;
    };
    let signature = signature();
    let inputs = match (body.get("instances"), body.get("inputs")) {
        (Some(rows), None) => row_inputs(&signature, rows),
        (None, Some(columns)) => column_inputs(&signature, columns),
        _ => return,
    };
    if let Ok(inputs) = inputs {
        check(InferRequest {
            inputs,
            ..InferRequest::default()
        });
    }
}

/// KServe gRPC `ModelInferRequest` message, typed or raw contents.
pub fn kserve_grpc(data: &[u8]) {
    let Ok(message) = ModelInferRequest::decode(data) else {
        return;
    };
    let _ = VersionRequest::parse(&message.model_version);
    if let Ok((request, _)) = crate::kserve::grpc::decode_request(message) {
        check(request);
    }
}

/// TF Serving gRPC `PredictRequest` message.
pub fn tfs_grpc(data: &[u8]) {
    let Ok(message) = PredictRequest::decode(data) else {
        return;
    };
    let _ = crate::tfs::grpc_spec::requested(message.model_spec);
    let inputs = message
        .inputs
        .into_iter()
        .map(|(name, tensor)| crate::tfs::grpc_tensor::decode_input(name, tensor))
        .collect::<Result<Vec<_>, _>>();
    if let Ok(inputs) = inputs {
        check(InferRequest {
            inputs,
            outputs: message.output_filter,
            ..InferRequest::default()
        });
    }
}

/// OVMS `config.json`, parsed and checked as at start-up and reload.
pub fn config_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = inferd_repository::ServerModelsConfig::parse(
        text,
        std::path::Path::new("/fuzz/config.json"),
    ) {
        let _ = config.check();
    }
}

/// Version and label path segments of every API, and model names as a
/// version request names them.
pub fn path_segments(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = VersionRequest::parse(text);
    let _ = crate::kserve::rest::version_request(Some(text));
    if let Some(segment) = text.strip_suffix(":predict") {
        let _ = VersionRequest::parse(segment);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// Every committed seed (and every input a fuzz run found to crash,
    /// kept as a regression) goes through its target without a panic.
    fn replay(target: &str, entry: fn(&[u8])) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds")
            .join(target);
        let mut count = 0;
        for file in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = file.unwrap().path();
            entry(&std::fs::read(&path).unwrap());
            count += 1;
        }
        assert!(count > 0, "no seeds in {}", dir.display());
    }

    #[test]
    fn seeds_pass_every_target() {
        replay("kserve_rest", super::kserve_rest);
        replay("tfs_rest", super::tfs_rest);
        replay("kserve_grpc", super::kserve_grpc);
        replay("tfs_grpc", super::tfs_grpc);
        replay("config_json", super::config_json);
        replay("path_segments", super::path_segments);
        replay("images", super::images);
    }
}
