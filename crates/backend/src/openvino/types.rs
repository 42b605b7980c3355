//! OpenVINO element types and dimensions as inferd's data types and dims.

use inferd_tensor::{DataType, Dim};

use super::ffi::{Dimension, ElementType};
use crate::BackendError;

/// OpenVINO's element type number for strings.
pub const STRING: ElementType = 23;

/// An inferd dimension as an OpenVINO interval (-1: unbounded / dynamic).
pub fn dimension(d: Dim) -> Result<Dimension, BackendError> {
    let value = |n: u64| {
        i64::try_from(n)
            .map_err(|_| BackendError::Load(format!("dimension {n} is too large for OpenVINO")))
    };
    Ok(match d {
        Dim::Fixed(n) => Dimension {
            min: value(n)?,
            max: value(n)?,
        },
        Dim::Any => Dimension { min: -1, max: -1 },
        Dim::Range(lo, hi) => Dimension {
            min: value(lo)?,
            max: if hi == u64::MAX { -1 } else { value(hi)? },
        },
    })
}

/// An OpenVINO interval as an inferd dimension.
pub fn dim(d: Dimension) -> Dim {
    let lo = u64::try_from(d.min).unwrap_or(0);
    match u64::try_from(d.max) {
        Ok(hi) if d.min == d.max => Dim::Fixed(hi),
        Ok(hi) => Dim::Range(lo, hi),
        Err(_) if lo == 0 => Dim::Any,
        Err(_) => Dim::Range(lo, u64::MAX),
    }
}

/// OpenVINO element type numbers (2025.1+) and the protocol types they carry.
const TYPES: [(ElementType, DataType); 13] = [
    (1, DataType::Bool),
    (2, DataType::BF16),
    (3, DataType::F16),
    (4, DataType::F32),
    (5, DataType::F64),
    (7, DataType::I8),
    (8, DataType::I16),
    (9, DataType::I32),
    (10, DataType::I64),
    (16, DataType::U8),
    (17, DataType::U16),
    (18, DataType::U32),
    (19, DataType::U64),
];

pub fn data_type(element_type: ElementType) -> Option<DataType> {
    TYPES
        .iter()
        .find(|(e, _)| *e == element_type)
        .map(|(_, d)| *d)
}

pub fn element_type(dtype: DataType) -> ElementType {
    TYPES
        .iter()
        .find(|(_, d)| *d == dtype)
        .map_or(0, |(e, _)| *e)
}

pub fn type_name(element_type: ElementType) -> String {
    const OTHERS: [(ElementType, &str); 13] = [
        (0, "dynamic"),
        (6, "i4"),
        (11, "u1"),
        (12, "u2"),
        (13, "u3"),
        (14, "u4"),
        (15, "u6"),
        (20, "nf4"),
        (21, "f8e4m3"),
        (22, "f8e5m2"),
        (STRING, "string"),
        (24, "f4e2m1"),
        (25, "f8e8m0"),
    ];
    OTHERS
        .iter()
        .find(|(e, _)| *e == element_type)
        .map_or_else(|| format!("#{element_type}"), |(_, n)| (*n).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_convert_both_ways() {
        for d in [
            Dim::Fixed(0),
            Dim::Fixed(7),
            Dim::Any,
            Dim::Range(1, 8),
            Dim::Range(3, u64::MAX),
        ] {
            assert_eq!(dim(dimension(d).unwrap()), d);
        }
        // How OpenVINO reports a fully dynamic dimension.
        assert_eq!(dim(Dimension { min: 0, max: -1 }), Dim::Any);
        assert!(dimension(Dim::Fixed(u64::MAX)).is_err());
    }

    #[test]
    fn element_types_map_to_protocol_types() {
        for (element, dtype) in TYPES {
            assert_eq!(data_type(element), Some(dtype));
            assert_eq!(element_type(dtype), element);
        }
        assert_eq!(data_type(STRING), None);
        assert_eq!(type_name(STRING), "string");
        assert_eq!(type_name(99), "#99");
    }
}
