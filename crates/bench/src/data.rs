//! Input values, encoded once before the run as little-endian bytes:
//! random, zeros, or read from a perf_analyzer-style JSON file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use half::{bf16, f16};
use inferd_tensor::DataType;
use serde_json::Value;

use crate::args::ShapeOverride;
use crate::error::BenchError;
use crate::model::InputSpec;

/// One input's shape and values, as every request sends them.
#[derive(Debug, Clone)]
pub struct InputTensor {
    /// Name, type and shape.
    pub spec: InputSpec,
    /// The values, little-endian, `element_count × element size` bytes.
    pub raw: Bytes,
}

/// An `--image` input: BYTES `[rows]`, the file's bytes once per row, each
/// preceded by its 4-byte little-endian length (the binary protocols'
/// framing of BYTES).
pub fn image_tensor(
    image: &crate::args::ImageFile,
    inputs: &[crate::model::ModelInput],
    rows: Option<u64>,
    protocol: crate::args::Protocol,
) -> Result<InputTensor, BenchError> {
    let error = |message: String| BenchError::InputData {
        path: image.path.clone(),
        message,
    };
    if protocol == crate::args::Protocol::KserveRest {
        return Err(error(
            "--image needs a binary protocol (kserve-grpc, kserve-rest-binary, tfs-grpc)".into(),
        ));
    }
    if !inputs.iter().any(|i| i.name == image.name) {
        return Err(error(format!("the model has no input {}", image.name)));
    }
    let file = std::fs::read(&image.path).map_err(|e| error(e.to_string()))?;
    let length = u32::try_from(file.len()).map_err(|_| error("file over 4 GiB".into()))?;
    let rows = rows.unwrap_or(1);
    let mut raw = Vec::with_capacity((file.len() + 4) * rows as usize);
    for _ in 0..rows {
        raw.extend_from_slice(&length.to_le_bytes());
        raw.extend_from_slice(&file);
    }
    Ok(InputTensor {
        spec: InputSpec {
            name: image.name.clone(),
            datatype: DataType::Bytes,
            shape: vec![rows],
        },
        raw: Bytes::from(raw),
    })
}

/// The items of a length-prefixed BYTES buffer (as [`image_tensor`] makes).
pub fn split_length_prefixed(mut raw: &[u8]) -> Vec<Bytes> {
    let mut items = Vec::new();
    while raw.len() >= 4 {
        let length = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
        let end = (4 + length).min(raw.len());
        items.push(Bytes::copy_from_slice(&raw[4..end]));
        raw = &raw[end..];
    }
    items
}

/// Where input values come from (`--input-data`).
#[derive(Debug, Clone)]
pub enum InputSource {
    /// Uniform in [0, 1) for floats, 0..100 for integers, 0/1 for BOOL.
    Random,
    /// All zeros.
    Zero,
    /// Values read from a file.
    File(FileInputs),
}

/// The first entry of a `{"data":[{"NAME": values, ...}]}` file.
#[derive(Debug, Clone)]
pub struct FileInputs {
    path: PathBuf,
    tensors: HashMap<String, FileTensor>,
}

#[derive(Debug, Clone)]
struct FileTensor {
    /// Values, nested arrays flattened.
    values: Vec<Value>,
    /// The shape given with `{"content": [...], "shape": [...]}`.
    shape: Option<Vec<u64>>,
}

impl InputSource {
    /// Parses `--input-data`, reading and checking the file if one is named.
    pub fn parse(text: &str) -> Result<InputSource, BenchError> {
        match text {
            "random" => Ok(InputSource::Random),
            "zero" => Ok(InputSource::Zero),
            path => FileInputs::read(Path::new(path)).map(InputSource::File),
        }
    }

    /// The shapes the file gives, for inputs `--shape` does not name.
    pub fn shape_overrides(&self, cli: &[ShapeOverride]) -> Vec<ShapeOverride> {
        let mut all = cli.to_vec();
        if let InputSource::File(file) = self {
            for (name, tensor) in &file.tensors {
                if let Some(dims) = &tensor.shape
                    && !cli.iter().any(|o| &o.name == name)
                {
                    all.push(ShapeOverride {
                        name: name.clone(),
                        dims: dims.clone(),
                    });
                }
            }
        }
        all
    }

    /// Encodes every input's values for its fixed shape.
    pub fn build(&self, specs: &[InputSpec]) -> Result<Vec<InputTensor>, BenchError> {
        if let InputSource::File(file) = self {
            file.check_names(specs)?;
        }
        let mut rng = SplitMix64(0x5eed);
        specs
            .iter()
            .map(|spec| {
                let count = usize::try_from(spec.element_count()).unwrap_or(usize::MAX);
                let size = spec.datatype.size_bytes().unwrap_or(0);
                let mut raw = Vec::with_capacity(count.saturating_mul(size));
                match self {
                    InputSource::Zero => raw.resize(count.saturating_mul(size), 0),
                    InputSource::Random => {
                        for _ in 0..count {
                            let value = rng.value(spec.datatype);
                            encode(spec.datatype, &value, &mut raw).ok_or_else(|| {
                                BenchError::Model(format!("cannot generate {}", spec.datatype))
                            })?;
                        }
                    }
                    InputSource::File(file) => file.encode(spec, count, &mut raw)?,
                }
                Ok(InputTensor {
                    spec: spec.clone(),
                    raw: Bytes::from(raw),
                })
            })
            .collect()
    }
}

