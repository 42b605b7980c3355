//! Timing a loaded model on zeros, so that the registry can keep the fastest
//! engine for it (`backend: auto`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bytes::Bytes;
use inferd_tensor::{DataType, Dim, Signature, Tensor, TensorData};

use crate::LoadedModel;

/// Timed runs per engine: at least this many (time allowing) ...
const MIN_TIMED_RUNS: usize = 5;
/// ... and at most this many.
const MAX_TIMED_RUNS: usize = 100;
/// Runs go on until this long has passed (and `MIN_TIMED_RUNS` are done) ...
const MIN_TRIAL_TIME: Duration = Duration::from_millis(20);
/// ... but no run starts after this long.
const TIME_BUDGET: Duration = Duration::from_millis(200);
/// An engine whose warm-up run takes this many times the best time so far
/// cannot win: it is not timed further.
const HOPELESS_FACTOR: u32 = 4;

/// Zero-filled inputs for `signature`: dynamic dimensions take their smallest
/// size (1 when unbounded), strings are empty.
pub fn zero_inputs(signature: &Signature) -> Option<Vec<Tensor>> {
    signature
        .inputs
        .iter()
        .map(|spec| {
            let shape: Vec<usize> = spec
                .shape
                .iter()
                .map(|d| match *d {
                    Dim::Fixed(n) => usize::try_from(n).ok(),
                    Dim::Any => Some(1),
                    Dim::Range(min, _) => usize::try_from(min.max(1)).ok(),
                })
                .collect::<Option<_>>()?;
            let count: usize = shape.iter().product();
            let data = match spec.dtype {
                DataType::Bytes => TensorData::Strings(vec![Bytes::new(); count]),
                dtype => TensorData::Raw(Bytes::from(vec![0u8; count * dtype.size_bytes()?])),
            };
            Tensor::new(spec.dtype, shape, data).ok()
        })
        .collect()
}

/// How long one inference of `model` on `inputs` takes: the fastest of
/// several timed runs after one warm-up run (the minimum, because anything
/// else running on the machine only ever adds time). `Err` when a run fails
/// or panics. With `best` given, an engine whose warm-up already takes
/// several times that long is reported at its warm-up time without further
/// runs.
pub fn time_inference(
    model: &dyn LoadedModel,
    inputs: &[Tensor],
    best: Option<Duration>,
) -> Result<Duration, String> {
    let warm_up = run_once(model, inputs)?;
    if best.is_some_and(|b| warm_up > b * HOPELESS_FACTOR) {
        return Ok(warm_up);
    }
    let started = Instant::now();
    let mut fastest = Duration::MAX;
    let mut runs = 0;
    loop {
        fastest = fastest.min(run_once(model, inputs)?);
        runs += 1;
        let elapsed = started.elapsed();
        let enough = runs >= MIN_TIMED_RUNS && elapsed >= MIN_TRIAL_TIME;
        if enough || runs >= MAX_TIMED_RUNS || elapsed >= TIME_BUDGET {
            return Ok(fastest);
        }
    }
}

fn run_once(model: &dyn LoadedModel, inputs: &[Tensor]) -> Result<Duration, String> {
    let started = Instant::now();
    match catch_unwind(AssertUnwindSafe(|| model.execute(inputs.to_vec()))) {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the engine panicked".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use inferd_tensor::TensorSpec;

    use super::*;

    #[test]
    fn zero_inputs_take_the_smallest_shape() {
        let signature = Signature {
            inputs: vec![
                TensorSpec::new("a", DataType::F32, vec![Dim::Any, Dim::Fixed(3)]),
                TensorSpec::new("b", DataType::I64, vec![Dim::Range(2, 8)]),
                TensorSpec::new("s", DataType::Bytes, vec![Dim::Fixed(2)]),
            ],
            outputs: vec![],
        };
        let inputs = zero_inputs(&signature).expect("inputs");
        assert_eq!(inputs[0].shape(), &[1, 3]);
        assert_eq!(inputs[1].shape(), &[2]);
        assert_eq!(inputs[2].shape(), &[2]);
        assert!(
            matches!(inputs[0].data(), TensorData::Raw(b) if b.len() == 12 && b.iter().all(|x| *x == 0))
        );
        assert!(
            matches!(inputs[2].data(), TensorData::Strings(s) if s.iter().all(Bytes::is_empty))
        );
    }
}
