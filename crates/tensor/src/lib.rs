//! Tensors as inferd passes them between layers: a data type, a shape and
//! little-endian bytes (or a list of byte strings for `BYTES`), with no I/O.

mod dtype;
mod signature;
mod tensor;

pub use dtype::DataType;
pub use signature::{Dim, Signature, TensorSpec, format_shape};
pub use tensor::{Tensor, TensorData, TensorError, element_count};
