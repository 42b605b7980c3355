//! The requests waiting for a batch: one FIFO per priority level, and the
//! choice of which of them can share the next batch.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use inferd_tensor::Tensor;
use tokio::sync::oneshot;

use crate::CoreError;

/// Who owns a queued request: still the queue, a batch that took it, or
/// nobody (its client left or its timeout passed). Whichever of the batcher
/// and the waiting request moves it out of `QUEUED` first wins.
#[derive(Debug, Default)]
pub(crate) struct Claim(AtomicU8);

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const ABANDONED: u8 = 2;

impl Claim {
    fn change(&self, to: u8) -> bool {
        self.0
            .compare_exchange(QUEUED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The batcher takes the request; false if it was abandoned.
    pub(crate) fn take(&self) -> bool {
        self.change(TAKEN)
    }

    /// The request gives up its place; false if a batch already took it.
    pub(crate) fn abandon(&self) -> bool {
        self.change(ABANDONED)
    }

    fn is_queued(&self) -> bool {
        self.0.load(Ordering::Acquire) == QUEUED
    }
}

/// What a batch answers one request: its rows of every output.
pub(crate) type Reply = Result<Vec<Tensor>, CoreError>;

/// One request waiting for a batch.
pub(crate) struct Pending {
    /// Its inputs, in signature order.
    pub inputs: Vec<Tensor>,
    /// Its first dimension.
    pub rows: usize,
    /// When it was queued.
    pub enqueued: Instant,
    /// Who owns it.
    pub claim: Arc<Claim>,
    /// Where its answer goes.
    pub reply: oneshot::Sender<Reply>,
}

impl Pending {
    fn is_live(&self) -> bool {
        self.claim.is_queued() && !self.reply.is_closed()
    }

    /// Whether `self` and `other` may share a batch: the same dimensions
    /// after the first, or only the same ranks when inputs are padded.
    fn compatible(&self, other: &Pending, pad_variable: bool) -> bool {
        self.inputs.iter().zip(&other.inputs).all(|(a, b)| {
            let (a, b) = (a.shape(), b.shape());
            a.len() == b.len() && (pad_variable || a[1..] == b[1..])
        })
    }
}

/// The next batch as planned: positions in the queue and their rows.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    picks: Vec<(usize, usize)>,
    /// Rows of each pick, in order.
    pub rows: Vec<usize>,
    /// When the oldest pick was queued.
    pub oldest: Option<Instant>,
    /// A compatible request did not fit.
    pub full: bool,
}

/// Requests by priority level (index 0 the highest), FIFO within a level.
pub(crate) struct Queue {
    levels: Vec<VecDeque<Pending>>,
}

impl Queue {
    /// An empty queue with `levels` priority levels (at least one).
    pub(crate) fn new(levels: usize) -> Self {
        Queue {
            levels: (0..levels.max(1)).map(|_| VecDeque::new()).collect(),
        }
    }

    /// Requests queued, abandoned ones included until the next purge.
    pub(crate) fn len(&self) -> usize {
        self.levels.iter().map(VecDeque::len).sum()
    }

    /// Queues `item` at `level` (0 the highest; clamped to the lowest).
    pub(crate) fn push(&mut self, level: usize, item: Pending) {
        let last = self.levels.len() - 1;
        self.levels[level.min(last)].push_back(item);
    }

    /// Drops requests nobody waits for any more.
    pub(crate) fn purge(&mut self) {
        for level in &mut self.levels {
            level.retain(Pending::is_live);
        }
    }

    /// Plans the next batch: the first request in priority order, then every
    /// later one compatible with it, in order, while they fit in `max_rows`.
    pub(crate) fn plan(&self, max_rows: usize, pad_variable: bool) -> Plan {
        let mut plan = Plan::default();
        let mut head: Option<&Pending> = None;
        let mut total = 0;
        for (l, level) in self.levels.iter().enumerate() {
            for (i, item) in level.iter().enumerate() {
                if !item.is_live() {
                    continue;
                }
                let head = *head.get_or_insert(item);
                if !item.compatible(head, pad_variable) {
                    continue;
                }
                if total + item.rows > max_rows && !plan.picks.is_empty() {
                    plan.full = true;
                    return plan;
                }
                total += item.rows;
                plan.picks.push((l, i));
                plan.rows.push(item.rows);
                plan.oldest = Some(plan.oldest.map_or(item.enqueued, |o| o.min(item.enqueued)));
            }
        }
        plan
    }

