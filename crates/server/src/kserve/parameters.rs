//! KServe `parameters` maps ⇄ the core's typed parameters, for gRPC
//! (`InferParameter`) and REST (JSON objects).

use std::collections::HashMap;

use inferd_core::{ParamValue, Parameters};
use serde_json::{Map, Value};

use crate::proto::kserve::InferParameter;
use crate::proto::kserve::infer_parameter::ParameterChoice;
use crate::transport::ApiError;

/// Parameters of a gRPC message; an entry with no value set is dropped.
pub fn from_proto(map: HashMap<String, InferParameter>) -> Parameters {
    map.into_iter()
        .filter_map(|(name, p)| {
            let value = match p.parameter_choice? {
                ParameterChoice::BoolParam(v) => ParamValue::Bool(v),
                ParameterChoice::Int64Param(v) => ParamValue::Int(v),
                ParameterChoice::Uint64Param(v) => ParamValue::UInt(v),
                ParameterChoice::DoubleParam(v) => ParamValue::Double(v),
                ParameterChoice::StringParam(v) => ParamValue::String(v),
            };
            Some((name, value))
        })
        .collect()
}

/// A gRPC `parameters` map.
pub fn to_proto(parameters: &Parameters) -> HashMap<String, InferParameter> {
    parameters
        .iter()
        .map(|(name, value)| {
            let choice = match value {
                ParamValue::Bool(v) => ParameterChoice::BoolParam(*v),
                ParamValue::Int(v) => ParameterChoice::Int64Param(*v),
                ParamValue::UInt(v) => ParameterChoice::Uint64Param(*v),
                ParamValue::Double(v) => ParameterChoice::DoubleParam(*v),
                ParamValue::String(v) => ParameterChoice::StringParam(v.clone()),
            };
            let parameter = InferParameter {
                parameter_choice: Some(choice),
            };
            (name.clone(), parameter)
        })
        .collect()
}

/// Parameters of a JSON object: booleans, numbers and strings; anything
/// else is refused with a message naming the parameter.
pub fn from_json(object: Option<Map<String, Value>>) -> Result<Parameters, ApiError> {
    let Some(object) = object else {
        return Ok(Parameters::new());
    };
    object
        .into_iter()
        .map(|(name, value)| {
            let typed = match value {
                Value::Bool(v) => ParamValue::Bool(v),
                Value::String(v) => ParamValue::String(v),
                Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                    (Some(v), _, _) => ParamValue::UInt(v),
                    (None, Some(v), _) => ParamValue::Int(v),
                    (None, None, Some(v)) => ParamValue::Double(v),
                    _ => return Err(unsupported(&name, "a number out of range")),
                },
                Value::Null => return Err(unsupported(&name, "null")),
                Value::Array(_) => return Err(unsupported(&name, "an array")),
                Value::Object(_) => return Err(unsupported(&name, "an object")),
            };
            Ok((name, typed))
        })
        .collect()
}

fn unsupported(name: &str, actual: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid parameter '{name}' - Expected: a boolean, a number or a string; Actual: {actual}"
    ))
}

/// Writes `parameters` as a JSON object.
pub fn write_json(out: &mut Vec<u8>, parameters: &Parameters) {
    let object: Map<String, Value> = parameters
        .iter()
        .map(|(name, value)| {
            let json = match value {
                ParamValue::Bool(v) => Value::from(*v),
                ParamValue::Int(v) => Value::from(*v),
                ParamValue::UInt(v) => Value::from(*v),
                ParamValue::Double(v) => Value::from(*v),
                ParamValue::String(v) => Value::from(v.as_str()),
            };
            (name.clone(), json)
        })
        .collect();
    // Writing JSON into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &object);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_keep_their_types() {
        let object = serde_json::json!({
            "priority": 1, "offset": -2, "scale": 0.5, "flag": true, "tag": "x"
        });
        let Value::Object(object) = object else {
            unreachable!()
        };
        let parameters = from_json(Some(object)).unwrap();
        assert_eq!(parameters["priority"], ParamValue::UInt(1));
        assert_eq!(parameters["offset"], ParamValue::Int(-2));
        assert_eq!(parameters["scale"], ParamValue::Double(0.5));
        assert_eq!(parameters["flag"], ParamValue::Bool(true));
        assert_eq!(parameters["tag"], ParamValue::String("x".into()));
        let mut out = Vec::new();
        write_json(&mut out, &parameters);
        let back: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back["offset"], -2);
        assert_eq!(back["tag"], "x");
    }

    #[test]
    fn json_containers_are_refused_by_name() {
        let Value::Object(object) = serde_json::json!({"priority": [1]}) else {
            unreachable!()
        };
        let err = from_json(Some(object)).unwrap_err();
        assert!(err.message.contains("'priority'"), "{}", err.message);
    }

    #[test]
    fn proto_round_trip() {
        let parameters: Parameters = [
            ("a".to_string(), ParamValue::UInt(3)),
            ("b".to_string(), ParamValue::String("s".into())),
        ]
        .into_iter()
        .collect();
        assert_eq!(from_proto(to_proto(&parameters)), parameters);
    }
}
