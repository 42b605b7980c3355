//! Runs a pipeline's graph for one request: wave by wave, the nodes of a
//! wave concurrently, each node a request to its model's servable (which
//! validates and runs it as any request). Values are `Tensor`s over shared
//! buffers: passing one to the next node copies no data.

use std::sync::Arc;

use inferd_tensor::Tensor;

use super::{Graph, Node, NodeRunner};
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

impl Graph {
    async fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, CoreError> {
        let mut values: Vec<Option<Tensor>> = inputs.into_iter().map(Some).collect();
        values.resize(self.slots, None);
        for wave in &self.waves {
            let answers =
                futures_util::future::join_all(wave.iter().map(|&i| self.nodes[i].run(&values)))
                    .await;
            for (&i, answer) in wave.iter().zip(answers) {
                for (slot, tensor) in self.nodes[i].outputs.iter().map(|o| o.1).zip(answer?) {
                    values[slot] = Some(tensor);
                }
            }
        }
        self.response
            .iter()
            .map(|&slot| values[slot].clone().ok_or(CoreError::Internal))
            .collect()
    }
}

impl Node {
    /// Runs the node on the values it reads; answers its outputs in the
    /// order of `self.outputs`.
    async fn run(&self, values: &[Option<Tensor>]) -> Result<Vec<Tensor>, CoreError> {
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for (name, slot) in &self.inputs {
            let tensor = values[*slot].as_ref().ok_or(CoreError::Internal)?;
            inputs.push((name.clone(), tensor.clone()));
        }
        let produced = match &self.runner {
            NodeRunner::Model(servable) => run_model(servable, inputs, &self.wanted).await,
            NodeRunner::Custom(node) => {
                let (node, wanted) = (node.clone(), self.wanted.clone());
                tokio::task::spawn_blocking(move || node.run(&inputs, &wanted))
                    .await
                    .map_err(|_| {
                        CoreError::CustomNode("Custom node failed during execution".into())
                    })?
            }
        }
        .inspect_err(|error| tracing::debug!(node = %self.name, %error, "pipeline node failed"))?;
        // `produced` follows `wanted`; each output takes its tensor by name.
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