    /// Removes the first `n` picks of `plan` and claims them for a batch;
    /// one abandoned meanwhile, or whose caller is gone, is dropped.
    pub(crate) fn take(&mut self, plan: &Plan, n: usize) -> Vec<Pending> {
        let mut picks = plan.picks[..n].to_vec();
        // Remove from the back so that earlier positions stay valid.
        picks.sort_unstable_by(|a, b| b.cmp(a));
        let mut taken: Vec<(usize, usize, Pending)> = picks
            .into_iter()
            .filter_map(|(l, i)| self.levels[l].remove(i).map(|item| (l, i, item)))
            .collect();
        taken.sort_unstable_by_key(|(l, i, _)| (*l, *i));
        taken
            .into_iter()
            .map(|(_, _, item)| item)
            .filter(|item| !item.reply.is_closed() && item.claim.take())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use inferd_tensor::{DataType, TensorData};

    use super::*;

    fn item(rows: usize, cols: usize) -> (Pending, oneshot::Receiver<Reply>) {
        let (reply, rx) = oneshot::channel();
        let data = TensorData::Raw(Bytes::from(vec![0u8; rows * cols * 4]));
        let tensor = Tensor::new(DataType::F32, vec![rows, cols], data).unwrap();
        let pending = Pending {
            inputs: vec![tensor],
            rows,
            enqueued: Instant::now(),
            claim: Arc::default(),
            reply,
        };
        (pending, rx)
    }

    #[test]
    fn higher_priority_goes_first_then_fifo() {
        let mut queue = Queue::new(2);
        let (a, _ra) = item(1, 4);
        let (b, _rb) = item(2, 4);
        let (c, _rc) = item(3, 4);
        queue.push(1, a);
        queue.push(1, b);
        queue.push(0, c);
        let plan = queue.plan(64, false);
        assert_eq!(plan.rows, vec![3, 1, 2]);
        let taken = queue.take(&plan, 2);
        assert_eq!(taken.iter().map(|p| p.rows).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn incompatible_shapes_never_share_a_batch() {
        let mut queue = Queue::new(1);
        let (a, _ra) = item(1, 4);
        let (b, _rb) = item(1, 5);
        let (c, _rc) = item(1, 4);
        for p in [a, b, c] {
            queue.push(0, p);
        }
        let plan = queue.plan(64, false);
        assert_eq!(plan.rows.len(), 2);
        let taken = queue.take(&plan, 2);
        assert!(taken.iter().all(|p| p.inputs[0].shape()[1] == 4));
        let plan = queue.plan(64, false);
        assert_eq!(queue.take(&plan, 1)[0].inputs[0].shape()[1], 5);
        // Padding lets them share.
        let (a, _ra) = item(1, 4);
        let (b, _rb) = item(1, 5);
        queue.push(0, a);
        queue.push(0, b);
        assert_eq!(queue.plan(64, true).rows.len(), 2);
    }

    #[test]
    fn a_batch_stops_at_the_first_request_that_does_not_fit() {
        let mut queue = Queue::new(1);
        let mut receivers = Vec::new();
        for rows in [3, 4, 1] {
            let (p, rx) = item(rows, 4);
            receivers.push(rx);
            queue.push(0, p);
        }
        let plan = queue.plan(5, false);
        assert_eq!(plan.rows, vec![3]);
        assert!(plan.full);
    }

    #[test]
    fn abandoned_and_orphaned_requests_are_purged_and_never_taken() {
        let mut queue = Queue::new(1);
        let (a, _ra) = item(1, 4);
        let (b, rb) = item(1, 4);
        let (c, _rc) = item(1, 4);
        assert!(a.claim.abandon());
        drop(rb);
        for p in [a, b, c] {
            queue.push(0, p);
        }
        let plan = queue.plan(64, false);
        assert_eq!(plan.rows.len(), 1);
        assert_eq!(queue.take(&plan, 1).len(), 1);
        let (d, rd) = item(1, 4);
        queue.push(0, d);
        drop(rd);
        queue.purge();
        assert_eq!(queue.len(), 0);
    }
}
