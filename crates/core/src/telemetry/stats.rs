//! Per-version statistics in the shape of Triton's statistics extension:
//! counts and cumulative nanoseconds, kept in atomics.

use std::collections::BTreeMap;
use std::sync::Mutex;
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
    inference_count: AtomicU64,
    execution_count: AtomicU64,
    last_inference_ms: AtomicU64,
    batches: Mutex<BTreeMap<u64, BatchStats>>,
}

/// Engine executions of one batch size (Triton's `batch_stats` item).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Rows in the batch.
    pub batch_size: u64,
    /// Joining the requests' inputs.
    pub compute_input: Duration,
    /// Running the engine.
    pub compute_infer: Duration,
    /// Handing out the outputs.
    pub compute_output: Duration,
}

fn add(d: &mut Duration, spent: StdDuration) {
    d.count += 1;
    d.ns =
        d.ns.saturating_add(u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX));
}

/// A copy of [`VersionStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Inferences answered: each row of a batched request counts (as Triton).
    pub inference_count: u64,
    /// Engine executions.
    pub execution_count: u64,
    /// Milliseconds since the Unix epoch of the last finished request; 0 if none.
    pub last_inference_ms: u64,
    /// Executions per batch size, by size.
    pub batches: Vec<BatchStats>,
}

impl VersionStats {
    /// One request waited `wait` and its batch ran `infer`.
    pub(crate) fn request_ran(&self, wait: StdDuration, infer: StdDuration) {
        self.queue.add(wait);
        self.compute_infer.add(infer);
    }

    /// One engine execution of `rows` rows.
    pub(crate) fn batch_ran(
        &self,
        rows: usize,
        input: StdDuration,
        infer: StdDuration,
        output: StdDuration,
    ) {
        self.execution_count.fetch_add(1, Ordering::Relaxed);
        let mut batches = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        let size = rows as u64;
        let entry = batches.entry(size).or_insert(BatchStats {
            batch_size: size,
            ..Default::default()
        });
        add(&mut entry.compute_input, input);
        add(&mut entry.compute_infer, infer);
        add(&mut entry.compute_output, output);
    }

    /// A request of `rows` inferences was answered.
    pub(crate) fn inferred(&self, rows: usize) {
        self.inference_count
            .fetch_add(rows as u64, Ordering::Relaxed);
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
            inference_count: self.inference_count.load(Ordering::Relaxed),
            execution_count: self.execution_count.load(Ordering::Relaxed),
            last_inference_ms: self.last_inference_ms.load(Ordering::Relaxed),
            batches: self
                .batches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .copied()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_accumulate_per_kind() {
        let stats = VersionStats::default();
        stats.request_ran(StdDuration::from_nanos(5), StdDuration::from_nanos(100));
        stats.request_ran(StdDuration::from_nanos(7), StdDuration::from_nanos(50));
        let ms = StdDuration::from_millis(1);
        stats.batch_ran(2, ms, ms, ms);
        stats.batch_ran(1, ms, ms, ms);
        stats.batch_ran(2, ms, ms, ms);
        stats.inferred(2);
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
        assert_eq!((s.inference_count, s.execution_count), (2, 3));
        let sizes: Vec<(u64, u64)> = s
            .batches
            .iter()
            .map(|b| (b.batch_size, b.compute_infer.count))
            .collect();
        assert_eq!(sizes, [(1, 1), (2, 2)]);
        assert!(s.last_inference_ms > 0);
    }
}
