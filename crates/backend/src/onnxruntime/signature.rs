//! The model's signature as ONNX Runtime reports it, narrowed by the
//! `shape` / `batch_size` options (ONNX Runtime cannot reshape a model, so
//! configured shapes restrict what requests may send instead).

use inferd_tensor::{DataType, Dim, Signature, TensorSpec};
use ort::value::{Outlet, TensorElementType, ValueType};

use crate::{BackendError, InputShapes, ModelOptions};

/// The ONNX Runtime element type for a protocol type.
pub fn element_type(dtype: DataType) -> TensorElementType {
    match dtype {
        DataType::Bool => TensorElementType::Bool,
        DataType::U8 => TensorElementType::Uint8,
        DataType::U16 => TensorElementType::Uint16,
        DataType::U32 => TensorElementType::Uint32,
        DataType::U64 => TensorElementType::Uint64,
        DataType::I8 => TensorElementType::Int8,
        DataType::I16 => TensorElementType::Int16,
        DataType::I32 => TensorElementType::Int32,
        DataType::I64 => TensorElementType::Int64,
        DataType::F16 => TensorElementType::Float16,
        DataType::F32 => TensorElementType::Float32,
        DataType::F64 => TensorElementType::Float64,
        DataType::BF16 => TensorElementType::Bfloat16,
        DataType::Bytes => TensorElementType::String,
    }
}

/// The protocol type for an ONNX Runtime element type, if the protocol has one.
pub fn data_type(ty: TensorElementType) -> Option<DataType> {
    DataType::ALL.into_iter().find(|d| element_type(*d) == ty)
}

fn spec(outlet: &Outlet, role: &str) -> Result<TensorSpec, BackendError> {
    let name = outlet.name();
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(BackendError::Unsupported(format!(
            "{role} {name} is a {}, not a tensor; inferd serves tensors only",
            outlet.dtype()
        )));
    };
    let dtype = data_type(*ty).ok_or_else(|| {
        BackendError::Unsupported(format!(
            "{role} {name} has element type {ty}, which inferd cannot serve"
        ))
    })?;
    let shape = shape
        .iter()
        .map(|&d| u64::try_from(d).map_or(Dim::Any, Dim::Fixed))
        .collect();
    Ok(TensorSpec {
        name: name.to_string(),
        dtype,
        shape,
    })
}

/// The signature of a session's inputs and outputs, with the configured
/// shapes applied to the inputs.
pub fn build(
    inputs: &[Outlet],
    outputs: &[Outlet],
    options: &ModelOptions,
) -> Result<Signature, BackendError> {
    let mut inputs = inputs
        .iter()
        .map(|o| spec(o, "input"))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = outputs
        .iter()
        .map(|o| spec(o, "output"))
        .collect::<Result<Vec<_>, _>>()?;
    restrict_inputs(&mut inputs, options)?;
    Ok(Signature { inputs, outputs })
}

/// Narrows input shapes to the `shape` / `batch_size` options; a setting that
/// contradicts a fixed model dimension is a load error.
pub fn restrict_inputs(
    inputs: &mut [TensorSpec],
    options: &ModelOptions,
) -> Result<(), BackendError> {
    let wanted: Vec<Option<Vec<Dim>>> = match &options.shapes {
        InputShapes::Model => vec![None; inputs.len()],
        InputShapes::Single(dims) if inputs.len() == 1 => vec![Some(dims.clone())],
        InputShapes::Single(_) => {
            return Err(BackendError::Load(format!(
                "shape without an input name needs a model with one input; this one has {}",
                inputs.len()
            )));
        }
        InputShapes::PerInput(map) => {
            if let Some(unknown) = map.keys().find(|k| !inputs.iter().any(|i| &i.name == *k)) {
                return Err(BackendError::Load(format!(
                    "shape names input {unknown:?}, which the model does not have"
                )));
            }
            inputs.iter().map(|i| map.get(&i.name).cloned()).collect()
        }
    };
    for (input, wanted) in inputs.iter_mut().zip(wanted) {
        let wanted = match (wanted, options.batch_size) {
            (Some(dims), _) => dims,
            (None, Some(batch)) => {
                if input.shape.is_empty() {
                    return Err(BackendError::Load(format!(
                        "batch_size needs inputs with a first dimension; {} is a scalar",
                        input.name
                    )));
                }
                let mut dims = vec![Dim::Any; input.shape.len()];
                dims[0] = Dim::Fixed(batch);
                dims
            }
            (None, None) => continue,
        };
        input.shape = narrow(&input.name, &input.shape, &wanted)?;
    }
    Ok(())
}

