//! TensorFlow Serving REST JSON ⇄ tensors: nested lists with shapes inferred
//! from the nesting, typed by the model's signature; `{"b64": ...}` for bytes.

use base64::Engine;
use bytes::Bytes;
use half::{bf16, f16};
use inferd_tensor::{DataType, Tensor, TensorData};
use serde_json::{Map, Value};

use crate::transport::json_data::{quote_non_finite, write_json_nested};
use crate::values::{Element, pack};

/// Whether `v` is `{"b64": ...}`.
pub fn is_b64(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.len() == 1 && o.contains_key("b64"))
}

/// Shape of a nested list and its leaves in row-major order; ragged lists are refused.
pub fn shape_and_leaves(value: &Value) -> Result<(Vec<i64>, Vec<&Value>), String> {
    let mut leaves = Vec::new();
    let shape = walk(value, &mut leaves)?;
    Ok((shape, leaves))
}

fn walk<'a>(value: &'a Value, leaves: &mut Vec<&'a Value>) -> Result<Vec<i64>, String> {
    let Some(items) = value.as_array() else {
        leaves.push(value);
        return Ok(Vec::new());
    };
    let mut inner: Option<Vec<i64>> = None;
    for item in items {
        let shape = walk(item, leaves)?;
        match &inner {
            Some(first) if *first != shape => {
                return Err("lists of unequal lengths (ragged tensor)".into());
            }
            Some(_) => {}
            None => inner = Some(shape),
        }
    }
    let mut shape = vec![items.len() as i64];
    shape.extend(inner.unwrap_or_default());
    Ok(shape)
}

fn number<T: TryFrom<i64> + TryFrom<u64>>(v: &Value, dtype: DataType) -> Result<T, String> {
    let bad = || format!("value {v} is not a valid {dtype}");
    if let Some(i) = v.as_i64() {
        return T::try_from(i).map_err(|_| bad());
    }
    if let Some(u) = v.as_u64() {
        return T::try_from(u).map_err(|_| bad());
    }
    Err(bad())
}

fn float(v: &Value, dtype: DataType, max: f64) -> Result<f64, String> {
    let non_finite = match v.as_str() {
        Some("NaN") => Some(f64::NAN),
        Some("Infinity") => Some(f64::INFINITY),
        Some("-Infinity") => Some(f64::NEG_INFINITY),
        _ => None,
    };
    if let Some(f) = non_finite {
        return Ok(f);
    }
    let f = v
        .as_f64()
        .ok_or_else(|| format!("value {v} is not a valid {dtype}"))?;
    if f.abs() > max {
        return Err(format!("value {v} is out of range for {dtype}"));
    }
    Ok(f)
}

/// Parses a request body as a JSON object, also accepting the bare `NaN`,
/// `Infinity` and `-Infinity` tokens TFS accepts (they become the strings
/// `"NaN"`, ... that float inputs read back).
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    serde_json::from_slice(body).or_else(|e| match quote_non_finite(body) {
        Some(quoted) => serde_json::from_slice(&quoted),
        None => Err(e),
    })
}

fn packed<T: Element>(
    leaves: &[&Value],
    convert: impl Fn(&Value) -> Result<T, String>,
) -> Result<Bytes, String> {
    Ok(pack(
        leaves
            .iter()
            .map(|v| convert(v))
            .collect::<Result<Vec<T>, String>>()?,
    ))
}

/// Converts leaves to content of `dtype`.
pub fn leaves_to_data(dtype: DataType, leaves: &[&Value]) -> Result<TensorData, String> {
    let raw = match dtype {
        DataType::Bool => Bytes::from(
            leaves
                .iter()
                .map(|v| {
                    v.as_bool()
                        .map(u8::from)
                        .ok_or_else(|| format!("value {v} is not a BOOL"))
                })
                .collect::<Result<Vec<u8>, _>>()?,
        ),
        DataType::U8 => packed(leaves, |v| number::<u8>(v, dtype))?,
        DataType::U16 => packed(leaves, |v| number::<u16>(v, dtype))?,
        DataType::U32 => packed(leaves, |v| number::<u32>(v, dtype))?,
        DataType::U64 => packed(leaves, |v| number::<u64>(v, dtype))?,
        DataType::I8 => packed(leaves, |v| number::<i8>(v, dtype))?,
        DataType::I16 => packed(leaves, |v| number::<i16>(v, dtype))?,
        DataType::I32 => packed(leaves, |v| number::<i32>(v, dtype))?,
        DataType::I64 => packed(leaves, |v| number::<i64>(v, dtype))?,
        DataType::F16 => packed(leaves, |v| {
            float(v, dtype, f16::MAX.to_f64()).map(f16::from_f64)
        })?,
        DataType::BF16 => packed(leaves, |v| {
            float(v, dtype, bf16::MAX.to_f64()).map(bf16::from_f64)
        })?,
        DataType::F32 => packed(leaves, |v| {
            float(v, dtype, f64::from(f32::MAX)).map(|f| f as f32)
        })?,
        DataType::F64 => packed(leaves, |v| float(v, dtype, f64::MAX))?,
        DataType::Bytes => {
            let strings = leaves
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(Bytes::from(s.clone())),
                    v if is_b64(v) => {
                        let text = v["b64"].as_str().ok_or("b64 value must be a string")?;
                        base64::engine::general_purpose::STANDARD
                            .decode(text)
                            .map(Bytes::from)
                            .map_err(|e| format!("invalid base64 in b64 value: {e}"))
                    }
                    other => Err(format!("value {other} is not a string or {{\"b64\": ...}}")),
                })
                .collect::<Result<Vec<_>, String>>()?;
            return Ok(TensorData::Strings(strings));
        }
    };
    Ok(TensorData::Raw(raw))
}

