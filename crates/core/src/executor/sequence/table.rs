//! The live sequences of one model version: at most `max` of them, each
//! with its state behind an async lock (its requests run in order, one at a
//! time), dropped when they end, when the version goes, or when idle past
//! the limit (by a cleaner that only takes sequences no request holds).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inferd_backend::ModelSession;
use inferd_tensor::Tensor;

use crate::SequenceId;

/// Why a sequence request was refused (OVMS's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// No live sequence has the id.
    #[error("Sequence with provided ID does not exist")]
    Missing,
    /// A start for an id already live.
    #[error("Sequence with provided ID already exists")]
    Exists,
    /// No id, and not a start.
    #[error("Sequence ID has not been provided in request inputs")]
    NoId,
    /// `sequence_control_input` other than 0, 1, 2.
    #[error("Unexpected value of sequence control input")]
    BadControl,
    /// `sequence_id` not UINT64 of one element.
    #[error("Could not find sequence id in expected tensor proto field uint64_val")]
    BadIdType,
    /// `sequence_control_input` not UINT32 of one element.
    #[error("Could not find sequence control input in expected tensor proto field uint32_val")]
    BadControlType,
    /// `max_sequence_number` sequences are live.
    #[error("Max sequence number has been reached. Could not create new sequence.")]
    TooMany,
}

/// What a sequence carries from one request to the next.
pub struct SequenceState {
    /// The implicit states, one per state pair.
    pub tensors: Vec<Tensor>,
    /// The engine session holding the model's own state, for models that
    /// keep it (OpenVINO's ReadValue/Assign).
    pub session: Option<Box<dyn ModelSession>>,
}

/// One live sequence.
pub struct Sequence {
    /// Its state; `None` once the sequence ended or was dropped.
    pub state: tokio::sync::Mutex<Option<SequenceState>>,
    last_used: Mutex<Instant>,
}

impl Sequence {
    /// Marks the sequence used now.
    pub fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
}

/// The live sequences of a version.
pub struct Sequences {
    live: Mutex<HashMap<SequenceId, Arc<Sequence>>>,
    max: usize,
    /// Ids handed out for starts without one.
    next_id: AtomicU64,
}

impl Sequences {
    /// A table of at most `max` sequences.
    pub fn new(max: usize) -> Self {
        Sequences {
            live: Mutex::new(HashMap::new()),
            max,
            // Ids the server assigns start high, away from small client ids.
            next_id: AtomicU64::new(1 << 32),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<SequenceId, Arc<Sequence>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live sequences now.
    pub fn count(&self) -> usize {
        self.live().len()
    }

    /// Starts sequence `id` (`None` or 0: a new id) with `state`.
    pub fn start(
        &self,
        id: Option<SequenceId>,
        state: SequenceState,
    ) -> Result<(SequenceId, Arc<Sequence>), SequenceError> {
        let mut live = self.live();
        if live.len() >= self.max {
            return Err(SequenceError::TooMany);
        }
        let id = match id {
            Some(SequenceId::Number(0)) | None => loop {
                let id = SequenceId::Number(self.next_id.fetch_add(1, Ordering::Relaxed));
                if !live.contains_key(&id) {
                    break id;
                }
            },
            Some(id) if live.contains_key(&id) => return Err(SequenceError::Exists),
            Some(id) => id,
        };
        let sequence = Arc::new(Sequence {
            state: tokio::sync::Mutex::new(Some(state)),
            last_used: Mutex::new(Instant::now()),
        });
        live.insert(id.clone(), sequence.clone());
        Ok((id, sequence))
    }

    /// The live sequence `id`.
    pub fn get(&self, id: &SequenceId) -> Result<Arc<Sequence>, SequenceError> {
        self.live().get(id).cloned().ok_or(SequenceError::Missing)
    }

    /// Forgets sequence `id`.
    pub fn remove(&self, id: &SequenceId) {
        self.live().remove(id);
    }

    /// Drops the sequences idle for `idle` or more that no request holds;
    /// answers how many went.
    pub fn drop_idle(&self, idle: Duration) -> usize {
        let now = Instant::now();
        let mut live = self.live();
        let before = live.len();
        live.retain(|_, sequence| {
            let last = *sequence.last_used.lock().unwrap_or_else(|p| p.into_inner());
            if now.duration_since(last) < idle {
                return true;
            }
            match sequence.state.try_lock() {
                Ok(mut state) => {
                    *state = None;
                    false
                }
                Err(_) => true,
            }
        });
        before - live.len()
    }
}
