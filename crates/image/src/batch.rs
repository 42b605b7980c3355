//! A batch of encoded images into one NHWC tensor, images decoded in parallel.

use inferd_tensor::{DataType, Dim};

use crate::convert::write_pixels;
use crate::{Channels, ImageError, MAX_PIXELS, decode, probe, resize_bilinear};

/// What a model input takes: its height and width as declared, its
/// channels and its element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageTarget {
    /// The `H` dimension.
    pub height: Dim,
    /// The `W` dimension.
    pub width: Dim,
    /// Grey or BGR.
    pub channels: Channels,
    /// Element type the pixels are written as.
    pub dtype: DataType,
}

/// The images of one request as an `[N, H, W, C]` tensor's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBatch {
    /// `[N, H, W, C]`.
    pub shape: [usize; 4],
    /// Little-endian elements of the target's type.
    pub data: Vec<u8>,
}

/// The image of a batch that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image {index}: {error}")]
pub struct BatchError {
    /// Position in the batch, from 0.
    pub index: usize,
    /// What went wrong.
    pub error: ImageError,
}

fn fit(dim: Dim, decoded: usize) -> usize {
    match dim {
        Dim::Fixed(n) => n as usize,
        Dim::Range(lo, hi) => (decoded as u64).clamp(lo, hi) as usize,
        Dim::Any => decoded,
    }
}

/// Decodes `images` for `target`, using up to `threads` threads: the batch's
/// height and width are the target's when fixed, else the first image's
/// (clamped into a range); every image is resized to them.
pub fn decode_batch<B: AsRef<[u8]> + Sync>(
    images: &[B],
    target: &ImageTarget,
    threads: usize,
) -> Result<DecodedBatch, BatchError> {
    let (height, width) = match (target.height, target.width) {
        (Dim::Fixed(h), Dim::Fixed(w)) => (h as usize, w as usize),
        (h, w) => match images.first() {
            Some(first) => {
                let (decoded_w, decoded_h) =
                    probe(first.as_ref()).map_err(|error| BatchError { index: 0, error })?;
                (fit(h, decoded_h), fit(w, decoded_w))
            }
            None => (fit(h, 0), fit(w, 0)),
        },
    };
    // The whole batch is held at once: bound its pixels as one image's.
    let per_image_pixels = (height as u64).saturating_mul(width as u64).max(1);
    let fitting = MAX_PIXELS / per_image_pixels;
    if images.len() as u64 > fitting {
        return Err(BatchError {
            index: fitting as usize,
            error: ImageError::BatchTooLarge {
                images: fitting + 1,
                width: width as u64,
                height: height as u64,
                limit: MAX_PIXELS,
            },
        });
    }
    let channels = target.channels.count();
    let element = target.dtype.size_bytes().unwrap_or(1);
    let per_image = height * width * channels * element;
    let mut data = vec![0u8; per_image * images.len()];
    let one = |index: usize, out: &mut [u8]| -> Result<(), BatchError> {
        let pixels = decode(images[index].as_ref(), target.channels)
            .map_err(|error| BatchError { index, error })?;
        if (pixels.height, pixels.width) == (height, width) {
            write_pixels(&pixels.data, target.dtype, out, pixels.rgb);
        } else {
            let resized = resize_bilinear(
                &pixels.data,
                (pixels.height, pixels.width),
                channels,
                (height, width),
                pixels.rgb,
            );
            write_pixels(&resized, target.dtype, out, false);
        }
        Ok(())
    };
    let threads = threads.clamp(1, images.len().max(1));
    if threads == 1 || per_image == 0 {
        for (index, out) in data.chunks_exact_mut(per_image.max(1)).enumerate() {
            one(index, out)?;
        }
    } else {
        let chunks: Vec<(usize, &mut [u8])> =
            data.chunks_exact_mut(per_image).enumerate().collect();
        let per_thread = chunks.len().div_ceil(threads);
        let mut groups: Vec<Vec<(usize, &mut [u8])>> = Vec::new();
        let mut rest = chunks.into_iter();
        loop {
            let group: Vec<_> = rest.by_ref().take(per_thread).collect();
            if group.is_empty() {
                break;
            }
            groups.push(group);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|group| {
                    scope.spawn(move || {
                        group
                            .into_iter()
                            .try_for_each(|(index, out)| one(index, out))
                    })
                })
                .collect();
            // The lowest failing index wins, whichever thread saw it first.
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect::<Result<Vec<()>, BatchError>>()
        })?;
    }
    Ok(DecodedBatch {
        shape: [images.len(), height, width, channels],
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_declared_dimensions() {
        assert_eq!(fit(Dim::Fixed(224), 500), 224);
        assert_eq!(fit(Dim::Range(100, 200), 90), 100);
        assert_eq!(fit(Dim::Range(100, 200), 220), 200);
        assert_eq!(fit(Dim::Any, 37), 37);
    }

    #[test]
    fn a_batch_over_the_pixel_limit_is_refused_at_the_first_image_past_it() {
        let target = ImageTarget {
            height: Dim::Fixed(5000),
            width: Dim::Fixed(5000),
            channels: Channels::Bgr,
            dtype: DataType::F32,
        };
        let images: Vec<&[u8]> = vec![b"x"; 3];
        let error = decode_batch(&images, &target, 1).unwrap_err();
        assert_eq!(error.index, 2);
        assert!(matches!(
            error.error,
            ImageError::BatchTooLarge { images: 3, .. }
        ));
    }

    #[test]
    fn a_bad_image_is_named_by_its_index() {
        let target = ImageTarget {
            height: Dim::Fixed(2),
            width: Dim::Fixed(2),
            channels: Channels::Bgr,
            dtype: DataType::F32,
        };
        let images: Vec<&[u8]> = vec![b"junk", b"more junk"];
        let error = decode_batch(&images, &target, 2).unwrap_err();
        assert_eq!(error.index, 0);
        assert_eq!(error.error, ImageError::UnknownFormat);
    }
}