impl FileInputs {
    fn read(path: &Path) -> Result<FileInputs, BenchError> {
        let error = |message: String| BenchError::InputData {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let document: Value = serde_json::from_str(&text).map_err(|e| error(e.to_string()))?;
        let Some(Value::Object(first)) = document.get("data").and_then(|d| d.get(0)) else {
            return Err(error(
                r#"expected {"data": [{"INPUT_NAME": [values...], ...}]}"#.to_string(),
            ));
        };
        let tensors = first
            .iter()
            .map(|(name, value)| {
                FileTensor::parse(value)
                    .map(|tensor| (name.clone(), tensor))
                    .ok_or_else(|| error(format!("input {name}: expected an array of values or {{\"content\": [...], \"shape\": [...]}}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(FileInputs {
            path: path.to_path_buf(),
            tensors,
        })
    }

    fn error(&self, message: String) -> BenchError {
        BenchError::InputData {
            path: self.path.clone(),
            message,
        }
    }

    fn check_names(&self, specs: &[InputSpec]) -> Result<(), BenchError> {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        if let Some(extra) = self.tensors.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(self.error(format!(
                "names input {extra}, which the model does not have (inputs: {})",
                names.join(", ")
            )));
        }
        match names.iter().find(|n| !self.tensors.contains_key(**n)) {
            Some(missing) => Err(self.error(format!("has no values for input {missing}"))),
            None => Ok(()),
        }
    }

    fn encode(&self, spec: &InputSpec, count: usize, out: &mut Vec<u8>) -> Result<(), BenchError> {
        let values = self
            .tensors
            .get(&spec.name)
            .map_or(&[][..], |t| &t.values[..]);
        if values.len() != count {
            return Err(self.error(format!(
                "input {} has {} values but shape {:?} needs {count}",
                spec.name,
                values.len(),
                spec.shape
            )));
        }
        for value in values {
            encode(spec.datatype, value, out).ok_or_else(|| {
                self.error(format!(
                    "input {}: {value} is not a {} value",
                    spec.name, spec.datatype
                ))
            })?;
        }
        Ok(())
    }
}

impl FileTensor {
    fn parse(value: &Value) -> Option<FileTensor> {
        let (content, shape) = match value {
            Value::Array(_) => (value, None),
            Value::Object(map) => {
                let shape = match map.get("shape") {
                    Some(Value::Array(dims)) => Some(
                        dims.iter()
                            .map(Value::as_u64)
                            .collect::<Option<Vec<u64>>>()?,
                    ),
                    Some(_) => return None,
                    None => None,
                };
                (map.get("content")?, shape)
            }
            _ => return None,
        };
        let mut values = Vec::new();
        flatten(content, &mut values);
        Some(FileTensor { values, shape })
    }
}

fn flatten(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        scalar => out.push(scalar.clone()),
    }
}

/// Appends `value` as one little-endian element of `dtype`; `None` when it
/// is not a value of that type (out of range, wrong kind, BYTES).
fn encode(dtype: DataType, value: &Value, out: &mut Vec<u8>) -> Option<()> {
    let unsigned = || value.as_u64();
    let signed = || value.as_i64();
    match dtype {
        DataType::Bool => out.push(match value {
            Value::Bool(b) => u8::from(*b),
            _ => u8::try_from(unsigned()?).ok().filter(|b| *b <= 1)?,
        }),
        DataType::U8 => out.push(u8::try_from(unsigned()?).ok()?),
        DataType::U16 => out.extend(u16::try_from(unsigned()?).ok()?.to_le_bytes()),
        DataType::U32 => out.extend(u32::try_from(unsigned()?).ok()?.to_le_bytes()),
        DataType::U64 => out.extend(unsigned()?.to_le_bytes()),
        DataType::I8 => out.extend(i8::try_from(signed()?).ok()?.to_le_bytes()),
        DataType::I16 => out.extend(i16::try_from(signed()?).ok()?.to_le_bytes()),
        DataType::I32 => out.extend(i32::try_from(signed()?).ok()?.to_le_bytes()),
        DataType::I64 => out.extend(signed()?.to_le_bytes()),
        DataType::F16 => out.extend(f16::from_f64(value.as_f64()?).to_le_bytes()),
        DataType::BF16 => out.extend(bf16::from_f64(value.as_f64()?).to_le_bytes()),
        DataType::F32 => out.extend((value.as_f64()? as f32).to_le_bytes()),
        DataType::F64 => out.extend(value.as_f64()?.to_le_bytes()),
        DataType::Bytes => return None,
    }
    Some(())
}

/// Decodes little-endian elements of `dtype` as JSON values (REST `data`).
pub fn json_values(dtype: DataType, raw: &[u8]) -> Vec<Value> {
    let size = dtype.size_bytes().unwrap_or(1);
    raw.chunks_exact(size)
        .map(|c| match dtype {
            DataType::Bool => Value::Bool(c[0] != 0),
            DataType::U8 => Value::from(c[0]),
            DataType::U16 => Value::from(u16::from_le_bytes(array(c))),
            DataType::U32 => Value::from(u32::from_le_bytes(array(c))),
            DataType::U64 => Value::from(u64::from_le_bytes(array(c))),
            DataType::I8 => Value::from(i8::from_le_bytes(array(c))),
            DataType::I16 => Value::from(i16::from_le_bytes(array(c))),
            DataType::I32 => Value::from(i32::from_le_bytes(array(c))),
            DataType::I64 => Value::from(i64::from_le_bytes(array(c))),
            DataType::F16 => Value::from(f16::from_le_bytes(array(c)).to_f64()),
            DataType::BF16 => Value::from(bf16::from_le_bytes(array(c)).to_f64()),
            DataType::F32 => Value::from(f64::from(f32::from_le_bytes(array(c)))),
            DataType::F64 => Value::from(f64::from_le_bytes(array(c))),
            DataType::Bytes => Value::Null,
        })
        .collect()
}

/// `chunk` as a fixed-size array; `chunks_exact` guarantees the length.
fn array<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut bytes = [0; N];
    bytes.copy_from_slice(chunk);
    bytes
}

/// A small deterministic generator (SplitMix64); the values need no quality
/// beyond not being constant.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn value(&mut self, dtype: DataType) -> Value {
        let bits = self.next();
        match dtype {
            DataType::Bool => Value::Bool(bits & 1 == 1),
            DataType::F16 | DataType::BF16 | DataType::F32 | DataType::F64 => {
                Value::from((bits >> 11) as f64 / (1u64 << 53) as f64)
            }
            _ => Value::from(bits % 100),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, datatype: DataType, shape: &[u64]) -> InputSpec {
        InputSpec {
            name: name.into(),
            datatype,
            shape: shape.to_vec(),
        }
    }

