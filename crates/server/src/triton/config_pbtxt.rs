//! A Triton `config.pbtxt` (text-format `inference.ModelConfig`) in the
//! repository's terms: the engine from `platform`/`backend`, the version
//! policy, `instance_group` counts as `nireq`, `dynamic_batching`, engine
//! `parameters`, and the declared inputs and outputs, checked against the
//! model when it loads. What has no meaning on this server is refused by
//! name (a field the parser does not know is named by it).

use inferd_proto::text_format;
use inferd_repository::{
    ControlInput, ControlKind, DynamicBatching, ExpectedSignature, ExpectedTensor,
    ModelConfig as Settings, VersionPolicy, WarmupData, WarmupInput, WarmupSample,
};

use crate::proto::kserve::model_config::SchedulingChoice;
use crate::proto::kserve::model_instance_group::Kind;
use crate::proto::kserve::model_sequence_batching::ControlInput as ModelControlInput;
use crate::proto::kserve::model_sequence_batching::control::Kind as ControlType;
use crate::proto::kserve::model_sequence_batching::initial_state::StateData;
use crate::proto::kserve::model_version_policy::PolicyChoice;
use crate::proto::kserve::model_warmup::input::InputDataType;
use crate::proto::kserve::{
    DataType, ModelConfig, ModelDynamicBatching, ModelSequenceBatching, ModelWarmup,
};

/// Parses a `config.pbtxt`.
pub fn parse(text: &str) -> Result<ModelConfig, String> {
    text_format::parse("inference.ModelConfig", text).map_err(|e| e.to_string())
}

/// The engine named by `platform` and `backend`; `None`: the server picks.
fn engine(config: &ModelConfig) -> Result<Option<&'static str>, String> {
    let named = match (config.platform.as_str(), config.backend.as_str()) {
        ("", "") => return Ok(None),
        (_, "onnxruntime") | ("onnxruntime_onnx", "") => "onnxruntime",
        (_, "openvino") | ("openvino", "") => "openvino",
        (_, "tensorflow" | "tflite") | ("tensorflow_savedmodel" | "tensorflow_graphdef", "") => {
            "openvino"
        }
        (platform, "") => {
            return Err(format!(
                "platform '{platform}' is not supported; inferd serves onnxruntime_onnx, \
                 openvino and tensorflow_savedmodel/graphdef (through OpenVINO) models"
            ));
        }
        (_, backend) => {
            return Err(format!(
                "backend '{backend}' is not supported; inferd serves the onnxruntime, \
                 openvino and tensorflow (through OpenVINO) backends' models"
            ));
        }
    };
    Ok(Some(named))
}

/// The KServe name of a Triton data type.
fn datatype(value: i32, tensor: &str) -> Result<String, String> {
    let name = DataType::try_from(value)
        .ok()
        .filter(|t| *t != DataType::TypeInvalid)
        .map(|t| t.as_str_name())
        .ok_or_else(|| format!("tensor '{tensor}' has no valid data_type"))?;
    Ok(match name {
        "TYPE_STRING" => "BYTES".to_string(),
        other => other.trim_start_matches("TYPE_").to_string(),
    })
}

fn full_shape(dims: &[i64], batched: bool) -> Vec<i64> {
    let batch = batched.then_some(-1);
    batch.into_iter().chain(dims.iter().copied()).collect()
}

/// One declared tensor: `dims` as clients see it, `reshape` (when given)
/// as the model has it. Triton's rule for a reshape: the same number of
/// elements, so at most one variable dimension on each side besides the batch.
fn expected_tensor(
    kind: &str,
    name: &str,
    data_type: i32,
    dims: &[i64],
    reshape: Option<&[i64]>,
    batched: bool,
) -> Result<ExpectedTensor, String> {
    if let Some(shape) = reshape {
        check_reshape(dims, shape)
            .map_err(|e| format!("{kind} '{name}': reshape {shape:?} of dims {dims:?}: {e}"))?;
    }
    Ok(ExpectedTensor {
        name: name.to_string(),
        datatype: datatype(data_type, name)?,
        shape: full_shape(dims, batched),
        model_shape: reshape.map(|shape| full_shape(shape, batched)),
    })
}

