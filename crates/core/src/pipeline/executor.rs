//! Runs a pipeline's graph for one request: wave by wave, the nodes of a
//! wave concurrently, each node a request to its model's servable (which
//! validates and runs it as any request). Values are `Tensor`s over shared
//! buffers: passing one to the next node copies no data.

use std::sync::Arc;

use inferd_tensor::Tensor;

use super::{Graph, Node, NodeRunner, branches};
use crate::executor::{Answer, Executor, ExecutorFuture, Job};
use crate::{ContentEncoding, CoreError, InferInput, InferRequest, Parameters, Servable};

/// The executor of a pipeline servable.
pub(crate) struct PipelineExecutor {
    graph: Arc<Graph>,
}

impl PipelineExecutor {
    pub(crate) fn new(graph: Arc<Graph>) -> Self {
        PipelineExecutor { graph }
    }
}

impl Executor for PipelineExecutor {
    fn execute(&self, job: Job) -> ExecutorFuture<'_> {
        Box::pin(async move {
            let outputs = self.graph.run(job.inputs).await?;
            Ok(Answer::Outputs(outputs, Parameters::default()))
        })
    }

    fn slots(&self) -> usize {
        // Nodes run through their models' own executors and slots.
        1
    }
}

/// A value while the graph runs: one tensor, or one per branch of a
/// demultiplexed node.
#[derive(Clone)]
enum Value {
    One(Tensor),
    Branches(Arc<Vec<Tensor>>),
}

impl Value {
    /// The value as one tensor: branches are gathered.
    fn joined(&self) -> Result<Tensor, CoreError> {
        match self {
            Value::One(tensor) => Ok(tensor.clone()),
            Value::Branches(branches) => branches::gather(branches),
        }
    }
}

impl Graph {
    async fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, CoreError> {
        let mut values: Vec<Option<Value>> =
            inputs.into_iter().map(|t| Some(Value::One(t))).collect();
        values.resize(self.slots, None);
        for wave in &self.waves {
            let answers =
                futures_util::future::join_all(wave.iter().map(|&i| self.nodes[i].run(&values)))
                    .await;
            for (&i, answer) in wave.iter().zip(answers) {
                for (slot, value) in self.nodes[i].outputs.iter().map(|o| o.1).zip(answer?) {
                    values[slot] = Some(value);
                }
            }
        }
        // The response gathers branches still open.
        self.response
            .iter()
            .map(|&slot| values[slot].as_ref().ok_or(CoreError::Internal)?.joined())
            .collect()
    }
}

impl Node {
    /// Runs the node on the values it reads: once, or once per branch when
    /// its inputs are branches it does not gather; splits its outputs when
    /// it demultiplies. Answers in the order of `self.outputs`.
    async fn run(&self, values: &[Option<Value>]) -> Result<Vec<Value>, CoreError> {
        let mut inputs = Vec::with_capacity(self.inputs.len());
        let mut branches = None;
        for (name, slot) in &self.inputs {
            let value = values[*slot].as_ref().ok_or(CoreError::Internal)?;
            let value = match value {
                Value::Branches(_) if self.gathers => Value::One(value.joined()?),
                Value::Branches(list) => {
                    branches = Some(list.len());
                    value.clone()
                }
                Value::One(_) => value.clone(),
            };
            inputs.push((name.clone(), value));
        }
        let produced: Vec<Value> = match branches {
            None => {
                let tensors = inputs
                    .into_iter()
                    .map(|(name, value)| match value {
                        Value::One(tensor) => Ok((name, tensor)),
                        Value::Branches(_) => Err(CoreError::Internal),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.run_once(tensors)
                    .await?
                    .into_iter()
                    .map(Value::One)
                    .collect()
            }
            Some(count) => {
                let runs = (0..count).map(|branch| {
                    let tensors: Vec<(String, Tensor)> = inputs
                        .iter()
                        .map(|(name, value)| match value {
                            Value::One(tensor) => (name.clone(), tensor.clone()),
                            Value::Branches(list) => (name.clone(), list[branch].clone()),
                        })
                        .collect();
                    self.run_once(tensors)
                });
                let answers = futures_util::future::join_all(runs)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()?;
                (0..self.wanted.len())
                    .map(|i| {
                        Value::Branches(Arc::new(answers.iter().map(|a| a[i].clone()).collect()))
                    })
                    .collect()
            }
        };
        let produced = match self.demultiply {
            None => produced,
            Some(count) => produced
                .iter()
                .zip(&self.wanted)
                .map(|(value, name)| {
                    let tensor = value.joined()?;
                    branches::split(&tensor, count, &self.name, name)
                        .map(|b| Value::Branches(Arc::new(b)))
                })
                .collect::<Result<_, _>>()?,
        };
        // `produced` follows `wanted`; each output takes its value by name.
        self.outputs
            .iter()
            .map(|(name, _)| {
                self.wanted
                    .iter()
                    .position(|w| w == name)
                    .map(|i| produced[i].clone())
                    .ok_or(CoreError::Internal)
            })
            .collect()
    }

    /// One run of what the node runs.
    async fn run_once(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<Tensor>, CoreError> {
        match &self.runner {
            NodeRunner::Model(servable) => run_model(servable, inputs, &self.wanted).await,
            NodeRunner::Custom(node) => {
                let (node, wanted) = (node.clone(), self.wanted.clone());
                tokio::task::spawn_blocking(move || node.run(&inputs, &wanted))
                    .await
                    .map_err(|_| {
                        CoreError::NodeFailed("Custom node failed during execution".into())
                    })?
            }
        }
        .inspect_err(|error| tracing::debug!(node = %self.name, %error, "pipeline node failed"))
    }
}

/// Runs a model node: a request to its servable (validated as any request).
async fn run_model(
    servable: &Servable,
    inputs: Vec<(String, Tensor)>,
    wanted: &[String],
) -> Result<Vec<Tensor>, CoreError> {
    let request = InferRequest {
        inputs: inputs
            .into_iter()
            .map(|(name, tensor)| InferInput {
                name,
                dtype: tensor.dtype(),
                shape: tensor.shape().iter().map(|&d| d as i64).collect(),
                data: tensor.data().clone(),
                encoding: ContentEncoding::Raw,
                parameters: Parameters::default(),
            })
            .collect(),
        outputs: wanted.to_vec(),
        ..Default::default()
    };
    let response = servable.infer(request).await?;
    wanted
        .iter()
        .map(|name| {
            response
                .outputs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, tensor)| tensor.clone())
                .ok_or(CoreError::Internal)
        })
        .collect()
}
