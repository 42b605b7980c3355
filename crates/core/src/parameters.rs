//! Request parameters as typed values (KServe's `parameters` maps), and the
//! ones the core itself reads: `priority`, `timeout` and Triton's sequence
//! controls.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ValidationError;

/// One parameter value, as the protocols type it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer (gRPC `int64_param`, a negative JSON integer).
    Int(i64),
    /// An unsigned integer (gRPC `uint64_param`, a non-negative JSON integer).
    UInt(u64),
    /// A floating-point number.
    Double(f64),
    /// Text.
    String(String),
}

impl ParamValue {
    /// The value as an unsigned integer, where it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            ParamValue::UInt(v) => Some(*v),
            ParamValue::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            ParamValue::Bool(v) => format!("boolean {v}"),
            ParamValue::Int(v) => format!("integer {v}"),
            ParamValue::UInt(v) => format!("integer {v}"),
            ParamValue::Double(v) => format!("number {v}"),
            ParamValue::String(v) => format!("string {v:?}"),
        }
    }
}

/// Named parameters of a request, an input, an output or a response.
pub type Parameters = BTreeMap<String, ParamValue>;

/// Which sequence a request belongs to (Triton's correlation id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SequenceId {
    /// A numeric id.
    Number(u64),
    /// A string id.
    Text(String),
}

/// The sequence controls a request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceControl {
    /// The sequence.
    pub id: SequenceId,
    /// This request starts the sequence.
    pub start: bool,
    /// This request ends the sequence.
    pub end: bool,
}

/// What the core understood of a request's parameters. Every servable reads
/// these; one that has no use for a value (a priority without priority
/// levels, sequence controls on a model without sequences) ignores it, as
/// Triton does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// `priority`: 0 is the default level, 1 the highest.
    pub priority: Option<u64>,
    /// `timeout`: how long the request may wait before it runs (microseconds on the wire).
    pub timeout: Option<Duration>,
    /// `sequence_id`, `sequence_start`, `sequence_end`.
    pub sequence: Option<SequenceControl>,
}

impl RequestOptions {
    /// Reads the parameters the core understands; a malformed value is
    /// refused with a message naming the parameter.
    pub fn from_parameters(parameters: &Parameters) -> Result<Self, ValidationError> {
        let priority = unsigned(parameters, "priority")?;
        let timeout = unsigned(parameters, "timeout")?.map(Duration::from_micros);
        let id = match parameters.get("sequence_id") {
            None => None,
            Some(ParamValue::String(text)) => Some(SequenceId::Text(text.clone())),
            Some(value) => Some(SequenceId::Number(value.as_u64().ok_or_else(|| {
                invalid("sequence_id", "an unsigned integer or a string", value)
            })?)),
        };
        let start = flag(parameters, "sequence_start")?;
        let end = flag(parameters, "sequence_end")?;
        let sequence = match id {
            Some(id) => Some(SequenceControl {
                id,
                start: start.unwrap_or(false),
                end: end.unwrap_or(false),
            }),
            None if start == Some(true) || end == Some(true) => {
                return Err(ValidationError::Parameter {
                    name: if start == Some(true) {
                        "sequence_start"
                    } else {
                        "sequence_end"
                    }
                    .to_string(),
                    message: "needs a sequence_id".to_string(),
                });
            }
            None => None,
        };
        Ok(RequestOptions {
            priority,
            timeout,
            sequence,
        })
    }
}

fn invalid(name: &str, expected: &str, actual: &ParamValue) -> ValidationError {
    ValidationError::Parameter {
        name: name.to_string(),
        message: format!("Expected: {expected}; Actual: {}", actual.describe()),
    }
}

fn unsigned(parameters: &Parameters, name: &str) -> Result<Option<u64>, ValidationError> {
    parameters
        .get(name)
        .map(|value| {
            value
                .as_u64()
                .ok_or_else(|| invalid(name, "an unsigned integer", value))
        })
        .transpose()
}

fn flag(parameters: &Parameters, name: &str) -> Result<Option<bool>, ValidationError> {
    parameters
        .get(name)
        .map(|value| match value {
            ParamValue::Bool(v) => Ok(*v),
            other => Err(invalid(name, "a boolean", other)),
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(entries: &[(&str, ParamValue)]) -> Parameters {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn no_parameters_no_options() {
        let options = RequestOptions::from_parameters(&Parameters::new()).unwrap();
        assert_eq!(options, RequestOptions::default());
    }

    #[test]
    fn understood_values_are_read() {
        let options = RequestOptions::from_parameters(&params(&[
            ("priority", ParamValue::UInt(2)),
            ("timeout", ParamValue::Int(1500)),
            ("sequence_id", ParamValue::String("s-1".into())),
            ("sequence_start", ParamValue::Bool(true)),
            ("custom", ParamValue::Double(0.5)),
        ]))
        .unwrap();
        assert_eq!(options.priority, Some(2));
        assert_eq!(options.timeout, Some(Duration::from_micros(1500)));
        assert_eq!(
            options.sequence,
            Some(SequenceControl {
                id: SequenceId::Text("s-1".into()),
                start: true,
                end: false
            })
        );
    }

    #[test]
    fn malformed_values_are_refused_by_name() {
        let cases = [
            ("priority", ParamValue::String("high".into())),
            ("priority", ParamValue::Int(-1)),
            ("priority", ParamValue::Double(1.5)),
            ("timeout", ParamValue::Bool(true)),
            ("sequence_id", ParamValue::Int(-3)),
            ("sequence_end", ParamValue::UInt(1)),
        ];
        for (name, value) in cases {
            let err = RequestOptions::from_parameters(&params(&[(name, value.clone())]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("'{name}'")),
                "{name} {value:?}: {err}"
            );
        }
    }

    #[test]
    fn sequence_flags_need_an_id() {
        let err =
            RequestOptions::from_parameters(&params(&[("sequence_start", ParamValue::Bool(true))]))
                .unwrap_err();
        assert!(err.to_string().contains("sequence_id"), "{err}");
        let ok =
            RequestOptions::from_parameters(&params(&[("sequence_end", ParamValue::Bool(false))]));
        assert!(ok.is_ok());
    }
}
