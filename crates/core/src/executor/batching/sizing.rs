//! How large a batch pays: the engine's time per row, learnt per batch-size
//! band. Matrix products get cheaper per row as batches grow; convolutions
//! on a CPU often get dearer once a batch's activations leave the caches.
//! Batches are kept within the largest band about as cheap per row as the
//! cheapest one, unless that is the largest band seen so far (then they may
//! grow, to learn more), so batching never costs throughput; every so often
//! a batch may reach the next band up, so that a change in the engine's
//! behaviour is seen without ever paying for a batch far beyond the best.

use std::sync::Mutex;
use std::time::Duration;

/// Bands of batch sizes: 1, 2-3, 4-7, ... (band b holds 2^b to 2^(b+1)-1).
const BANDS: usize = 16;
/// Weight of the newest run in a band's running mean.
const NEWEST_WEIGHT: f64 = 0.2;
/// Bands within this factor of the cheapest cost per row count as as cheap.
const TOLERANCE: f64 = 1.1;
/// Runs a band needs before its cost counts.
const MIN_SAMPLES: u32 = 3;
/// One batch in this many may grow one band beyond the limit.
const EXPLORE_EVERY: u64 = 32;

#[derive(Debug, Default)]
struct Costs {
    /// Nanoseconds per row, per band (a running mean), and its runs.
    per_row: [(f64, u32); BANDS],
    /// Batches formed so far.
    formed: u64,
}

/// Learnt engine cost per row by batch size (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct BatchSizing {
    costs: Mutex<Costs>,
}

fn band(rows: usize) -> usize {
    (usize::BITS - 1 - rows.max(1).leading_zeros()) as usize
}

impl BatchSizing {
    /// Learns from one engine call of `rows` rows that took `took`.
    pub(crate) fn record(&self, rows: usize, took: Duration) {
        let sample = took.as_nanos() as f64 / rows.max(1) as f64;
        let mut costs = self.costs.lock().unwrap_or_else(|p| p.into_inner());
        let (mean, runs) = &mut costs.per_row[band(rows).min(BANDS - 1)];
        *mean = if *runs == 0 {
            sample
        } else {
            *mean + NEWEST_WEIGHT * (sample - *mean)
        };
        *runs = runs.saturating_add(1);
    }

    /// The most rows the next batch should hold, at most `max_rows`.
    pub(crate) fn limit(&self, max_rows: usize) -> usize {
        let mut costs = self.costs.lock().unwrap_or_else(|p| p.into_inner());
        costs.formed += 1;
        let explore = costs.formed.is_multiple_of(EXPLORE_EVERY);
        let measured: Vec<(usize, f64)> = costs
            .per_row
            .iter()
            .enumerate()
            .filter(|(_, (_, runs))| *runs >= MIN_SAMPLES)
            .map(|(b, (mean, _))| (b, *mean))
            .collect();
        let cheapest = measured.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
        let largest_as_cheap = measured
            .iter()
            .filter(|m| m.1 <= cheapest * TOLERANCE)
            .map(|m| m.0)
            .max();
        match (largest_as_cheap, measured.last()) {
            // Larger batches were seen and cost more per row: stay in the band.
            (Some(band), Some(&(largest, _))) if band < largest => {
                let band = band + usize::from(explore);
                ((1usize << (band + 1)) - 1).clamp(1, max_rows)
            }
            _ => max_rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizing after `MIN_SAMPLES` runs of each (rows, microseconds).
    fn learnt(samples: &[(usize, u64)]) -> BatchSizing {
        let sizing = BatchSizing::default();
        for _ in 0..MIN_SAMPLES {
            for &(rows, micros) in samples {
                sizing.record(rows, Duration::from_micros(micros));
            }
        }
        sizing
    }

    #[test]
    fn nothing_learnt_means_no_limit() {
        assert_eq!(BatchSizing::default().limit(64), 64);
    }

    #[test]
    fn batches_that_get_cheaper_per_row_are_not_limited() {
        let sizing = learnt(&[(1, 100), (4, 200), (16, 400), (64, 1000)]);
        assert_eq!(sizing.limit(64), 64);
    }

    #[test]
    fn batches_that_get_dearer_per_row_stay_in_the_cheapest_band() {
        // 70 ms per row alone, 60 at 2-3 rows, 90 at 16-31 rows.
        let sizing = learnt(&[(1, 70_000), (2, 120_000), (20, 1_800_000)]);
        assert_eq!(sizing.limit(64), 3);
        // Within the tolerance counts as as cheap: the larger band wins.
        let sizing = learnt(&[(1, 100), (2, 180), (8, 760), (32, 6400)]);
        assert_eq!(sizing.limit(64), 15);
        // The largest band seen is the cheapest: batches may grow.
        let sizing = learnt(&[(1, 100), (8, 880)]);
        assert_eq!(sizing.limit(64), 64);
    }

    #[test]
    fn a_band_counts_after_a_few_runs() {
        let sizing = learnt(&[(1, 100)]);
        sizing.record(20, Duration::from_millis(100));
        assert_eq!(sizing.limit(64), 64);
    }

    #[test]
    fn every_so_often_a_batch_may_grow_one_band() {
        let sizing = learnt(&[(1, 100), (8, 2000)]);
        let limits: Vec<usize> = (0..EXPLORE_EVERY).map(|_| sizing.limit(64)).collect();
        // One band up (2-3 rows), not the whole way.
        assert_eq!(limits.iter().filter(|&&l| l == 3).count(), 1);
        assert!(limits.iter().filter(|&&l| l != 3).all(|&l| l == 1));
    }
}
