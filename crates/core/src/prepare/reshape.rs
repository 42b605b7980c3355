//! Triton's `reshape`: a tensor's elements, as they are, under another
//! shape (clients send `[batch, 16]`, the model takes `[batch, 4, 4]`).

use inferd_tensor::Tensor;

/// The shape `template` (full, -1 for a variable dimension) gives a tensor
/// of `shape`: a leading -1 beside another variable dimension is the batch
/// (the tensor's first dimension); the one variable dimension left holds
/// what the fixed ones do not. `None` when the elements do not fit.
pub(crate) fn resolve(template: &[i64], shape: &[usize]) -> Option<Vec<usize>> {
    let total: usize = shape.iter().product();
    let mut dims: Vec<Option<usize>> = template.iter().map(|&d| usize::try_from(d).ok()).collect();
    let variable = dims.iter().filter(|d| d.is_none()).count();
    if variable == 2 && dims[0].is_none() {
        dims[0] = Some(*shape.first()?);
    }
    let fixed: usize = dims.iter().flatten().product();
    let resolved: Vec<usize> = match dims.iter().filter(|d| d.is_none()).count() {
        0 => dims.into_iter().flatten().collect(),
        1 if fixed > 0 && total.is_multiple_of(fixed) => dims
            .into_iter()
            .map(|d| d.unwrap_or(total / fixed))
            .collect(),
        _ => return None,
    };
    (resolved.iter().product::<usize>() == total).then_some(resolved)
}

/// `tensor` under the shape `template` gives it; `None` when it does not fit.
pub(crate) fn reshaped(tensor: Tensor, template: &[i64]) -> Option<Tensor> {
    let shape = resolve(template, tensor.shape())?;
    Tensor::new(tensor.dtype(), shape, tensor.data().clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_resolve_like_tritons_reshape() {
        assert_eq!(resolve(&[-1, 4, 4], &[3, 16]), Some(vec![3, 4, 4]));
        assert_eq!(resolve(&[4, 4], &[16]), Some(vec![4, 4]));
        assert_eq!(resolve(&[-1, 2], &[8]), Some(vec![4, 2]));
        assert_eq!(resolve(&[-1, -1, 2], &[3, 8]), Some(vec![3, 4, 2]));
        assert_eq!(resolve(&[-1, 16], &[2, 4, 4]), Some(vec![2, 16]));
        assert_eq!(resolve(&[3, 3], &[16]), None);
        assert_eq!(resolve(&[-1, 3], &[16]), None);
        assert_eq!(resolve(&[-1, -1, -1], &[2, 4]), None);
    }
}
