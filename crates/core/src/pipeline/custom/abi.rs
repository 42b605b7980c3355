//! OVMS's custom node C ABI, written from its documented layout: the
//! tensor, tensor-info and parameter structs (field order and types), the
//! precision enum's values, and the six functions a library exports. A
//! library compiled against OVMS's header loads unchanged.

use std::ffi::{c_char, c_int, c_void};

use inferd_tensor::DataType;

/// `CustomNodeTensorPrecision` (a C enum: an `int`).
pub type Precision = c_int;

/// One tensor passed to or returned by `execute`.
#[repr(C)]
pub struct CustomNodeTensor {
    pub name: *const c_char,
    pub data: *mut u8,
    pub data_bytes: u64,
    pub dims: *mut u64,
    pub dims_count: u64,
    pub precision: Precision,
}

/// One input or output as `getInputsInfo` / `getOutputsInfo` describe it.
#[repr(C)]
pub struct CustomNodeTensorInfo {
    pub name: *const c_char,
    pub dims: *mut u64,
    pub dims_count: u64,
    pub precision: Precision,
}

/// One `params` entry of the node's config.
#[repr(C)]
pub struct CustomNodeParam {
    pub key: *const c_char,
    pub value: *const c_char,
}

/// `int execute(inputs, inputsCount, &outputs, &outputsCount, params, paramsCount, manager)`.
pub type ExecuteFn = unsafe extern "C" fn(
    *const CustomNodeTensor,
    c_int,
    *mut *mut CustomNodeTensor,
    *mut c_int,
    *const CustomNodeParam,
    c_int,
    *mut c_void,
) -> c_int;

/// `int getInputsInfo(&info, &infoCount, params, paramsCount, manager)`, and `getOutputsInfo`.
pub type InfoFn = unsafe extern "C" fn(
    *mut *mut CustomNodeTensorInfo,
    *mut c_int,
    *const CustomNodeParam,
    c_int,
    *mut c_void,
) -> c_int;

/// `int release(ptr, manager)`: frees memory the library handed out.
pub type ReleaseFn = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;

/// `int initialize(&manager, params, paramsCount)`.
pub type InitializeFn =
    unsafe extern "C" fn(*mut *mut c_void, *const CustomNodeParam, c_int) -> c_int;

/// `int deinitialize(manager)`.
pub type DeinitializeFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// The enum's values, in its order: UNSPECIFIED, FP32, FP16, U8, I8, I16,
/// U16, I32, FP64, I64.
const PRECISIONS: [Option<DataType>; 10] = [
    None,
    Some(DataType::F32),
    Some(DataType::F16),
    Some(DataType::U8),
    Some(DataType::I8),
    Some(DataType::I16),
    Some(DataType::U16),
    Some(DataType::I32),
    Some(DataType::F64),
    Some(DataType::I64),
];

/// The data type of a precision value; `None` for UNSPECIFIED or unknown.
pub fn data_type(precision: Precision) -> Option<DataType> {
    usize::try_from(precision)
        .ok()
        .and_then(|i| PRECISIONS.get(i).copied().flatten())
}

/// The precision value of a data type; `None` for types the ABI lacks.
pub fn precision(dtype: DataType) -> Option<Precision> {
    PRECISIONS
        .iter()
        .position(|p| *p == Some(dtype))
        .and_then(|i| Precision::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_and_precisions_match_the_c_abi() {
        // Pointers and u64s are 8 bytes on the 64-bit targets inferd builds
        // for; the enum is an int, padded to the struct's 8-byte alignment.
        assert_eq!(std::mem::size_of::<CustomNodeTensor>(), 48);
        assert_eq!(std::mem::size_of::<CustomNodeTensorInfo>(), 32);
        assert_eq!(std::mem::size_of::<CustomNodeParam>(), 16);
        assert_eq!(data_type(1), Some(DataType::F32));
        assert_eq!(data_type(9), Some(DataType::I64));
        assert_eq!(data_type(0), None);
        assert_eq!(data_type(10), None);
        assert_eq!(precision(DataType::U8), Some(3));
        assert_eq!(precision(DataType::Bool), None);
    }
}
