use inferd_tensor::{DataType, Tensor, TensorData};

use crate::Parameters;

/// Which version of a model a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRequest {
    /// The highest available version.
    Latest,
    /// Exactly this version.
    Specific(u64),
    /// The version a `version_labels` entry of the model's config names.
    Label(String),
}

impl VersionRequest {
    /// Parses a protocol version string: empty or `0` means latest.
    pub fn parse(text: &str) -> Result<Self, crate::CoreError> {
        match text.trim() {
            "" | "0" => Ok(VersionRequest::Latest),
            t => t
                .parse::<u64>()
                .map(VersionRequest::Specific)
                .map_err(|_| crate::CoreError::VersionNotFound),
        }
    }
}

/// How the client sent an input's content (chooses the wording of size errors).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContentEncoding {
    /// Packed bytes (raw_input_contents, binary REST extension).
    #[default]
    Raw,
    /// A list of values (typed contents, JSON data).
    Values,
    /// `BYTES` elements as JSON strings (KServe REST): an input that takes
    /// encoded images reads them as base64, as OVMS does.
    JsonStrings,
}

/// One input as a frontend decoded it, not yet checked against the model.
#[derive(Debug, Clone, PartialEq)]
pub struct InferInput {
    /// Input name.
    pub name: String,
    /// Data type the client declared.
    pub dtype: DataType,
    /// Shape the client declared (may hold negative numbers, which are refused).
    pub shape: Vec<i64>,
    /// Content as decoded from the wire.
    pub data: TensorData,
    /// How the content was sent.
    pub encoding: ContentEncoding,
    /// The input's parameters (those the frontend consumed are removed).
    pub parameters: Parameters,
}

/// A protocol-neutral inference request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferRequest {
    /// The client's request id, if it sent one.
    pub id: Option<String>,
    /// Request parameters (KServe `parameters`), typed; the core reads
    /// `priority`, `timeout` and the sequence controls.
    pub parameters: Parameters,
    /// Inputs in the order the client sent them.
    pub inputs: Vec<InferInput>,
    /// Names of the outputs wanted; empty means all.
    pub outputs: Vec<String>,
    /// Parameters of requested outputs, by output name (the frontend's own,
    /// such as `binary_data`, included).
    pub output_parameters: std::collections::BTreeMap<String, Parameters>,
}

/// The result of one inference.
#[derive(Debug, Clone)]
pub struct InferResponse {
    /// Model name.
    pub model_name: String,
    /// Version that ran.
    pub model_version: u64,
    /// Output names and tensors, in the model's output order.
    pub outputs: Vec<(String, Tensor)>,
    /// Response parameters (e.g. a sequence id), for protocols that carry them.
    pub parameters: Parameters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings() {
        assert_eq!(VersionRequest::parse("").unwrap(), VersionRequest::Latest);
        assert_eq!(VersionRequest::parse("0").unwrap(), VersionRequest::Latest);
        assert_eq!(
            VersionRequest::parse("3").unwrap(),
            VersionRequest::Specific(3)
        );
        assert!(VersionRequest::parse("x").is_err());
        assert!(VersionRequest::parse("-1").is_err());
    }
}
