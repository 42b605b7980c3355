//! TensorFlow Serving REST JSON ⇄ tensors: nested lists with shapes inferred
//! from the nesting, typed by the model's signature; `{"b64": ...}` for bytes.

use base64::Engine;
use bytes::Bytes;
use half::{bf16, f16};
use inferd_tensor::{DataType, Tensor, TensorData};
use serde_json::Value;

use crate::values::{Element, pack, read_all};

fn is_b64(v: &Value) -> bool {
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
    let f = v
        .as_f64()
        .ok_or_else(|| format!("value {v} is not a valid {dtype}"))?;
    if f.abs() > max {
        return Err(format!("value {v} is out of range for {dtype}"));
    }
    Ok(f)
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

fn floats<T: Element>(bytes: &[u8], to_f64: impl Fn(T) -> f64) -> Vec<Value> {
    read_all::<T>(bytes)
        .map(|v| serde_json::Number::from_f64(to_f64(v)).map_or(Value::Null, Value::Number))
        .collect()
}

/// A tensor's elements as JSON values, row-major.
fn elements(tensor: &Tensor) -> Vec<Value> {
    let bytes = match tensor.data() {
        TensorData::Strings(items) => {
            return items
                .iter()
                .map(|s| Value::String(String::from_utf8_lossy(s).into_owned()))
                .collect();
        }
        TensorData::Raw(bytes) => bytes,
    };
    match tensor.dtype() {
        DataType::Bool => bytes.iter().map(|b| Value::Bool(*b != 0)).collect(),
        DataType::U8 => bytes.iter().map(|v| Value::from(*v)).collect(),
        DataType::U16 => read_all::<u16>(bytes).map(Value::from).collect(),
        DataType::U32 => read_all::<u32>(bytes).map(Value::from).collect(),
        DataType::U64 => read_all::<u64>(bytes).map(Value::from).collect(),
        DataType::I8 => read_all::<i8>(bytes).map(Value::from).collect(),
        DataType::I16 => read_all::<i16>(bytes).map(Value::from).collect(),
        DataType::I32 => read_all::<i32>(bytes).map(Value::from).collect(),
        DataType::I64 => read_all::<i64>(bytes).map(Value::from).collect(),
        DataType::F16 => floats::<f16>(bytes, f16::to_f64),
        DataType::BF16 => floats::<bf16>(bytes, bf16::to_f64),
        DataType::F32 => floats::<f32>(bytes, f64::from),
        DataType::F64 => floats::<f64>(bytes, |v| v),
        DataType::Bytes => Vec::new(),
    }
}

fn nest(values: &mut std::vec::IntoIter<Value>, shape: &[usize]) -> Value {
    match shape.split_first() {
        None => values.next().unwrap_or(Value::Null),
        Some((&n, rest)) => Value::Array((0..n).map(|_| nest(values, rest)).collect()),
    }
}

/// The whole tensor as nested lists.
pub fn tensor_to_json(tensor: &Tensor) -> Value {
    nest(&mut elements(tensor).into_iter(), tensor.shape())
}

/// One nested value per index of the first dimension (row format).
pub fn tensor_rows(tensor: &Tensor) -> Vec<Value> {
    match tensor_to_json(tensor) {
        Value::Array(rows) => rows,
        scalar => vec![scalar],
    }
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

    #[test]
    fn tensors_nest_back() {
        let t = Tensor::new(
            DataType::I32,
            vec![2, 2],
            TensorData::Raw(pack([1i32, 2, 3, 4])),
        )
        .unwrap();
        assert_eq!(tensor_to_json(&t), json!([[1, 2], [3, 4]]));
        assert_eq!(tensor_rows(&t), vec![json!([1, 2]), json!([3, 4])]);
    }
}
