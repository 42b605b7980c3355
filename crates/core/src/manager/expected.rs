//! A Triton `config.pbtxt` that contradicts the model: the declared inputs
//! and outputs are checked against the loaded model's signature, with
//! Triton's kind of message.

use inferd_repository::{ExpectedSignature, ExpectedTensor};
use inferd_tensor::{Signature, TensorSpec};

/// Triton's name of a KServe element type.
fn triton_type(kserve: &str) -> String {
    match kserve {
        "BYTES" => "TYPE_STRING".to_string(),
        other => format!("TYPE_{other}"),
    }
}

fn shape_text(shape: &[i64]) -> String {
    let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
    format!("[{}]", dims.join(","))
}

fn check_tensor(
    model: &str,
    kind: &str,
    expected: &ExpectedTensor,
    specs: &[TensorSpec],
) -> Result<(), String> {
    let Some(spec) = specs.iter().find(|s| s.name == expected.name) else {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "unable to load model '{model}', configuration expects {kind} '{}', the model's {kind}s are: {}",
            expected.name,
            names.join(", ")
        ));
    };
    if spec.dtype.name() != expected.datatype {
        return Err(format!(
            "unable to load model '{model}', configuration expects datatype {} for {kind} '{}', model provides {}",
            triton_type(&expected.datatype),
            expected.name,
            triton_type(spec.dtype.name())
        ));
    }
    let actual = spec.shape_i64();
    let want = expected.model_shape();
    let fits = actual.len() == want.len()
        && actual
            .iter()
            .zip(want)
            .all(|(&have, &want)| have == -1 || have == want);
    if !fits {
        let reshaped = if expected.model_shape.is_some() {
            " (its reshape)"
        } else {
            ""
        };
        return Err(format!(
            "model '{model}', tensor '{}': the model expects {} dimensions (shape {}) but the model configuration specifies {} dimensions (shape {}){reshaped}",
            expected.name,
            actual.len(),
            shape_text(&actual),
            want.len(),
            shape_text(want)
        ));
    }
    Ok(())
}

/// Checks every declared tensor against the model's signature.
pub(super) fn check(
    model: &str,
    expected: &ExpectedSignature,
    signature: &Signature,
) -> Result<(), String> {
    for tensor in &expected.inputs {
        check_tensor(model, "input", tensor, &signature.inputs)?;
    }
    for tensor in &expected.outputs {
        check_tensor(model, "output", tensor, &signature.outputs)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferd_tensor::{DataType, Dim};

    fn spec(name: &str, dims: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype: DataType::F32,
            shape: dims
                .iter()
                .map(|&d| {
                    if d < 0 {
                        Dim::Any
                    } else {
                        Dim::Fixed(d as u64)
                    }
                })
                .collect(),
        }
    }

    fn tensor(name: &str, datatype: &str, shape: &[i64]) -> ExpectedTensor {
        ExpectedTensor {
            model_shape: None,
            name: name.into(),
            datatype: datatype.into(),
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn contradictions_are_named_as_triton_names_them() {
        let signature = Signature {
            inputs: vec![spec("a", &[-1, 16])],
            outputs: vec![spec("sum", &[-1, 16])],
        };
        let ok = ExpectedSignature {
            inputs: vec![tensor("a", "FP32", &[-1, 16])],
            outputs: vec![tensor("sum", "FP32", &[8, 16])],
        };
        assert_eq!(check("add", &ok, &signature), Ok(()));
        let shape = ExpectedSignature {
            inputs: vec![tensor("a", "FP32", &[-1, 4])],
            ..Default::default()
        };
        assert_eq!(
            check("add", &shape, &signature).unwrap_err(),
            "model 'add', tensor 'a': the model expects 2 dimensions (shape [-1,16]) but the model configuration specifies 2 dimensions (shape [-1,4])"
        );
        let dtype = ExpectedSignature {
            inputs: vec![tensor("a", "INT32", &[-1, 16])],
            ..Default::default()
        };
        assert!(check("add", &dtype, &signature).unwrap_err().contains(
            "configuration expects datatype TYPE_INT32 for input 'a', model provides TYPE_FP32"
        ));
        let missing = ExpectedSignature {
            outputs: vec![tensor("product", "FP32", &[-1, 16])],
            ..Default::default()
        };
        assert!(
            check("add", &missing, &signature)
                .unwrap_err()
                .contains("configuration expects output 'product', the model's outputs are: sum")
        );
    }
}
