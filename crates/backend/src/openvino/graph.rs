//! `ov_model_t`: reading a model's inputs and outputs, reshaping it and
//! setting layouts with the pre/post-processor.

#![allow(unsafe_code)]

use std::ffi::CStr;

use super::ffi::{self, Api, Dimension, ElementType, Status};
use super::ov::{Owned, c_string, check};

/// What a model input or output looks like.
#[derive(Debug, Clone)]
pub struct PortInfo {
    /// Any of the tensor's names, or `None` when it has none.
    pub name: Option<String>,
    pub element_type: ElementType,
    /// `None` when the rank itself is dynamic.
    pub shape: Option<Vec<Dimension>>,
}

/// `ov_model_t`.
pub struct Model {
    api: &'static Api,
    ptr: *mut ffi::Model,
}

// SAFETY: a model is only used by the thread loading it; moving it between
// threads is fine (no thread affinity in OpenVINO).
unsafe impl Send for Model {}

impl Model {
    /// Owns a model an OpenVINO call returned.
    pub fn from_raw(api: &'static Api, ptr: *mut ffi::Model) -> Model {
        Model { api, ptr }
    }

    pub fn as_ptr(&self) -> *const ffi::Model {
        self.ptr
    }

    pub fn inputs(&self) -> Result<Vec<PortInfo>, String> {
        self.ports(
            self.api.ov_model_inputs_size,
            self.api.ov_model_const_input_by_index,
            "input",
        )
    }

    pub fn outputs(&self) -> Result<Vec<PortInfo>, String> {
        self.ports(
            self.api.ov_model_outputs_size,
            self.api.ov_model_const_output_by_index,
            "output",
        )
    }

    fn ports(
        &self,
        size: unsafe extern "C" fn(*const ffi::Model, *mut usize) -> Status,
        by_index: unsafe extern "C" fn(*const ffi::Model, usize, *mut *mut ffi::Port) -> Status,
        kind: &str,
    ) -> Result<Vec<PortInfo>, String> {
        let api = self.api;
        let mut count = 0;
        // SAFETY: live model, valid out-pointer.
        check(
            api,
            unsafe { size(self.ptr, &mut count) },
            &format!("cannot count {kind}s"),
        )?;
        (0..count)
            .map(|index| {
                let what = format!("cannot read {kind} {index}");
                // SAFETY: live model, index in range, valid out-pointer; the
                // port it returns is released by ov_output_const_port_free.
                let port = unsafe {
                    Owned::create(api, &what, api.ov_output_const_port_free, |out| {
                        by_index(self.ptr, index, out)
                    })
                }?;
                port_info(api, port.ptr, &what)
            })
            .collect()
    }

    /// Sets the partial shape of the inputs at these indexes.
    pub fn reshape(&mut self, shapes: &[(usize, Vec<Dimension>)]) -> Result<(), String> {
        let api = self.api;
        let mut owned = Vec::with_capacity(shapes.len());
        for (_, dims) in shapes {
            let mut shape = ffi::PartialShape {
                rank: Dimension { min: 0, max: 0 },
                dims: std::ptr::null_mut(),
            };
            let rank = i64::try_from(dims.len())
                .map_err(|_| "shape has too many dimensions".to_string())?;
            // SAFETY: `dims` holds `rank` dimensions; `shape` is a valid out-parameter.
            let status = unsafe { (api.ov_partial_shape_create)(rank, dims.as_ptr(), &mut shape) };
            check(api, status, "invalid shape")?;
            owned.push(PartialShapeGuard { api, shape });
        }
        let indexes: Vec<usize> = shapes.iter().map(|(i, _)| *i).collect();
        let raw: Vec<ffi::PartialShape> = owned.iter().map(|g| g.shape).collect();
        // SAFETY: live model; both arrays hold `indexes.len()` entries that
        // outlive the call (the shapes are freed by their guards afterwards).
        let status = unsafe {
            (api.ov_model_reshape_by_port_indexes)(
                self.ptr,
                indexes.as_ptr(),
                raw.as_ptr(),
                indexes.len(),
            )
        };
        check(api, status, "cannot reshape the model")
    }

