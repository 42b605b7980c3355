//! DAG pipelines: a graph of model nodes that clients call as one model.
//! A pipeline is built against the node models' serving versions (their
//! signatures give the pipeline's inputs and outputs and are checked
//! against each other), and served as a [`Servable`] whose executor runs
//! the graph: nodes whose inputs are ready run concurrently, tensors pass
//! between them as shared buffers (no copy). The manager rebuilds a
//! pipeline when a node model's serving version changes, so new requests
//! use the new version.

mod branches;
mod custom;
mod executor;

use std::collections::HashMap;
use std::sync::Arc;

use inferd_repository::{PipelineConfig, REQUEST_NODE};
use inferd_tensor::{Dim, Signature, TensorSpec};

use crate::telemetry::VersionTelemetry;
use crate::{InputPlan, Servable};

pub use custom::{CustomLibrary, CustomNode};
pub(crate) use executor::PipelineExecutor;

/// What a node runs.
#[derive(Clone)]
pub enum NodeRunner {
    /// A model's serving version.
    Model(Arc<Servable>),
    /// A custom node library's node.
    Custom(Arc<CustomNode>),
}

impl NodeRunner {
    fn signature(&self) -> &Signature {
        match self {
            NodeRunner::Model(servable) => servable.signature(),
            NodeRunner::Custom(node) => node.signature(),
        }
    }

    /// What the node runs, for messages.
    fn describe(&self) -> String {
        match self {
            NodeRunner::Model(servable) => format!("model {}", servable.name()),
            NodeRunner::Custom(node) => format!("custom node library {}", node.library()),
        }
    }
}

/// Pipelines are served as version 1, as in OVMS.
pub const PIPELINE_VERSION: u64 = 1;

/// The platform a pipeline reports in metadata.
const PLATFORM: &str = "pipeline";

/// Where a value of one request lives while the graph runs: pipeline
/// inputs first (in the signature's order), then every node output.
type Slot = usize;

/// One node, ready to run.
struct Node {
    name: String,
    runner: NodeRunner,
    /// The node's inputs: the model input's name and the slot feeding it.
    inputs: Vec<(String, Slot)>,
    /// The model outputs used, and the slot each fills.
    outputs: Vec<(String, Slot)>,
    /// The model outputs to ask for (each once).
    wanted: Vec<String>,
    /// Joins the branches its inputs are in (`gather_from_node`).
    gathers: bool,
    /// Splits its outputs along the first dimension into this many
    /// branches (-1: as many as the dimension has).
    demultiply: Option<i64>,
}

/// A pipeline's graph resolved against serving versions.
pub(crate) struct Graph {
    nodes: Vec<Node>,
    /// Nodes in waves: each wave reads only slots earlier waves filled.
    waves: Vec<Vec<usize>>,
    slots: usize,
    /// The response's outputs, in the signature's order: their slots.
    response: Vec<Slot>,
}

/// Builds pipeline `config` over its nodes' runners (`runners`, one per
/// node in config order): checks that connected tensors agree and returns
/// the servable clients call.
pub fn build_pipeline(
    config: &PipelineConfig,
    runners: Vec<NodeRunner>,
    telemetry: Arc<VersionTelemetry>,
) -> Result<Servable, String> {
    let (graph, signature) = resolve(config, runners)?;
    let executor = PipelineExecutor::new(Arc::new(graph));
    Ok(Servable::new(
        &config.name,
        PIPELINE_VERSION,
        PLATFORM,
        InputPlan::identity(signature),
        Box::new(executor),
        telemetry,
    ))
}