fn check_reshape(dims: &[i64], shape: &[i64]) -> Result<(), String> {
    let variable = |d: &[i64]| d.iter().filter(|&&v| v < 0).count();
    let elements = |d: &[i64]| d.iter().filter(|&&v| v >= 0).product::<i64>();
    match (variable(dims), variable(shape)) {
        (0, 0) if elements(dims) != elements(shape) => Err(format!(
            "{} elements cannot become {}",
            elements(dims),
            elements(shape)
        )),
        (0, 0) | (1, 1) => Ok(()),
        (0, 1) if elements(shape) > 0 && elements(dims) % elements(shape) == 0 => Ok(()),
        (0, 1) => Err(format!(
            "{} elements do not divide into rows of {}",
            elements(dims),
            elements(shape)
        )),
        _ => Err("a reshape may have one variable dimension, matching one in dims".to_string()),
    }
}

fn expected_signature(config: &ModelConfig) -> Result<ExpectedSignature, String> {
    let batched = config.max_batch_size > 0;
    if let Some(input) = config.input.iter().find(|i| i.is_shape_tensor) {
        return Err(format!(
            "input '{}': shape tensors are TensorRT's; not supported",
            input.name
        ));
    }
    let inputs = config.input.iter().map(|i| {
        let reshape = i.reshape.as_ref().map(|r| r.shape.as_slice());
        expected_tensor("input", &i.name, i.data_type, &i.dims, reshape, batched)
    });
    let outputs = config.output.iter().map(|o| {
        let reshape = o.reshape.as_ref().map(|r| r.shape.as_slice());
        expected_tensor("output", &o.name, o.data_type, &o.dims, reshape, batched)
    });
    Ok(ExpectedSignature {
        inputs: inputs.collect::<Result<_, _>>()?,
        outputs: outputs.collect::<Result<_, _>>()?,
    })
}

fn version_policy(choice: PolicyChoice) -> Result<VersionPolicy, String> {
    Ok(match choice {
        PolicyChoice::Latest(latest) => VersionPolicy::latest(latest.num_versions.max(1)),
        PolicyChoice::All(_) => VersionPolicy::all(),
        PolicyChoice::Specific(specific) => VersionPolicy::specific_signed(&specific.versions)?,
    })
}

fn dynamic_batching(batching: &ModelDynamicBatching, max: i32) -> Result<DynamicBatching, String> {
    if max <= 0 {
        return Err("dynamic batching needs max_batch_size > 0".into());
    }
    let positive = |v: i32| u64::try_from(v).map_err(|_| format!("preferred_batch_size {v}"));
    let queue = batching.default_queue_policy.as_ref();
    Ok(DynamicBatching {
        max_batch_size: Some(u64::from(max.unsigned_abs())),
        preferred_batch_size: batching
            .preferred_batch_size
            .iter()
            .map(|&v| positive(v))
            .collect::<Result<_, _>>()?,
        max_queue_delay_microseconds: Some(batching.max_queue_delay_microseconds),
        max_queue_size: queue
            .map(|q| u64::from(q.max_queue_size))
            .filter(|&n| n > 0),
        default_timeout_microseconds: queue
            .map(|q| q.default_timeout_microseconds)
            .filter(|&n| n > 0),
        priority_levels: (batching.priority_levels > 0).then_some(batching.priority_levels),
        default_priority_level: (batching.default_priority_level > 0)
            .then_some(batching.default_priority_level),
        ..DynamicBatching::default()
    })
}

/// Triton's idle timeout of a sequence when the configuration gives none.
const TRITON_SEQUENCE_IDLE_MICROS: u64 = 1_000_000;

