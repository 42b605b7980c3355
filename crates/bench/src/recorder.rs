//! The shared sink every request of a level reports to: samples of the open
//! window, the `--max-requests` budget, and the first error message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::RequestError;
use crate::stats::Samples;

/// Samples and request budget of one level.
#[derive(Debug)]
pub struct Recorder {
    samples: Mutex<Samples>,
    max_requests: Option<u64>,
    budget_started: AtomicBool,
    issued: AtomicU64,
    completed: AtomicU64,
    budget_spent: AtomicBool,
    spent: Notify,
    first_error: OnceLock<String>,
}

impl Recorder {
    /// A recorder for a level of at most `max_requests` measured requests.
    pub fn new(max_requests: Option<u64>) -> Recorder {
        Recorder {
            samples: Mutex::default(),
            max_requests,
            budget_started: AtomicBool::new(false),
            issued: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            budget_spent: AtomicBool::new(false),
            spent: Notify::new(),
            first_error: OnceLock::new(),
        }
    }

    /// Starts counting requests against the budget (after the warm-up).
    pub fn start_budget(&self) {
        self.issued.store(0, Ordering::SeqCst);
        self.completed.store(0, Ordering::SeqCst);
        self.budget_started.store(true, Ordering::SeqCst);
    }

    /// Takes one request from the budget; `false` once it is used up.
    pub fn try_issue(&self) -> bool {
        match self.max_requests {
            Some(max) if self.budget_started.load(Ordering::SeqCst) => {
                self.issued.fetch_add(1, Ordering::SeqCst) < max
            }
            _ => true,
        }
    }

    /// Records one finished request: a latency sample or an error.
    pub fn record(&self, latency: Duration, result: Result<(), RequestError>) {
        {
            let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
            match &result {
                Ok(()) => samples
                    .latencies_ns
                    .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX)),
                Err(_) => samples.errors += 1,
            }
        }
        if let Err(error) = result
            && self.first_error.get().is_none()
        {
            let _ = self.first_error.set(error.to_string());
        }
        let completed = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        if self.budget_started.load(Ordering::SeqCst) && Some(completed) == self.max_requests {
            self.budget_spent.store(true, Ordering::SeqCst);
            self.spent.notify_one();
        }
    }

    /// Fixed rate: counts a request sent later than due.
    pub fn record_delayed(&self) {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .delayed += 1;
    }

    /// Takes the samples gathered since the last call.
    pub fn take(&self) -> Samples {
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether every budgeted request has finished.
    pub fn is_budget_spent(&self) -> bool {
        self.budget_spent.load(Ordering::SeqCst)
    }

    /// Waits until every budgeted request has finished (forever without a budget).
    pub async fn budget_spent(&self) {
        loop {
            let notified = self.spent.notified();
            if self.is_budget_spent() {
                return;
            }
            notified.await;
        }
    }

    /// The message of the first failed request, if any failed.
    pub fn first_error(&self) -> Option<&str> {
        self.first_error.get().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_from_its_start() {
        let recorder = Recorder::new(Some(2));
        assert!(recorder.try_issue() && recorder.try_issue() && recorder.try_issue());
        recorder.start_budget();
        assert!(recorder.try_issue() && recorder.try_issue());
        assert!(!recorder.try_issue());
        recorder.record(Duration::from_micros(5), Ok(()));
        assert!(!recorder.is_budget_spent());
        recorder.record(Duration::ZERO, Err(RequestError::Timeout(7)));
        assert!(recorder.is_budget_spent());
        let samples = recorder.take();
        assert_eq!((samples.latencies_ns, samples.errors), (vec![5000], 1));
        assert_eq!(recorder.first_error(), Some("no answer within 7 ms"));
        assert!(recorder.take().latencies_ns.is_empty());
    }
}
