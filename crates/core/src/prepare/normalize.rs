//! `color_format`, `mean` and `scale` applied by the server, for engines
//! that do not apply them: the same steps, in the same order, as
//! OpenVINO's pre-processing (reverse the channels, subtract, divide).

use bytes::Bytes;
use inferd_backend::InputPreprocessing;
use inferd_tensor::{DataType, Dim, Tensor, TensorData, TensorSpec};

use super::layout::InputLayout;

/// One input's pre-processing, checked against its client-side spec.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Normalize {
    /// Client-layout axis of the channels (`C`).
    channel_axis: usize,
    reverse: bool,
    /// One value per channel, or one for all.
    mean: Vec<f32>,
    scale: Vec<f32>,
}

impl Normalize {
    /// The steps for `spec` (as clients send it, laid out as `layout` says);
    /// `None` when there is nothing to do.
    pub fn new(
        pre: &InputPreprocessing,
        spec: &TensorSpec,
        layout: &InputLayout,
    ) -> Result<Option<Self>, String> {
        let mean = pre.mean.clone().unwrap_or_default();
        let scale = pre.scale.clone().unwrap_or_default();
        if !pre.reverse_channels && mean.is_empty() && scale.is_empty() {
            return Ok(None);
        }
        let name = &spec.name;
        if (!mean.is_empty() || !scale.is_empty()) && spec.dtype != DataType::F32 {
            return Err(format!(
                "mean and scale of input {name} ({}): without OpenVINO they apply to FP32 inputs only",
                spec.dtype
            ));
        }
        let per_channel = pre.reverse_channels || mean.len() > 1 || scale.len() > 1;
        let channel_axis = match layout.client_axis('C', spec.shape.len()) {
            Some(axis) => axis,
            None if !per_channel => spec.shape.len().saturating_sub(1),
            None => {
                return Err(format!(
                    "color_format, or mean/scale with one value per channel, of input {name} \
                     need its layout (e.g. \"layout\": \"NHWC\") to find the channels"
                ));
            }
        };
        for (what, values) in [("mean", &mean), ("scale", &scale)] {
            if values.len() <= 1 {
                continue;
            }
            if spec.shape.get(channel_axis) != Some(&Dim::Fixed(values.len() as u64)) {
                return Err(format!(
                    "{what} of input {name} has {} values; its channel dimension is {}",
                    values.len(),
                    spec.shape
                        .get(channel_axis)
                        .map_or_else(|| "missing".to_string(), |d| d.to_string())
                ));
            }
        }
        Ok(Some(Normalize {
            channel_axis,
            reverse: pre.reverse_channels,
            mean,
            scale,
        }))
    }

    /// Applies the steps to a validated tensor of the input.
    pub fn apply(&self, tensor: Tensor) -> Tensor {
        let TensorData::Raw(bytes) = tensor.data() else {
            return tensor;
        };
        let shape = tensor.shape();
        let channels = shape.get(self.channel_axis).copied().unwrap_or(1);
        let outer: usize = shape[..self.channel_axis.min(shape.len())].iter().product();
        let inner: usize = shape
            .get(self.channel_axis + 1..)
            .map_or(1, |rest| rest.iter().product());
        let element = tensor.dtype().size_bytes().unwrap_or(1);
        let arithmetic = !self.mean.is_empty() || !self.scale.is_empty();
        let value_of = |values: &[f32], c: usize, default: f32| match values {
            [] => default,
            [one] => *one,
            many => many[c],
        };
        let block = inner * element;
        let mut out = Vec::with_capacity(bytes.len());
        for o in 0..outer {
            for c in 0..channels {
                let source_channel = if self.reverse { channels - 1 - c } else { c };
                let at = (o * channels + source_channel) * block;
                let source = &bytes[at..at + block];
                if !arithmetic {
                    out.extend_from_slice(source);
                    continue;
                }
                let mean = value_of(&self.mean, c, 0.0);
                let scale = value_of(&self.scale, c, 1.0);
                for value in source.chunks_exact(4) {
                    let x = f32::from_le_bytes([value[0], value[1], value[2], value[3]]);
                    out.extend_from_slice(&((x - mean) / scale).to_le_bytes());
                }
            }
        }
        Tensor::new(
            tensor.dtype(),
            shape.to_vec(),
            TensorData::Raw(Bytes::from(out)),
        )
        .unwrap_or(tensor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(tensor: &Tensor) -> Vec<f32> {
        let TensorData::Raw(bytes) = tensor.data() else {
            panic!("raw")
        };
        bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    fn nhwc(values: &[f32], h: usize, w: usize) -> Tensor {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new(
            DataType::F32,
            vec![1, h, w, 3],
            TensorData::Raw(bytes.into()),
        )
        .unwrap()
    }

    #[test]
    fn reverse_then_mean_then_scale_per_channel() {
        let spec = TensorSpec::new(
            "x",
            DataType::F32,
            vec![Dim::Any, Dim::Any, Dim::Any, Dim::Fixed(3)],
        );
        let pre = InputPreprocessing {
            reverse_channels: true,
            mean: Some(vec![1.0, 2.0, 3.0]),
            scale: Some(vec![2.0]),
        };
        let steps = Normalize::new(&pre, &spec, &InputLayout::parse("NHWC"))
            .unwrap()
            .unwrap();
        // One pixel (b, g, r) = (10, 20, 30) → (r, g, b) - mean, / 2.
        let out = steps.apply(nhwc(&[10.0, 20.0, 30.0], 1, 1));
        assert_eq!(floats(&out), [14.5, 9.0, 3.5]);
    }

    #[test]
    fn per_channel_values_need_a_layout_and_a_matching_dimension() {
        let spec = TensorSpec::new("x", DataType::F32, vec![Dim::Any, Dim::Fixed(3)]);
        let three = InputPreprocessing {
            mean: Some(vec![1.0, 2.0, 3.0]),
            ..Default::default()
        };
        assert!(Normalize::new(&three, &spec, &InputLayout::default()).is_err());
        assert!(Normalize::new(&three, &spec, &InputLayout::parse("NC")).is_ok());
        let four = InputPreprocessing {
            scale: Some(vec![1.0; 4]),
            ..Default::default()
        };
        assert!(Normalize::new(&four, &spec, &InputLayout::parse("NC")).is_err());
        let one = InputPreprocessing {
            mean: Some(vec![1.0]),
            ..Default::default()
        };
        assert!(Normalize::new(&one, &spec, &InputLayout::default()).is_ok());
        let ints = TensorSpec::new("x", DataType::I32, vec![Dim::Any]);
        assert!(Normalize::new(&one, &ints, &InputLayout::default()).is_err());
    }
}
