//! Element-level conversions shared by the frontends: packing lists of values
//! into little-endian bytes and reading them back.

use bytes::Bytes;
use half::{bf16, f16};

/// A fixed-size element type as it travels on the wire (little-endian).
pub trait Element: Copy {
    /// Bytes per element.
    const SIZE: usize;
    /// Reads one element from exactly `SIZE` bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Appends the element's bytes.
    fn write(self, out: &mut Vec<u8>);
}

macro_rules! element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(bytes: &[u8]) -> Self {
                let mut buf = [0u8; std::mem::size_of::<$t>()];
                buf.copy_from_slice(bytes);
                <$t>::from_le_bytes(buf)
            }
            fn write(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}

element!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64, f16, bf16);

/// Reads every element of a packed buffer.
pub fn read_all<'a, T: Element + 'a>(bytes: &'a [u8]) -> impl ExactSizeIterator<Item = T> + 'a {
    bytes.chunks_exact(T::SIZE).map(T::read)
}

/// Packs values into a little-endian buffer.
pub fn pack<T: Element>(values: impl IntoIterator<Item = T>) -> Bytes {
    let values = values.into_iter();
    let mut out = Vec::with_capacity(values.size_hint().0 * T::SIZE);
    for v in values {
        v.write(&mut out);
    }
    Bytes::from(out)
}

/// Packs values after narrowing each with `convert`; the first failure is returned.
pub fn pack_narrowed<S, T: Element, E>(
    values: &[S],
    convert: impl Fn(&S) -> Result<T, E>,
) -> Result<Bytes, E> {
    let mut out = Vec::with_capacity(values.len() * T::SIZE);
    for v in values {
        convert(v)?.write(&mut out);
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let packed = pack([1.5f32, -2.0]);
        assert_eq!(packed.len(), 8);
        assert_eq!(
            read_all::<f32>(&packed).collect::<Vec<_>>(),
            vec![1.5, -2.0]
        );
        let halves = pack([f16::from_f32(0.5)]);
        assert_eq!(read_all::<f16>(&halves).next().unwrap().to_f32(), 0.5);
    }

    #[test]
    fn narrowing_reports_failure() {
        let ok: Result<Bytes, _> = pack_narrowed(&[1i32, 127], |v| i8::try_from(*v));
        assert_eq!(ok.unwrap().as_ref(), &[1u8, 127]);
        let err: Result<Bytes, _> = pack_narrowed(&[1i32, 300], |v| i8::try_from(*v));
        assert!(err.is_err());
    }
}
