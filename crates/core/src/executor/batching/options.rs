//! A model version's batching settings, resolved against its signature.

use std::time::Duration;

use inferd_repository::DynamicBatching;
use inferd_tensor::{Dim, Signature, TensorSpec, format_shape};

use super::policy::FormPolicy;
use crate::executor::SchedulerOptions;

/// How one model version batches, checked against its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchingOptions {
    /// Batch forming: size limit, preferred sizes, delay.
    pub(crate) form: FormPolicy,
    /// Requests that may wait at once.
    pub queue_capacity: usize,
    /// Queue timeout of a request that gives none.
    pub default_timeout: Option<Duration>,
    /// Priority levels (at least one).
    pub priority_levels: usize,
    /// Level of a request without a valid priority (1 the highest).
    pub default_level: usize,
    /// Sizes the engine may see; a batch is padded to the next one.
    pub allowed_sizes: Vec<usize>,
    /// Requests with other non-batch dimensions may share a batch, padded.
    pub pad_variable: bool,
    /// Batches that may run at once.
    pub concurrent_batches: usize,
}

impl BatchingOptions {
    /// Resolves `settings` for a version with `signature` that may run
    /// `nireq` inferences at once: as many batches may run at once unless
    /// `batch_threads` says otherwise. Refuses, with one line naming the
    /// input or output, a model whose first dimension cannot be the batch.
    pub fn resolve(
        settings: &DynamicBatching,
        signature: &Signature,
        nireq: usize,
    ) -> Result<Self, String> {
        settings.check()?;
        let max_rows = usize::try_from(settings.max_batch_size()).unwrap_or(usize::MAX);
        let sizes = |v: &[u64]| -> Vec<usize> {
            v.iter()
                .map(|&s| usize::try_from(s).unwrap_or(usize::MAX))
                .collect()
        };
        let allowed_sizes = sizes(&settings.allowed_batch_sizes);
        let engine_sizes = if allowed_sizes.is_empty() {
            vec![max_rows]
        } else {
            allowed_sizes.clone()
        };
        for (kind, spec) in signature
            .inputs
            .iter()
            .map(|s| ("input", s))
            .chain(signature.outputs.iter().map(|s| ("output", s)))
        {
            check_batch_dimension(kind, spec, &engine_sizes)?;
        }
        let mut preferred = sizes(&settings.preferred_batch_size);
        preferred.sort_unstable();
        preferred.dedup();
        let levels = settings.priority_levels.filter(|&l| l > 0).unwrap_or(1);
        let priority_levels = usize::try_from(levels).unwrap_or(usize::MAX);
        Ok(BatchingOptions {
            form: FormPolicy {
                max_rows,
                preferred,
                max_delay: Duration::from_micros(
                    settings.max_queue_delay_microseconds.unwrap_or(0),
                ),
            },
            queue_capacity: settings
                .max_queue_size
                .filter(|&n| n > 0)
                .map_or(SchedulerOptions::DEFAULT_QUEUE_CAPACITY, |n| {
                    usize::try_from(n).unwrap_or(usize::MAX)
                }),
            default_timeout: settings
                .default_timeout_microseconds
                .filter(|&t| t > 0)
                .map(Duration::from_micros),
            priority_levels,
            default_level: settings
                .default_priority_level
                .map_or(priority_levels, |l| {
                    usize::try_from(l).unwrap_or(usize::MAX)
                }),
            allowed_sizes,
            pad_variable: settings.pad_variable_length_inputs,
            concurrent_batches: settings
                .batch_threads
                .map_or(nireq, |n| usize::try_from(n).unwrap_or(usize::MAX))
                .max(1),
        })
    }

    /// Most rows in one batch.
    pub fn max_batch_size(&self) -> usize {
        self.form.max_rows
    }

    /// The size a batch of `rows` rows is run at (the next allowed size).
    pub(crate) fn padded(&self, rows: usize) -> usize {
        self.allowed_sizes
            .iter()
            .copied()
            .find(|&s| s >= rows)
            .unwrap_or(rows)
    }

    /// The queue index (0 the highest) of a request with `priority`: 1 is
    /// the highest level; 0, none or one beyond the levels take the default,
    /// as Triton does.
    pub(crate) fn level(&self, priority: Option<u64>) -> usize {
        let level = match priority {
            Some(p) if p >= 1 && p <= self.priority_levels as u64 => p as usize,
            _ => self.default_level,
        };
        level - 1
    }
}

fn check_batch_dimension(kind: &str, spec: &TensorSpec, sizes: &[usize]) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "dynamic batching needs the first dimension of every input and output to be the batch: {kind} {} has shape {}{why}",
            spec.name,
            format_shape(&spec.shape),
        ))
    };
    match spec.shape.first() {
        None => refuse(" (a scalar)"),
        Some(Dim::Fixed(n)) => refuse(&format!(", its first dimension fixed at {n}")),
        Some(&dim) => match sizes.iter().find(|&&s| !dim.accepts(s as u64)) {
            Some(size) if kind == "input" => Err(format!(
                "dynamic batching would run batches of {size}, which input {} does not accept: its first dimension is {dim}; lower max_batch_size or widen the range",
                spec.name
            )),
            _ => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use inferd_tensor::DataType;

    use super::*;

    fn signature(input: Vec<Dim>) -> Signature {
        Signature {
            inputs: vec![TensorSpec::new("x", DataType::F32, input)],
            outputs: vec![TensorSpec::new(
                "y",
                DataType::F32,
                vec![Dim::Any, Dim::Fixed(2)],
            )],
        }
    }

    #[test]
    fn defaults_need_no_knobs() {
        let options =
            BatchingOptions::resolve(&DynamicBatching::default(), &signature(vec![Dim::Any]), 2)
                .unwrap();
        assert_eq!(options.max_batch_size(), 64);
        assert!(options.form.max_delay.is_zero());
        assert_eq!(options.concurrent_batches, 2);
        assert_eq!(options.level(None), 0);
        assert_eq!(options.padded(5), 5);
    }

    #[test]
    fn models_without_a_batch_dimension_are_refused_by_name() {
        let settings = DynamicBatching::default();
        let err = BatchingOptions::resolve(&settings, &signature(vec![Dim::Fixed(1), Dim::Any]), 1)
            .unwrap_err();
        assert!(err.contains("input x has shape (1,-1)"), "{err}");
        let err =
            BatchingOptions::resolve(&settings, &signature(vec![Dim::Range(1, 8)]), 1).unwrap_err();
        assert!(err.contains("batches of 64"), "{err}");
        let small = DynamicBatching {
            max_batch_size: Some(8),
            ..Default::default()
        };
        assert!(BatchingOptions::resolve(&small, &signature(vec![Dim::Range(1, 8)]), 1).is_ok());
    }

    #[test]
    fn priorities_and_padding() {
        let settings = DynamicBatching {
            max_batch_size: Some(8),
            priority_levels: Some(3),
            default_priority_level: Some(2),
            allowed_batch_sizes: vec![2, 4, 8],
            ..Default::default()
        };
        let options = BatchingOptions::resolve(&settings, &signature(vec![Dim::Any]), 1).unwrap();
        assert_eq!(options.level(Some(1)), 0);
        assert_eq!(options.level(Some(3)), 2);
        assert_eq!(options.level(Some(0)), 1);
        assert_eq!(options.level(Some(9)), 1);
        assert_eq!(options.padded(3), 4);
        assert_eq!(options.padded(8), 8);
    }
}
