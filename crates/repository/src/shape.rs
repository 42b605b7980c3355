use std::collections::BTreeMap;

use inferd_tensor::Dim;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `shape` setting: one shape for the model's only input, or one per input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeSetting {
    /// `"auto"`: every input takes the shape of each request (the model is
    /// reshaped to it).
    Auto,
    /// `"(1,3,224,224)"`: applies to the model's single input.
    All(Vec<Dim>),
    /// `{"input": "(1,3,-1,-1)", "other": "auto"}`.
    PerInput(BTreeMap<String, InputShape>),
}

/// One input's entry of a per-input `shape`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputShape {
    /// `"auto"`: the shape of each request.
    Auto,
    /// Fixed, dynamic (`-1`) or ranged dimensions.
    Dims(Vec<Dim>),
}

impl ShapeSetting {
    /// Whether `input` takes the shape of each request.
    pub fn is_auto(&self, input: &str) -> bool {
        match self {
            ShapeSetting::Auto => true,
            ShapeSetting::All(_) => false,
            ShapeSetting::PerInput(map) => map.get(input) == Some(&InputShape::Auto),
        }
    }
}

/// Parses `(1,3,-1,2:8)` (brackets or parentheses optional) into dimensions.
pub fn parse_dims(text: &str) -> Result<Vec<Dim>, String> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .or_else(|| trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')))
        .unwrap_or(trimmed);
    if inner.trim().is_empty() {
        return Err(format!("shape {text:?} has no dimensions"));
    }
    inner
        .split(',')
        .map(|d| parse_dim(d.trim(), text))
        .collect()
}

fn parse_dim(dim: &str, whole: &str) -> Result<Dim, String> {
    let bad = || format!("invalid dimension {dim:?} in shape {whole:?}: use N, -1 or MIN:MAX");
    if dim == "-1" {
        return Ok(Dim::Any);
    }
    if let Some((lo, hi)) = dim.split_once(':') {
        let lo: u64 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u64 = hi.trim().parse().map_err(|_| bad())?;
        if lo == 0 || lo > hi {
            return Err(bad());
        }
        return Ok(Dim::Range(lo, hi));
    }
    match dim.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Dim::Fixed(n)),
        _ => Err(bad()),
    }
}

/// Checks a layout such as `NHWC` or `NHWC:NCHW` and returns it unchanged.
pub fn parse_layout(text: &str) -> Result<String, String> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphabetic() || c == '.' || c == '?')
    };
    let valid = match text.split_once(':') {
        Some((from, to)) => ok_part(from) && ok_part(to) && from.len() == to.len(),
        None => ok_part(text),
    };
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "invalid layout {text:?}: use e.g. NHWC or NHWC:NCHW"
        ))
    }
}

fn dims_to_string(dims: &[Dim]) -> String {
    inferd_tensor::format_shape(dims)
}

impl ShapeSetting {
    /// Parses the CLI / config.json forms: `auto`, `(1,3,224,224)`, or a JSON object.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            let value: serde_json::Value =
                serde_json::from_str(trimmed).map_err(|e| format!("shape: {e}"))?;
            return Self::from_json(&value);
        }
        Self::from_json(&serde_json::Value::String(trimmed.to_string()))
    }

    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        match value {
            serde_json::Value::String(s) if s == "auto" => Ok(ShapeSetting::Auto),
            serde_json::Value::String(s) => parse_dims(s).map(ShapeSetting::All),
            serde_json::Value::Object(map) => {
                let mut per_input = BTreeMap::new();
                for (name, dims) in map {
                    let dims = dims.as_str().ok_or_else(|| {
                        format!("shape of input {name:?} must be a string like \"(1,3,224,224)\"")
                    })?;
                    let shape = match dims.trim() {
                        "auto" => InputShape::Auto,
                        dims => InputShape::Dims(parse_dims(dims)?),
                    };
                    per_input.insert(name.clone(), shape);
                }
                Ok(ShapeSetting::PerInput(per_input))
            }
            other => Err(format!(
                "shape must be \"auto\", a string like \"(1,3,224,224)\" or an object, not {other}"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for ShapeSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        ShapeSetting::from_json(&value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ShapeSetting {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ShapeSetting::Auto => serializer.serialize_str("auto"),
            ShapeSetting::All(dims) => serializer.serialize_str(&dims_to_string(dims)),
            ShapeSetting::PerInput(map) => {
                let text: BTreeMap<&String, String> = map
                    .iter()
                    .map(|(k, v)| {
                        let shape = match v {
                            InputShape::Auto => "auto".to_string(),
                            InputShape::Dims(dims) => dims_to_string(dims),
                        };
                        (k, shape)
                    })
                    .collect();
                text.serialize(serializer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_parse() {
        assert_eq!(
            parse_dims("(1,3,224,224)").unwrap(),
            vec![
                Dim::Fixed(1),
                Dim::Fixed(3),
                Dim::Fixed(224),
                Dim::Fixed(224)
            ]
        );
        assert_eq!(
            parse_dims("[-1, 16]").unwrap(),
            vec![Dim::Any, Dim::Fixed(16)]
        );
        assert_eq!(
            parse_dims("(1:8,4)").unwrap(),
            vec![Dim::Range(1, 8), Dim::Fixed(4)]
        );
        for bad in ["()", "(0,3)", "(a,3)", "(8:1)", "(1,,2)", "(-2)"] {
            assert!(parse_dims(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn setting_forms() {
        assert_eq!(ShapeSetting::parse("auto").unwrap(), ShapeSetting::Auto);
        assert_eq!(
            ShapeSetting::parse("(1,2)").unwrap(),
            ShapeSetting::All(vec![Dim::Fixed(1), Dim::Fixed(2)])
        );
        let per = ShapeSetting::parse(r#"{"a": "(-1,16)"}"#).unwrap();
        let ShapeSetting::PerInput(map) = per else {
            panic!("per-input expected")
        };
        assert_eq!(map["a"], InputShape::Dims(vec![Dim::Any, Dim::Fixed(16)]));
        assert!(ShapeSetting::parse(r#"{"a": 3}"#).is_err());
        let mixed = ShapeSetting::parse(r#"{"a": "auto", "b": "(1,2)"}"#).unwrap();
        assert!(mixed.is_auto("a") && !mixed.is_auto("b"));
        assert!(ShapeSetting::Auto.is_auto("anything"));
    }

    #[test]
    fn layouts() {
        assert!(parse_layout("NHWC:NCHW").is_ok());
        assert!(parse_layout("NCHW").is_ok());
        assert!(parse_layout("NHWC:NCH").is_err());
        assert!(parse_layout("N1").is_err());
    }
}
