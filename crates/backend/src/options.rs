use std::collections::BTreeMap;

use inferd_tensor::Dim;

use crate::BackendError;

/// Input shapes to impose at load time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum InputShapes {
    /// Keep the model's own shapes.
    #[default]
    Model,
    /// One shape for the model's single input.
    Single(Vec<Dim>),
    /// A shape per named input; others keep theirs.
    PerInput(BTreeMap<String, Vec<Dim>>),
}

/// Pre-processing of one input, in the order it is applied: reverse the
/// channels (RGB ⇄ BGR), subtract `mean`, divide by `scale` (one value for
/// every channel, or one per channel).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputPreprocessing {
    /// Reverse the channel order.
    pub reverse_channels: bool,
    /// Subtracted from each channel.
    pub mean: Option<Vec<f32>>,
    /// Each channel divided by it.
    pub scale: Option<Vec<f32>>,
}

/// Load-time settings for one model version, from config.json or the CLI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelOptions {
    /// Shapes to set on inputs.
    pub shapes: InputShapes,
    /// Size to set on the first dimension of every input.
    pub batch_size: Option<u64>,
    /// Layout per input (`""` key: the single input), e.g. `NHWC:NCHW`.
    pub layouts: BTreeMap<String, String>,
    /// Pre-processing per input (`""` key: the single input). Engines that
    /// apply it themselves say so ([`crate::LoadedModel::applies_preprocessing`]);
    /// for the others the server applies it, and the layout conversions.
    pub preprocessing: BTreeMap<String, InputPreprocessing>,
    /// Device name; `None` means CPU.
    pub target_device: Option<String>,
    /// Engine settings, values as text.
    pub plugin_config: BTreeMap<String, String>,
    /// `nireq`: inferences that may run at once; `None` or 0 means the
    /// engine's optimal number (OpenVINO) or one per core.
    pub nireq: Option<u32>,
    /// `--cache_dir`: where engines that can cache compiled models keep them.
    pub cache_dir: Option<std::path::PathBuf>,
    /// The SavedModel signature to serve; `None` is `serving_default`.
    pub signature: Option<String>,
}

impl ModelOptions {
    /// Refuses another `target_device` than the CPU.
    pub fn require_cpu(&self, engine: &str) -> Result<(), BackendError> {
        if let Some(device) = self
            .target_device
            .as_deref()
            .filter(|d| !d.eq_ignore_ascii_case("CPU"))
        {
            return Err(BackendError::Unsupported(format!(
                "target_device {device} is not supported by the {engine} backend (CPU only)"
            )));
        }
        Ok(())
    }

    /// The number of compute threads asked for with `INFERENCE_NUM_THREADS`.
    pub fn inference_threads(&self) -> Result<Option<usize>, String> {
        match self.plugin_config.get("INFERENCE_NUM_THREADS") {
            None => Ok(None),
            Some(v) => match v.parse::<usize>() {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(format!(
                    "plugin_config INFERENCE_NUM_THREADS must be a non-negative integer, not {v:?}"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_from_plugin_config() {
        let mut o = ModelOptions::default();
        assert_eq!(o.inference_threads(), Ok(None));
        o.plugin_config
            .insert("INFERENCE_NUM_THREADS".into(), "3".into());
        assert_eq!(o.inference_threads(), Ok(Some(3)));
        o.plugin_config
            .insert("INFERENCE_NUM_THREADS".into(), "many".into());
        assert!(o.inference_threads().is_err());
    }
}