/// Sequence batching with implicit state: the state pairs, zero-initialised
/// (the dims without the batch dimension when the model batches).
fn sequence_batching(
    sequences: &ModelSequenceBatching,
    batched: bool,
) -> Result<inferd_repository::SequenceBatching, String> {
    let control_inputs = sequences
        .control_input
        .iter()
        .map(control_input)
        .collect::<Result<_, _>>()?;
    if sequences.iterative_sequence {
        return Err("sequence_batching iterative_sequence is not supported".into());
    }
    let state = sequences
        .state
        .iter()
        .map(|pair| {
            let from_file = pair
                .initial_state
                .iter()
                .any(|i| matches!(i.state_data, Some(StateData::DataFile(_))));
            if from_file {
                return Err(format!(
                    "state '{}': an initial_state data_file is not supported (zero_data is)",
                    pair.input_name
                ));
            }
            let dims = batched
                .then_some(1)
                .into_iter()
                .chain(pair.dims.iter().copied())
                .map(u64::try_from)
                .collect::<Result<Vec<u64>, _>>()
                .ok();
            Ok(inferd_repository::StateConfig {
                input_name: pair.input_name.clone(),
                output_name: pair.output_name.clone(),
                dims: dims.filter(|d| !d.is_empty()),
                initial_value: None,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(inferd_repository::SequenceBatching {
        max_sequence_idle_microseconds: Some(match sequences.max_sequence_idle_microseconds {
            0 => TRITON_SEQUENCE_IDLE_MICROS,
            micros => micros,
        }),
        state,
        control_inputs,
    })
}

/// One `control_input`: one control each; START, END and READY with their
/// false and true values (whose field gives the type), CORRID with its
/// `data_type`.
fn control_input(input: &ModelControlInput) -> Result<ControlInput, String> {
    let name = &input.name;
    let [control] = input.control.as_slice() else {
        return Err(format!(
            "control_input '{name}': give one control per input, not {}",
            input.control.len()
        ));
    };
    let kind = match control.kind() {
        ControlType::ControlSequenceStart => ControlKind::Start,
        ControlType::ControlSequenceEnd => ControlKind::End,
        ControlType::ControlSequenceReady => ControlKind::Ready,
        ControlType::ControlSequenceCorrid => ControlKind::CorrelationId,
    };
    if kind == ControlKind::CorrelationId {
        return Ok(ControlInput {
            name: name.clone(),
            kind,
            datatype: datatype(control.data_type, name)?,
            false_true: [0.0, 1.0],
        });
    }
    let pair = |values: Vec<f64>, datatype: &str| match values.as_slice() {
        [off, on] => Ok(Some((datatype.to_string(), [*off, *on]))),
        [] => Ok(None),
        _ => Err(format!(
            "control_input '{name}': give two values, false then true"
        )),
    };
    let given = [
        pair(
            control
                .int32_false_true
                .iter()
                .map(|&v| f64::from(v))
                .collect(),
            "INT32",
        )?,
        pair(
            control
                .fp32_false_true
                .iter()
                .map(|&v| f64::from(v))
                .collect(),
            "FP32",
        )?,
        pair(
            control
                .bool_false_true
                .iter()
                .map(|&v| f64::from(u8::from(v)))
                .collect(),
            "BOOL",
        )?,
    ];
    let mut given = given.into_iter().flatten();
    match (given.next(), given.next()) {
        (Some((datatype, false_true)), None) => Ok(ControlInput {
            name: name.clone(),
            kind,
            datatype,
            false_true,
        }),
        _ => Err(format!(
            "control_input '{name}': give one of int32_false_true, fp32_false_true, bool_false_true"
        )),
    }
}

/// Triton's engine parameters that have an equivalent here.
fn plugin_config(
    config: &ModelConfig,
    engine: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut settings = serde_json::Map::new();
    for (key, value) in &config.parameters {
        let name = match (engine, key.as_str()) {
            (_, "intra_op_thread_count") => "INFERENCE_NUM_THREADS",
            (Some("onnxruntime"), "inter_op_thread_count") => "INTER_OP_NUM_THREADS",
            (Some("openvino"), key) => key,
            (_, key) => {
                return Err(format!(
                    "parameter '{key}' has no equivalent here (known: intra_op_thread_count, \
                     inter_op_thread_count for onnxruntime, OpenVINO properties for openvino)"
                ));
            }
        };
        settings.insert(name.to_string(), value.string_value.clone().into());
    }
    Ok(settings)
}

/// Triton's `model_warmup` samples; files are read from `<model>/warmup/`.
fn warmup_samples(config: &ModelConfig, base_path: &str) -> Result<Vec<WarmupSample>, String> {
    let batched = config.max_batch_size > 0;
    config
        .model_warmup
        .iter()
        .map(|sample: &ModelWarmup| {
            let name = &sample.name;
            let batch = sample.batch_size.max(1);
            let batch_size = if batched {
                if i64::from(batch) > i64::from(config.max_batch_size) {
                    return Err(format!(
                        "model_warmup '{name}': batch_size {batch} exceeds max_batch_size {}",
                        config.max_batch_size
                    ));
                }
                Some(batch)
            } else if batch > 1 {
                return Err(format!(
                    "model_warmup '{name}': batch_size {batch} needs max_batch_size > 0"
                ));
            } else {
                None
            };
            let inputs = sample
                .inputs
                .iter()
                .map(|(input, spec)| {
                    let data = match &spec.input_data_type {
                        Some(InputDataType::ZeroData(_)) => WarmupData::Zero,
                        Some(InputDataType::RandomData(_)) => WarmupData::Random,
                        Some(InputDataType::InputDataFile(file)) => WarmupData::File(
                            std::path::Path::new(base_path).join("warmup").join(file),
                        ),
                        None => {
                            return Err(format!(
                                "model_warmup '{name}' input '{input}' gives no data \
                                 (zero_data, random_data or input_data_file)"
                            ));
                        }
                    };
                    Ok(WarmupInput {
                        name: input.clone(),
                        datatype: datatype(spec.data_type, input)?,
                        dims: spec.dims.clone(),
                        data,
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(WarmupSample {
                name: name.clone(),
                batch_size,
                inputs,
                count: sample.count,
            })
        })
        .collect()
}

/// The settings of model `name` (its folder's name) whose folder is
/// `base_path`, from its `config.pbtxt` (`None`: there is none, and
/// everything comes from the model).
pub fn settings(
    name: &str,
    base_path: &str,
    config: Option<ModelConfig>,
) -> Result<Settings, String> {
    let mut settings = Settings::new(name, base_path);
    let Some(config) = config else {
        return Ok(settings);
    };
    if !config.name.is_empty() && config.name != name {
        return Err(format!(
            "the configuration names the model '{}', but its folder is '{name}'",
            config.name
        ));
    }
    let engine = engine(&config)?;
    settings.backend = engine.map(str::to_string);
    if let Some(choice) = config.version_policy.clone().and_then(|p| p.policy_choice) {
        settings.model_version_policy = Some(version_policy(choice)?);
    }
    let mut instances = 0u32;
    for group in &config.instance_group {
        if group.kind == Kind::Gpu as i32 || !group.gpus.is_empty() {
            return Err(
                "KIND_GPU instance groups are not supported: inferd serves on the CPU".into(),
            );
        }
        instances += u32::try_from(group.count.max(1)).unwrap_or(1);
    }
    settings.nireq = (instances > 0).then_some(instances);
    match &config.scheduling_choice {
        Some(SchedulingChoice::DynamicBatching(batching)) => {
            settings.dynamic_batching = Some(dynamic_batching(batching, config.max_batch_size)?);
        }
        Some(SchedulingChoice::SequenceBatching(sequences)) => {
            settings.stateful = Some(true);
            settings.sequence_batching =
                Some(sequence_batching(sequences, config.max_batch_size > 0)?);
        }
        None => {}
    }
    let plugin = plugin_config(&config, engine)?;
    settings.plugin_config = (!plugin.is_empty()).then_some(plugin);
    settings.model_filename =
        Some(config.default_model_filename.clone()).filter(|name| !name.is_empty());
    settings.warmup_samples = warmup_samples(&config, base_path)?;
    settings.declared_max_batch_size = u32::try_from(config.max_batch_size).ok();
    let expected = expected_signature(&config)?;
    settings.expected_signature =
        (!expected.inputs.is_empty() || !expected.outputs.is_empty()).then_some(expected);
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCHED: &str = r#"
        name: "add"
        platform: "onnxruntime_onnx"
        max_batch_size: 8
        version_policy: { specific: { versions: [1, 3] } }
        input [
          { name: "a" data_type: TYPE_FP32 dims: [ 16 ] },
          { name: "b" data_type: TYPE_FP32 dims: [ 16 ] }
        ]
        output [ { name: "sum" data_type: TYPE_FP32 dims: [ 16 ] } ]
        instance_group [ { count: 2 kind: KIND_CPU }, { count: 1 } ]
        dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 }
        parameters { key: "intra_op_thread_count" value: { string_value: "2" } }
    "#;

    #[test]
    fn a_batched_config_maps_to_the_servers_settings() {
        let settings = settings("add", "/m/add", Some(parse(BATCHED).unwrap())).unwrap();
        assert_eq!(settings.backend.as_deref(), Some("onnxruntime"));
        assert_eq!(settings.nireq, Some(3));
        assert_eq!(
            settings.version_policy(),
            VersionPolicy::specific(vec![1, 3])
        );
        let batching = settings.dynamic_batching.unwrap();
        assert_eq!(batching.max_batch_size, Some(8));
        assert_eq!(batching.preferred_batch_size, [4, 8]);
        assert_eq!(batching.max_queue_delay_microseconds, Some(100));
        let expected = settings.expected_signature.unwrap();
        assert_eq!(expected.inputs[1].shape, [-1, 16]);
        assert_eq!(expected.outputs[0].datatype, "FP32");
        assert_eq!(
            settings.plugin_config.unwrap()["INFERENCE_NUM_THREADS"],
            "2"
        );
    }

    #[test]
    fn a_reshape_keeps_the_clients_dims_and_the_models_shape() {
        let text = "max_batch_size: 4 input [ { name: \"a\" data_type: TYPE_FP32 dims: [16] \
                    reshape: { shape: [4, 4] } } ] \
                    output [ { name: \"y\" data_type: TYPE_FP32 dims: [-1] reshape: { shape: [-1, 2] } } ]";
        let found = settings("m", "/m", Some(parse(text).unwrap())).unwrap();
        let expected = found.expected_signature.unwrap();
        assert_eq!(expected.inputs[0].shape, [-1, 16]);
        assert_eq!(expected.inputs[0].model_shape(), [-1, 4, 4]);
        assert_eq!(expected.outputs[0].model_shape(), [-1, -1, 2]);
        let flat =
            "input [ { name: \"a\" data_type: TYPE_FP32 dims: [8] reshape: { shape: [-1, 4] } } ]";
        assert!(settings("m", "/m", Some(parse(flat).unwrap())).is_ok());
    }

    #[test]
    fn control_inputs_carry_their_kind_type_and_values() {
        let text = r#"
            sequence_batching {
              control_input [
                { name: "START" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: [ 0, 1 ] } ] },
                { name: "READY" control [ { kind: CONTROL_SEQUENCE_READY bool_false_true: [ false, true ] } ] },
                { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
              ]
            }"#;
        let found = settings("m", "/m", Some(parse(text).unwrap())).unwrap();
        let controls = found.sequence_batching.unwrap().control_inputs;
        assert_eq!(controls[0].kind, ControlKind::Start);
        assert_eq!(
            (controls[0].datatype.as_str(), controls[0].false_true),
            ("FP32", [0.0, 1.0])
        );
        assert_eq!(
            (controls[1].kind, controls[1].datatype.as_str()),
            (ControlKind::Ready, "BOOL")
        );
        assert_eq!(
            (controls[2].kind, controls[2].datatype.as_str()),
            (ControlKind::CorrelationId, "UINT64")
        );
    }

    #[test]
    fn what_has_no_meaning_here_is_refused_by_name() {
        let refused = |text: &str| match parse(text) {
            Ok(config) => settings("m", "/m", Some(config)).unwrap_err(),
            Err(e) => e,
        };
        assert!(refused("name: \"other\"").contains("folder is 'm'"));
        assert!(refused("backend: \"python\"").contains("backend 'python' is not supported"));
        assert!(refused("platform: \"tensorrt_plan\"").contains("platform 'tensorrt_plan'"));
        assert!(refused("instance_group [ { kind: KIND_GPU } ]").contains("KIND_GPU"));
        assert!(refused("dynamic_batching { }").contains("max_batch_size > 0"));
        assert!(
            refused("input [ { name: \"a\" data_type: TYPE_FP32 dims: [4] reshape: { shape: [3, 2] } } ]")
                .contains("reshape [3, 2] of dims [4]: 4 elements cannot become 6")
        );
        assert!(
            refused("input [ { name: \"a\" data_type: TYPE_FP32 dims: [-1, -1] reshape: { shape: [-1] } } ]")
                .contains("one variable dimension")
        );
        assert!(
            parse("optimization { }")
                .unwrap_err()
                .contains("optimization")
        );
        assert!(
            refused("sequence_batching { control_input [ { name: \"START\" } ] }")
                .contains("control_input 'START': give one control per input, not 0")
        );
        assert!(
            refused("sequence_batching { control_input [ { name: \"S\" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [0] } ] } ] }")
                .contains("give two values")
        );
        assert!(
            refused("max_batch_size: 2 model_warmup [ { name: \"w\" batch_size: 4 } ]")
                .contains("exceeds max_batch_size 2")
        );
        assert!(
            refused(
                "model_warmup [ { name: \"w\" inputs { key: \"a\" value: { data_type: TYPE_FP32 dims: [1] } } } ]"
            )
            .contains("input 'a' gives no data")
        );
        let plain = settings("m", "/m", Some(parse("max_batch_size: 0").unwrap())).unwrap();
        assert_eq!(plain.backend, None);
        assert_eq!(plain.expected_signature, None);
    }
}