    fn file(text: &str) -> (tempfile::NamedTempFile, Result<InputSource, BenchError>) {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("write");
        let parsed = InputSource::parse(&file.path().to_string_lossy());
        (file, parsed)
    }

    #[test]
    fn every_numeric_type_round_trips_through_json() {
        for dtype in DataType::ALL.into_iter().filter(|d| *d != DataType::Bytes) {
            let specs = [spec("x", dtype, &[2, 3])];
            let built = InputSource::Random.build(&specs).expect("random");
            let size = dtype.size_bytes().expect("numeric");
            assert_eq!(built[0].raw.len(), 6 * size, "{dtype}");
            let mut again = Vec::new();
            for value in json_values(dtype, &built[0].raw) {
                encode(dtype, &value, &mut again).expect("encodable");
            }
            assert_eq!(again, built[0].raw, "{dtype}");
            let zeros = InputSource::Zero.build(&specs).expect("zero");
            assert!(zeros[0].raw.iter().all(|b| *b == 0) && zeros[0].raw.len() == 6 * size);
        }
    }

    #[test]
    fn file_values_are_flattened_and_checked() {
        let (_f, source) =
            file(r#"{"data":[{"a":[[1,2],[3,4]],"b":{"content":[1,0],"shape":[2]}}]}"#);
        let source = source.expect("file");
        let overrides = source.shape_overrides(&[]);
        assert_eq!(overrides.len(), 1);
        assert_eq!(
            (overrides[0].name.as_str(), &overrides[0].dims[..]),
            ("b", &[2][..])
        );
        let specs = [
            spec("a", DataType::I16, &[2, 2]),
            spec("b", DataType::Bool, &[2]),
        ];
        let built = source.build(&specs).expect("fits");
        assert_eq!(&built[0].raw[..], &[1, 0, 2, 0, 3, 0, 4, 0]);
        assert_eq!(&built[1].raw[..], &[1, 0]);

        let wrong_count = [
            spec("a", DataType::I16, &[3]),
            spec("b", DataType::Bool, &[2]),
        ];
        let error = source.build(&wrong_count).expect_err("count").to_string();
        assert!(
            error.contains("has 4 values but shape [3] needs 3"),
            "{error}"
        );
        let missing = [spec("a", DataType::I16, &[4])];
        assert!(
            source
                .build(&missing)
                .expect_err("b")
                .to_string()
                .contains("input b")
        );
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(InputSource::parse("/nonexistent/inputs.json").is_err());
        for text in ["not json", r#"{"data":[]}"#, r#"{"data":[{"a":"x"}]}"#] {
            assert!(file(text).1.is_err(), "{text}");
        }
        let (_f, source) = file(r#"{"data":[{"a":[300]}]}"#);
        let error = source
            .expect("file")
            .build(&[spec("a", DataType::U8, &[1])]);
        assert!(
            error
                .expect_err("range")
                .to_string()
                .contains("300 is not a UINT8")
        );
    }
}
