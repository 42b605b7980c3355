use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::CoreError;

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
        }
    }

    /// Requests admitted and not yet finished.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Runs `job` on a blocking thread once an execution slot is free.
    /// Refuses at once when the queue is full; a panicking job is an internal error.
    pub async fn run<R, F>(&self, job: F) -> Result<Executed<R>, CoreError>
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
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let started = Instant::now();
            let value = job();
            Executed {
                value,
                wait,
                run: started.elapsed(),
            }
        })
        .await
        .map_err(|e| {
            tracing::error!(model = %self.model, error = %e, "inference task failed");
            CoreError::Internal
        })
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
                    .run(move || {
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
            tokio::spawn(async move { scheduler.run(move || release_rx.recv().ok()).await })
        };
        while scheduler.pending() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let refused = scheduler.run(|| ()).await;
        assert!(matches!(refused, Err(CoreError::Overloaded(_))));
        release_tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert!(scheduler.run(|| ()).await.is_ok());
    }

    #[tokio::test]
    async fn panicking_job_is_an_internal_error() {
        let scheduler = Scheduler::new(
            "m",
            SchedulerOptions {
                nireq: 1,
                queue_capacity: 4,
            },
        );
        let result = scheduler.run(|| -> () { panic!("backend bug") }).await;
        assert!(matches!(result, Err(CoreError::Internal)));
        assert!(scheduler.run(|| 1).await.is_ok());
    }
}
