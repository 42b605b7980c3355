//! Warm-up: requests run on a freshly built version before it is marked
//! AVAILABLE, so that no client pays for an engine's lazy initialisation
//! (TF Serving's assets.extra/tf_serving_warmup_requests).

use std::path::Path;

use super::WarmupReader;
use crate::Servable;

/// Runs the warm-up requests `reader` finds in `dir` on `servable`, each
/// `iterations` times (at least once); returns how many requests there were.
/// Called on a blocking thread of the runtime.
pub(super) fn warm_up(
    servable: &Servable,
    reader: WarmupReader,
    dir: &Path,
    iterations: u32,
) -> Result<usize, String> {
    let requests = reader(dir).map_err(|e| format!("warm-up: {e}"))?;
    if requests.is_empty() {
        return Ok(0);
    }
    let runtime = tokio::runtime::Handle::current();
    for (index, request) in requests.iter().enumerate() {
        for _ in 0..iterations.max(1) {
            runtime
                .block_on(servable.infer(request.clone()))
                .map_err(|e| {
                    format!(
                        "warm-up request {} of {} failed: {e}",
                        index + 1,
                        requests.len()
                    )
                })?;
        }
    }
    Ok(requests.len())
}
