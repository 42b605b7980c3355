//! `dynamic_batching`: one batcher's settings, with Triton's key names in
//! config.json; TensorFlow Serving's BatchingParameters map onto the same
//! struct (see the server's `batching` module).

use serde::{Deserialize, Serialize};

/// The batch size used when `max_batch_size` is not given.
pub const DEFAULT_MAX_BATCH_SIZE: u64 = 64;

/// A model's dynamic batching settings. Every key is optional: `{}` turns
/// batching on with no delay (a batch is whatever queued while the engine
/// was busy) and batches of up to [`DEFAULT_MAX_BATCH_SIZE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicBatching {
    /// Most rows (first-dimension entries) in one engine call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_size: Option<u64>,
    /// Batch sizes to run at as soon as they are reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_batch_size: Vec<u64>,
    /// How long the oldest queued request may wait for a fuller batch (0: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue_delay_microseconds: Option<u64>,
    /// Requests that may wait at once; beyond it new ones are refused (0 or absent: 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue_size: Option<u64>,
    /// Queue timeout of a request that gives none (0 or absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_timeout_microseconds: Option<u64>,
    /// Priority levels; a request's `priority` 1 is the highest (0 or absent: one level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_levels: Option<u64>,
    /// Level of a request that gives no priority (default: the lowest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_priority_level: Option<u64>,
    /// Batch sizes the engine may see: a batch is padded up to the next one
    /// (TensorFlow Serving's key); increasing, the last equal to `max_batch_size`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_batch_sizes: Vec<u64>,
    /// Requests whose non-batch dimensions differ may share a batch, their
    /// inputs zero-padded to the largest (TensorFlow Serving's key).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pad_variable_length_inputs: bool,
    /// Batches that may run at once (TensorFlow Serving's `num_batch_threads`;
    /// default the model's `nireq`: its own, else the engine's, else one per core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_threads: Option<u64>,
}

impl DynamicBatching {
    /// The largest batch.
    pub fn max_batch_size(&self) -> u64 {
        self.max_batch_size.unwrap_or(DEFAULT_MAX_BATCH_SIZE)
    }

    /// Checks values that the schema alone cannot; the message names the key.
    pub fn check(&self) -> Result<(), String> {
        let key = |k: &str| format!("dynamic_batching.{k}");
        let max = self.max_batch_size();
        if max == 0 {
            return Err(format!("{} must be at least 1", key("max_batch_size")));
        }
        if let Some(size) = self
            .preferred_batch_size
            .iter()
            .find(|&&s| s == 0 || s > max)
        {
            return Err(format!(
                "{} {size} must be between 1 and max_batch_size {max}",
                key("preferred_batch_size")
            ));
        }
        if !self.allowed_batch_sizes.is_empty() {
            let increasing = self.allowed_batch_sizes.windows(2).all(|w| w[0] < w[1]);
            if !increasing || self.allowed_batch_sizes[0] == 0 {
                return Err(format!(
                    "{} must be positive and increasing",
                    key("allowed_batch_sizes")
                ));
            }
            if self.allowed_batch_sizes.last() != Some(&max) {
                return Err(format!(
                    "{}: the last entry must equal max_batch_size {max}",
                    key("allowed_batch_sizes")
                ));
            }
        }
        let levels = self.priority_levels.unwrap_or(0);
        match self.default_priority_level {
            Some(_) if levels == 0 => {
                return Err(format!(
                    "{} needs priority_levels",
                    key("default_priority_level")
                ));
            }
            Some(level) if level == 0 || level > levels => {
                return Err(format!(
                    "{} {level} must be between 1 and priority_levels {levels}",
                    key("default_priority_level")
                ));
            }
            _ => {}
        }
        if self.batch_threads == Some(0) {
            return Err(format!("{} must be at least 1", key("batch_threads")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DynamicBatching, String> {
        let settings: DynamicBatching = serde_json::from_str(text).map_err(|e| e.to_string())?;
        settings.check().map(|()| settings)
    }

    #[test]
    fn empty_means_defaults() {
        let settings = parse("{}").unwrap();
        assert_eq!(settings.max_batch_size(), DEFAULT_MAX_BATCH_SIZE);
        assert!(settings.preferred_batch_size.is_empty());
    }

    #[test]
    fn triton_keys_are_read() {
        let settings = parse(
            r#"{"max_batch_size": 8, "preferred_batch_size": [4, 8],
                "max_queue_delay_microseconds": 100, "max_queue_size": 10,
                "default_timeout_microseconds": 5000, "priority_levels": 2,
                "default_priority_level": 2}"#,
        )
        .unwrap();
        assert_eq!(settings.max_batch_size(), 8);
        assert_eq!(settings.preferred_batch_size, [4, 8]);
        assert_eq!(settings.default_priority_level, Some(2));
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (
                r#"{"max_batch_size": 0}"#,
                "dynamic_batching.max_batch_size",
            ),
            (
                r#"{"max_batch_size": 4, "preferred_batch_size": [8]}"#,
                "dynamic_batching.preferred_batch_size",
            ),
            (
                r#"{"max_batch_size": 8, "allowed_batch_sizes": [4, 2, 8]}"#,
                "dynamic_batching.allowed_batch_sizes",
            ),
            (
                r#"{"max_batch_size": 8, "allowed_batch_sizes": [2, 4]}"#,
                "dynamic_batching.allowed_batch_sizes",
            ),
            (
                r#"{"default_priority_level": 1}"#,
                "dynamic_batching.default_priority_level",
            ),
            (
                r#"{"priority_levels": 2, "default_priority_level": 3}"#,
                "dynamic_batching.default_priority_level",
            ),
            (r#"{"max_delay": 3}"#, "max_delay"),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