fn resolve(
    config: &PipelineConfig,
    runners: Vec<NodeRunner>,
) -> Result<(Graph, Signature), String> {
    let order = config.order()?;
    // Slots and specs of everything a node or the response may read, and
    // whether each is split into branches (its spec then that of one branch).
    let mut slots: HashMap<(&str, &str), (Slot, TensorSpec, bool)> = HashMap::new();
    let mut inputs: Vec<Option<TensorSpec>> = vec![None; config.inputs.len()];
    let mut next_slot = config.inputs.len();
    let mut nodes: Vec<Option<Node>> = (0..config.nodes.len()).map(|_| None).collect();
    let mut wave_of = vec![0usize; config.nodes.len()];
    let index = config.node_index();
    for &i in &order {
        let node = &config.nodes[i];
        let runner = runners[i].clone();
        if let NodeRunner::Model(servable) = &runner
            && servable.is_stateful()
        {
            return Err(format!(
                "Stateful model cannot be subscribed to pipeline (node {:?}, model {})",
                node.name,
                servable.name()
            ));
        }
        let signature = runner.signature();
        let mut node_inputs = Vec::new();
        let mut wave = 0;
        let gathers = node.gather_from_node.is_some();
        let mut in_branches = false;
        for (name, source) in PipelineConfig::node_inputs(node) {
            let want = signature
                .inputs
                .iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| {
                    format!(
                        "node {:?}: {} has no input {name:?}",
                        node.name,
                        runner.describe()
                    )
                })?;
            let slot = if source.node_name == REQUEST_NODE {
                let position = input_position(config, &source.data_item)?;
                match &inputs[position] {
                    Some(seen) => agree(seen, want, &node.name, name)?,
                    None => {
                        let mut spec = want.clone();
                        spec.name.clone_from(&source.data_item);
                        inputs[position] = Some(spec);
                    }
                }
                position
            } else {
                let (slot, have, branched) = slots
                    .get(&(source.node_name.as_str(), source.data_item.as_str()))
                    .ok_or_else(|| {
                        format!(
                            "node {:?} reads {:?} from node {:?}, which does not produce it",
                            node.name, source.data_item, source.node_name
                        )
                    })?;
                match (*branched, gathers) {
                    (true, true) => agree(&gathered(have), want, &node.name, name)?,
                    (true, false) => {
                        in_branches = true;
                        agree(have, want, &node.name, name)?;
                    }
                    (false, _) => agree(have, want, &node.name, name)?,
                }
                wave = wave.max(wave_of[index[source.node_name.as_str()]] + 1);
                *slot
            };
            node_inputs.push((name.clone(), slot));
        }
        wave_of[i] = wave;
        let mut node_outputs = Vec::new();
        for output in &node.outputs {
            let spec = signature
                .outputs
                .iter()
                .find(|s| s.name == output.data_item)
                .ok_or_else(|| {
                    format!(
                        "node {:?}: {} has no output {:?}",
                        node.name,
                        runner.describe(),
                        output.data_item
                    )
                })?;
            let slot = next_slot;
            next_slot += 1;
            let (spec, branched) = match node.demultiply_count {
                Some(_) => (one_branch(spec), true),
                None => (spec.clone(), in_branches),
            };
            slots.insert(
                (node.name.as_str(), output.alias.as_str()),
                (slot, spec, branched),
            );
            node_outputs.push((output.data_item.clone(), slot));
        }
        let mut wanted: Vec<String> = node_outputs.iter().map(|o| o.0.clone()).collect();
        wanted.sort();
        wanted.dedup();
        nodes[i] = Some(Node {
            name: node.name.clone(),
            runner,
            inputs: node_inputs,
            outputs: node_outputs,
            wanted,
            gathers,
            demultiply: node.demultiply_count,
        });
    }
    let mut outputs = Vec::new();
    let mut response = Vec::new();
    for (name, source) in config.response() {
        let (slot, spec) = if source.node_name == REQUEST_NODE {
            let position = input_position(config, &source.data_item)?;
            let spec = inputs[position]
                .clone()
                .ok_or_else(|| format!("pipeline input {:?} feeds no node", source.data_item))?;
            (position, spec)
        } else {
            // The response gathers branches still open.
            match &slots[&(source.node_name.as_str(), source.data_item.as_str())] {
                (slot, spec, true) => (*slot, gathered(spec)),
                (slot, spec, false) => (*slot, spec.clone()),
            }
        };
        outputs.push(TensorSpec::new(name.clone(), spec.dtype, spec.shape));
        response.push(slot);
    }
    let inputs = inputs
        .into_iter()
        .zip(&config.inputs)
        .map(|(spec, name)| spec.ok_or_else(|| format!("pipeline input {name:?} feeds no node")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for &i in &order {
        if waves.len() <= wave_of[i] {
            waves.resize(wave_of[i] + 1, Vec::new());
        }
        waves[wave_of[i]].push(i);
    }
    let graph = Graph {
        nodes: nodes
            .into_iter()
            .map(|n| n.expect("every node resolved"))
            .collect(),
        waves,
        slots: next_slot,
        response,
    };
    Ok((graph, Signature { inputs, outputs }))
}

/// Checks that a tensor `have` may feed input `input` of node `node`, which
/// wants `want`: the same type, rank, and fixed dimensions.
fn agree(have: &TensorSpec, want: &TensorSpec, node: &str, input: &str) -> Result<(), String> {
    let fixed_clash = have
        .shape
        .iter()
        .zip(&want.shape)
        .any(|(a, b)| matches!((a, b), (Dim::Fixed(x), Dim::Fixed(y)) if x != y));
    if have.dtype != want.dtype || have.shape.len() != want.shape.len() || fixed_clash {
        return Err(format!(
            "node {node:?} input {input:?} takes {} {}, but is fed {} {}",
            want.dtype.name(),
            inferd_tensor::format_shape(&want.shape),
            have.dtype.name(),
            inferd_tensor::format_shape(&have.shape),
        ));
    }
    Ok(())
}

/// The position of pipeline input `name` (a pipeline input is slot `position`).
fn input_position(config: &PipelineConfig, name: &str) -> Result<Slot, String> {
    config
        .inputs
        .iter()
        .position(|p| p == name)
        .ok_or_else(|| format!("no pipeline input {name:?}"))
}

/// The spec of one branch of a demultiplexed tensor: without its first
/// dimension.
fn one_branch(spec: &TensorSpec) -> TensorSpec {
    TensorSpec::new(
        spec.name.clone(),
        spec.dtype,
        spec.shape.iter().skip(1).copied().collect(),
    )
}

/// The spec of branches gathered: a first dimension of any size added.
fn gathered(spec: &TensorSpec) -> TensorSpec {
    let shape = std::iter::once(Dim::Any)
        .chain(spec.shape.iter().copied())
        .collect();
    TensorSpec::new(spec.name.clone(), spec.dtype, shape)
}
