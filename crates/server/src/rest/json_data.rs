//! KServe JSON `data` arrays ⇄ tensor content, without an intermediate `Value` tree.

use std::fmt;


use bytes::Bytes;
use half::{bf16, f16};
use inferd_tensor::{DataType, Tensor, TensorData};
use serde::de::{DeserializeSeed, IntoDeserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
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

fn packed<T: Element + for<'de> Deserialize<'de>>(raw: &RawValue) -> Result<Bytes, serde_json::Error> {
    flatten::<T>(raw).map(pack)
}

/// Decodes a JSON `data` value (flat or nested array) as elements of `dtype`.
pub fn decode(dtype: DataType, raw: &RawValue) -> Result<TensorData, serde_json::Error> {
    let bytes = match dtype {
        DataType::Bool => Bytes::from(flatten::<bool>(raw)?.into_iter().map(u8::from).collect::<Vec<_>>()),
        DataType::U8 => packed::<u8>(raw)?,
        DataType::U16 => packed::<u16>(raw)?,
        DataType::U32 => packed::<u32>(raw)?,
        DataType::U64 => packed::<u64>(raw)?,
        DataType::I8 => packed::<i8>(raw)?,
        DataType::I16 => packed::<i16>(raw)?,
        DataType::I32 => packed::<i32>(raw)?,
        DataType::I64 => packed::<i64>(raw)?,
        DataType::F16 => pack(flatten::<f32>(raw)?.into_iter().map(f16::from_f32)),
        DataType::BF16 => pack(flatten::<f32>(raw)?.into_iter().map(bf16::from_f32)),
        DataType::F32 => packed::<f32>(raw)?,
        DataType::F64 => packed::<f64>(raw)?,
        DataType::Bytes => {
            return Ok(TensorData::Strings(flatten::<String>(raw)?.into_iter().map(Bytes::from).collect()));
        }
    };
    Ok(TensorData::Raw(bytes))
}

/// Serializes a tensor's elements as a flat JSON array.
pub struct JsonData<'a>(pub &'a Tensor);

fn seq<S: Serializer, T: Element, U: Serialize>(s: S, bytes: &[u8], map: impl Fn(T) -> U) -> Result<S::Ok, S::Error> {
    s.collect_seq(read_all::<T>(bytes).map(map))
}

impl Serialize for JsonData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = match self.0.data() {
            TensorData::Strings(items) => return s.collect_seq(items.iter().map(|b| String::from_utf8_lossy(b))),
            TensorData::Raw(bytes) => bytes,
        };
        match self.0.dtype() {
            DataType::Bool => s.collect_seq(bytes.iter().map(|b| *b != 0)),
            DataType::U8 => s.collect_seq(bytes.iter()),
            DataType::U16 => seq(s, bytes, |v: u16| v),
            DataType::U32 => seq(s, bytes, |v: u32| v),
            DataType::U64 => seq(s, bytes, |v: u64| v),
            DataType::I8 => seq(s, bytes, |v: i8| v),
            DataType::I16 => seq(s, bytes, |v: i16| v),
            DataType::I32 => seq(s, bytes, |v: i32| v),
            DataType::I64 => seq(s, bytes, |v: i64| v),
            DataType::F16 => seq(s, bytes, |v: f16| v.to_f32()),
            DataType::BF16 => seq(s, bytes, |v: bf16| v.to_f32()),
            DataType::F32 => seq(s, bytes, |v: f32| v),
            DataType::F64 => seq(s, bytes, |v: f64| v),
            DataType::Bytes => s.collect_seq(std::iter::empty::<u8>()),
        }
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
        assert_eq!(decode(DataType::Bool, &raw("[true, false]")).unwrap(), TensorData::Raw(Bytes::from_static(&[1, 0])));
        assert_eq!(
            decode(DataType::Bytes, &raw("[\"ab\", \"\"]")).unwrap(),
            TensorData::Strings(vec![Bytes::from_static(b"ab"), Bytes::new()])
        );
    }

    #[test]
    fn tensors_serialize_flat() {
        let t = Tensor::new(DataType::I16, vec![2, 1], TensorData::Raw(pack([-3i16, 7]))).unwrap();
        assert_eq!(serde_json::to_string(&JsonData(&t)).unwrap(), "[-3,7]");
        let h = Tensor::new(DataType::F16, vec![1], TensorData::Raw(pack([f16::from_f32(0.5)]))).unwrap();
        assert_eq!(serde_json::to_string(&JsonData(&h)).unwrap(), "[0.5]");
    }
}
