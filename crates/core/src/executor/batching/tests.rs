//! The batching executor with a recording engine: what ran together, in
//! which order, and what each request got back.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use inferd_backend::{BackendError, LoadedModel};
use inferd_repository::DynamicBatching;
use inferd_tensor::{DataType, Dim, Signature, Tensor, TensorData, TensorSpec};

use super::{BatchingExecutor, BatchingOptions};
use crate::executor::{Answer, Executor, Job};
use crate::telemetry::Telemetry;
use crate::{CoreError, RequestOptions, ValidationError};

/// Holds executions while closed.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn set(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let closed = self.closed.lock().unwrap();
        drop(self.changed.wait_while(closed, |closed| *closed).unwrap());
    }
}

/// Opens the gate when dropped.
struct Opens<'a>(&'a Gate);

impl Drop for Opens<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Identity on `x` FP32 [-1, -1]; records the first value of each row of
/// every execution, and waits at the gate while it is closed.
struct Recorder {
    signature: Signature,
    runs: Mutex<Vec<Vec<f32>>>,
    gate: Gate,
}

impl LoadedModel for Recorder {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn execute(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, BackendError> {
        self.gate.pass();
        let x = &inputs[0];
        let values = floats(x);
        let cols = x.shape()[1].max(1);
        let firsts = values.chunks(cols).map(|row| row[0]).collect();
        self.runs.lock().unwrap().push(firsts);
        Ok(inputs)
    }
}

fn floats(t: &Tensor) -> Vec<f32> {
    let TensorData::Raw(bytes) = t.data() else {
        panic!("raw")
    };
    bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

struct Harness {
    executor: Arc<BatchingExecutor>,
    model: Arc<Recorder>,
}

fn harness(settings: DynamicBatching) -> Harness {
    let any = vec![Dim::Any, Dim::Any];
    let model = Arc::new(Recorder {
        signature: Signature {
            inputs: vec![TensorSpec::new("x", DataType::F32, any.clone())],
            outputs: vec![TensorSpec::new("y", DataType::F32, any)],
        },
        runs: Mutex::default(),
        gate: Gate::default(),
    });
    let options = BatchingOptions::resolve(&settings, model.signature(), 1).unwrap();
    let telemetry = Telemetry::disabled().for_version("m", 1);
    let executor = BatchingExecutor::new("m", 1, model.clone(), options, telemetry);
    Harness {
        executor: Arc::new(executor),
        model,
    }
}

/// A request of `rows` rows of `cols` columns, every value of row i `first + i`.
fn job(first: f32, rows: usize, cols: usize, options: RequestOptions) -> Job {
    let values: Vec<u8> = (0..rows)
        .flat_map(|r| std::iter::repeat_n(first + r as f32, cols))
        .flat_map(f32::to_le_bytes)
        .collect();
    let x = Tensor::new(
        DataType::F32,
        vec![rows, cols],
        TensorData::Raw(Bytes::from(values)),
    )
    .unwrap();
    Job {
        inputs: vec![x],
        rows,
        options,
        parameters: Default::default(),
    }
}

impl Harness {
    fn send(&self, job: Job) -> tokio::task::JoinHandle<Result<Vec<Tensor>, CoreError>> {
        let executor = self.executor.clone();
        tokio::spawn(async move {
            match executor.execute(job).await? {
                Answer::Outputs(outputs, _) => Ok(outputs),
                Answer::Stream(_) => panic!("no streams"),
            }
        })
    }

    fn runs(&self) -> Vec<Vec<f32>> {
        self.model.runs.lock().unwrap().clone()
    }

    fn queued(&self) -> usize {
        self.executor.shared.lock().queue.len()
    }

    /// Waits (bounded) until `n` requests are queued.
    async fn until_queued(&self, n: usize) {
        for _ in 0..2000 {
            if self.queued() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{n} requests never queued");
    }

    /// Sends a request that holds the engine until the returned guard drops.
    async fn occupy(
        &self,
    ) -> (
        Opens<'_>,
        tokio::task::JoinHandle<Result<Vec<Tensor>, CoreError>>,
    ) {
        self.model.gate.set(true);
        let guard = Opens(&self.model.gate);
        let first = self.send(job(100.0, 1, 2, RequestOptions::default()));
        // The engine has it once it left the queue.
        self.until_queued(0).await;
        for _ in 0..2000 {
            if self.executor.shared.lock().idle == 0 && self.queued() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (guard, first)
    }
}

fn plain() -> RequestOptions {
    RequestOptions::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_request_runs_alone_and_gets_its_rows() {
    let h = harness(DynamicBatching::default());
    let out = h.send(job(1.0, 3, 2, plain())).await.unwrap().unwrap();
    assert_eq!(floats(&out[0]), [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    assert_eq!(h.runs(), [vec![1.0, 2.0, 3.0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_queued_while_busy_share_one_call_and_get_their_own_rows() {
    let h = harness(DynamicBatching::default());
    let (gate, first) = h.occupy().await;
    let b = h.send(job(10.0, 2, 2, plain()));
    h.until_queued(1).await;
    let c = h.send(job(20.0, 1, 2, plain()));
    h.until_queued(2).await;
    let d = h.send(job(30.0, 1, 3, plain()));
    h.until_queued(3).await;
    drop(gate);
    first.await.unwrap().unwrap();
    let b = b.await.unwrap().unwrap();
    let c = c.await.unwrap().unwrap();
    let d = d.await.unwrap().unwrap();
    assert_eq!(floats(&b[0]), [10.0, 10.0, 11.0, 11.0]);
    assert_eq!(floats(&c[0]), [20.0, 20.0]);
    assert_eq!(d[0].shape(), &[1, 3]);
    // b and c ran together; d (3 columns) never shared their batch.
    assert_eq!(h.runs(), [vec![100.0], vec![10.0, 11.0, 20.0], vec![30.0]]);
    let stats = h.executor.shared.telemetry.stats().snapshot();
    assert_eq!(stats.execution_count, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_runs_first() {
    let h = harness(DynamicBatching {
        max_batch_size: Some(1),
        priority_levels: Some(2),
        ..Default::default()
    });
    let (gate, first) = h.occupy().await;
    let low = h.send(job(
        2.0,
        1,
        2,
        RequestOptions {
            priority: Some(2),
            ..plain()
        },
    ));
    h.until_queued(1).await;
    let high = h.send(job(
        1.0,
        1,
        2,
        RequestOptions {
            priority: Some(1),
            ..plain()
        },
    ));
    h.until_queued(2).await;
    drop(gate);
    for t in [first, low, high] {
        t.await.unwrap().unwrap();
    }
    assert_eq!(h.runs(), [vec![100.0], vec![1.0], vec![2.0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_timeout_is_answered_and_never_run() {
    let h = harness(DynamicBatching::default());
    let (gate, first) = h.occupy().await;
    let late = h.send(job(
        5.0,
        1,
        2,
        RequestOptions {
            timeout: Some(Duration::from_millis(20)),
            ..plain()
        },
    ));
    let answer = late.await.unwrap();
    assert!(matches!(answer, Err(CoreError::TimedOut)), "{answer:?}");
    drop(gate);
    first.await.unwrap().unwrap();
    let ok = h.send(job(6.0, 1, 2, plain())).await.unwrap();
    assert!(ok.is_ok());
    assert_eq!(h.runs(), [vec![100.0], vec![6.0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_caller_left_is_dropped_from_the_queue() {
    let h = harness(DynamicBatching::default());
    let (gate, first) = h.occupy().await;
    let gone = h.send(job(7.0, 1, 2, plain()));
    h.until_queued(1).await;
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());
    let kept = h.send(job(8.0, 1, 2, plain()));
    h.until_queued(2).await;
    drop(gate);
    first.await.unwrap().unwrap();
    kept.await.unwrap().unwrap();
    assert_eq!(h.runs(), [vec![100.0], vec![8.0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once_and_a_large_request_is_refused() {
    let h = harness(DynamicBatching {
        max_batch_size: Some(4),
        max_queue_size: Some(1),
        ..Default::default()
    });
    let (gate, first) = h.occupy().await;
    let queued = h.send(job(1.0, 1, 2, plain()));
    h.until_queued(1).await;
    let refused = h.send(job(2.0, 1, 2, plain())).await.unwrap();
    assert!(
        matches!(refused, Err(CoreError::Overloaded(_))),
        "{refused:?}"
    );
    let large = h.send(job(3.0, 5, 2, plain())).await.unwrap();
    assert!(
        matches!(
            large,
            Err(CoreError::Invalid(ValidationError::BatchLimit {
                max: 4,
                ..
            }))
        ),
        "{large:?}"
    );
    drop(gate);
    first.await.unwrap().unwrap();
    queued.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_gathers_requests_up_to_a_preferred_size() {
    let h = harness(DynamicBatching {
        max_batch_size: Some(8),
        preferred_batch_size: vec![2],
        max_queue_delay_microseconds: Some(10_000_000),
        ..Default::default()
    });
    // The first waits for company (the delay is long); the second makes a
    // preferred batch, which runs at once.
    let a = h.send(job(1.0, 1, 2, plain()));
    h.until_queued(1).await;
    let b = h.send(job(2.0, 1, 2, plain()));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(h.runs(), [vec![1.0, 2.0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_sizes_pad_the_batch_and_answers_drop_the_padding() {
    let h = harness(DynamicBatching {
        max_batch_size: Some(4),
        allowed_batch_sizes: vec![4],
        ..Default::default()
    });
    let out = h.send(job(1.0, 1, 2, plain())).await.unwrap().unwrap();
    assert_eq!(out[0].shape(), &[1, 2]);
    assert_eq!(h.runs(), [vec![1.0, 0.0, 0.0, 0.0]]);
}
