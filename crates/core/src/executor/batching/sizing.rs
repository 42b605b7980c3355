//! How large a batch pays: the engine's time per row, learnt per batch-size
//! band. Matrix products get cheaper per row as batches grow; convolutions
//! on a CPU often get dearer once a batch's activations leave the caches.
//! Batches are kept below the first band measured clearly dearer per row
//! than the cheapest smaller one, so batching never costs throughput; every
//! so often a batch may reach `max_batch_size` again, so that a change in
//! the engine's behaviour is seen.

use std::sync::Mutex;
use std::time::Duration;

/// Bands of batch sizes: 1, 2-3, 4-7, ... (band b holds 2^b to 2^(b+1)-1).
const BANDS: usize = 16;
/// Weight of the newest run in a band's running mean.
const NEWEST_WEIGHT: f64 = 0.2;
/// A band dearer per row than the cheapest smaller one by more than this
/// factor caps the batch size.
const TOLERANCE: f64 = 1.15;
/// One batch in this many may grow to `max_batch_size` whatever the costs.
const EXPLORE_EVERY: u64 = 32;

#[derive(Debug, Default)]
struct Costs {
    /// Nanoseconds per row, per band; `None` until measured.
    per_row: [Option<f64>; BANDS],
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
        let slot = &mut costs.per_row[band(rows).min(BANDS - 1)];
        *slot = Some(match *slot {
            Some(mean) => mean + NEWEST_WEIGHT * (sample - mean),
            None => sample,
        });
    }

    /// The most rows the next batch should hold, at most `max_rows`.
    pub(crate) fn limit(&self, max_rows: usize) -> usize {
        let mut costs = self.costs.lock().unwrap_or_else(|p| p.into_inner());
        costs.formed += 1;
        if costs.formed.is_multiple_of(EXPLORE_EVERY) {
            return max_rows;
        }
        let mut cheapest = f64::INFINITY;
        for (b, cost) in costs.per_row.iter().enumerate() {
            let Some(cost) = *cost else { continue };
            if cost > cheapest * TOLERANCE {
                // Band b (from 2^b rows) is dearer per row: stay below it.
                return ((1usize << b) - 1).clamp(1, max_rows);
            }
            cheapest = cheapest.min(cost);
        }
        max_rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learnt(samples: &[(usize, u64)]) -> BatchSizing {
        let sizing = BatchSizing::default();
        for &(rows, micros) in samples {
            sizing.record(rows, Duration::from_micros(micros));
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
    fn batches_that_get_dearer_per_row_are_kept_below_the_dearer_band() {
        // 70 ms per row alone, 60 at 2-3 rows, 90 at 16-31 rows.
        let sizing = learnt(&[(1, 70_000), (2, 120_000), (20, 1_800_000)]);
        assert_eq!(sizing.limit(64), 15);
        // Within the tolerance is not dearer.
        let sizing = learnt(&[(1, 100), (8, 880)]);
        assert_eq!(sizing.limit(64), 64);
    }

    #[test]
    fn every_so_often_a_batch_may_grow_again() {
        let sizing = learnt(&[(1, 100), (8, 2000)]);
        let limits: Vec<usize> = (0..EXPLORE_EVERY).map(|_| sizing.limit(64)).collect();
        assert_eq!(limits.iter().filter(|&&l| l == 64).count(), 1);
        assert!(limits.iter().filter(|&&l| l != 64).all(|&l| l == 7));
    }
}
