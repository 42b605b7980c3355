use bytes::{BufMut, Bytes, BytesMut};

use crate::DataType;

/// Why a tensor could not be built from the given parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    /// Raw content length does not match shape × element size.
    #[error("Invalid content size - Expected: {expected} bytes; Actual: {actual} bytes")]
    ByteSize {
        /// Bytes the shape calls for.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// Number of elements does not match the shape.
    #[error("Invalid number of values - Expected: {expected}; Actual: {actual}")]
    ElementCount {
        /// Elements the shape calls for.
        expected: usize,
        /// Elements received.
        actual: usize,
    },
    /// The shape's element count does not fit in memory.
    #[error("shape is too large")]
    ShapeOverflow,
    /// A `BYTES` buffer is not a sequence of 4-byte-length-prefixed strings.
    #[error("malformed BYTES content: {0}")]
    BytesEncoding(&'static str),
    /// Raw content given for `BYTES`, or strings for a numeric type.
    #[error("content kind does not match data type {0}")]
    ContentKind(DataType),
}

/// Element storage of a tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorData {
    /// Fixed-size elements, little-endian, row-major, packed.
    Raw(Bytes),
    /// One byte string per element (`BYTES`).
    Strings(Vec<Bytes>),
}

impl TensorData {
    /// Content from its wire form: packed little-endian elements, or for
    /// `BYTES` a run of (4-byte little-endian length, bytes) pairs. No copy.
    pub fn from_wire(dtype: DataType, wire: Bytes) -> Result<Self, TensorError> {
        if dtype == DataType::Bytes {
            Ok(TensorData::Strings(split_length_prefixed(wire)?))
        } else {
            Ok(TensorData::Raw(wire))
        }
    }
}

/// A typed, shaped tensor whose content always matches its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    dtype: DataType,
    shape: Vec<usize>,
    data: TensorData,
}

/// Product of the dimensions, or `None` on overflow.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Tensor {
    /// Builds a tensor, checking that `data` holds exactly what `shape` calls for.
    pub fn new(dtype: DataType, shape: Vec<usize>, data: TensorData) -> Result<Self, TensorError> {
        let count = element_count(&shape).ok_or(TensorError::ShapeOverflow)?;
        match (&data, dtype.size_bytes()) {
            (TensorData::Raw(bytes), Some(size)) => {
                let expected = count.checked_mul(size).ok_or(TensorError::ShapeOverflow)?;
                if bytes.len() != expected {
                    return Err(TensorError::ByteSize {
                        expected,
                        actual: bytes.len(),
                    });
                }
            }
            (TensorData::Strings(items), None) => {
                if items.len() != count {
                    return Err(TensorError::ElementCount {
                        expected: count,
                        actual: items.len(),
                    });
                }
            }
            _ => return Err(TensorError::ContentKind(dtype)),
        }
        Ok(Tensor { dtype, shape, data })
    }

    /// Builds a tensor from its wire form: packed little-endian elements, or for
    /// `BYTES` a run of (4-byte little-endian length, bytes) pairs.
    pub fn from_wire(dtype: DataType, shape: Vec<usize>, wire: Bytes) -> Result<Self, TensorError> {
        Tensor::new(dtype, shape, TensorData::from_wire(dtype, wire)?)
    }

    /// Element type.
    pub fn dtype(&self) -> DataType {
        self.dtype
    }

    /// Dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Content.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::Raw(bytes) => bytes.len() / self.dtype.size_bytes().unwrap_or(1),
            TensorData::Strings(items) => items.len(),
        }
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The wire form (see [`Tensor::from_wire`]); free for fixed-size types.
    pub fn to_wire(&self) -> Bytes {
        match &self.data {
            TensorData::Raw(bytes) => bytes.clone(),
            TensorData::Strings(items) => {
                let total = items.iter().map(|s| s.len() + 4).sum();
                let mut out = BytesMut::with_capacity(total);
                for item in items {
                    // Elements longer than 4 GiB cannot be framed; they cannot
                    // arrive either, as request bodies are capped well below that.
                    out.put_u32_le(u32::try_from(item.len()).unwrap_or(u32::MAX));
                    out.put_slice(item);
                }
                out.freeze()
            }
        }
    }
}

fn split_length_prefixed(mut wire: Bytes) -> Result<Vec<Bytes>, TensorError> {
    let mut items = Vec::new();
    while !wire.is_empty() {
        if wire.len() < 4 {
            return Err(TensorError::BytesEncoding("truncated length prefix"));
        }
        let len = u32::from_le_bytes([wire[0], wire[1], wire[2], wire[3]]) as usize;
        if wire.len() - 4 < len {
            return Err(TensorError::BytesEncoding(
                "element longer than the remaining content",
            ));
        }
        let _ = wire.split_to(4);
        items.push(wire.split_to(len));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_size_is_checked() {
        let ok = Tensor::new(
            DataType::F32,
            vec![2, 2],
            TensorData::Raw(Bytes::from(vec![0u8; 16])),
        );
        assert!(ok.is_ok());
        let short = Tensor::new(
            DataType::F32,
            vec![2, 2],
            TensorData::Raw(Bytes::from(vec![0u8; 12])),
        );
        assert_eq!(
            short,
            Err(TensorError::ByteSize {
                expected: 16,
                actual: 12
            })
        );
    }

    #[test]
    fn strings_count_is_checked() {
        let items = vec![Bytes::from_static(b"a")];
        let err = Tensor::new(DataType::Bytes, vec![2], TensorData::Strings(items));
        assert_eq!(
            err,
            Err(TensorError::ElementCount {
                expected: 2,
                actual: 1
            })
        );
    }

    #[test]
    fn kind_must_match_dtype() {
        let err = Tensor::new(
            DataType::Bytes,
            vec![1],
            TensorData::Raw(Bytes::from_static(b"x")),
        );
        assert_eq!(err, Err(TensorError::ContentKind(DataType::Bytes)));
    }

    #[test]
    fn bytes_wire_round_trip() {
        let items = vec![
            Bytes::from_static(b"hello"),
            Bytes::new(),
            Bytes::from_static(b"\x00\xff"),
        ];
        let t = Tensor::new(DataType::Bytes, vec![3], TensorData::Strings(items.clone())).unwrap();
        let wire = t.to_wire();
        assert_eq!(wire.len(), 4 * 3 + 5 + 2);
        let back = Tensor::from_wire(DataType::Bytes, vec![3], wire).unwrap();
        assert_eq!(back.data(), &TensorData::Strings(items));
    }

    #[test]
    fn malformed_bytes_wire_is_refused() {
        let err = Tensor::from_wire(
            DataType::Bytes,
            vec![1],
            Bytes::from_static(&[9, 0, 0, 0, 1]),
        );
        assert!(matches!(err, Err(TensorError::BytesEncoding(_))));
        let err = Tensor::from_wire(DataType::Bytes, vec![1], Bytes::from_static(&[1, 0]));
        assert!(matches!(err, Err(TensorError::BytesEncoding(_))));
    }

    #[test]
    fn overflow_is_refused() {
        let err = Tensor::new(
            DataType::F32,
            vec![usize::MAX, 4],
            TensorData::Raw(Bytes::new()),
        );
        assert_eq!(err, Err(TensorError::ShapeOverflow));
    }
}
