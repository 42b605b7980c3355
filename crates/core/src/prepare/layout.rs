//! Layouts (`NHWC`, `NHWC:NCHW`) and the transposes that carry a client's
//! layout into the model's where the engine cannot do it itself.

/// One input's layouts: what clients send and what the model takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct InputLayout {
    /// The layout of request tensors.
    pub client: Option<String>,
    /// The model's own layout.
    pub model: Option<String>,
}

impl InputLayout {
    /// `"NHWC:NCHW"` (clients send NHWC, the model takes NCHW) or `"NCHW"`.
    pub fn parse(value: &str) -> Self {
        match value.split_once(':') {
            Some((client, model)) => InputLayout {
                client: Some(client.to_string()),
                model: Some(model.to_string()),
            },
            None => InputLayout {
                client: Some(value.to_string()),
                model: Some(value.to_string()),
            },
        }
    }

    /// Both layouts, when they differ.
    pub fn conversion(&self) -> Option<(&str, &str)> {
        match (&self.client, &self.model) {
            (Some(client), Some(model)) if client != model => Some((client, model)),
            _ => None,
        }
    }

    /// Position of `axis` (e.g. `'C'`) in the client's layout of a tensor of
    /// `rank` dimensions; `...` stands for the dimensions not named.
    pub fn client_axis(&self, axis: char, rank: usize) -> Option<usize> {
        let layout = self.client.as_deref()?;
        match layout.split_once("...") {
            None => layout
                .chars()
                .position(|c| c == axis)
                .filter(|_| layout.chars().count() == rank),
            Some((head, tail)) => {
                if let Some(at) = head.chars().position(|c| c == axis) {
                    return Some(at);
                }
                let from_end = tail.chars().rev().position(|c| c == axis)?;
                rank.checked_sub(from_end + 1)
            }
        }
    }
}

/// The axis order that turns a tensor in `client` layout into `model`
/// layout: model axis `i` is client axis `perm[i]`. Both layouts name each
/// of the `rank` axes once, with letters.
pub(crate) fn permutation(client: &str, model: &str, rank: usize) -> Result<Vec<usize>, String> {
    let letters = |l: &str| -> Result<Vec<char>, String> {
        let chars: Vec<char> = l.chars().collect();
        let distinct = chars
            .iter()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() && !chars[..i].contains(c));
        if !distinct {
            return Err(format!(
                "layout conversion {client}:{model} needs one distinct letter per dimension \
                 when the server converts it (only OpenVINO reads '?' and '...')"
            ));
        }
        Ok(chars)
    };
    let (from, to) = (letters(client)?, letters(model)?);
    if from.len() != rank || to.len() != rank {
        return Err(format!(
            "layout {client}:{model} has {} dimensions; the input has {rank}",
            from.len().max(to.len())
        ));
    }
    to.iter()
        .map(|c| {
            from.iter().position(|f| f == c).ok_or_else(|| {
                format!("layout conversion {client}:{model}: {c} is missing from {client}")
            })
        })
        .collect()
}

/// `dims` reordered by `perm`: `out[i] = dims[perm[i]]`.
pub(crate) fn permute<T: Copy>(dims: &[T], perm: &[usize]) -> Vec<T> {
    perm.iter().map(|&p| dims[p]).collect()
}

/// The permutation that undoes `perm`.
pub(crate) fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    inverse
}

/// Transposes packed elements of `element` bytes from `shape` into the
/// axis order `perm` (see [`permutation`]), in one pass into a new buffer.
pub(crate) fn transpose(data: &[u8], shape: &[usize], element: usize, perm: &[usize]) -> Vec<u8> {
    let rank = shape.len();
    let mut out = Vec::with_capacity(data.len());
    if data.is_empty() || rank == 0 {
        out.extend_from_slice(data);
        return out;
    }
    let mut strides = vec![1usize; rank];
    for axis in (0..rank - 1).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    let out_shape = permute(shape, perm);
    let out_strides = permute(&strides, perm);
    let (inner_len, inner_stride) = (out_shape[rank - 1], out_strides[rank - 1]);
    let mut index = vec![0usize; rank - 1];
    loop {
        let base: usize = index.iter().zip(&out_strides).map(|(i, s)| i * s).sum();
        for k in 0..inner_len {
            let at = (base + k * inner_stride) * element;
            out.extend_from_slice(&data[at..at + element]);
        }
        // Next index over the outer axes, last fastest.
        let mut axis = rank - 1;
        loop {
            if axis == 0 {
                return out;
            }
            axis -= 1;
            index[axis] += 1;
            if index[axis] < out_shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhwc_to_nchw() {
        let perm = permutation("NHWC", "NCHW", 4).unwrap();
        assert_eq!(perm, [0, 3, 1, 2]);
        assert_eq!(permute(&[1, 224, 224, 3], &perm), [1, 3, 224, 224]);
        assert_eq!(inverse(&perm), [0, 2, 3, 1]);
        // One image of 1x2 pixels, 3 channels: [[p0c0,p0c1,p0c2],[p1c0,...]].
        let data: Vec<u8> = (0..6).collect();
        let out = transpose(&data, &[1, 1, 2, 3], 1, &perm);
        assert_eq!(out, [0, 3, 1, 4, 2, 5]);
        let back = transpose(&out, &[1, 3, 1, 2], 1, &inverse(&perm));
        assert_eq!(back, data);
    }

    #[test]
    fn elements_move_whole() {
        let data: Vec<u8> = (0u16..6).flat_map(|v| v.to_le_bytes()).collect();
        let out = transpose(&data, &[2, 3], 2, &[1, 0]);
        let values: Vec<u16> = out
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(values, [0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn bad_conversions_are_named() {
        assert!(permutation("N?HW", "NHW?", 4).is_err());
        assert!(permutation("NHWC", "NCHW", 3).is_err());
        assert!(permutation("NHWC", "NCHX", 4).is_err());
    }

    #[test]
    fn axes_by_letter() {
        let nhwc = InputLayout::parse("NHWC:NCHW");
        assert_eq!(nhwc.client_axis('C', 4), Some(3));
        assert_eq!(nhwc.conversion(), Some(("NHWC", "NCHW")));
        let open = InputLayout::parse("N...C");
        assert_eq!(open.client_axis('C', 4), Some(3));
        assert_eq!(open.client_axis('N', 4), Some(0));
        assert_eq!(open.conversion(), None);
        assert_eq!(InputLayout::default().client_axis('C', 4), None);
    }
}
