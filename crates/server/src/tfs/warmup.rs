//! TensorFlow Serving's warm-up file: `assets.extra/tf_serving_warmup_requests`
//! in a version's folder, a TFRecord file of `PredictionLog` records whose
//! Predict requests run before the version becomes AVAILABLE. TFRecord
//! framing: little-endian u64 length, masked CRC-32C of those 8 bytes, the
//! data, masked CRC-32C of the data.

use std::path::Path;

use crc_fast::{CrcAlgorithm, checksum};
use inferd_core::WarmupRequest;
use prost::Message;

use super::grpc_predict::infer_request;
use crate::proto::tensorflow::serving::PredictionLog;
use crate::proto::tensorflow::serving::prediction_log::LogType;

/// Where the file is, under the version's folder.
pub const WARMUP_FILE: &str = "assets.extra/tf_serving_warmup_requests";
/// TF Serving reads at most this many records.
const MAX_RECORDS: usize = 1000;

/// The warm-up requests of a version folder; none when it has no file.
pub fn read_warmup(dir: &Path) -> Result<Vec<WarmupRequest>, String> {
    let path = dir.join(WARMUP_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let records = tf_records(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    if records.len() > MAX_RECORDS {
        return Err(format!(
            "{}: {} records; at most {MAX_RECORDS} are read",
            path.display(),
            records.len()
        ));
    }
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            request_of(record).map_err(|e| format!("{} record {}: {e}", path.display(), index + 1))
        })
        .collect()
}

fn request_of(record: &[u8]) -> Result<WarmupRequest, String> {
    let log = PredictionLog::decode(record).map_err(|e| format!("not a PredictionLog: {e}"))?;
    let kind = match log.log_type {
        Some(LogType::PredictLog(predict)) => {
            let request = predict.request.unwrap_or_default();
            let signature = request
                .model_spec
                .map(|spec| spec.signature_name)
                .unwrap_or_default();
            return infer_request(request.inputs, request.output_filter)
                .map(|request| WarmupRequest { signature, request })
                .map_err(|status| status.message().to_string());
        }
        Some(LogType::ClassifyLog(_)) => "classify_log",
        Some(LogType::RegressLog(_)) => "regress_log",
        Some(LogType::MultiInferenceLog(_)) => "multi_inference_log",
        Some(LogType::SessionRunLog(_)) => "session_run_log",
        None => "no log",
    };
    Err(format!("a {kind}; only predict_log records are supported"))
}

/// TensorFlow's masked CRC-32C.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = checksum(CrcAlgorithm::Crc32Iscsi, data) as u32;
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

/// Splits a TFRecord file into its records, checking both checksums.
fn tf_records(mut bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        let number = records.len() + 1;
        let truncated = || format!("record {number} is cut short");
        let header = bytes.get(..12).ok_or_else(truncated)?;
        if masked_crc(&header[..8]) != le_u32(&header[8..12]) {
            return Err(format!(
                "record {number}: the length's checksum does not match"
            ));
        }
        let length = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
        let end = usize::try_from(length)
            .ok()
            .and_then(|n| n.checked_add(16))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(truncated)?;
        let data = &bytes[12..end - 4];
        if masked_crc(data) != le_u32(&bytes[end - 4..end]) {
            return Err(format!(
                "record {number}: the data's checksum does not match"
            ));
        }
        records.push(data);
        bytes = &bytes[end..];
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(data: &[u8]) -> Vec<u8> {
        let length = (data.len() as u64).to_le_bytes();
        let mut out = length.to_vec();
        out.extend(masked_crc(&length).to_le_bytes());
        out.extend(data);
        out.extend(masked_crc(data).to_le_bytes());
        out
    }

    #[test]
    fn the_masked_crc_matches_tensorflows() {
        // TensorFlow's crc32c of "123456789" is 0xe3069283 (CRC-32C check value).
        assert_eq!(
            checksum(CrcAlgorithm::Crc32Iscsi, b"123456789") as u32,
            0xe306_9283
        );
        assert_eq!(
            masked_crc(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn records_split_and_checksums_are_checked() {
        let mut file = framed(b"first");
        file.extend(framed(b""));
        file.extend(framed(b"third"));
        let records = tf_records(&file).unwrap();
        assert_eq!(records, [&b"first"[..], b"", b"third"]);
        let mut corrupt = file.clone();
        corrupt[13] ^= 1;
        assert!(
            tf_records(&corrupt)
                .unwrap_err()
                .contains("record 1: the data's checksum")
        );
        let cut = &file[..file.len() - 2];
        assert!(
            tf_records(cut)
                .unwrap_err()
                .contains("record 3 is cut short")
        );
        let mut huge = framed(b"x");
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let crc = masked_crc(&huge[..8]).to_le_bytes();
        huge[8..12].copy_from_slice(&crc);
        assert!(tf_records(&huge).unwrap_err().contains("cut short"));
    }

    #[test]
    fn other_log_kinds_are_named() {
        let log = PredictionLog {
            log_metadata: None,
            log_type: Some(LogType::ClassifyLog(Default::default())),
        };
        let e = request_of(&log.encode_to_vec()).unwrap_err();
        assert!(e.contains("classify_log"), "{e}");
    }
}