    /// Applies each input's layouts and pre-processing with the
    /// pre/post-processor. Returns the rebuilt model, which transposes where
    /// the two layouts differ and runs the steps in order: reverse the
    /// channels, subtract the mean, divide by the scale.
    pub fn with_preprocessing(&self, inputs: &[InputSteps]) -> Result<Model, String> {
        let api = self.api;
        // SAFETY: live model, valid out-pointer; freed by the matching free.
        let ppp = unsafe {
            Owned::create(
                api,
                "cannot start pre-processing",
                api.ov_preprocess_prepostprocessor_free,
                |out| (api.ov_preprocess_prepostprocessor_create)(self.ptr, out),
            )
        }?;
        for steps in inputs {
            let what = format!("cannot set up pre-processing of input {}", steps.index);
            // SAFETY: live pre-processor, valid out-pointer; freed by the matching free.
            let info = unsafe {
                Owned::create(api, &what, api.ov_preprocess_input_info_free, |out| {
                    (api.ov_preprocess_prepostprocessor_get_input_info_by_index)(
                        ppp.ptr,
                        steps.index,
                        out,
                    )
                })
            }?;
            if let Some(tensor_layout) = &steps.tensor_layout {
                let layout = new_layout(api, tensor_layout)?;
                // SAFETY: live input info, valid out-pointer; freed by the matching free.
                let tensor = unsafe {
                    Owned::create(
                        api,
                        &what,
                        api.ov_preprocess_input_tensor_info_free,
                        |out| (api.ov_preprocess_input_info_get_tensor_info)(info.ptr, out),
                    )
                }?;
                // SAFETY: live tensor-info and layout handles.
                let status = unsafe {
                    (api.ov_preprocess_input_tensor_info_set_layout)(tensor.ptr, layout.ptr)
                };
                check(api, status, &what)?;
            }
            if let Some(model_layout) = &steps.model_layout {
                let layout = new_layout(api, model_layout)?;
                // SAFETY: live input info, valid out-pointer; freed by the matching free.
                let model = unsafe {
                    Owned::create(api, &what, api.ov_preprocess_input_model_info_free, |out| {
                        (api.ov_preprocess_input_info_get_model_info)(info.ptr, out)
                    })
                }?;
                // SAFETY: live model-info and layout handles.
                let status = unsafe {
                    (api.ov_preprocess_input_model_info_set_layout)(model.ptr, layout.ptr)
                };
                check(api, status, &what)?;
            }
            if steps.reverse_channels || steps.mean.is_some() || steps.scale.is_some() {
                add_steps(api, &info, steps, &what)?;
            }
        }
        let mut ptr = std::ptr::null_mut();
        // SAFETY: live pre-processor, valid out-pointer.
        let status = unsafe { (api.ov_preprocess_prepostprocessor_build)(ppp.ptr, &mut ptr) };
        check(api, status, "cannot apply the pre-processing")?;
        Ok(Model { api, ptr })
    }
}

/// One input's layouts and pre-processing steps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputSteps {
    /// Input index.
    pub index: usize,
    /// Layout of the tensors clients send, where it differs from the model's.
    pub tensor_layout: Option<String>,
    /// The model's layout.
    pub model_layout: Option<String>,
    /// Reverse the channel order (RGB ⇄ BGR).
    pub reverse_channels: bool,
    /// Subtracted from each channel (one value: from all).
    pub mean: Option<Vec<f32>>,
    /// Each channel divided by it (one value: all).
    pub scale: Option<Vec<f32>>,
}

