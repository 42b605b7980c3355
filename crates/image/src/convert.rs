//! 8-bit pixel values into an input's element type, little-endian.

use half::{bf16, f16};
use inferd_tensor::DataType;

/// Whether pixels (0-255) can be written as `dtype`: numbers only; `INT8`
/// saturates at 127, as OpenCV's conversion does.
pub fn can_hold_pixels(dtype: DataType) -> bool {
    !matches!(dtype, DataType::Bytes | DataType::Bool)
}

/// Writes `pixels` into `out` (exactly `pixels.len()` elements of `dtype`);
/// with `reverse_three`, pixels of three channels have them reversed.
pub(crate) fn write_pixels(pixels: &[u8], dtype: DataType, out: &mut [u8], reverse_three: bool) {
    if reverse_three {
        let reversed: Vec<u8> = pixels
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect();
        return write_pixels(&reversed, dtype, out, false);
    }
    fn each<const N: usize>(pixels: &[u8], out: &mut [u8], f: impl Fn(u8) -> [u8; N]) {
        for (&p, slot) in pixels.iter().zip(out.chunks_exact_mut(N)) {
            slot.copy_from_slice(&f(p));
        }
    }
    match dtype {
        DataType::U8 => out.copy_from_slice(pixels),
        DataType::I8 => each(pixels, out, |p| [p.min(127)]),
        DataType::U16 => each(pixels, out, |p| u16::from(p).to_le_bytes()),
        DataType::I16 => each(pixels, out, |p| i16::from(p).to_le_bytes()),
        DataType::U32 => each(pixels, out, |p| u32::from(p).to_le_bytes()),
        DataType::I32 => each(pixels, out, |p| i32::from(p).to_le_bytes()),
        DataType::U64 => each(pixels, out, |p| u64::from(p).to_le_bytes()),
        DataType::I64 => each(pixels, out, |p| i64::from(p).to_le_bytes()),
        DataType::F16 => each(pixels, out, |p| f16::from(p).to_le_bytes()),
        DataType::BF16 => each(pixels, out, |p| bf16::from(p).to_le_bytes()),
        DataType::F32 => each(pixels, out, |p| f32::from(p).to_le_bytes()),
        DataType::F64 => each(pixels, out, |p| f64::from(p).to_le_bytes()),
        DataType::Bool | DataType::Bytes => {
            unreachable!("can_hold_pixels refuses {dtype}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_become_each_type() {
        let mut out = [0u8; 8];
        write_pixels(&[0, 255], DataType::F32, &mut out, false);
        assert_eq!(out[..], [0f32.to_le_bytes(), 255f32.to_le_bytes()].concat());
        let mut out = [0u8; 1];
        write_pixels(&[200], DataType::I8, &mut out, false);
        assert_eq!(out, [127]);
        let mut out = [0u8; 2];
        write_pixels(&[3], DataType::F16, &mut out, false);
        assert_eq!(out, f16::from_f32(3.0).to_le_bytes());
        let mut out = [0u8; 3];
        write_pixels(&[1, 2, 3], DataType::U8, &mut out, true);
        assert_eq!(out, [3, 2, 1]);
        assert!(!can_hold_pixels(DataType::Bytes));
        assert!(can_hold_pixels(DataType::U8));
    }
}
