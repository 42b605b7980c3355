//! Bilinear resizing of 8-bit interleaved pixels with OpenCV's conventions
//! (`cv::resize`, `INTER_LINEAR`): pixel centres aligned, edges clamped,
//! 11-bit fixed-point weights, rounding once at the end. Written here rather
//! than taken from a resizing crate because those filter (area-average) when
//! shrinking, which gives other numbers than the OpenCV that OVMS uses.

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// One output coordinate: the two source indices and their weights.
#[derive(Debug, Clone, Copy)]
struct Tap {
    first: usize,
    second: usize,
    first_weight: i32,
    second_weight: i32,
}

fn taps(source: usize, target: usize) -> Vec<Tap> {
    let scale = source as f64 / target as f64;
    (0..target)
        .map(|d| {
            let position = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut index = position.floor() as i64;
            let mut fraction = position - index as f32;
            if index < 0 {
                index = 0;
                fraction = 0.0;
            }
            if index >= source as i64 - 1 {
                index = source as i64 - 1;
                fraction = 0.0;
            }
            let first = index as usize;
            Tap {
                first,
                second: (first + 1).min(source - 1),
                first_weight: ((1.0 - fraction) * COEF_SCALE).round() as i32,
                second_weight: (fraction * COEF_SCALE).round() as i32,
            }
        })
        .collect()
}

/// Resizes `source` (`height × width × channels` bytes) to
/// `target_height × target_width`; the same size is returned as is.
pub fn resize_bilinear(
    source: &[u8],
    (height, width): (usize, usize),
    channels: usize,
    (target_height, target_width): (usize, usize),
) -> Vec<u8> {
    if (height, width) == (target_height, target_width) {
        return source.to_vec();
    }
    let columns = taps(width, target_width);
    let rows = taps(height, target_height);
    let row_len = target_width * channels;
    // Horizontally resized source rows, kept while consecutive output rows
    // read them (scaled by 2^COEF_BITS).
    let mut cached: [(usize, Vec<i32>); 2] = [
        (usize::MAX, vec![0; row_len]),
        (usize::MAX, vec![0; row_len]),
    ];
    let horizontal = |y: usize, out: &mut Vec<i32>| {
        let line = &source[y * width * channels..(y + 1) * width * channels];
        for (x, tap) in columns.iter().enumerate() {
            let a = &line[tap.first * channels..(tap.first + 1) * channels];
            let b = &line[tap.second * channels..(tap.second + 1) * channels];
            for c in 0..channels {
                out[x * channels + c] =
                    i32::from(a[c]) * tap.first_weight + i32::from(b[c]) * tap.second_weight;
            }
        }
    };
    let mut output = Vec::with_capacity(target_height * row_len);
    for tap in &rows {
        if cached[0].0 != tap.first {
            if cached[1].0 == tap.first {
                cached.swap(0, 1);
            } else {
                horizontal(tap.first, &mut cached[0].1);
                cached[0].0 = tap.first;
            }
        }
        if cached[1].0 != tap.second {
            let [top, bottom] = &mut cached;
            if tap.second == tap.first {
                bottom.1.clone_from(&top.1);
            } else {
                horizontal(tap.second, &mut bottom.1);
            }
            bottom.0 = tap.second;
        }
        let (top, bottom) = (&cached[0].1, &cached[1].1);
        let round = 1i64 << (2 * COEF_BITS - 1);
        output.extend(top.iter().zip(bottom).map(|(&t, &b)| {
            let value = i64::from(t) * i64::from(tap.first_weight)
                + i64::from(b) * i64::from(tap.second_weight)
                + round;
            (value >> (2 * COEF_BITS)).clamp(0, 255) as u8
        }));
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_a_copy() {
        let pixels = [1, 2, 3, 4];
        assert_eq!(resize_bilinear(&pixels, (2, 2), 1, (2, 2)), pixels);
    }

    #[test]
    fn upscaling_interpolates_between_centres() {
        // 1x2 → 1x4: centres at -0.25, 0.25, 0.75, 1.25 of the source.
        let out = resize_bilinear(&[0, 100], (1, 2), 1, (1, 4));
        assert_eq!(out, [0, 25, 75, 100]);
    }

    #[test]
    fn halving_averages_pairs_and_keeps_channels_apart() {
        let source = [0, 200, 100, 0, 0, 200, 100, 0];
        // 1x4 pixels of 2 channels → 1x2: each output is the mean of a pair.
        let out = resize_bilinear(&source, (1, 4), 2, (1, 2));
        assert_eq!(out, [50, 100, 50, 100]);
        let column = [10, 30, 50, 70];
        assert_eq!(resize_bilinear(&column, (4, 1), 1, (2, 1)), [20, 60]);
    }
}
