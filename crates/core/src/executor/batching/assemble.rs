//! Joining requests' inputs into one batch along the first dimension
//! (zero-padded where asked) and handing each request its rows of the
//! outputs, as slices of the engine's buffers.

use bytes::{Bytes, BytesMut};
use inferd_tensor::{Tensor, TensorData, element_count};

/// One piece of a padded copy: elements copied from the source, or filled
/// with zeros (empty strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Copy { from: usize, len: usize },
    Fill(usize),
}

/// The runs that lay a tensor of shape `have` out as shape `want` (every
/// dimension at least as large), zero-padding each dimension at its end.
fn padded_runs(have: &[usize], want: &[usize], offset: usize, runs: &mut Vec<Run>) {
    match (have, want) {
        ([], []) => runs.push(Run::Copy {
            from: offset,
            len: 1,
        }),
        ([h], [w]) => {
            runs.push(Run::Copy {
                from: offset,
                len: *h,
            });
            runs.push(Run::Fill(w - h));
        }
        ([h, have_rest @ ..], [w, want_rest @ ..]) => {
            let inner = element_count(have_rest).unwrap_or(0);
            for i in 0..*h {
                padded_runs(have_rest, want_rest, offset + i * inner, runs);
            }
            runs.push(Run::Fill((w - h) * element_count(want_rest).unwrap_or(0)));
        }
        _ => unreachable!("ranks are checked before padding"),
    }
}

/// Joins input `index` of every member along the first dimension, each
/// padded to the largest of the others' dimensions, then `extra_rows` of
/// zeros. A lone member that needs no padding is passed on as it is.
pub(crate) fn join(members: &[&[Tensor]], index: usize, extra_rows: usize) -> Tensor {
    let parts: Vec<&Tensor> = members.iter().map(|m| &m[index]).collect();
    let first = parts[0];
    let mut shape = first.shape().to_vec();
    for part in &parts[1..] {
        for (d, &n) in shape.iter_mut().zip(part.shape()).skip(1) {
            *d = (*d).max(n);
        }
    }
    shape[0] = parts.iter().map(|p| p.shape()[0]).sum::<usize>() + extra_rows;
    if parts.len() == 1 && shape == first.shape() {
        return first.clone();
    }
    let mut runs = Vec::new();
    let mut layouts = Vec::with_capacity(parts.len());
    for part in &parts {
        runs.clear();
        let mut want = shape.clone();
        want[0] = part.shape()[0];
        padded_runs(part.shape(), &want, 0, &mut runs);
        layouts.push(merge(&runs));
    }
    let row = element_count(&shape[1..]).unwrap_or(0);
    let data = match first.data() {
        TensorData::Raw(_) => {
            let size = first.dtype().size_bytes().unwrap_or(1);
            let total = element_count(&shape).unwrap_or(0) * size;
            let mut out = BytesMut::with_capacity(total);
            for (part, runs) in parts.iter().zip(&layouts) {
                let TensorData::Raw(bytes) = part.data() else {
                    unreachable!("members share the input's dtype")
                };
                for run in runs {
                    match *run {
                        Run::Copy { from, len } => {
                            out.extend_from_slice(&bytes[from * size..(from + len) * size])
                        }
                        Run::Fill(len) => out.resize(out.len() + len * size, 0),
                    }
                }
            }
            out.resize(total, 0);
            TensorData::Raw(out.freeze())
        }
        TensorData::Strings(_) => {
            let mut out = Vec::with_capacity(element_count(&shape).unwrap_or(0));
            for (part, runs) in parts.iter().zip(&layouts) {
                let TensorData::Strings(items) = part.data() else {
                    unreachable!("members share the input's dtype")
                };
                for run in runs {
                    match *run {
                        Run::Copy { from, len } => out.extend_from_slice(&items[from..from + len]),
                        Run::Fill(len) => out.resize(out.len() + len, Bytes::new()),
                    }
                }
            }
            out.resize(out.len() + extra_rows * row, Bytes::new());
            TensorData::Strings(out)
        }
    };
    Tensor::new(first.dtype(), shape, data).expect("a joined batch matches its shape")
}

