//! Demultiplexing and gathering: a tensor split along its first dimension
//! into branches (slices of its buffer, no copy), and branches joined again
//! along a new first dimension (one copy, in branch order).

use bytes::{Bytes, BytesMut};
use inferd_tensor::{Tensor, TensorData};

use crate::CoreError;

fn failed(message: String) -> CoreError {
    CoreError::NodeFailed(message)
}

/// Splits `tensor` (output `name` of node `node`) along its first dimension:
/// into `count` branches, or as many as the dimension has when `count` is -1.
pub(super) fn split(
    tensor: &Tensor,
    count: i64,
    node: &str,
    name: &str,
) -> Result<Vec<Tensor>, CoreError> {
    let Some((&rows, rest)) = tensor.shape().split_first() else {
        return Err(failed(format!(
            "Wrong number of dimensions in a tensor to be sharded (node {node:?} output {name:?})"
        )));
    };
    if rows == 0 {
        return Err(failed(
            "Pipeline execution aborted due to no content from custom node".into(),
        ));
    }
    if count > 0 && rows as i64 != count {
        return Err(failed(format!(
            "Demultiplication count does not match tensor first dimension \
             (node {node:?} output {name:?}: {rows}, demultiply_count {count})"
        )));
    }
    let shape = rest.to_vec();
    let branches = match tensor.data() {
        TensorData::Raw(bytes) => {
            let size = bytes.len() / rows;
            (0..rows)
                .map(|i| TensorData::Raw(bytes.slice(i * size..(i + 1) * size)))
                .collect::<Vec<_>>()
        }
        TensorData::Strings(items) => {
            let size = items.len() / rows;
            items
                .chunks(size.max(1))
                .map(|chunk| TensorData::Strings(chunk.to_vec()))
                .collect()
        }
    };
    branches
        .into_iter()
        .map(|data| {
            Tensor::new(tensor.dtype(), shape.clone(), data).map_err(|e| failed(e.to_string()))
        })
        .collect()
}

/// Joins `branches` along a new first dimension; they must agree in type and shape.
pub(super) fn gather(branches: &[Tensor]) -> Result<Tensor, CoreError> {
    let first = branches.first().ok_or_else(|| {
        failed("Pipeline execution aborted due to no content from custom node".into())
    })?;
    if branches
        .iter()
        .any(|b| b.dtype() != first.dtype() || b.shape() != first.shape())
    {
        return Err(failed(
            "Gathered tensor shards dimensions are different".into(),
        ));
    }
    let shape: Vec<usize> = std::iter::once(branches.len())
        .chain(first.shape().iter().copied())
        .collect();
    let data = match first.data() {
        TensorData::Raw(_) => {
            let mut joined = BytesMut::with_capacity(branches.iter().map(Tensor::len).sum());
            for branch in branches {
                if let TensorData::Raw(bytes) = branch.data() {
                    joined.extend_from_slice(bytes);
                }
            }
            TensorData::Raw(Bytes::from(joined))
        }
        TensorData::Strings(_) => TensorData::Strings(
            branches
                .iter()
                .flat_map(|b| match b.data() {
                    TensorData::Strings(items) => items.clone(),
                    TensorData::Raw(_) => Vec::new(),
                })
                .collect(),
        ),
    };
    Tensor::new(first.dtype(), shape, data).map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use inferd_tensor::DataType;

    use super::*;

    fn rows(values: &[f32], shape: Vec<usize>) -> Tensor {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new(DataType::F32, shape, TensorData::Raw(Bytes::from(bytes))).unwrap()
    }

    #[test]
    fn split_then_gather_is_the_identity() {
        let tensor = rows(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![3, 1, 2]);
        let branches = split(&tensor, -1, "n", "o").unwrap();
        assert_eq!(branches.len(), 3);
        assert_eq!(branches[1].shape(), [1, 2]);
        assert_eq!(
            branches[1].to_wire(),
            rows(&[3.0, 4.0], vec![1, 2]).to_wire()
        );
        let joined = gather(&branches).unwrap();
        assert_eq!(joined.shape(), [3, 1, 2]);
        assert_eq!(joined.to_wire(), tensor.to_wire());
        assert!(
            split(&tensor, 2, "n", "o")
                .unwrap_err()
                .to_string()
                .starts_with("Demultiplication count does not match tensor first dimension")
        );
        let empty = rows(&[], vec![0, 2]);
        assert_eq!(
            split(&empty, -1, "n", "o").unwrap_err().to_string(),
            "Pipeline execution aborted due to no content from custom node"
        );
    }
}