fn add_steps(
    api: &Api,
    info: &Owned<ffi::InputInfo>,
    steps: &InputSteps,
    what: &str,
) -> Result<(), String> {
    // SAFETY: live input info, valid out-pointer; freed by the matching free.
    let pre = unsafe {
        Owned::create(api, what, api.ov_preprocess_preprocess_steps_free, |out| {
            (api.ov_preprocess_input_info_get_preprocess_steps)(info.ptr, out)
        })
    }?;
    if steps.reverse_channels {
        // SAFETY: live steps handle.
        let status = unsafe { (api.ov_preprocess_preprocess_steps_reverse_channels)(pre.ptr) };
        check(api, status, &format!("{what}: reverse channels"))?;
    }
    let per_channel = [
        (
            &steps.mean,
            "mean",
            api.ov_preprocess_preprocess_steps_mean,
            api.ov_preprocess_preprocess_steps_mean_multi_channels,
        ),
        (
            &steps.scale,
            "scale",
            api.ov_preprocess_preprocess_steps_scale,
            api.ov_preprocess_preprocess_steps_scale_multi_channels,
        ),
    ];
    for (values, name, single, multi) in per_channel {
        let status = match values.as_deref() {
            None => continue,
            // SAFETY: live steps handle.
            Some([value]) => unsafe { single(pre.ptr, *value) },
            // SAFETY: live steps handle; the slice outlives the call, which
            // copies the values.
            Some(values) => unsafe { multi(pre.ptr, values.as_ptr(), values.len() as i32) },
        };
        check(api, status, &format!("{what}: {name}"))?;
    }
    Ok(())
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: created by read_model or build, freed once.
        unsafe { (self.api.ov_model_free)(self.ptr) }
    }
}

fn new_layout(api: &Api, desc: &str) -> Result<Owned<ffi::Layout>, String> {
    let text = c_string("layout", desc)?;
    // SAFETY: C string outliving the call, valid out-pointer; the layout is
    // released by ov_layout_free.
    unsafe {
        Owned::create(
            api,
            &format!("invalid layout {desc:?}"),
            api.ov_layout_free,
            |out| (api.ov_layout_create)(text.as_ptr(), out),
        )
    }
}

struct PartialShapeGuard {
    api: &'static Api,
    shape: ffi::PartialShape,
}

impl Drop for PartialShapeGuard {
    fn drop(&mut self) {
        // SAFETY: filled by ov_partial_shape_create/ov_port_get_partial_shape, freed once.
        unsafe { (self.api.ov_partial_shape_free)(&mut self.shape) }
    }
}

fn port_info(api: &'static Api, port: *const ffi::Port, what: &str) -> Result<PortInfo, String> {
    let mut name_ptr = std::ptr::null_mut();
    // SAFETY: live port, valid out-pointer. Fails for tensors without names.
    let name =
        if unsafe { (api.ov_port_get_any_name)(port, &mut name_ptr) } == 0 && !name_ptr.is_null() {
            // SAFETY: a heap C string owned by us, read then freed once with ov_free.
            let name = unsafe { CStr::from_ptr(name_ptr) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: as above.
            unsafe { (api.ov_free)(name_ptr) };
            Some(name)
        } else {
            None
        };
    let mut element_type = 0;
    // SAFETY: live port, valid out-pointer.
    check(
        api,
        unsafe { (api.ov_port_get_element_type)(port, &mut element_type) },
        what,
    )?;
    let mut shape = ffi::PartialShape {
        rank: Dimension { min: 0, max: 0 },
        dims: std::ptr::null_mut(),
    };
    // SAFETY: live port, valid out-pointer; freed by the guard.
    check(
        api,
        unsafe { (api.ov_port_get_partial_shape)(port, &mut shape) },
        what,
    )?;
    let guard = PartialShapeGuard { api, shape };
    let rank = guard.shape.rank;
    let shape = if rank.min == rank.max && rank.min >= 0 {
        let len = usize::try_from(rank.min).unwrap_or(0);
        if len == 0 || guard.shape.dims.is_null() {
            Some(Vec::new())
        } else {
            // SAFETY: a static-rank partial shape holds `rank` dimensions.
            Some(unsafe { std::slice::from_raw_parts(guard.shape.dims, len) }.to_vec())
        }
    } else {
        None
    };
    Ok(PortInfo {
        name,
        element_type,
        shape,
    })
}
