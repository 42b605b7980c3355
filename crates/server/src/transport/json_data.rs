//! KServe JSON `data` arrays ⇄ tensor content, without an intermediate `Value` tree.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use half::{bf16, f16};
use inferd_tensor::{DataType, Tensor, TensorData};
use serde::de::{DeserializeSeed, IntoDeserializer, SeqAccess, Visitor};
use serde::{Deserialize, de};
use serde_json::value::RawValue;

use crate::values::{Element, pack, read_all};

/// Appends every leaf of a flat or nested JSON array to a vector.
struct Flat<'v, T>(&'v mut Vec<T>);

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Flat<'_, T> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

macro_rules! leaf {
    ($($method:ident: $t:ty),*) => {$(
        fn $method<E: de::Error>(self, v: $t) -> Result<(), E> {
            self.0.push(T::deserialize(IntoDeserializer::<E>::into_deserializer(v))?);
            Ok(())
        }
    )*};
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Flat<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of values")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.0;
        while seq.next_element_seed(Flat(&mut *out))?.is_some() {}
        Ok(())
    }

    leaf!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_string: String);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.visit_string(v.to_string())
    }
}

fn flatten<T: for<'de> Deserialize<'de>>(raw: &RawValue) -> Result<Vec<T>, serde_json::Error> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_str(raw.get());
    Flat(&mut out).deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

fn packed<T: Element + for<'de> Deserialize<'de>>(
    raw: &RawValue,
) -> Result<Bytes, serde_json::Error> {
    flatten::<T>(raw).map(pack)
}

/// A float element: a JSON number, or one of the non-finite tokens inferd
/// writes (`NaN`, `Infinity`, `-Infinity`), bare (see [`quote_non_finite`])
/// or quoted.
struct JsonFloat(f64);

