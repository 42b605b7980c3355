//! One encoded image to 8-bit BGR or grey pixels.

use zune_core::bit_depth::ByteEndian;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_core::result::DecodingResult;
use zune_jpeg::JpegDecoder;
use zune_png::PngDecoder;

use crate::{ImageError, MAX_PIXELS};

/// Channels an input takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// One channel: luma.
    Grey,
    /// Three channels: blue, green, red (OpenCV's order, as OVMS).
    Bgr,
}

impl Channels {
    /// Values per pixel.
    pub fn count(self) -> usize {
        match self {
            Channels::Grey => 1,
            Channels::Bgr => 3,
        }
    }
}

/// Decoded 8-bit pixels, rows top to bottom, channels interleaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// What each pixel holds.
    pub channels: Channels,
    /// `height × width × channels` values.
    pub data: Vec<u8>,
    /// Three channels stored red first: reverse them for BGR. Left so
    /// because the JPEG decoder's vectorised colour conversion writes RGB;
    /// the resize or the type conversion reverses them on the way.
    pub rgb: bool,
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

enum Format {
    Jpeg,
    Png,
}

fn format_of(bytes: &[u8]) -> Result<Format, ImageError> {
    if bytes.starts_with(JPEG_MAGIC) {
        Ok(Format::Jpeg)
    } else if bytes.starts_with(PNG_MAGIC) {
        Ok(Format::Png)
    } else {
        Err(ImageError::UnknownFormat)
    }
}

fn options() -> DecoderOptions {
    // The pixel limit is checked on the header; the decoders' own
    // per-side limits are only a backstop.
    DecoderOptions::default()
        .set_max_width(1 << 24)
        .set_max_height(1 << 24)
        .set_strict_mode(false)
}

fn check_size(width: usize, height: usize) -> Result<(), ImageError> {
    let (width, height) = (width as u64, height as u64);
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            width,
            height,
            limit: MAX_PIXELS,
        });
    }
    Ok(())
}

fn jpeg_error(e: impl std::fmt::Display) -> ImageError {
    ImageError::Decode {
        format: "JPEG",
        message: e.to_string(),
    }
}

fn png_error(e: impl std::fmt::Display) -> ImageError {
    ImageError::Decode {
        format: "PNG",
        message: e.to_string(),
    }
}

type Jpeg<'a> = JpegDecoder<ZCursor<&'a [u8]>>;
type Png<'a> = PngDecoder<ZCursor<&'a [u8]>>;

/// A JPEG decoder writing `out`, its headers read and the pixel limit checked.
fn jpeg(bytes: &[u8], out: ColorSpace) -> Result<(Jpeg<'_>, usize, usize), ImageError> {
    let options = options().jpeg_set_out_colorspace(out);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(jpeg_error)?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| jpeg_error("no frame header"))?;
    check_size(width, height)?;
    Ok((decoder, width, height))
}

/// A PNG decoder, its headers read and the pixel limit checked. 16-bit
/// samples keep their high byte (as OpenCV's 8-bit conversion): big-endian
/// order puts it first, and stripping keeps the first.
fn png(bytes: &[u8]) -> Result<(Png<'_>, usize, usize), ImageError> {
    let options = options()
        .png_set_strip_to_8bit(true)
        .set_byte_endian(ByteEndian::BE);
    let mut decoder = PngDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(png_error)?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| png_error("no IHDR chunk"))?;
    check_size(width, height)?;
    Ok((decoder, width, height))
}

/// Width and height from the header alone, with the pixel limit checked.
pub fn probe(bytes: &[u8]) -> Result<(usize, usize), ImageError> {
    let (width, height) = match format_of(bytes)? {
        Format::Jpeg => jpeg(bytes, ColorSpace::RGB).map(|(_, w, h)| (w, h))?,
        Format::Png => png(bytes).map(|(_, w, h)| (w, h))?,
    };
    Ok((width, height))
}

/// Decodes a JPEG (baseline or progressive) or PNG (1-16 bits, grey, grey
/// with alpha, RGB, RGBA, palette) into `channels`: alpha is dropped,
/// 16-bit values keep their high byte, grey is repeated into BGR and
/// colour becomes luma with OpenCV's weights. The pixel limit is checked on
/// the header, before anything is decoded.
pub fn decode(bytes: &[u8], channels: Channels) -> Result<Pixels, ImageError> {
    match format_of(bytes)? {
        Format::Jpeg => decode_jpeg(bytes, channels),
        Format::Png => decode_png(bytes, channels),
    }
}

fn decode_jpeg(bytes: &[u8], channels: Channels) -> Result<Pixels, ImageError> {
    let wanted = match channels {
        Channels::Grey => ColorSpace::Luma,
        Channels::Bgr => ColorSpace::RGB,
    };
    let (mut decoder, width, height) = jpeg(bytes, wanted)?;
    let source = decoder
        .input_colorspace()
        .ok_or_else(|| jpeg_error("no frame header"))?;
    refuse_colour_for_grey(source, channels)?;
    if source == ColorSpace::Luma {
        // Grey files decode as luma only; it is repeated into BGR below.
        let options = decoder.options().jpeg_set_out_colorspace(ColorSpace::Luma);
        decoder.set_options(options);
    }
    let data = decoder.decode().map_err(jpeg_error)?;
    let got = decoder
        .output_colorspace()
        .ok_or_else(|| jpeg_error("no output colour space"))?;
    to_channels(width, height, got, data, channels)
}

