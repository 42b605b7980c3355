//! How long a model version's engine takes per request, learnt from the runs
//! so far; the scheduler uses it to decide where a run is made.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Weight of the newest run in the running mean (1/8).
const NEWEST_WEIGHT: f64 = 0.125;

/// An exponentially weighted mean of engine time per unit of work, where a
/// request's work is its input element count plus one (the fixed cost of a
/// call). Lock-free; concurrent updates may drop one sample, which an
/// estimate can afford.
#[derive(Debug)]
pub(crate) struct RunEstimate {
    /// `f64` nanoseconds per unit, as bits; infinite until the first run.
    nanos_per_unit: AtomicU64,
}

impl Default for RunEstimate {
    fn default() -> Self {
        RunEstimate {
            nanos_per_unit: AtomicU64::new(f64::INFINITY.to_bits()),
        }
    }
}

fn units(elements: usize) -> f64 {
    elements as f64 + 1.0
}

impl RunEstimate {
    fn rate(&self) -> f64 {
        f64::from_bits(self.nanos_per_unit.load(Ordering::Relaxed))
    }

    /// The expected engine time of a request with `elements` input elements;
    /// `None` before any run was seen.
    pub(crate) fn predict(&self, elements: usize) -> Option<Duration> {
        let rate = self.rate();
        rate.is_finite()
            .then(|| Duration::from_secs_f64(rate * units(elements) / 1e9))
    }

    /// Learns from one run of `elements` input elements that took `took`.
    pub(crate) fn record(&self, elements: usize, took: Duration) {
        let sample = took.as_nanos() as f64 / units(elements);
        let rate = self.rate();
        let next = if rate.is_finite() {
            rate + NEWEST_WEIGHT * (sample - rate)
        } else {
            sample
        };
        self.nanos_per_unit.store(next.to_bits(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(us: u64) -> Duration {
        Duration::from_micros(us)
    }

    #[test]
    fn unknown_until_the_first_run() {
        let estimate = RunEstimate::default();
        assert_eq!(estimate.predict(10), None);
        estimate.record(9, micros(20));
        assert_eq!(estimate.predict(9), Some(micros(20)));
    }

    #[test]
    fn scales_with_the_request_size() {
        let estimate = RunEstimate::default();
        estimate.record(99, micros(10));
        assert_eq!(estimate.predict(999), Some(micros(100)));
        assert_eq!(estimate.predict(0), Some(Duration::from_nanos(100)));
    }

    #[test]
    fn follows_a_change_in_run_time() {
        let estimate = RunEstimate::default();
        estimate.record(0, micros(10));
        estimate.record(0, micros(90));
        assert_eq!(estimate.predict(0), Some(micros(20)));
        for _ in 0..40 {
            estimate.record(0, micros(1000));
        }
        let predicted = estimate.predict(0).unwrap();
        assert!(predicted > micros(990), "{predicted:?}");
    }
}