impl<'de> Deserialize<'de> for JsonFloat {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FloatVisitor;
        impl Visitor<'_> for FloatVisitor {
            type Value = JsonFloat;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, NaN, Infinity or -Infinity")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonFloat, E> {
                Ok(JsonFloat(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonFloat, E> {
                Ok(JsonFloat(v as f64))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonFloat, E> {
                Ok(JsonFloat(v as f64))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonFloat, E> {
                match v {
                    "NaN" => Ok(JsonFloat(f64::NAN)),
                    "Infinity" => Ok(JsonFloat(f64::INFINITY)),
                    "-Infinity" => Ok(JsonFloat(f64::NEG_INFINITY)),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        deserializer.deserialize_any(FloatVisitor)
    }
}

/// The bare tokens written for non-finite floats (TensorFlow Serving's, and
/// Python's `json`).
const NON_FINITE: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];

/// `body` with every bare non-finite token outside strings quoted (so that
/// a JSON parser reads it, as a string float inputs accept); `None` when
/// there is none.
pub fn quote_non_finite(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut in_string = false;
    let mut changed = false;
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if in_string {
            let take = if c == b'\\' { 2 } else { 1 };
            in_string = c != b'"';
            out.extend_from_slice(&body[i..(i + take).min(body.len())]);
            i += take;
            continue;
        }
        if c == b'"' {
            in_string = true;
        } else if let Some(token) = NON_FINITE.iter().find(|t| body[i..].starts_with(t)) {
            out.push(b'"');
            out.extend_from_slice(token);
            out.push(b'"');
            i += token.len();
            changed = true;
            continue;
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

/// Reads floats, refusing finite values beyond the target type's range
/// (which would otherwise turn into infinity).
fn narrow_floats(
    raw: &RawValue,
    max: f64,
    dtype: DataType,
) -> Result<impl Iterator<Item = f64>, serde_json::Error> {
    let values: Vec<f64> = flatten::<JsonFloat>(raw)?
        .into_iter()
        .map(|f| f.0)
        .collect();
    if let Some(v) = values.iter().find(|v| v.is_finite() && v.abs() > max) {
        return Err(de::Error::custom(format!(
            "value {v} is out of range for {dtype}"
        )));
    }
    Ok(values.into_iter())
}

/// Decodes a JSON `data` value (flat or nested array) as elements of `dtype`.
pub fn decode(dtype: DataType, raw: &RawValue) -> Result<TensorData, serde_json::Error> {
    let bytes = match dtype {
        DataType::Bool => Bytes::from(
            flatten::<bool>(raw)?
                .into_iter()
                .map(u8::from)
                .collect::<Vec<_>>(),
        ),
        DataType::U8 => packed::<u8>(raw)?,
        DataType::U16 => packed::<u16>(raw)?,
        DataType::U32 => packed::<u32>(raw)?,
        DataType::U64 => packed::<u64>(raw)?,
        DataType::I8 => packed::<i8>(raw)?,
        DataType::I16 => packed::<i16>(raw)?,
        DataType::I32 => packed::<i32>(raw)?,
        DataType::I64 => packed::<i64>(raw)?,
        DataType::F16 => pack(narrow_floats(raw, f16::MAX.to_f64(), dtype)?.map(f16::from_f64)),
        DataType::BF16 => pack(narrow_floats(raw, bf16::MAX.to_f64(), dtype)?.map(bf16::from_f64)),
        DataType::F32 => pack(narrow_floats(raw, f64::from(f32::MAX), dtype)?.map(|v| v as f32)),
        DataType::F64 => pack(flatten::<JsonFloat>(raw)?.into_iter().map(|f| f.0)),
        DataType::Bytes => {
            return Ok(TensorData::Strings(
                flatten::<String>(raw)?
                    .into_iter()
                    .map(Bytes::from)
                    .collect(),
            ));
        }
    };
    Ok(TensorData::Raw(bytes))
}

/// A float as JSON; non-finite values as the `NaN` / `Infinity` / `-Infinity`
/// tokens TensorFlow Serving writes (Python's `json` reads them), never `null`.
fn write_float(out: &mut Vec<u8>, v: f64, buf: &mut ryu::Buffer) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        out.extend_from_slice(buf.format_finite(v).as_bytes());
    }
}

fn write_f32(out: &mut Vec<u8>, v: f32, buf: &mut ryu::Buffer) {
    if v.is_finite() {
        out.extend_from_slice(buf.format_finite(v).as_bytes());
    } else {
        write_float(out, f64::from(v), buf);
    }
}

/// Writes `items` as JSON lists nested by `shape` (a flat list when `shape`
/// has one dimension, a bare value when it has none).
fn write_nested<T>(
    out: &mut Vec<u8>,
    items: &mut impl Iterator<Item = T>,
    shape: &[usize],
    write: &mut impl FnMut(&mut Vec<u8>, T),
) {
    match shape.split_first() {
        None => match items.next() {
            Some(item) => write(out, item),
            None => out.extend_from_slice(b"null"),
        },
        Some((&len, inner)) => {
            out.push(b'[');
            for i in 0..len {
                if i > 0 {
                    out.push(b',');
                }
                write_nested(out, items, inner, write);
            }
            out.push(b']');
        }
    }
}

/// The element bytes of `range`, for a packed buffer of `T`.
fn slice<'a, T: Element>(bytes: &'a [u8], range: &Range<usize>) -> &'a [u8] {
    let end = (range.end * T::SIZE).min(bytes.len());
    &bytes[(range.start * T::SIZE).min(end)..end]
}

fn write_ints<T: Element + itoa::Integer>(
    out: &mut Vec<u8>,
    bytes: &[u8],
    range: &Range<usize>,
    shape: &[usize],
) {
    let mut buf = itoa::Buffer::new();
    let mut items = read_all::<T>(slice::<T>(bytes, range));
    write_nested(out, &mut items, shape, &mut |out, v| {
        out.extend_from_slice(buf.format(v).as_bytes())
    });
}

fn write_floats<T: Element>(
    out: &mut Vec<u8>,
    bytes: &[u8],
    range: &Range<usize>,
    shape: &[usize],
    to_f32: impl Fn(T) -> f32,
) {
    let mut buf = ryu::Buffer::new();
    let mut items = read_all::<T>(slice::<T>(bytes, range));
    write_nested(out, &mut items, shape, &mut |out, v| {
        write_f32(out, to_f32(v), &mut buf)
    });
}

/// Appends a tensor's elements to `out` as a flat JSON array.
pub fn write_json(out: &mut Vec<u8>, tensor: &Tensor) {
    let count = tensor.len();
    write_json_nested(out, tensor, 0..count, &[count]);
}

/// Appends the elements `range` of a tensor (row-major) to `out`, as JSON
/// lists nested by `shape` (whose product is the length of `range`).
pub fn write_json_nested(out: &mut Vec<u8>, tensor: &Tensor, range: Range<usize>, shape: &[usize]) {
    let bytes = match tensor.data() {
        TensorData::Strings(items) => {
            let end = range.end.min(items.len());
            let mut items = items[range.start.min(end)..end].iter();
            return write_nested(out, &mut items, shape, &mut |out, s| {
                // Writing a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(s));
            });
        }
        TensorData::Raw(bytes) => bytes,
    };
    match tensor.dtype() {
        DataType::Bool => {
            let end = range.end.min(bytes.len());
            let mut items = bytes[range.start.min(end)..end].iter();
            write_nested(out, &mut items, shape, &mut |out, b| {
                out.extend_from_slice(if *b != 0 { b"true" } else { b"false" })
            })
        }
        DataType::U8 => write_ints::<u8>(out, bytes, &range, shape),
        DataType::U16 => write_ints::<u16>(out, bytes, &range, shape),
        DataType::U32 => write_ints::<u32>(out, bytes, &range, shape),
        DataType::U64 => write_ints::<u64>(out, bytes, &range, shape),
        DataType::I8 => write_ints::<i8>(out, bytes, &range, shape),
        DataType::I16 => write_ints::<i16>(out, bytes, &range, shape),
        DataType::I32 => write_ints::<i32>(out, bytes, &range, shape),
        DataType::I64 => write_ints::<i64>(out, bytes, &range, shape),
        DataType::F16 => write_floats::<f16>(out, bytes, &range, shape, f16::to_f32),
        DataType::BF16 => write_floats::<bf16>(out, bytes, &range, shape, bf16::to_f32),
        DataType::F32 => write_floats::<f32>(out, bytes, &range, shape, |v| v),
        DataType::F64 => {
            let mut buf = ryu::Buffer::new();
            let mut items = read_all::<f64>(slice::<f64>(bytes, &range));
            write_nested(out, &mut items, shape, &mut |out, v| {
                write_float(out, v, &mut buf)
            })
        }
        DataType::Bytes => write_nested(out, &mut std::iter::empty::<u8>(), &[0], &mut |_, _| {}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn nested_and_flat_arrays_decode_alike() {
        let flat = decode(DataType::F32, &raw("[1, 2.5, 3, 4]")).unwrap();
        let nested = decode(DataType::F32, &raw("[[1, 2.5], [3, 4]]")).unwrap();
        assert_eq!(flat, nested);
        assert_eq!(flat, TensorData::Raw(pack([1.0f32, 2.5, 3.0, 4.0])));
    }

    #[test]
    fn types_and_ranges_are_checked() {
        assert!(decode(DataType::U8, &raw("[1, 256]")).is_err());
        assert!(decode(DataType::I32, &raw("[1.5]")).is_err());
        assert!(decode(DataType::Bool, &raw("[1]")).is_err());
        assert!(decode(DataType::F32, &raw("[\"x\"]")).is_err());
        assert_eq!(
            decode(DataType::Bool, &raw("[true, false]")).unwrap(),
            TensorData::Raw(Bytes::from_static(&[1, 0]))
        );
        assert_eq!(
            decode(DataType::Bytes, &raw("[\"ab\", \"\"]")).unwrap(),
            TensorData::Strings(vec![Bytes::from_static(b"ab"), Bytes::new()])
        );
    }

    fn json(t: &Tensor) -> String {
        let mut out = Vec::new();
        write_json(&mut out, t);
        String::from_utf8(out).unwrap()
    }

    fn tensor<T: Element>(dtype: DataType, values: Vec<T>) -> Tensor {
        Tensor::new(dtype, vec![values.len()], TensorData::Raw(pack(values))).unwrap()
    }

    #[test]
    fn tensors_serialize_flat() {
        assert_eq!(json(&tensor(DataType::I16, vec![-3i16, 7])), "[-3,7]");
        assert_eq!(
            json(&tensor(DataType::F16, vec![f16::from_f32(0.5)])),
            "[0.5]"
        );
        let floats = vec![1.0f32, f32::NAN, f32::INFINITY, -f32::INFINITY];
        assert_eq!(
            json(&tensor(DataType::F32, floats)),
            "[1.0,NaN,Infinity,-Infinity]"
        );
        assert_eq!(json(&tensor(DataType::Bool, vec![1u8, 0])), "[true,false]");
        let s = Tensor::new(
            DataType::Bytes,
            vec![1],
            TensorData::Strings(vec![Bytes::from_static(b"a\"q")]),
        )
        .unwrap();
        assert_eq!(json(&s), r#"["a\"q"]"#);
    }

    #[test]
    fn floats_out_of_range_are_refused() {
        assert!(decode(DataType::F32, &raw("[1e40]")).is_err());
        assert!(decode(DataType::F16, &raw("[70000]")).is_err());
        assert!(decode(DataType::F32, &raw("[3.4e38, -1e-50]")).is_ok());
    }
}
