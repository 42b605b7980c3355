//! Pre-processing keys of a model: `mean`, `scale` and `color_format`, for
//! the only input or per input.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Per-channel values (`mean`, `scale`): one number for every channel, or
/// one per channel. Written as a number, a JSON list, or a string such as
/// `"[123.675,116.28,103.53]"`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelValues(pub Vec<f32>);

impl ChannelValues {
    /// Parses `"1.5"`, `"[1,2,3]"` or `"1,2,3"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let inner = trimmed
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(trimmed);
        let values = inner
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| format!("{text:?} is not a number or a list of numbers"))
            })
            .collect::<Result<Vec<f32>, String>>()?;
        Ok(ChannelValues(values))
    }

    fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let number = |v: &serde_json::Value| {
            v.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| format!("{value} is not a number or a list of numbers"))
        };
        match value {
            serde_json::Value::String(s) => Self::parse(s),
            serde_json::Value::Array(items) => items
                .iter()
                .map(number)
                .collect::<Result<_, _>>()
                .map(ChannelValues),
            other => number(other).map(|f| ChannelValues(vec![f])),
        }
    }
}

impl<'de> Deserialize<'de> for ChannelValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        ChannelValues::from_json(&value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ChannelValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A setting for the only input (`All`) or per input name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputSetting<T> {
    /// One value per input name.
    PerInput(BTreeMap<String, T>),
    /// The value for the model's only input (or every input).
    All(T),
}

impl<T: Clone> InputSetting<T> {
    /// The values by input name; `""` stands for the only input.
    pub fn by_input(&self) -> BTreeMap<String, T> {
        match self {
            InputSetting::All(value) => [(String::new(), value.clone())].into(),
            InputSetting::PerInput(map) => map.clone(),
        }
    }
}

/// A colour order of image channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Color {
    /// Red, green, blue.
    #[serde(rename = "RGB")]
    Rgb,
    /// Blue, green, red (OpenCV's and OVMS's image order).
    #[serde(rename = "BGR")]
    Bgr,
    /// One luma channel.
    #[serde(rename = "GRAY")]
    Gray,
}

/// `color_format`: `"BGR:RGB"` (what requests carry : what the model
/// takes), or `"RGB"` alone (the model's; requests carry BGR, as decoded
/// images do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorFormat {
    /// Order of the request's channels.
    pub request: Color,
    /// Order the model takes.
    pub model: Color,
}

impl ColorFormat {
    /// Parses `"BGR:RGB"` or `"RGB"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let color = |t: &str| match t.trim().to_ascii_uppercase().as_str() {
            "RGB" => Ok(Color::Rgb),
            "BGR" => Ok(Color::Bgr),
            "GRAY" => Ok(Color::Gray),
            _ => Err(format!(
                "color_format {text:?}: use RGB, BGR or GRAY, or REQUEST:MODEL such as BGR:RGB"
            )),
        };
        let format = match text.split_once(':') {
            Some((request, model)) => ColorFormat {
                request: color(request)?,
                model: color(model)?,
            },
            None => ColorFormat {
                request: Color::Bgr,
                model: color(text)?,
            },
        };
        if (format.request == Color::Gray) != (format.model == Color::Gray) {
            return Err(format!(
                "color_format {text:?}: converting between colour and GRAY is not supported"
            ));
        }
        Ok(format)
    }

    /// Whether the channel order must be reversed (RGB ⇄ BGR).
    pub fn reverses_channels(self) -> bool {
        self.request != self.model
    }
}

impl<'de> Deserialize<'de> for ColorFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ColorFormat::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ColorFormat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let name = |c: Color| match c {
            Color::Rgb => "RGB",
            Color::Bgr => "BGR",
            Color::Gray => "GRAY",
        };
        serializer.serialize_str(&format!("{}:{}", name(self.request), name(self.model)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_values_in_every_form() {
        let parse = |json: &str| serde_json::from_str::<ChannelValues>(json).map(|v| v.0);
        assert_eq!(parse("2").unwrap(), [2.0]);
        assert_eq!(parse("[1, 2.5, 3]").unwrap(), [1.0, 2.5, 3.0]);
        assert_eq!(
            parse("\"[123.675,116.28,103.53]\"").unwrap(),
            [123.675, 116.28, 103.53]
        );
        assert!(parse("\"[1,x]\"").is_err());
        assert!(parse("true").is_err());
    }

    #[test]
    fn settings_for_one_or_each_input() {
        let all: InputSetting<ChannelValues> = serde_json::from_str("[1,2,3]").unwrap();
        assert_eq!(all.by_input()[""].0, [1.0, 2.0, 3.0]);
        let each: InputSetting<ChannelValues> =
            serde_json::from_str(r#"{"a": 2, "b": "[1,2]"}"#).unwrap();
        assert_eq!(each.by_input()["b"].0, [1.0, 2.0]);
    }

    #[test]
    fn color_formats() {
        let f = ColorFormat::parse("BGR:RGB").unwrap();
        assert!(f.reverses_channels());
        assert!(!ColorFormat::parse("bgr").unwrap().reverses_channels());
        assert_eq!(ColorFormat::parse("RGB").unwrap(), f);
        assert!(ColorFormat::parse("GRAY:RGB").is_err());
        assert!(ColorFormat::parse("NV12").is_err());
        assert_eq!(serde_json::to_string(&f).unwrap(), "\"BGR:RGB\"");
    }
}
