//! TensorFlow Serving's batching flags: `--enable_batching`,
//! `--batching_parameters_file` (a text-format BatchingParameters) and
//! `--enable_per_model_batching_parameters` (a `batching_params.pbtxt`
//! beside each model), mapped onto the one batcher's settings.

use std::path::Path;

use inferd_core::BatchingFileParser;
use inferd_proto::tensorflow::serving::BatchingParameters;
use inferd_proto::text_format;
use inferd_repository::DynamicBatching;

use crate::cli::Cli;

/// Server-wide batching from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchingFlags {
    /// Batching for every model without its own settings (`--enable_batching`).
    pub default: Option<DynamicBatching>,
    /// Read `batching_params.pbtxt` beside each model.
    pub per_model_files: bool,
}

impl BatchingFlags {
    /// Reads the flags; the parameters file is read and checked now, so a
    /// bad one stops the server with one line naming the file and the key.
    pub fn from_cli(cli: &Cli) -> Result<Self, String> {
        let file = cli.batching_parameters_file.as_ref();
        if !cli.enable_batching {
            if let Some(path) = file {
                return Err(format!(
                    "--batching_parameters_file {} needs --enable_batching",
                    path.display()
                ));
            }
            if cli.enable_per_model_batching_parameters {
                return Err(
                    "--enable_per_model_batching_parameters needs --enable_batching".into(),
                );
            }
            return Ok(BatchingFlags::default());
        }
        let default = match file {
            Some(path) => read_file(path)?,
            None => DynamicBatching::default(),
        };
        Ok(BatchingFlags {
            default: Some(default),
            per_model_files: cli.enable_per_model_batching_parameters,
        })
    }

    /// The per-model file parser the manager calls, when those files are on.
    pub fn file_parser(&self) -> Option<BatchingFileParser> {
        self.per_model_files
            .then_some(parse_batching_parameters as BatchingFileParser)
    }
}

fn read_file(path: &Path) -> Result<DynamicBatching, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read --batching_parameters_file {}: {e}",
            path.display()
        )
    })?;
    parse_batching_parameters(&text)
        .map_err(|e| format!("--batching_parameters_file {}: {e}", path.display()))
}

/// Reads a text-format BatchingParameters into batching settings:
/// `batch_timeout_micros` is the queue delay, `max_enqueued_batches` bounds
/// the queue (in batches of `max_batch_size`), `num_batch_threads` the
/// batches running at once; `thread_pool_name` is accepted and unused.
pub fn parse_batching_parameters(text: &str) -> Result<DynamicBatching, String> {
    let params: BatchingParameters =
        text_format::parse("tensorflow.serving.BatchingParameters", text)
            .map_err(|e| e.to_string())?;
    let positive = |name: &str, value: Option<i64>| -> Result<Option<u64>, String> {
        match value {
            None => Ok(None),
            Some(v) if v > 0 => Ok(Some(v as u64)),
            Some(v) => Err(format!("{name} must be positive, not {v}")),
        }
    };
    let max_batch_size = positive("max_batch_size", params.max_batch_size.map(|v| v.value))?;
    let timeout = params.batch_timeout_micros.map(|v| v.value);
    if let Some(t) = timeout.filter(|&t| t < 0) {
        return Err(format!(
            "batch_timeout_micros must not be negative, not {t}"
        ));
    }
    let batches = positive(
        "max_enqueued_batches",
        params.max_enqueued_batches.map(|v| v.value),
    )?;
    let threads = positive(
        "num_batch_threads",
        params.num_batch_threads.map(|v| v.value),
    )?;
    let allowed = params
        .allowed_batch_sizes
        .iter()
        .map(|&s| positive("allowed_batch_sizes", Some(s)).map(|v| v.unwrap_or(0)))
        .collect::<Result<Vec<_>, _>>()?;
    let settings = DynamicBatching {
        max_batch_size,
        max_queue_delay_microseconds: timeout.map(|t| t as u64),
        max_queue_size: batches.map(|b| {
            b.saturating_mul(max_batch_size.unwrap_or(inferd_repository::DEFAULT_MAX_BATCH_SIZE))
        }),
        batch_threads: threads,
        allowed_batch_sizes: allowed,
        pad_variable_length_inputs: params.pad_variable_length_inputs,
        ..Default::default()
    };
    settings.check().map_err(|e| {
        // The checks name config.json's keys; say TF Serving's.
        e.replace("dynamic_batching.", "")
    })?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tf_serving_parameters() {
        let settings = parse_batching_parameters(
            "max_batch_size { value: 8 }\nbatch_timeout_micros { value: 500 }\n\
             max_enqueued_batches { value: 4 } num_batch_threads { value: 2 }\n\
             thread_pool_name { value: \"pool\" }\n\
             allowed_batch_sizes: 2 allowed_batch_sizes: 8\npad_variable_length_inputs: true\n",
        )
        .unwrap();
        assert_eq!(settings.max_batch_size, Some(8));
        assert_eq!(settings.max_queue_delay_microseconds, Some(500));
        assert_eq!(settings.max_queue_size, Some(32));
        assert_eq!(settings.batch_threads, Some(2));
        assert_eq!(settings.allowed_batch_sizes, [2, 8]);
        assert!(settings.pad_variable_length_inputs);
    }

    #[test]
    fn bad_parameters_name_the_key() {
        let cases = [
            ("max_batch_size { value: 0 }", "max_batch_size"),
            ("batch_timeout_micros { value: -5 }", "batch_timeout_micros"),
            ("num_batch_threads { value: -1 }", "num_batch_threads"),
            (
                "max_batch_size { value: 8 } allowed_batch_sizes: 4",
                "allowed_batch_sizes",
            ),
            ("max_batch_sise { value: 8 }", "max_batch_sise"),
            ("max_batch_size: 8", "found '8'"),
        ];
        for (text, key) in cases {
            let err = parse_batching_parameters(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
