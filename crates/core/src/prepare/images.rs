//! Encoded images (JPEG, PNG) sent as `BYTES` to a numeric NHWC input,
//! decoded into the input's tensor as OVMS does with its binary inputs.

use base64::Engine;
use bytes::Bytes;
use inferd_image::{Channels, ImageTarget, can_hold_pixels, decode_batch};
use inferd_tensor::{DataType, Dim, TensorData, TensorSpec, format_shape};

use super::layout::InputLayout;
use crate::{ContentEncoding, InferInput, ValidationError};

/// Whether an input takes encoded images, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageInput {
    /// Images are decoded to this.
    Takes(ImageTarget),
    /// Why images sent to it are refused.
    Refuses(String),
}

fn nhwc_compatible(layout: &InputLayout) -> bool {
    match layout.client.as_deref() {
        None | Some("N...") | Some("...") => true,
        Some(l) => l.len() == 4 && l.ends_with("HWC"),
    }
}

/// How the numeric input `spec` (as clients see it) takes images; `None`
/// for `BYTES` inputs, which take strings as they are.
pub(crate) fn image_input(spec: &TensorSpec, layout: &InputLayout) -> Option<ImageInput> {
    if spec.dtype == DataType::Bytes {
        return None;
    }
    let refuse = |why: String| Some(ImageInput::Refuses(why));
    if !can_hold_pixels(spec.dtype) {
        return refuse(format!("a {} input does not take images", spec.dtype));
    }
    let [_, height, width, channels] = spec.shape[..] else {
        return refuse(format!(
            "images need an input of 4 dimensions (N,H,W,C); this one's shape is {}",
            format_shape(&spec.shape)
        ));
    };
    if !nhwc_compatible(layout) {
        return refuse(format!(
            "images need an N...HWC layout; this input's layout is {} (set e.g. --layout NHWC:NCHW)",
            layout.client.as_deref().unwrap_or_default()
        ));
    }
    let channels = match channels {
        Dim::Fixed(1) => Channels::Grey,
        Dim::Fixed(3) | Dim::Any => Channels::Bgr,
        Dim::Range(lo, hi) if (lo..=hi).contains(&3) => Channels::Bgr,
        other => {
            return refuse(format!(
                "the input takes {other} channels; images decode to 1 (grey) or 3 (BGR)"
            ));
        }
    };
    Some(ImageInput::Takes(ImageTarget {
        height,
        width,
        channels,
        dtype: spec.dtype,
    }))
}

/// Decodes a `BYTES` input of shape `[N]` holding `N` encoded images into
/// the input's `[N, H, W, C]` tensor (on the calling thread, using up to
/// `threads` threads for the images).
pub(crate) fn decode_images(
    input: InferInput,
    target: &ImageTarget,
    threads: usize,
) -> Result<InferInput, ValidationError> {
    let name = input.name;
    let binary = |message: String| ValidationError::BinaryInput {
        name: name.clone(),
        message,
    };
    if input.shape.len() != 1 {
        return Err(binary(format!(
            "send encoded images as BYTES of shape [N], not {}",
            format_shape(&input.shape)
        )));
    }
    let TensorData::Strings(mut images) = input.data else {
        return Err(binary("BYTES content expected".into()));
    };
    if images.len() as i64 != input.shape[0] {
        return Err(ValidationError::ValueCount {
            name,
            expected: usize::try_from(input.shape[0]).unwrap_or(0),
            actual: images.len(),
        });
    }
    if input.encoding == ContentEncoding::JsonStrings {
        for (index, image) in images.iter_mut().enumerate() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(image.as_ref())
                .map_err(|e| ValidationError::Image {
                    name: name.clone(),
                    index,
                    message: format!("JSON strings must hold base64: {e}"),
                })?;
            *image = Bytes::from(decoded);
        }
    }
    let batch = decode_batch(&images, target, threads).map_err(|e| ValidationError::Image {
        name: name.clone(),
        index: e.index,
        message: e.error.to_string(),
    })?;
    Ok(InferInput {
        name,
        dtype: target.dtype,
        shape: batch.shape.iter().map(|&d| d as i64).collect(),
        data: TensorData::Raw(Bytes::from(batch.data)),
        encoding: ContentEncoding::Raw,
        parameters: input.parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(shape: Vec<Dim>) -> TensorSpec {
        TensorSpec::new("image", DataType::F32, shape)
    }

    #[test]
    fn nhwc_inputs_take_images() {
        let nhwc = spec(vec![
            Dim::Any,
            Dim::Fixed(224),
            Dim::Fixed(224),
            Dim::Fixed(3),
        ]);
        let Some(ImageInput::Takes(target)) = image_input(&nhwc, &InputLayout::default()) else {
            panic!("takes images")
        };
        assert_eq!(target.channels, Channels::Bgr);
        assert_eq!(target.height, Dim::Fixed(224));
        let grey = spec(vec![Dim::Any, Dim::Any, Dim::Any, Dim::Fixed(1)]);
        assert!(matches!(
            image_input(&grey, &InputLayout::parse("NHWC")),
            Some(ImageInput::Takes(ImageTarget {
                channels: Channels::Grey,
                ..
            }))
        ));
    }

    #[test]
    fn other_inputs_refuse_with_a_reason() {
        let nchw = spec(vec![Dim::Any, Dim::Fixed(3), Dim::Fixed(8), Dim::Fixed(8)]);
        let Some(ImageInput::Refuses(why)) = image_input(&nchw, &InputLayout::parse("NCHW")) else {
            panic!("refuses")
        };
        assert!(why.contains("NHWC:NCHW"), "{why}");
        let flat = spec(vec![Dim::Any, Dim::Fixed(4)]);
        assert!(matches!(
            image_input(&flat, &InputLayout::default()),
            Some(ImageInput::Refuses(_))
        ));
        let four = spec(vec![Dim::Any, Dim::Any, Dim::Any, Dim::Fixed(4)]);
        assert!(matches!(
            image_input(&four, &InputLayout::default()),
            Some(ImageInput::Refuses(_))
        ));
        let strings = TensorSpec::new("s", DataType::Bytes, vec![Dim::Any]);
        assert_eq!(image_input(&strings, &InputLayout::default()), None);
    }
}
