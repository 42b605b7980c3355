//! Model inputs as the metadata describes them, and their fixed shapes for
//! the run (`--shape`, `--batch-size`, dynamic dimensions as 1).

use std::collections::HashMap;

use inferd_tensor::DataType;

use crate::args::ShapeOverride;
use crate::error::BenchError;

/// One model input as the server's metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInput {
    /// Input name, as requests name it.
    pub name: String,
    /// Element type.
    pub datatype: DataType,
    /// Dimensions, -1 where dynamic; `None` when even the rank is unknown.
    pub dims: Option<Vec<i64>>,
}

/// An input with every dimension fixed, as every request sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// Input name.
    pub name: String,
    /// Element type.
    pub datatype: DataType,
    /// Shape sent in every request.
    pub shape: Vec<u64>,
}

impl InputSpec {
    /// Number of elements of the shape.
    pub fn element_count(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// Parses a KServe datatype name, refusing the ones inferd-bench cannot
/// generate (BYTES).
pub fn parse_datatype(input: &str, name: &str) -> Result<DataType, BenchError> {
    match DataType::from_name(name) {
        Some(DataType::Bytes) => Err(BenchError::Model(format!(
            "input '{input}' is BYTES; inferd-bench generates numeric tensors only"
        ))),
        Some(datatype) => Ok(datatype),
        None => Err(BenchError::Model(format!(
            "input '{input}' has datatype {name}, which inferd-bench does not know"
        ))),
    }
}

/// Fixes every input's shape: a `--shape` override where given (it must keep
/// the rank and fixed dimensions), else a dynamic first dimension becomes
/// `batch_size` and every other dynamic dimension becomes 1.
pub fn fix_shapes(
    inputs: &[ModelInput],
    overrides: &[ShapeOverride],
    batch_size: Option<u64>,
) -> Result<Vec<InputSpec>, BenchError> {
    let by_name: HashMap<&str, &ShapeOverride> =
        overrides.iter().map(|o| (o.name.as_str(), o)).collect();
    if let Some(unknown) = overrides
        .iter()
        .find(|o| !inputs.iter().any(|i| i.name == o.name))
    {
        return Err(BenchError::Usage(format!(
            "--shape names input '{}', which the model does not have (inputs: {})",
            unknown.name,
            input_names(inputs)
        )));
    }
    inputs
        .iter()
        .map(|input| {
            let shape = match by_name.get(input.name.as_str()) {
                Some(o) => check_override(input, &o.dims)?,
                None => default_shape(input, batch_size)?,
            };
            Ok(InputSpec {
                name: input.name.clone(),
                datatype: input.datatype,
                shape,
            })
        })
        .collect()
}

/// The comma-separated input names, for messages.
pub fn input_names(inputs: &[ModelInput]) -> String {
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    names.join(", ")
}

fn check_override(input: &ModelInput, dims: &[u64]) -> Result<Vec<u64>, BenchError> {
    let Some(model_dims) = &input.dims else {
        return Ok(dims.to_vec());
    };
    let fits = model_dims.len() == dims.len()
        && model_dims
            .iter()
            .zip(dims)
            .all(|(&m, &d)| m < 0 || u64::try_from(m) == Ok(d));
    if fits {
        Ok(dims.to_vec())
    } else {
        Err(BenchError::Usage(format!(
            "--shape {}:{} does not fit the model's shape {model_dims:?}",
            input.name,
            join(dims)
        )))
    }
}

fn default_shape(input: &ModelInput, batch_size: Option<u64>) -> Result<Vec<u64>, BenchError> {
    let Some(dims) = &input.dims else {
        return Err(BenchError::Usage(format!(
            "the model does not say the rank of input '{0}'; give --shape {0}:D1,D2,...",
            input.name
        )));
    };
    let mut shape: Vec<u64> = dims
        .iter()
        .map(|&d| u64::try_from(d).unwrap_or(1))
        .collect();
    if let Some(batch) = batch_size {
        match dims.first() {
            Some(&first) if first < 0 || u64::try_from(first) == Ok(batch) => shape[0] = batch,
            _ => {
                return Err(BenchError::Usage(format!(
                    "--batch-size {batch} does not fit input '{}' of shape {dims:?}",
                    input.name
                )));
            }
        }
    }
    Ok(shape)
}

fn join(dims: &[u64]) -> String {
    let text: Vec<String> = dims.iter().map(u64::to_string).collect();
    text.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, dims: Option<&[i64]>) -> ModelInput {
        ModelInput {
            name: name.into(),
            datatype: DataType::F32,
            dims: dims.map(<[i64]>::to_vec),
        }
    }

    fn shape(name: &str, dims: &[u64]) -> ShapeOverride {
        ShapeOverride {
            name: name.into(),
            dims: dims.to_vec(),
        }
    }

    fn shapes(specs: &[InputSpec]) -> Vec<Vec<u64>> {
        specs.iter().map(|s| s.shape.clone()).collect()
    }

    #[test]
    fn dynamic_dimensions_become_one_or_the_batch_size() {
        let inputs = [input("a", Some(&[-1, 16])), input("b", Some(&[-1, -1, 3]))];
        let fixed = fix_shapes(&inputs, &[], None).expect("shapes");
        assert_eq!(shapes(&fixed), [vec![1, 16], vec![1, 1, 3]]);
        let batched = fix_shapes(&inputs, &[], Some(8)).expect("shapes");
        assert_eq!(shapes(&batched), [vec![8, 16], vec![8, 1, 3]]);
        assert_eq!(batched[1].element_count(), 24);
    }

    #[test]
    fn overrides_keep_rank_and_fixed_dimensions() {
        let inputs = [input("a", Some(&[-1, 16])), input("u", None)];
        let fixed = fix_shapes(&inputs, &[shape("a", &[4, 16]), shape("u", &[2, 2])], None);
        assert_eq!(shapes(&fixed.expect("shapes")), [vec![4, 16], vec![2, 2]]);
        for bad in [shape("a", &[4, 15]), shape("a", &[4]), shape("zz", &[1])] {
            let with_u = [bad, shape("u", &[1])];
            assert!(fix_shapes(&inputs, &with_u, None).is_err(), "{with_u:?}");
        }
    }

    #[test]
    fn unknown_rank_needs_an_override_and_batch_needs_a_batch_dimension() {
        assert!(fix_shapes(&[input("u", None)], &[], None).is_err());
        assert!(fix_shapes(&[input("x", Some(&[1, 4]))], &[], Some(2)).is_err());
        assert!(fix_shapes(&[input("x", Some(&[1, 4]))], &[], Some(1)).is_ok());
        assert!(fix_shapes(&[input("s", Some(&[]))], &[], Some(1)).is_err());
    }

    #[test]
    fn bytes_and_unknown_datatypes_are_refused() {
        assert_eq!(parse_datatype("x", "FP16").ok(), Some(DataType::F16));
        assert!(parse_datatype("x", "BYTES").is_err());
        assert!(parse_datatype("x", "COMPLEX").is_err());
    }
}
