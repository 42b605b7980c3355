//! Example custom node in Rust, built as a C library with OVMS's custom node
//! ABI (see `examples/custom_nodes/include/custom_node_interface.h`), in the
//! "argmax + crop" style of a demultiplexing node: input `scores` (FP32,
//! [N, C]) -> outputs `label` (I64, [N, 1]: the index of each row's largest
//! score) and `row` (FP32, [N, 1, C]: each row on its own, so that
//! `demultiply_count` hands one [1, C] row to each branch). Memory handed to
//! the server comes from `malloc` and goes back through `release` (`free`).

#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};

const FP32: c_int = 1;
const I64: c_int = 9;

/// The ABI's tensor.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct CustomNodeTensor {
    name: *const c_char,
    data: *mut u8,
    data_bytes: u64,
    dims: *mut u64,
    dims_count: u64,
    precision: c_int,
}

/// The ABI's tensor description.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct CustomNodeTensorInfo {
    name: *const c_char,
    dims: *mut u64,
    dims_count: u64,
    precision: c_int,
}

/// The ABI's parameter.
#[repr(C)]
pub struct CustomNodeParam {
    key: *const c_char,
    value: *const c_char,
}

const SCORES: &[u8] = b"scores\0";
const LABEL: &[u8] = b"label\0";
const ROW: &[u8] = b"row\0";

/// Copies `values` into memory from `malloc` (null if that fails).
fn malloc_copy<T: Copy>(values: &[T]) -> *mut T {
    let bytes = std::mem::size_of_val(values).max(1);
    // SAFETY: a fresh allocation of `bytes`, filled before it is returned.
    unsafe {
        let ptr = libc::malloc(bytes).cast::<T>();
        if !ptr.is_null() {
            std::ptr::copy_nonoverlapping(values.as_ptr(), ptr, values.len());
        }
        ptr
    }
}

/// No state.
///
/// # Safety
/// Called by the server with a valid `state` pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn initialize(
    state: *mut *mut c_void,
    _params: *const CustomNodeParam,
    _params_count: c_int,
) -> c_int {
    // SAFETY: the server passes a valid out-pointer.
    unsafe { *state = std::ptr::null_mut() };
    0
}

/// Nothing to free.
#[unsafe(no_mangle)]
pub extern "C" fn deinitialize(_state: *mut c_void) -> c_int {
    0
}

/// Descriptions of `tensors`: (name, dims, precision).
///
/// # Safety
/// `info` and `count` are valid out-pointers.
unsafe fn describe(
    info: *mut *mut CustomNodeTensorInfo,
    count: *mut c_int,
    tensors: &[(&'static [u8], &[u64], c_int)],
) -> c_int {
    let entries: Vec<CustomNodeTensorInfo> = tensors
        .iter()
        .map(|(name, dims, precision)| CustomNodeTensorInfo {
            name: name.as_ptr().cast(),
            dims: malloc_copy(dims),
            dims_count: dims.len() as u64,
            precision: *precision,
        })
        .collect();
    let array = malloc_copy(&entries);
    if array.is_null() || entries.iter().any(|e| e.dims.is_null()) {
        return 1;
    }
    // SAFETY: valid out-pointers (caller's contract).
    unsafe {
        *info = array;
        *count = entries.len() as c_int;
    }
    0
}

/// `scores`: FP32 [any, any].
///
/// # Safety
/// Called by the server with valid out-pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getInputsInfo(
    info: *mut *mut CustomNodeTensorInfo,
    count: *mut c_int,
    _params: *const CustomNodeParam,
    _params_count: c_int,
    _state: *mut c_void,
) -> c_int {
    // SAFETY: forwarded out-pointers.
    unsafe { describe(info, count, &[(SCORES, &[0, 0], FP32)]) }
}

/// `label`: I64 [any, 1]; `row`: FP32 [any, 1, any].
///
/// # Safety
/// Called by the server with valid out-pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getOutputsInfo(
    info: *mut *mut CustomNodeTensorInfo,
    count: *mut c_int,
    _params: *const CustomNodeParam,
    _params_count: c_int,
    _state: *mut c_void,
) -> c_int {
    // SAFETY: forwarded out-pointers.
    unsafe {
        describe(
            info,
            count,
            &[(LABEL, &[0, 1], I64), (ROW, &[0, 1, 0], FP32)],
        )
    }
}

/// Argmax of each row of `scores`.
///
/// # Safety
/// Called by the server with `inputs_count` valid inputs and valid out-pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn execute(
    inputs: *const CustomNodeTensor,
    inputs_count: c_int,
    outputs: *mut *mut CustomNodeTensor,
    outputs_count: *mut c_int,
    _params: *const CustomNodeParam,
    _params_count: c_int,
    _state: *mut c_void,
) -> c_int {
    if inputs.is_null() || inputs_count != 1 {
        return 1;
    }
    // SAFETY: one valid input (checked count).
    let scores = unsafe { &*inputs };
    if scores.precision != FP32 || scores.dims_count != 2 || scores.dims.is_null() {
        return 2;
    }
    // SAFETY: two dims, as declared.
    let (rows, columns) = unsafe { (*scores.dims as usize, *scores.dims.add(1) as usize) };
    if rows * columns * 4 != scores.data_bytes as usize || (columns == 0 && rows > 0) {
        return 3;
    }
    // SAFETY: `data_bytes` bytes of FP32 values (checked above).
    let values = unsafe { std::slice::from_raw_parts(scores.data.cast::<f32>(), rows * columns) };
    let labels: Vec<i64> = values
        .chunks(columns.max(1))
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best as i64
        })
        .collect();
    let produced = [
        CustomNodeTensor {
            name: LABEL.as_ptr().cast(),
            data: malloc_copy(&labels).cast(),
            data_bytes: (labels.len() * 8) as u64,
            dims: malloc_copy(&[rows as u64, 1]),
            dims_count: 2,
            precision: I64,
        },
        CustomNodeTensor {
            name: ROW.as_ptr().cast(),
            data: malloc_copy(values).cast(),
            data_bytes: scores.data_bytes,
            dims: malloc_copy(&[rows as u64, 1, columns as u64]),
            dims_count: 3,
            precision: FP32,
        },
    ];
    let array = malloc_copy(&produced);
    if array.is_null()
        || produced
            .iter()
            .any(|t| t.data.is_null() || t.dims.is_null())
    {
        return 4;
    }
    // SAFETY: valid out-pointers.
    unsafe {
        *outputs = array;
        *outputs_count = produced.len() as c_int;
    }
    0
}

/// Frees what this library handed out.
///
/// # Safety
/// `ptr` came from this library's `malloc` and is released once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn release(ptr: *mut c_void, _state: *mut c_void) -> c_int {
    // SAFETY: the caller's contract.
    unsafe { libc::free(ptr) };
    0
}
