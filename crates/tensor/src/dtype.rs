use std::fmt;

/// Element type of a tensor, named as the KServe v2 protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOL`, one byte per element (0 or 1).
    Bool,
    /// `UINT8`.
    U8,
    /// `UINT16`.
    U16,
    /// `UINT32`.
    U32,
    /// `UINT64`.
    U64,
    /// `INT8`.
    I8,
    /// `INT16`.
    I16,
    /// `INT32`.
    I32,
    /// `INT64`.
    I64,
    /// `FP16` (IEEE half).
    F16,
    /// `FP32`.
    F32,
    /// `FP64`.
    F64,
    /// `BF16` (bfloat16).
    BF16,
    /// `BYTES`: each element is a byte string of its own length.
    Bytes,
}

impl DataType {
    /// Every data type, in the order the protocol lists them.
    pub const ALL: [DataType; 14] = [
        DataType::Bool,
        DataType::U8,
        DataType::U16,
        DataType::U32,
        DataType::U64,
        DataType::I8,
        DataType::I16,
        DataType::I32,
        DataType::I64,
        DataType::F16,
        DataType::F32,
        DataType::F64,
        DataType::BF16,
        DataType::Bytes,
    ];

    /// The KServe v2 name (`FP32`, `INT64`, `BYTES`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DataType::Bool => "BOOL",
            DataType::U8 => "UINT8",
            DataType::U16 => "UINT16",
            DataType::U32 => "UINT32",
            DataType::U64 => "UINT64",
            DataType::I8 => "INT8",
            DataType::I16 => "INT16",
            DataType::I32 => "INT32",
            DataType::I64 => "INT64",
            DataType::F16 => "FP16",
            DataType::F32 => "FP32",
            DataType::F64 => "FP64",
            DataType::BF16 => "BF16",
            DataType::Bytes => "BYTES",
        }
    }

    /// Parses a KServe v2 name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|dt| dt.name() == name)
    }

    /// The TensorFlow name (`DT_FLOAT`, `DT_STRING`, ...).
    pub fn tf_name(self) -> &'static str {
        match self {
            DataType::Bool => "DT_BOOL",
            DataType::U8 => "DT_UINT8",
            DataType::U16 => "DT_UINT16",
            DataType::U32 => "DT_UINT32",
            DataType::U64 => "DT_UINT64",
            DataType::I8 => "DT_INT8",
            DataType::I16 => "DT_INT16",
            DataType::I32 => "DT_INT32",
            DataType::I64 => "DT_INT64",
            DataType::F16 => "DT_HALF",
            DataType::F32 => "DT_FLOAT",
            DataType::F64 => "DT_DOUBLE",
            DataType::BF16 => "DT_BFLOAT16",
            DataType::Bytes => "DT_STRING",
        }
    }

    /// Bytes per element, or `None` for `BYTES` whose elements vary in length.
    pub fn size_bytes(self) -> Option<usize> {
        Some(match self {
            DataType::Bool | DataType::U8 | DataType::I8 => 1,
            DataType::U16 | DataType::I16 | DataType::F16 | DataType::BF16 => 2,
            DataType::U32 | DataType::I32 | DataType::F32 => 4,
            DataType::U64 | DataType::I64 | DataType::F64 => 8,
            DataType::Bytes => return None,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for dt in DataType::ALL {
            assert_eq!(DataType::from_name(dt.name()), Some(dt));
        }
        assert_eq!(DataType::from_name("FP99"), None);
        assert_eq!(DataType::from_name("fp32"), None);
        assert_eq!(DataType::F32.tf_name(), "DT_FLOAT");
        assert_eq!(DataType::Bytes.tf_name(), "DT_STRING");
    }

    #[test]
    fn sizes() {
        assert_eq!(DataType::F32.size_bytes(), Some(4));
        assert_eq!(DataType::BF16.size_bytes(), Some(2));
        assert_eq!(DataType::Bool.size_bytes(), Some(1));
        assert_eq!(DataType::Bytes.size_bytes(), None);
    }
}
