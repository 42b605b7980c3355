use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::run_estimate::RunEstimate;
use crate::CoreError;

/// Runs expected to take less than this are made on the async worker that
/// holds the request; longer ones (and any before the first has been timed)
/// go to a blocking thread, so that they never hold up other connections.
/// The hand-off to a blocking thread and back costs two thread wake-ups,
/// 20-50 µs of CPU per request on a small machine, which for a tiny model
/// is more than the model itself; tokio's guidance is at most 10-100 µs of
/// work between two awaits.
pub(super) const INLINE_RUN_LIMIT: Duration = Duration::from_micros(50);

/// How one model version admits and runs requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// Inferences that may run at once (`nireq`).
    pub nireq: usize,
    /// Requests that may wait or run at once before new ones are refused with
    /// RESOURCE_EXHAUSTED / 429.
    pub queue_capacity: usize,
}

impl SchedulerOptions {
    /// Default queue capacity per model version.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

    /// `nireq` from config (0 or absent: one per core) and the default queue.
    pub fn with_nireq(nireq: Option<u32>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let nireq = match nireq {
            Some(n) if n > 0 => n as usize,
            _ => cores,
        };
        SchedulerOptions {
            nireq,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY.max(nireq),
        }
    }
}

/// What a job returned, and how long it waited for a slot and ran.
pub struct Executed<R> {
    /// The job's result.
    pub value: R,
    /// Time from admission to a free execution slot.
    pub wait: Duration,
    /// Time the job ran.
    pub run: Duration,
}

/// Bounded admission in front of `nireq` concurrent executions on blocking threads.
pub struct Scheduler {
    model: String,
    permits: Arc<Semaphore>,
    pending: AtomicUsize,
    capacity: usize,
    estimate: RunEstimate,
}

struct PendingGuard<'a>(&'a AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Scheduler {
    /// A scheduler for model `model` (named in overload errors).
    pub fn new(model: &str, options: SchedulerOptions) -> Self {
        Scheduler {
            model: model.to_string(),
            permits: Arc::new(Semaphore::new(options.nireq.max(1))),
            pending: AtomicUsize::new(0),
            capacity: options.queue_capacity.max(1),
            estimate: RunEstimate::default(),
        }
    }

    /// Requests admitted and not yet finished.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Runs `job`, a request with `elements` input elements, once an
    /// execution slot is free: in place when the runs so far say it is short
    /// (under [`INLINE_RUN_LIMIT`]), else on a blocking thread. Refuses at
    /// once when the queue is full; a panicking job is an internal error.
    /// Never in place unless `may_run_in_place` (false when the engine says
    /// this run needs slow preparation first, such as compiling for new
    /// shapes).
    pub async fn run<R, F>(
        &self,
        elements: usize,
        may_run_in_place: bool,
        job: F,
    ) -> Result<Executed<R>, CoreError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(CoreError::Overloaded(self.model.clone()));
        }
        let _pending = PendingGuard(&self.pending);
        let admitted = Instant::now();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CoreError::Internal)?;
        let wait = admitted.elapsed();
        let timed = move || {
            let _permit = permit;
            let started = Instant::now();
            let value = job();
            (value, started.elapsed())
        };
        let short = may_run_in_place
            && self
                .estimate
                .predict(elements)
                .is_some_and(|t| t < INLINE_RUN_LIMIT);
        let outcome = if short {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(timed))
                .map_err(|_| "the inference panicked".to_string())
        } else {
            tokio::task::spawn_blocking(timed)
                .await
                .map_err(|e| e.to_string())
        };
        let (value, run) = outcome.map_err(|error| {
            tracing::error!(model = %self.model, %error, "inference task failed");
            CoreError::Internal
        })?;
        self.estimate.record(elements, run);
        Ok(Executed { value, wait, run })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_is_bounded_by_nireq() {
        let scheduler = Arc::new(Scheduler::new(
            "m",
            SchedulerOptions {
                nireq: 2,
                queue_capacity: 100,
            },
        ));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (scheduler, running, peak) = (scheduler.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                scheduler
                    .run(0, true, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(scheduler.pending(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_queue_is_refused_at_once() {
        let scheduler = Arc::new(Scheduler::new(
            "m",
            SchedulerOptions {
                nireq: 1,
                queue_capacity: 1,
            },
        ));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let scheduler = scheduler.clone();
            tokio::spawn(
                async move { scheduler.run(0, true, move || release_rx.recv().ok()).await },
            )
        };
        while scheduler.pending() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let refused = scheduler.run(0, true, || ()).await;
        assert!(matches!(refused, Err(CoreError::Overloaded(_))));
        release_tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert!(scheduler.run(0, true, || ()).await.is_ok());
    }

    #[tokio::test]
    async fn panicking_job_is_an_internal_error() {
        let scheduler = Scheduler::new("m", options());
        let result = scheduler
            .run(0, true, || -> () { panic!("backend bug") })
            .await;
        assert!(matches!(result, Err(CoreError::Internal)));
        assert!(scheduler.run(0, true, || 1).await.is_ok());
    }

    fn options() -> SchedulerOptions {
        SchedulerOptions {
            nireq: 1,
            queue_capacity: 4,
        }
    }

    /// The thread a job ran on, seen from a current-thread runtime: the
    /// caller's thread when run in place.
    async fn runs_in_place(scheduler: &Scheduler, elements: usize, job_time: Duration) -> bool {
        ran_in_place(scheduler, elements, true, job_time).await
    }

    async fn ran_in_place(
        scheduler: &Scheduler,
        elements: usize,
        may_run_in_place: bool,
        job_time: Duration,
    ) -> bool {
        let caller = std::thread::current().id();
        let executed = scheduler
            .run(elements, may_run_in_place, move || {
                std::thread::sleep(job_time);
                std::thread::current().id()
            })
            .await
            .unwrap();
        executed.value == caller
    }

    #[tokio::test]
    async fn short_runs_stay_on_the_async_worker_once_timed() {
        let scheduler = Scheduler::new("m", options());
        assert!(!runs_in_place(&scheduler, 4, Duration::ZERO).await);
        assert!(runs_in_place(&scheduler, 4, Duration::ZERO).await);
        // Far more input than the runs so far: expected to be long.
        assert!(!runs_in_place(&scheduler, 4_000_000, Duration::ZERO).await);
        // The engine says this one needs preparing first (a reshape).
        assert!(!ran_in_place(&scheduler, 4, false, Duration::ZERO).await);
        assert!(runs_in_place(&scheduler, 4, Duration::ZERO).await);
    }

    #[tokio::test]
    async fn long_runs_go_to_a_blocking_thread() {
        let scheduler = Scheduler::new("m", options());
        for _ in 0..3 {
            assert!(!runs_in_place(&scheduler, 4, Duration::from_millis(2)).await);
        }
    }

    #[tokio::test]
    async fn a_panic_in_place_is_an_internal_error() {
        let scheduler = Scheduler::new("m", options());
        assert!(!runs_in_place(&scheduler, 0, Duration::ZERO).await);
        let result = scheduler
            .run(0, true, || -> () { panic!("backend bug") })
            .await;
        assert!(matches!(result, Err(CoreError::Internal)));
        assert!(runs_in_place(&scheduler, 0, Duration::ZERO).await);
    }
}