/// Coalesces neighbouring runs of the same kind.
fn merge(runs: &[Run]) -> Vec<Run> {
    let mut merged: Vec<Run> = Vec::with_capacity(runs.len());
    for &run in runs {
        match (merged.last_mut(), run) {
            (_, Run::Fill(0)) => {}
            (Some(Run::Fill(n)), Run::Fill(m)) => *n += m,
            (Some(Run::Copy { from, len }), Run::Copy { from: f, len: l }) if *from + *len == f => {
                *len += l
            }
            _ => merged.push(run),
        }
    }
    merged
}

/// Rows `start..start + rows` of `tensor` along its first dimension, sharing
/// its buffer.
pub(crate) fn rows(tensor: &Tensor, start: usize, rows: usize) -> Tensor {
    let mut shape = tensor.shape().to_vec();
    let row = element_count(&shape[1..]).unwrap_or(0);
    shape[0] = rows;
    let data = match tensor.data() {
        TensorData::Raw(bytes) => {
            let size = tensor.dtype().size_bytes().unwrap_or(1) * row;
            TensorData::Raw(bytes.slice(start * size..(start + rows) * size))
        }
        TensorData::Strings(items) => {
            TensorData::Strings(items[start * row..(start + rows) * row].to_vec())
        }
    };
    Tensor::new(tensor.dtype(), shape, data).expect("a slice of rows matches its shape")
}

#[cfg(test)]
mod tests {
    use inferd_tensor::DataType;

    use super::*;

    fn ints(shape: &[usize], values: &[i32]) -> Tensor {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new(DataType::I32, shape.to_vec(), TensorData::Raw(bytes.into())).unwrap()
    }

    fn values(t: &Tensor) -> Vec<i32> {
        let TensorData::Raw(bytes) = t.data() else {
            panic!()
        };
        bytes
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn rows_are_joined_in_order() {
        let a = [ints(&[1, 2], &[1, 2])];
        let b = [ints(&[2, 2], &[3, 4, 5, 6])];
        let joined = join(&[&a, &b], 0, 0);
        assert_eq!(joined.shape(), &[3, 2]);
        assert_eq!(values(&joined), [1, 2, 3, 4, 5, 6]);
        let padded = join(&[&a, &b], 0, 1);
        assert_eq!(padded.shape(), &[4, 2]);
        assert_eq!(values(&padded), [1, 2, 3, 4, 5, 6, 0, 0]);
    }

    #[test]
    fn a_lone_member_is_not_copied() {
        let a = [ints(&[2, 2], &[1, 2, 3, 4])];
        let joined = join(&[&a], 0, 0);
        let (TensorData::Raw(x), TensorData::Raw(y)) = (joined.data(), a[0].data()) else {
            panic!()
        };
        assert_eq!(x.as_ptr(), y.as_ptr());
    }

    #[test]
    fn variable_lengths_are_zero_padded() {
        let a = [ints(&[1, 2, 1], &[1, 2])];
        let b = [ints(&[1, 1, 3], &[3, 4, 5])];
        let joined = join(&[&a, &b], 0, 0);
        assert_eq!(joined.shape(), &[2, 2, 3]);
        assert_eq!(values(&joined), [1, 0, 0, 2, 0, 0, 3, 4, 5, 0, 0, 0]);
    }

    #[test]
    fn strings_are_joined_and_padded() {
        let s = |items: &[&'static str], shape: &[usize]| {
            let items = items
                .iter()
                .map(|t| Bytes::from_static(t.as_bytes()))
                .collect();
            Tensor::new(DataType::Bytes, shape.to_vec(), TensorData::Strings(items)).unwrap()
        };
        let a = [s(&["a"], &[1, 1])];
        let b = [s(&["b", "c"], &[1, 2])];
        let joined = join(&[&a, &b], 0, 1);
        assert_eq!(joined.shape(), &[3, 2]);
        let TensorData::Strings(items) = joined.data() else {
            panic!()
        };
        let texts: Vec<&[u8]> = items.iter().map(|b| b.as_ref()).collect();
        assert_eq!(texts, [&b"a"[..], b"", b"b", b"c", b"", b""]);
    }

    #[test]
    fn rows_share_the_output_buffer() {
        let out = ints(&[3, 2], &[1, 2, 3, 4, 5, 6]);
        let mine = rows(&out, 1, 2);
        assert_eq!(mine.shape(), &[2, 2]);
        assert_eq!(values(&mine), [3, 4, 5, 6]);
        let (TensorData::Raw(x), TensorData::Raw(y)) = (mine.data(), out.data()) else {
            panic!()
        };
        assert_eq!(x.as_ptr(), y[8..].as_ptr());
    }
}
