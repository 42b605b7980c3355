//! Warm-up: requests run on a freshly built version before it is marked
//! AVAILABLE, so that no client pays for an engine's lazy initialisation:
//! TF Serving's assets.extra/tf_serving_warmup_requests (read by the
//! server's reader) and Triton's `model_warmup` samples (built here).

use std::path::Path;

use bytes::Bytes;
use inferd_repository::{WarmupData, WarmupInput, WarmupSample};
use inferd_tensor::{DataType, TensorData};

use super::{WarmupReader, WarmupRequest};
use crate::request::ContentEncoding;
use crate::{CoreError, InferInput, InferRequest, Servable};

/// Runs `requests` on `servable` (each on its SavedModel signature), each
/// the given number of times (at least once); returns how many requests
/// there were. Called on a blocking thread of the runtime.
pub(super) fn run(servable: &Servable, requests: &[(WarmupRequest, u32)]) -> Result<usize, String> {
    let runtime = tokio::runtime::Handle::current();
    for (index, (warmup, times)) in requests.iter().enumerate() {
        let failed = |e: CoreError| {
            format!(
                "warm-up request {} of {} failed: {e}",
                index + 1,
                requests.len()
            )
        };
        let target = servable.for_signature(&warmup.signature).map_err(failed)?;
        for _ in 0..(*times).max(1) {
            runtime
                .block_on(target.infer(warmup.request.clone()))
                .map_err(failed)?;
        }
    }
    Ok(requests.len())
}

/// The warm-up requests of a version: those `reader` finds in `dir`, each
/// `iterations` times, then the model's configured samples.
pub(super) fn requests(
    reader: Option<WarmupReader>,
    dir: &Path,
    iterations: u32,
    samples: &[WarmupSample],
) -> Result<Vec<(WarmupRequest, u32)>, String> {
    let mut all = Vec::new();
    if let Some(reader) = reader {
        let found = reader(dir).map_err(|e| format!("warm-up: {e}"))?;
        all.extend(found.into_iter().map(|r| (r, iterations)));
    }
    for sample in samples {
        let request =
            sample_request(sample).map_err(|e| format!("model_warmup '{}': {e}", sample.name))?;
        let warmup = WarmupRequest {
            signature: String::new(),
            request,
        };
        all.push((warmup, sample.count));
    }
    Ok(all)
}

fn sample_request(sample: &WarmupSample) -> Result<InferRequest, String> {
    let inputs = sample
        .inputs
        .iter()
        .map(|input| sample_input(input, sample.batch_size))
        .collect::<Result<_, _>>()?;
    Ok(InferRequest {
        inputs,
        ..InferRequest::default()
    })
}

fn sample_input(input: &WarmupInput, batch: Option<u32>) -> Result<InferInput, String> {
    let dtype = DataType::from_name(&input.datatype)
        .ok_or_else(|| format!("input '{}': unknown type {}", input.name, input.datatype))?;
    let shape: Vec<i64> = batch
        .map(i64::from)
        .into_iter()
        .chain(input.dims.iter().copied())
        .collect();
    let elements = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("input '{}': dims {shape:?}", input.name)))
        .product::<Result<usize, String>>()?;
    let wire = match &input.data {
        WarmupData::Zero => zeros(dtype, elements),
        WarmupData::Random => random(dtype, elements),
        WarmupData::File(path) => std::fs::read(path).map_err(|e| {
            format!(
                "input '{}': cannot read {}: {e}",
                input.name,
                path.display()
            )
        })?,
    };
    let data = TensorData::from_wire(dtype, Bytes::from(wire))
        .map_err(|e| format!("input '{}': {e}", input.name))?;
    Ok(InferInput {
        name: input.name.clone(),
        dtype,
        shape,
        data,
        encoding: ContentEncoding::Raw,
        parameters: Default::default(),
    })
}

/// Zeros; for `BYTES`, empty strings (a zero length each).
fn zeros(dtype: DataType, elements: usize) -> Vec<u8> {
    let size = dtype.size_bytes().unwrap_or(4);
    vec![0; elements * size]
}

/// Random values: floating point ones in [0, 1), integers any, booleans 0
/// or 1, strings empty. Xorshift from a fixed seed: warm-up needs no
/// unpredictability, only values that are not all equal.
fn random(dtype: DataType, elements: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let unit = |bits: u64| (bits >> 40) as f32 / (1u64 << 24) as f32;
    let mut out = Vec::with_capacity(elements * dtype.size_bytes().unwrap_or(4));
    for _ in 0..elements {
        let bits = next();
        match dtype {
            DataType::F32 => out.extend(unit(bits).to_le_bytes()),
            DataType::F64 => out.extend(f64::from(unit(bits)).to_le_bytes()),
            // Half precision in [0.5, 1): exponent 14, a random mantissa.
            DataType::F16 => out.extend((0x3800u16 | (bits as u16 & 0x3ff)).to_le_bytes()),
            DataType::BF16 => out.extend(((unit(bits).to_bits() >> 16) as u16).to_le_bytes()),
            DataType::Bool => out.push((bits & 1) as u8),
            DataType::Bytes => out.extend(0u32.to_le_bytes()),
            other => {
                let size = other.size_bytes().unwrap_or(1);
                out.extend(&bits.to_le_bytes()[..size]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(data: WarmupData, datatype: &str) -> WarmupSample {
        WarmupSample {
            name: "s".into(),
            batch_size: Some(2),
            inputs: vec![WarmupInput {
                name: "a".into(),
                datatype: datatype.into(),
                dims: vec![3],
                data,
            }],
            count: 1,
        }
    }

    #[test]
    fn samples_become_requests_of_the_declared_shape() {
        let request = sample_request(&sample(WarmupData::Random, "FP32")).unwrap();
        let input = &request.inputs[0];
        assert_eq!(input.shape, [2, 3]);
        let TensorData::Raw(bytes) = &input.data else {
            panic!("raw data");
        };
        assert_eq!(bytes.len(), 24);
        let values: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)), "{values:?}");
        assert!(values.windows(2).any(|w| w[0] != w[1]));
        let strings = sample_request(&sample(WarmupData::Zero, "BYTES")).unwrap();
        assert_eq!(
            strings.inputs[0].data,
            TensorData::Strings(vec![Bytes::new(); 6])
        );
        let missing = sample_request(&sample(WarmupData::File("/no/such/file".into()), "FP32"));
        assert!(missing.unwrap_err().contains("cannot read /no/such/file"));
    }
}
