//! `ov_tensor_t`: creating input tensors from request bytes and reading
//! outputs back (fixed-size element types only; see `load.rs` on strings).

#![allow(unsafe_code)]

use std::ffi::c_void;

use bytes::Bytes;

use super::ffi::{self, Api, ElementType};
use super::ov::check;

/// An owned OpenVINO tensor.
pub struct Tensor {
    api: &'static Api,
    ptr: *mut ffi::Tensor,
}

impl Tensor {
    /// Takes ownership of a handle an OpenVINO call returned.
    pub fn from_raw(api: &'static Api, ptr: *mut ffi::Tensor) -> Result<Tensor, String> {
        if ptr.is_null() {
            return Err("OpenVINO returned no tensor".into());
        }
        Ok(Tensor { api, ptr })
    }

    pub fn as_ptr(&self) -> *const ffi::Tensor {
        self.ptr
    }

    /// A zero-filled tensor of a fixed-size element type.
    pub fn new(
        api: &'static Api,
        element_type: ElementType,
        shape: &[usize],
    ) -> Result<Tensor, String> {
        let mut dims = dims(shape)?;
        let shape = ffi::Shape {
            rank: dims.len() as i64,
            dims: dims.as_mut_ptr(),
        };
        let mut ptr = std::ptr::null_mut();
        // SAFETY: `shape` points at `rank` dimensions that outlive the call
        // (OpenVINO copies them); valid out-pointer.
        let status = unsafe { (api.ov_tensor_create)(element_type, shape, &mut ptr) };
        check(api, status, "cannot create a tensor")?;
        Tensor::from_raw(api, ptr)
    }

    pub fn element_type(&self) -> Result<ElementType, String> {
        let mut element_type = 0;
        // SAFETY: live tensor, valid out-pointer.
        let status = unsafe { (self.api.ov_tensor_get_element_type)(self.ptr, &mut element_type) };
        check(self.api, status, "cannot read a tensor's type")?;
        Ok(element_type)
    }

    pub fn shape(&self) -> Result<Vec<usize>, String> {
        let mut shape = ffi::Shape {
            rank: 0,
            dims: std::ptr::null_mut(),
        };
        // SAFETY: live tensor, valid out-pointer; freed below.
        let status = unsafe { (self.api.ov_tensor_get_shape)(self.ptr, &mut shape) };
        check(self.api, status, "cannot read a tensor's shape")?;
        let dims = match usize::try_from(shape.rank) {
            Ok(rank) if rank > 0 && !shape.dims.is_null() => {
                // SAFETY: a static shape holds `rank` dimensions.
                unsafe { std::slice::from_raw_parts(shape.dims, rank) }.to_vec()
            }
            _ => Vec::new(),
        };
        // SAFETY: filled by ov_tensor_get_shape, freed once.
        unsafe { (self.api.ov_shape_free)(&mut shape) };
        dims.into_iter()
            .map(|d| usize::try_from(d).map_err(|_| format!("tensor has a negative dimension {d}")))
            .collect()
    }

    fn sizes(&self) -> Result<(usize, usize), String> {
        let (mut count, mut bytes) = (0, 0);
        // SAFETY: live tensor, valid out-pointers.
        let status = unsafe { (self.api.ov_tensor_get_size)(self.ptr, &mut count) };
        check(self.api, status, "cannot read a tensor's size")?;
        // SAFETY: as above.
        let status = unsafe { (self.api.ov_tensor_get_byte_size)(self.ptr, &mut bytes) };
        check(self.api, status, "cannot read a tensor's size")?;
        Ok((count, bytes))
    }

    fn data_ptr(&self) -> Result<*mut c_void, String> {
        let mut data = std::ptr::null_mut();
        // SAFETY: live tensor, valid out-pointer.
        let status = unsafe { (self.api.ov_tensor_data)(self.ptr, &mut data) };
        check(self.api, status, "cannot reach a tensor's data")?;
        Ok(data)
    }

    /// The host buffer of a fixed-size element tensor.
    pub fn data_mut(&mut self) -> Result<&mut [u8], String> {
        let (_, bytes) = self.sizes()?;
        if bytes == 0 {
            return Ok(&mut []);
        }
        let data = self.data_ptr()?;
        if data.is_null() {
            return Err("tensor has no host memory".into());
        }
        // SAFETY: the tensor owns `bytes` bytes of host memory at `data`, which
        // live as long as the tensor; `&mut self` makes this the only view.
        Ok(unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), bytes) })
    }

    /// A copy of a fixed-size element tensor's content.
    pub fn to_bytes(&self) -> Result<Bytes, String> {
        let (_, bytes) = self.sizes()?;
        if bytes == 0 {
            return Ok(Bytes::new());
        }
        let data = self.data_ptr()?;
        if data.is_null() {
            return Err("tensor has no host memory".into());
        }
        // SAFETY: the tensor owns `bytes` bytes of host memory at `data`; they
        // are copied out while the tensor is alive and nothing writes to them.
        Ok(Bytes::copy_from_slice(unsafe {
            std::slice::from_raw_parts(data.cast::<u8>(), bytes)
        }))
    }
}

fn dims(shape: &[usize]) -> Result<Vec<i64>, String> {
    shape
        .iter()
        .map(|&d| i64::try_from(d).map_err(|_| format!("dimension {d} is too large")))
        .collect()
}

// SAFETY: a tensor has no thread affinity; it is created, filled and read by
// the thread running one inference.
unsafe impl Send for Tensor {}

impl Drop for Tensor {
    fn drop(&mut self) {
        // SAFETY: created by ov_tensor_create* or returned by a request, freed once.
        unsafe { (self.api.ov_tensor_free)(self.ptr) }
    }
}