/// Appends the whole tensor as nested lists (a bare value for a scalar);
/// non-finite floats as `NaN` / `Infinity` / `-Infinity`, as TFS writes them.
pub fn write_tensor(out: &mut Vec<u8>, tensor: &Tensor) {
    write_json_nested(out, tensor, 0..tensor.len(), tensor.shape());
}

/// Number of rows (first dimension) in the row format; a scalar is one row.
pub fn row_count(tensor: &Tensor) -> usize {
    tensor.shape().first().copied().unwrap_or(1)
}

/// Appends row `row` of the tensor's first dimension (the scalar itself for
/// rank 0; `null` past the end).
pub fn write_row(out: &mut Vec<u8>, tensor: &Tensor, row: usize) {
    let Some((&rows, inner)) = tensor.shape().split_first() else {
        return write_tensor(out, tensor);
    };
    if row >= rows {
        return out.extend_from_slice(b"null");
    }
    let per_row: usize = inner.iter().product();
    write_json_nested(out, tensor, row * per_row..(row + 1) * per_row, inner);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shapes_come_from_nesting() {
        let v = json!([[1, 2, 3], [4, 5, 6]]);
        let (shape, leaves) = shape_and_leaves(&v).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(leaves.len(), 6);
        assert!(shape_and_leaves(&json!([[1, 2], [3]])).is_err());
        assert_eq!(shape_and_leaves(&json!(7)).unwrap().0, Vec::<i64>::new());
    }

    #[test]
    fn non_finite_tokens_are_read_outside_strings_only() {
        let body = br#"{"inputs": [NaN, -Infinity, Infinity, 1], "s": "NaN \" Infinity"}"#;
        let parsed = parse_body(body).unwrap();
        assert_eq!(parsed["inputs"], json!(["NaN", "-Infinity", "Infinity", 1]));
        assert_eq!(parsed["s"], json!("NaN \" Infinity"));
        let (_, leaves) = shape_and_leaves(&parsed["inputs"]).unwrap();
        let TensorData::Raw(bytes) = leaves_to_data(DataType::F32, &leaves).unwrap() else {
            panic!("floats are raw")
        };
        let floats: Vec<f32> = crate::values::read_all::<f32>(&bytes).collect();
        assert!(floats[0].is_nan());
        assert_eq!(floats[1..], [f32::NEG_INFINITY, f32::INFINITY, 1.0]);
        assert!(leaves_to_data(DataType::I32, &leaves).is_err());
        assert!(parse_body(b"{\"inputs\": [Nope]}").is_err());
        assert!(quote_non_finite(b"{\"a\": [1]}").is_none());
    }

    #[test]
    fn leaves_are_typed_by_the_signature() {
        let v = json!([1, 2.5]);
        let (_, leaves) = shape_and_leaves(&v).unwrap();
        assert_eq!(
            leaves_to_data(DataType::F32, &leaves).unwrap(),
            TensorData::Raw(pack([1.0f32, 2.5]))
        );
        assert!(leaves_to_data(DataType::I32, &leaves).is_err());
        let v = json!([{"b64": "aGk="}, "yo"]);
        let (_, leaves) = shape_and_leaves(&v).unwrap();
        assert_eq!(
            leaves_to_data(DataType::Bytes, &leaves).unwrap(),
            TensorData::Strings(vec![Bytes::from_static(b"hi"), Bytes::from_static(b"yo")])
        );
    }

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tensors_nest_back() {
        let t = Tensor::new(
            DataType::I32,
            vec![2, 2],
            TensorData::Raw(pack([1i32, 2, 3, 4])),
        )
        .unwrap();
        assert_eq!(text(|o| write_tensor(o, &t)), "[[1,2],[3,4]]");
        assert_eq!(row_count(&t), 2);
        assert_eq!(text(|o| write_row(o, &t, 1)), "[3,4]");
        assert_eq!(text(|o| write_row(o, &t, 2)), "null");
        let scalar = Tensor::new(DataType::F32, vec![], TensorData::Raw(pack([f32::NAN]))).unwrap();
        assert_eq!(text(|o| write_tensor(o, &scalar)), "NaN");
        assert_eq!(text(|o| write_row(o, &scalar, 0)), "NaN");
        let empty = Tensor::new(DataType::F32, vec![2, 0], TensorData::Raw(Bytes::new())).unwrap();
        assert_eq!(text(|o| write_tensor(o, &empty)), "[[],[]]");
        let words = Tensor::new(
            DataType::Bytes,
            vec![1, 2],
            TensorData::Strings(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
        )
        .unwrap();
        assert_eq!(text(|o| write_row(o, &words, 0)), r#"["a","b"]"#);
    }
}
