//! A model whose storage cannot be listed, or a version that cannot be
//! fetched: the fault is recorded for status and inference to report, and
//! the model's polls back off until the storage answers again.

use std::time::{Duration, Instant};

use inferd_repository::ModelConfig;

use super::Manager;

/// A model's storage failing: what it said, how many tries in a row, and
/// when polling may try again.
pub(super) struct StorageFault {
    pub(super) message: String,
    failures: u32,
    retry_at: Instant,
}

impl Manager {
    /// Whether `model`'s storage (same base path) failed recently enough
    /// that this poll should not try it again yet.
    pub(super) fn backing_off(&self, model: &ModelConfig) -> bool {
        self.read()
            .get(&model.name)
            .filter(|m| m.config.base_path == model.base_path)
            .and_then(|m| m.storage_fault.as_ref())
            .is_some_and(|f| Instant::now() < f.retry_at)
    }

    /// Records that model `name`'s storage could not be listed: the next
    /// poll waits 1 s, then 2, 4, 8, 16, 30 s at most after each failure.
    pub(super) fn storage_failed(&self, name: &str, error: String) {
        let mut models = self.write();
        let Some(entry) = models.get_mut(name) else {
            return;
        };
        let failures = entry.storage_fault.as_ref().map_or(0, |f| f.failures) + 1;
        let wait = Duration::from_secs((1u64 << (failures - 1).min(5)).min(30));
        tracing::error!(
            model = %name,
            %error,
            failures,
            retry_in_s = wait.as_secs(),
            "cannot list model versions; versions serving keep serving"
        );
        entry.storage_fault = Some(StorageFault {
            message: error,
            failures,
            retry_at: Instant::now() + wait,
        });
    }

    /// Clears model `name`'s storage fault once its storage answers again.
    pub(super) fn storage_answered(&self, name: &str) {
        // Every poll of every model ends here: take the write lock (which
        // requests' routing waits for) only when there is a fault to clear.
        let faulty = self
            .read()
            .get(name)
            .is_some_and(|m| m.storage_fault.is_some());
        if !faulty {
            return;
        }
        let mut models = self.write();
        if let Some(fault) = models.get_mut(name).and_then(|m| m.storage_fault.take()) {
            tracing::info!(model = %name, failures = fault.failures, "model storage answers again");
        }
    }

    /// Makes the next poll that looks at `version` load it again, its files
    /// unchanged: it failed in the download, not in the engine.
    pub(super) fn fetch_again(&self, name: &str, version: u64) {
        let mut models = self.write();
        if let Some(slot) = models
            .get_mut(name)
            .and_then(|m| m.versions.get_mut(&version))
        {
            slot.seen = slot.attempted.take();
        }
    }
}
