//! When a batch runs: a pure function of what is queued, the time and the
//! settings, so that it is tested with a fake clock.

use std::time::{Duration, Instant};

/// The settings that decide when a batch is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FormPolicy {
    /// Most rows in one batch.
    pub max_rows: usize,
    /// Sizes to run at as soon as they are reached, increasing.
    pub preferred: Vec<usize>,
    /// How long the oldest request may wait for a fuller batch.
    pub max_delay: Duration,
}

/// What the batcher does next with a free execution slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing is queued.
    Idle,
    /// Run the first `n` candidates now.
    Run(usize),
    /// Look again at this time unless something changes before.
    WaitUntil(Instant),
}

/// The candidates of the next batch, in the order they would join it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidates<'a> {
    /// Rows of each candidate request.
    pub rows: &'a [usize],
    /// When the oldest of them was queued.
    pub oldest: Instant,
    /// A compatible request is queued that does not fit: the batch cannot grow.
    pub full: bool,
    /// Most rows this batch may hold (`max_rows`, or less while larger
    /// batches cost more per row).
    pub limit: usize,
}

impl FormPolicy {
    /// Decides what to do with `candidates` at `now`. Without a delay the
    /// batch is whatever has queued: a lone request runs at once. With one,
    /// a batch runs when it is full, reaches a preferred size it cannot grow
    /// past, or its oldest request has waited the delay.
    pub(crate) fn decide(&self, candidates: Candidates<'_>, now: Instant) -> Decision {
        let rows = candidates.rows;
        if rows.is_empty() {
            return Decision::Idle;
        }
        let total: usize = rows.iter().sum();
        let limit = candidates.limit.min(self.max_rows);
        if candidates.full || total >= limit || self.max_delay.is_zero() {
            return Decision::Run(rows.len());
        }
        if self.preferred.contains(&total) {
            return Decision::Run(rows.len());
        }
        if let Some(&largest) = self.preferred.last().filter(|&&p| total > p) {
            // Past every preferred size: run the longest prefix within the
            // largest one, keeping the rest for the next batch.
            let within = prefix_within(rows, largest);
            return Decision::Run(within.max(1));
        }
        let deadline = candidates.oldest + self.max_delay;
        if now >= deadline {
            Decision::Run(rows.len())
        } else {
            Decision::WaitUntil(deadline)
        }
    }
}

/// How many leading requests fit in `limit` rows.
fn prefix_within(rows: &[usize], limit: usize) -> usize {
    let mut sum = 0;
    rows.iter()
        .take_while(|&&r| {
            sum += r;
            sum <= limit
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_rows: usize, preferred: &[usize], delay_us: u64) -> FormPolicy {
        FormPolicy {
            max_rows,
            preferred: preferred.to_vec(),
            max_delay: Duration::from_micros(delay_us),
        }
    }

    fn queued(rows: &[usize], oldest: Instant) -> Candidates<'_> {
        Candidates {
            rows,
            oldest,
            full: false,
            limit: usize::MAX,
        }
    }

    #[test]
    fn a_lone_request_runs_at_once_without_a_delay() {
        let t0 = Instant::now();
        let p = policy(64, &[], 0);
        assert_eq!(p.decide(queued(&[1], t0), t0), Decision::Run(1));
        assert_eq!(p.decide(queued(&[], t0), t0), Decision::Idle);
    }

    #[test]
    fn without_a_delay_the_batch_is_whatever_queued() {
        let t0 = Instant::now();
        let p = policy(64, &[], 0);
        assert_eq!(p.decide(queued(&[1, 3, 2], t0), t0), Decision::Run(3));
    }

    #[test]
    fn a_delay_waits_for_the_oldest_request_and_no_longer() {
        let t0 = Instant::now();
        let p = policy(8, &[], 500);
        let deadline = t0 + Duration::from_micros(500);
        assert_eq!(
            p.decide(queued(&[1, 1], t0), t0 + Duration::from_micros(100)),
            Decision::WaitUntil(deadline)
        );
        assert_eq!(p.decide(queued(&[1, 1], t0), deadline), Decision::Run(2));
        assert_eq!(
            p.decide(queued(&[1], t0), deadline + Duration::from_secs(1)),
            Decision::Run(1)
        );
    }

    #[test]
    fn a_full_batch_does_not_wait() {
        let t0 = Instant::now();
        let p = policy(4, &[], 1_000_000);
        assert_eq!(p.decide(queued(&[2, 2], t0), t0), Decision::Run(2));
        let blocked = Candidates {
            rows: &[3],
            oldest: t0,
            full: true,
            limit: 4,
        };
        assert_eq!(p.decide(blocked, t0), Decision::Run(1));
        // A batch at the learnt limit does not wait either.
        let limited = Candidates {
            rows: &[1, 1],
            oldest: t0,
            full: false,
            limit: 2,
        };
        assert_eq!(p.decide(limited, t0), Decision::Run(2));
    }

    #[test]
    fn preferred_sizes_run_early() {
        let t0 = Instant::now();
        let p = policy(16, &[4, 8], 1_000_000);
        assert_eq!(p.decide(queued(&[2, 2], t0), t0), Decision::Run(2));
        assert_eq!(p.decide(queued(&[4, 4], t0), t0), Decision::Run(2));
        // 6 rows: not preferred, can still grow to 8.
        assert!(matches!(
            p.decide(queued(&[2, 2, 2], t0), t0),
            Decision::WaitUntil(_)
        ));
        // 10 rows: past 8; the first 8 go now.
        assert_eq!(p.decide(queued(&[4, 4, 2], t0), t0), Decision::Run(2));
        // A first request larger than every preferred size still runs.
        assert_eq!(p.decide(queued(&[12], t0), t0), Decision::Run(1));
    }
}