/// The dimensions both `model` and `wanted` accept, or an error naming the
/// first that contradicts the model.
fn narrow(name: &str, model: &[Dim], wanted: &[Dim]) -> Result<Vec<Dim>, BackendError> {
    let shown = |dims: &[Dim]| inferd_tensor::format_shape(dims);
    if model.len() != wanted.len() {
        return Err(BackendError::Load(format!(
            "shape {} for input {name} has {} dimensions, but the model's shape {} has {}; \
             ONNX Runtime cannot reshape models (the OpenVINO backend can)",
            shown(wanted),
            wanted.len(),
            shown(model),
            model.len()
        )));
    }
    model
        .iter()
        .zip(wanted)
        .enumerate()
        .map(|(axis, (&have, &want))| {
            let narrowed = match (have, want) {
                (Dim::Any, w) => Some(w),
                (h, Dim::Any) => Some(h),
                (Dim::Fixed(n), w) => w.accepts(n).then_some(Dim::Fixed(n)),
                (Dim::Range(lo, hi), Dim::Fixed(n)) => (lo..=hi).contains(&n).then_some(Dim::Fixed(n)),
                (Dim::Range(a, b), Dim::Range(c, d)) => {
                    let (lo, hi) = (a.max(c), b.min(d));
                    (lo <= hi).then_some(Dim::Range(lo, hi))
                }
            };
            narrowed.ok_or_else(|| {
                BackendError::Load(format!(
                    "shape {} for input {name} contradicts the model's shape {} at dimension {axis}; \
                     ONNX Runtime cannot reshape models (the OpenVINO backend can)",
                    shown(wanted),
                    shown(model)
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn spec(name: &str, shape: Vec<Dim>) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype: DataType::F32,
            shape,
        }
    }

    #[test]
    fn element_types_round_trip() {
        for dt in DataType::ALL {
            assert_eq!(data_type(element_type(dt)), Some(dt));
        }
        assert_eq!(data_type(TensorElementType::Complex64), None);
    }

    #[test]
    fn shapes_narrow_free_dims_and_keep_fixed_ones() {
        let mut inputs = vec![spec("a", vec![Dim::Any, Dim::Fixed(16)])];
        let options = ModelOptions {
            shapes: InputShapes::Single(vec![Dim::Range(1, 8), Dim::Any]),
            ..Default::default()
        };
        restrict_inputs(&mut inputs, &options).unwrap();
        assert_eq!(inputs[0].shape, vec![Dim::Range(1, 8), Dim::Fixed(16)]);
    }

    #[test]
    fn contradictions_and_unknown_names_are_load_errors() {
        let fixed = || vec![spec("x", vec![Dim::Fixed(1), Dim::Fixed(4)])];
        let batch = ModelOptions {
            batch_size: Some(2),
            ..Default::default()
        };
        let err = restrict_inputs(&mut fixed(), &batch).unwrap_err();
        assert!(
            matches!(&err, BackendError::Load(m) if m.contains("(2,-1)") && m.contains("(1,4)")),
            "{err}"
        );
        let rank = ModelOptions {
            shapes: InputShapes::Single(vec![Dim::Fixed(1)]),
            ..Default::default()
        };
        assert!(matches!(
            restrict_inputs(&mut fixed(), &rank),
            Err(BackendError::Load(_))
        ));
        let unknown = ModelOptions {
            shapes: InputShapes::PerInput(BTreeMap::from([("y".to_string(), vec![Dim::Fixed(1)])])),
            ..Default::default()
        };
        let err = restrict_inputs(&mut fixed(), &unknown).unwrap_err();
        assert!(err.to_string().contains("\"y\""), "{err}");
        let same = ModelOptions {
            batch_size: Some(1),
            ..Default::default()
        };
        let mut inputs = fixed();
        restrict_inputs(&mut inputs, &same).unwrap();
        assert_eq!(inputs[0].shape, vec![Dim::Fixed(1), Dim::Fixed(4)]);
    }
}
