//! Per-version statistics in the shape of Triton's statistics extension:
//! counts and cumulative nanoseconds, kept in atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

/// A count and the nanoseconds spent in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Duration {
    /// How many times.
    pub count: u64,
    /// Nanoseconds in all.
    pub ns: u64,
}

#[derive(Default)]
struct Accumulator {
    count: AtomicU64,
    ns: AtomicU64,
}

impl Accumulator {
    fn add(&self, spent: StdDuration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn read(&self) -> Duration {
        Duration {
            count: self.count.load(Ordering::Relaxed),
            ns: self.ns.load(Ordering::Relaxed),
        }
    }
}

/// Live statistics of one model version.
#[derive(Default)]
pub struct VersionStats {
    success: Accumulator,
    fail: Accumulator,
    queue: Accumulator,
    compute_input: Accumulator,
    compute_infer: Accumulator,
    compute_output: Accumulator,
    execution_count: AtomicU64,
    last_inference_ms: AtomicU64,
}

/// A copy of [`VersionStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Requests answered, and their time in the server.
    pub success: Duration,
    /// Requests that failed, and their time in the server.
    pub fail: Duration,
    /// Waiting for an execution slot.
    pub queue: Duration,
    /// Checking and preparing inputs.
    pub compute_input: Duration,
    /// Running the engine.
    pub compute_infer: Duration,
    /// Collecting outputs.
    pub compute_output: Duration,
    /// Successful inferences.
    pub inference_count: u64,
    /// Engine executions.
    pub execution_count: u64,
    /// Milliseconds since the Unix epoch of the last finished request; 0 if none.
    pub last_inference_ms: u64,
}

impl VersionStats {
    pub(crate) fn executed(&self, wait: StdDuration, infer: StdDuration) {
        self.queue.add(wait);
        self.compute_infer.add(infer);
        self.execution_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn input_prepared(&self, spent: StdDuration) {
        self.compute_input.add(spent);
    }

    pub(crate) fn output_collected(&self, spent: StdDuration) {
        self.compute_output.add(spent);
    }

    pub(crate) fn finished(&self, ok: bool, spent: StdDuration) {
        if ok {
            self.success.add(spent);
        } else {
            self.fail.add(spent);
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.last_inference_ms.store(now_ms, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let success = self.success.read();
        StatsSnapshot {
            success,
            fail: self.fail.read(),
            queue: self.queue.read(),
            compute_input: self.compute_input.read(),
            compute_infer: self.compute_infer.read(),
            compute_output: self.compute_output.read(),
            inference_count: success.count,
            execution_count: self.execution_count.load(Ordering::Relaxed),
            last_inference_ms: self.last_inference_ms.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_accumulate_per_kind() {
        let stats = VersionStats::default();
        stats.executed(StdDuration::from_nanos(5), StdDuration::from_nanos(100));
        stats.executed(StdDuration::from_nanos(7), StdDuration::from_nanos(50));
        stats.input_prepared(StdDuration::from_nanos(3));
        stats.output_collected(StdDuration::from_nanos(4));
        stats.finished(true, StdDuration::from_nanos(200));
        stats.finished(false, StdDuration::from_nanos(20));
        let s = stats.snapshot();
        assert_eq!(s.queue, Duration { count: 2, ns: 12 });
        assert_eq!(s.compute_infer, Duration { count: 2, ns: 150 });
        assert_eq!(s.compute_input, Duration { count: 1, ns: 3 });
        assert_eq!(s.compute_output, Duration { count: 1, ns: 4 });
        assert_eq!(s.success, Duration { count: 1, ns: 200 });
        assert_eq!(s.fail, Duration { count: 1, ns: 20 });
        assert_eq!((s.inference_count, s.execution_count), (1, 2));
        assert!(s.last_inference_ms > 0);
    }
}
