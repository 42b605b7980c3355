//! TensorFlow Serving `ModelSpec` ⇄ (model name, [`VersionRequest`]).

use inferd_core::{CoreError, VersionRequest};
use tonic::Status;

use crate::proto::google::protobuf::Int64Value;
use crate::proto::tensorflow::serving::ModelSpec;
use crate::proto::tensorflow::serving::model_spec::VersionChoice;
use crate::transport::status_from_core;

/// The signature an answer names when the model was not read from a
/// SavedModel (it has no other).
pub const SIGNATURE_NAME: &str = "serving_default";

/// The model name and version a request's spec asks for: `version` 0 or
/// unset is the latest version, `version_label` a label of the model's
/// config. `signature_name` is the caller's to read (see
/// `Call::with_signature`). A missing spec is INVALID_ARGUMENT.
pub fn requested(spec: Option<ModelSpec>) -> Result<(String, VersionRequest), Status> {
    let spec = spec.ok_or_else(|| Status::invalid_argument("Missing model_spec"))?;
    let version = match spec.version_choice {
        None => VersionRequest::Latest,
        Some(VersionChoice::Version(Int64Value { value: 0 })) => VersionRequest::Latest,
        Some(VersionChoice::Version(Int64Value { value })) => u64::try_from(value)
            .map(VersionRequest::Specific)
            .map_err(|_| status_from_core(CoreError::VersionNotFound))?,
        Some(VersionChoice::VersionLabel(label)) => VersionRequest::Label(label),
    };
    Ok((spec.name, version))
}

/// The spec of an answer: the model, the version that served, the signature.
pub fn served(name: &str, version: u64) -> ModelSpec {
    ModelSpec {
        name: name.to_string(),
        signature_name: SIGNATURE_NAME.to_string(),
        version_choice: Some(VersionChoice::Version(Int64Value {
            value: i64::try_from(version).unwrap_or(i64::MAX),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(choice: Option<VersionChoice>) -> Option<ModelSpec> {
        Some(ModelSpec {
            name: "m".into(),
            version_choice: choice,
            signature_name: String::new(),
        })
    }

    fn version(value: i64) -> Option<VersionChoice> {
        Some(VersionChoice::Version(Int64Value { value }))
    }

    #[test]
    fn versions_and_labels() {
        let latest = ("m".to_string(), VersionRequest::Latest);
        assert_eq!(requested(spec(None)).unwrap(), latest);
        assert_eq!(requested(spec(version(0))).unwrap(), latest);
        assert_eq!(
            requested(spec(version(3))).unwrap().1,
            VersionRequest::Specific(3)
        );
        let label = Some(VersionChoice::VersionLabel("stable".into()));
        assert_eq!(
            requested(spec(label)).unwrap().1,
            VersionRequest::Label("stable".into())
        );
        let err = requested(spec(version(-1))).unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
        let err = requested(None).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn answers_name_the_served_version() {
        let spec = served("m", 2);
        assert_eq!(spec.version_choice, version(2));
        assert_eq!(spec.signature_name, SIGNATURE_NAME);
    }
}