fn decode_png(bytes: &[u8], channels: Channels) -> Result<Pixels, ImageError> {
    let (mut decoder, width, height) = png(bytes)?;
    let got = decoder
        .colorspace()
        .ok_or_else(|| png_error("no colour space"))?;
    refuse_colour_for_grey(got, channels)?;
    let data = match decoder.decode().map_err(png_error)? {
        DecodingResult::U8(data) => data,
        _ => return Err(png_error("samples were not reduced to 8 bits")),
    };
    to_channels(width, height, got, data, channels)
}

/// A colour image is refused by a one-channel input (its channel count is
/// wrong); a grey one given to a colour input is repeated into BGR.
fn refuse_colour_for_grey(source: ColorSpace, wanted: Channels) -> Result<(), ImageError> {
    let grey = matches!(source, ColorSpace::Luma | ColorSpace::LumaA);
    if wanted == Channels::Grey && !grey {
        return Err(ImageError::Channels(format!(
            "the image has {} colour channels; the input takes 1 (grey)",
            source.num_components().min(3)
        )));
    }
    Ok(())
}

/// OpenCV's luma: 0.299 R + 0.587 G + 0.114 B, in 14-bit fixed point.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    const R: u32 = 4899;
    const G: u32 = 9617;
    const B: u32 = 1868;
    ((R * u32::from(r) + G * u32::from(g) + B * u32::from(b) + (1 << 13)) >> 14) as u8
}

fn to_channels(
    width: usize,
    height: usize,
    got: ColorSpace,
    data: Vec<u8>,
    wanted: Channels,
) -> Result<Pixels, ImageError> {
    let components = got.num_components();
    if data.len() != width * height * components {
        return Err(ImageError::Channels(format!(
            "decoder returned {} bytes for {width}x{height} pixels of {components} channels",
            data.len()
        )));
    }
    // Byte offsets of (blue, green, red) in a pixel, or None for grey.
    let bgr = match got {
        ColorSpace::Luma | ColorSpace::LumaA => None,
        ColorSpace::RGB | ColorSpace::RGBA => Some((2, 1, 0)),
        ColorSpace::BGR | ColorSpace::BGRA => Some((0, 1, 2)),
        other => {
            return Err(ImageError::Channels(format!(
                "images in the {other:?} colour space are not supported"
            )));
        }
    };
    let rgb = wanted == Channels::Bgr && bgr == Some((2, 1, 0)) && components == 3;
    let data = match (wanted, bgr) {
        (Channels::Grey, None) if components == 1 => data,
        (Channels::Bgr, Some((0, 1, 2))) if components == 3 => data,
        _ if rgb => data,
        (Channels::Grey, None) => data.chunks_exact(components).map(|p| p[0]).collect(),
        (Channels::Grey, Some((b, g, r))) => data
            .chunks_exact(components)
            .map(|p| luma(p[r], p[g], p[b]))
            .collect(),
        (Channels::Bgr, None) => data
            .chunks_exact(components)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        (Channels::Bgr, Some((b, g, r))) => data
            .chunks_exact(components)
            .flat_map(|p| [p[b], p[g], p[r]])
            .collect(),
    };
    Ok(Pixels {
        width,
        height,
        channels: wanted,
        data,
        rgb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_matches_opencv_weights() {
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        // 0.299 * 255 = 76.2
        assert_eq!(luma(255, 0, 0), 76);
        assert_eq!(luma(0, 0, 255), 29);
    }

    #[test]
    fn unknown_and_broken_data_are_errors() {
        assert_eq!(
            decode(b"hello", Channels::Bgr),
            Err(ImageError::UnknownFormat)
        );
        let truncated = [0xFF, 0xD8, 0xFF, 0xE0, 0x00];
        assert!(matches!(
            decode(&truncated, Channels::Bgr),
            Err(ImageError::Decode { format: "JPEG", .. })
        ));
        let mut png = PNG_MAGIC.to_vec();
        png.extend_from_slice(b"garbage");
        assert!(matches!(
            decode(&png, Channels::Grey),
            Err(ImageError::Decode { format: "PNG", .. })
        ));
    }

    #[test]
    fn grey_becomes_bgr_and_colour_becomes_grey() {
        let grey = to_channels(2, 1, ColorSpace::Luma, vec![10, 20], Channels::Bgr).unwrap();
        assert_eq!(grey.data, [10, 10, 10, 20, 20, 20]);
        let rgba = to_channels(1, 1, ColorSpace::RGBA, vec![1, 2, 3, 255], Channels::Bgr).unwrap();
        assert_eq!((rgba.data, rgba.rgb), (vec![3, 2, 1], false));
        let rgb = to_channels(1, 1, ColorSpace::RGB, vec![1, 2, 3], Channels::Bgr).unwrap();
        assert_eq!((rgb.data, rgb.rgb), (vec![1, 2, 3], true));
        let rgb = to_channels(1, 1, ColorSpace::RGB, vec![255, 0, 0], Channels::Grey).unwrap();
        assert_eq!(rgb.data, [76]);
    }
}
