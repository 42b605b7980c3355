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
/// `target_height × target_width`, reversing the channel order on the way
/// when `reverse`.
pub fn resize_bilinear(
    source: &[u8],
    (height, width): (usize, usize),
    channels: usize,
    (target_height, target_width): (usize, usize),
    reverse: bool,
) -> Vec<u8> {
    let order: Vec<usize> = if reverse {
        (0..channels).rev().collect()
    } else {
        (0..channels).collect()
    };
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
        if let [c0, c1, c2] = order[..] {
            // Three channels, the common case, unrolled.
            for (tap, out) in columns.iter().zip(out.chunks_exact_mut(3)) {
                let (a, b) = (tap.first * 3, tap.second * 3);
                let (wa, wb) = (tap.first_weight, tap.second_weight);
                out[0] = i32::from(line[a + c0]) * wa + i32::from(line[b + c0]) * wb;
                out[1] = i32::from(line[a + c1]) * wa + i32::from(line[b + c1]) * wb;
                out[2] = i32::from(line[a + c2]) * wa + i32::from(line[b + c2]) * wb;
            }
            return;
        }
        for (x, tap) in columns.iter().enumerate() {
            let a = &line[tap.first * channels..(tap.first + 1) * channels];
            let b = &line[tap.second * channels..(tap.second + 1) * channels];
            for (c, &from) in order.iter().enumerate() {
                out[x * channels + c] =
                    i32::from(a[from]) * tap.first_weight + i32::from(b[from]) * tap.second_weight;
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
        // Both weights are at most 2^11 and the rows at most 255 × 2^11:
        // the sum stays below 2^31.
        let round = 1i32 << (2 * COEF_BITS - 1);
        let (wt, wb) = (tap.first_weight, tap.second_weight);
        output.extend(
            top.iter()
                .zip(bottom)
                .map(|(&t, &b)| ((t * wt + b * wb + round) >> (2 * COEF_BITS)).clamp(0, 255) as u8),
        );
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_a_copy() {
        let pixels = [1, 2, 3, 4];
        assert_eq!(resize_bilinear(&pixels, (2, 2), 1, (2, 2), false), pixels);
        let rgb = [1, 2, 3, 4, 5, 6];
        assert_eq!(
            resize_bilinear(&rgb, (1, 2), 3, (1, 2), true),
            [3, 2, 1, 6, 5, 4]
        );
    }

    #[test]
    fn upscaling_interpolates_between_centres() {
        // 1x2 → 1x4: centres at -0.25, 0.25, 0.75, 1.25 of the source.
        let out = resize_bilinear(&[0, 100], (1, 2), 1, (1, 4), false);
        assert_eq!(out, [0, 25, 75, 100]);
    }

    #[test]
    fn halving_averages_pairs_and_keeps_channels_apart() {
        let source = [0, 200, 100, 0, 0, 200, 100, 0];
        // 1x4 pixels of 2 channels → 1x2: each output is the mean of a pair.
        let out = resize_bilinear(&source, (1, 4), 2, (1, 2), false);
        assert_eq!(out, [50, 100, 50, 100]);
        let column = [10, 30, 50, 70];
        assert_eq!(resize_bilinear(&column, (4, 1), 1, (2, 1), false), [20, 60]);
    }
}
