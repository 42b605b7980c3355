//! Which batching settings a version is built with: its own config entry's
//! `dynamic_batching`, else (TensorFlow Serving's way) a
//! `batching_params.pbtxt` beside the model when per-model files are on,
//! else the server-wide `--enable_batching` settings.

use std::path::{Path, PathBuf};

use inferd_repository::{DynamicBatching, ModelConfig};

use super::ManagerOptions;

/// The file TensorFlow Serving reads per model with
/// `--enable_per_model_batching_parameters`.
pub const PER_MODEL_BATCHING_FILE: &str = "batching_params.pbtxt";

/// Reads the text of a per-model batching file into settings.
pub type BatchingFileParser = fn(&str) -> Result<DynamicBatching, String>;

/// Where a version's batching settings came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BatchingChoice {
    /// No batching.
    Off,
    /// The model's own settings (config.json or its batching file): a model
    /// that cannot be batched fails to load.
    Model(DynamicBatching),
    /// The server-wide default: a model that cannot be batched is served
    /// unbatched, with a warning.
    Server(DynamicBatching),
}

/// The batching settings for `model`, whose version files are in `version_dir`.
pub(super) fn batching_for(
    options: &ManagerOptions,
    model: &ModelConfig,
    version_dir: &Path,
) -> Result<BatchingChoice, String> {
    if let Some(own) = &model.dynamic_batching {
        return Ok(BatchingChoice::Model(own.clone()));
    }
    let Some(server) = &options.batching else {
        return Ok(BatchingChoice::Off);
    };
    if let Some(parse) = options.batching_file {
        let candidates = [
            version_dir.join(PER_MODEL_BATCHING_FILE),
            PathBuf::from(&model.base_path).join(PER_MODEL_BATCHING_FILE),
        ];
        if let Some(path) = candidates.iter().find(|p| p.is_file()) {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let settings = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(BatchingChoice::Model(settings));
        }
    }
    Ok(BatchingChoice::Server(server.clone()))
}
