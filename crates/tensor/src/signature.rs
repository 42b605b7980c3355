use std::fmt;

use crate::DataType;

/// One dimension of a model input or output as the model declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Exactly this many elements.
    Fixed(u64),
    /// Any size (reported as `-1`).
    Any,
    /// Any size within `min..=max` (reported as `-1`).
    Range(u64, u64),
}

impl Dim {
    /// Whether a request dimension of `size` is accepted.
    pub fn accepts(self, size: u64) -> bool {
        match self {
            Dim::Fixed(n) => n == size,
            Dim::Any => true,
            Dim::Range(lo, hi) => (lo..=hi).contains(&size),
        }
    }

    /// The protocol's number for this dimension: the size, or `-1` when not fixed.
    pub fn as_i64(self) -> i64 {
        match self {
            Dim::Fixed(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Dim::Any | Dim::Range(..) => -1,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Any => f.write_str("-1"),
            Dim::Range(lo, hi) => write!(f, "{lo}:{hi}"),
        }
    }
}

/// Formats a shape as OVMS writes it in messages: `(1,3,224,224)`.
pub fn format_shape<T: fmt::Display>(dims: &[T]) -> String {
    let inner: Vec<String> = dims.iter().map(ToString::to_string).collect();
    format!("({})", inner.join(","))
}

/// Name, element type and shape of one model input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Tensor name as clients address it.
    pub name: String,
    /// Element type.
    pub dtype: DataType,
    /// Declared dimensions.
    pub shape: Vec<Dim>,
}

impl TensorSpec {
    /// A spec with this name, type and shape.
    pub fn new(name: impl Into<String>, dtype: DataType, shape: Vec<Dim>) -> Self {
        TensorSpec {
            name: name.into(),
            dtype,
            shape,
        }
    }

    /// The shape as protocol numbers (`-1` for dynamic dimensions).
    pub fn shape_i64(&self) -> Vec<i64> {
        self.shape.iter().map(|d| d.as_i64()).collect()
    }
}

/// The inputs and outputs of a loaded model, in the model's own order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signature {
    /// Inputs in the order the backend expects them.
    pub inputs: Vec<TensorSpec>,
    /// Outputs in the order the backend produces them.
    pub outputs: Vec<TensorSpec>,
}

impl Signature {
    /// Position of the input called `name`.
    pub fn input_index(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|t| t.name == name)
    }

    /// Position of the output called `name`.
    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_accept_and_print() {
        assert!(Dim::Fixed(3).accepts(3));
        assert!(!Dim::Fixed(3).accepts(4));
        assert!(Dim::Any.accepts(1_000_000));
        assert!(Dim::Range(1, 8).accepts(8));
        assert!(!Dim::Range(1, 8).accepts(9));
        assert_eq!(
            format_shape(&[Dim::Any, Dim::Fixed(16), Dim::Range(2, 4)]),
            "(-1,16,2:4)"
        );
        assert_eq!(Dim::Range(2, 4).as_i64(), -1);
    }
}
