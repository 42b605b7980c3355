//! Triton's model configuration extension: `GET /v2/models/{m}[/versions/{v}]/config`
//! and the gRPC `ModelConfig` call, answered with the configuration a model
//! version is served with, completed from the model itself as Triton
//! completes a model without `config.pbtxt`: its inputs and outputs, the
//! batch dimension (`max_batch_size` > 0 with dynamic batching or as a
//! `config.pbtxt` declares it, the dims then without it), the version
//! policy, one CPU instance group of
//! `nireq` instances, and the dynamic batching settings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use inferd_core::Servable;
use inferd_repository::{ControlKind, ModelConfig as Settings, VersionPolicy};
use inferd_tensor::TensorSpec;

use crate::proto::kserve::model_config::SchedulingChoice;
use crate::proto::kserve::model_instance_group::Kind;
use crate::proto::kserve::model_sequence_batching::State as SequenceState;
use crate::proto::kserve::model_sequence_batching::control::Kind as ControlType;
use crate::proto::kserve::model_sequence_batching::{Control, ControlInput as ModelControlInput};
use crate::proto::kserve::model_version_policy::{All, Latest, PolicyChoice, Specific};
use crate::proto::kserve::{
    DataType, ModelConfig, ModelDynamicBatching, ModelInput, ModelInstanceGroup, ModelOutput,
    ModelSequenceBatching, ModelTensorReshape, ModelVersionPolicy,
};
use crate::transport::{ApiError, RestState};

/// Triton's name of an element type (`BYTES` is its `TYPE_STRING`).
fn data_type(spec: &TensorSpec) -> i32 {
    let name = match spec.dtype.name() {
        "BYTES" => "TYPE_STRING".to_string(),
        other => format!("TYPE_{other}"),
    };
    DataType::from_str_name(&name).unwrap_or(DataType::TypeInvalid) as i32
}

/// The dims clients send: without the batch dimension when the model batches.
fn dims(spec: &TensorSpec, batched: bool) -> Vec<i64> {
    let shape = spec.shape_i64();
    if batched {
        shape.into_iter().skip(1).collect()
    } else {
        shape
    }
}

fn version_policy(policy: VersionPolicy) -> ModelVersionPolicy {
    let choice = match policy {
        VersionPolicy::All(_) => PolicyChoice::All(All {}),
        VersionPolicy::Latest(latest) => PolicyChoice::Latest(Latest {
            num_versions: latest.num_versions,
        }),
        VersionPolicy::Specific(specific) => PolicyChoice::Specific(Specific {
            versions: specific
                .versions
                .iter()
                .map(|&v| i64::try_from(v).unwrap_or(i64::MAX))
                .collect(),
        }),
    };
    ModelVersionPolicy {
        policy_choice: Some(choice),
    }
}

/// The `reshape` a `config.pbtxt` declared for tensor `name` (the model's
/// dims, without the batch dimension when the model batches).
fn reshape(
    settings: Option<&Settings>,
    name: &str,
    outputs: bool,
    batched: bool,
) -> Option<ModelTensorReshape> {
    let expected = settings?.expected_signature.as_ref()?;
    let tensors = if outputs {
        &expected.outputs
    } else {
        &expected.inputs
    };
    let shape = tensors
        .iter()
        .find(|t| t.name == name)?
        .model_shape
        .as_ref()?;
    let skip = usize::from(batched);
    Some(ModelTensorReshape {
        shape: shape.iter().skip(skip).copied().collect(),
    })
}

/// A sequence control input as `config.pbtxt` declares it.
fn control_input(input: &inferd_repository::ControlInput) -> ModelControlInput {
    let [off, on] = input.false_true;
    let mut control = Control {
        kind: match input.kind {
            ControlKind::Start => ControlType::ControlSequenceStart,
            ControlKind::End => ControlType::ControlSequenceEnd,
            ControlKind::Ready => ControlType::ControlSequenceReady,
            ControlKind::CorrelationId => ControlType::ControlSequenceCorrid,
        } as i32,
        ..Default::default()
    };
    match (input.kind, input.datatype.as_str()) {
        (ControlKind::CorrelationId, name) => {
            let triton = if name == "BYTES" {
                "TYPE_STRING".to_string()
            } else {
                format!("TYPE_{name}")
            };
            control.data_type = DataType::from_str_name(&triton).unwrap_or_default() as i32;
        }
        (_, "INT32") => control.int32_false_true = vec![off as i32, on as i32],
        (_, "BOOL") => control.bool_false_true = vec![off != 0.0, on != 0.0],
        _ => control.fp32_false_true = vec![off as f32, on as f32],
    }
    ModelControlInput {
        name: input.name.clone(),
        control: vec![control],
    }
}

