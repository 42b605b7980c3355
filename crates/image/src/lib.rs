//! Encoded images (JPEG, PNG) into model input tensors, as OVMS prepares its
//! binary inputs: decoded to NHWC in BGR order (grey for one-channel
//! inputs), values 0-255, resized (bilinear, OpenCV's pixel-centre
//! convention) to the input's height and width when they are fixed, clamped
//! into a range, or left as decoded when dynamic; every image of a batch to
//! the size of the first.

mod batch;
mod convert;
mod decode;
mod resize;

pub use batch::{BatchError, DecodedBatch, ImageTarget, decode_batch};
pub use convert::can_hold_pixels;
pub use decode::{Channels, Pixels, decode, probe};
pub use resize::resize_bilinear;

/// The most pixels one image, or the images of one request together, may
/// have (about 8K × 6K): a larger header is refused before anything is
/// decoded.
pub const MAX_PIXELS: u64 = 50_000_000;

/// Why an image could not be turned into a tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Neither a JPEG nor a PNG signature.
    #[error("not a JPEG or PNG image")]
    UnknownFormat,
    /// The decoder refused the data.
    #[error("cannot decode the {format} image: {message}")]
    Decode {
        /// `JPEG` or `PNG`.
        format: &'static str,
        /// The decoder's words.
        message: String,
    },
    /// The header announces more pixels than [`MAX_PIXELS`].
    #[error("{width}x{height} pixels is over the limit of {limit} pixels")]
    TooLarge {
        /// Width in the header.
        width: u64,
        /// Height in the header.
        height: u64,
        /// The limit.
        limit: u64,
    },
    /// The batch, at its images' size, would hold more than [`MAX_PIXELS`].
    #[error(
        "{images} images of {width}x{height} pixels are over the limit of {limit} pixels for one request"
    )]
    BatchTooLarge {
        /// Images up to and including this one.
        images: u64,
        /// Width of each.
        width: u64,
        /// Height of each.
        height: u64,
        /// The limit.
        limit: u64,
    },
    /// The decoded channels cannot become what the input takes.
    #[error("{0}")]
    Channels(String),
}