/// The configuration `servable` is served with; `settings` is its entry in
/// the model list (absent for a model the list no longer holds).
pub fn model_config(servable: &Servable, settings: Option<&Settings>) -> ModelConfig {
    let batching = settings.and_then(|s| s.dynamic_batching.as_ref());
    let max_batch_size = batching.map(|b| b.max_batch_size()).or_else(|| {
        settings
            .and_then(|s| s.declared_max_batch_size)
            .map(u64::from)
    });
    let batched = max_batch_size.is_some_and(|n| n > 0);
    let signature = servable.signature();
    let input = signature
        .inputs
        .iter()
        .map(|spec| ModelInput {
            name: spec.name.clone(),
            data_type: data_type(spec),
            dims: dims(spec, batched),
            reshape: reshape(settings, &spec.name, false, batched),
            ..Default::default()
        })
        .collect();
    let output = signature
        .outputs
        .iter()
        .map(|spec| ModelOutput {
            name: spec.name.clone(),
            data_type: data_type(spec),
            dims: dims(spec, batched),
            reshape: reshape(settings, &spec.name, true, batched),
            ..Default::default()
        })
        .collect();
    let max_batch_size = max_batch_size.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX));
    let count = settings
        .and_then(|s| s.nireq)
        .filter(|&n| n > 0)
        .map_or(1, |n| i32::try_from(n).unwrap_or(i32::MAX));
    let sequences = settings.filter(|s| s.stateful == Some(true)).map(|s| {
        let batching = s.sequence_batching.clone().unwrap_or_default();
        SchedulingChoice::SequenceBatching(ModelSequenceBatching {
            max_sequence_idle_microseconds: batching
                .max_sequence_idle_microseconds
                .unwrap_or_default(),
            state: batching
                .state
                .iter()
                .map(|pair| SequenceState {
                    input_name: pair.input_name.clone(),
                    output_name: pair.output_name.clone(),
                    ..Default::default()
                })
                .collect(),
            control_input: batching.control_inputs.iter().map(control_input).collect(),
            ..Default::default()
        })
    });
    let scheduling = sequences.or_else(|| {
        batching.map(|b| {
            SchedulingChoice::DynamicBatching(ModelDynamicBatching {
                preferred_batch_size: b
                    .preferred_batch_size
                    .iter()
                    .map(|&n| i32::try_from(n).unwrap_or(i32::MAX))
                    .collect(),
                max_queue_delay_microseconds: b.max_queue_delay_microseconds.unwrap_or(0),
                ..Default::default()
            })
        })
    });
    ModelConfig {
        name: servable.name().to_string(),
        platform: servable.platform().to_string(),
        backend: servable.engine().to_string(),
        version_policy: Some(version_policy(
            settings.map(Settings::version_policy).unwrap_or_default(),
        )),
        max_batch_size,
        input,
        output,
        instance_group: vec![ModelInstanceGroup {
            name: format!("{}_0", servable.name()),
            kind: Kind::Cpu as i32,
            count,
            ..Default::default()
        }],
        scheduling_choice: scheduling,
        ..Default::default()
    }
}

/// `GET /v2/models/{model}/config`.
pub async fn rest_config(
    State(state): State<RestState>,
    Path(model): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    rest_answer(&state, &model, None).await
}

/// `GET /v2/models/{model}/versions/{version}/config`.
pub async fn rest_version_config(
    State(state): State<RestState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    rest_answer(&state, &model, Some(&version)).await
}

async fn rest_answer(
    state: &RestState,
    model: &str,
    version: Option<&str>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let servable = super::rest::servable(state, model, version)?;
    let settings = state.reloader.model_config(model).await;
    let config = model_config(&servable, settings.as_ref());
    let json = crate::proto::json::to_json("inference.ModelConfig", &config)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json))
}
