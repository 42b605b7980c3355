//! `pipeline_config_list` in OVMS's schema: a pipeline's inputs, its nodes
//! (models so far), how each node input is fed (`{"node_name", "data_item"}`,
//! `request` being the pipeline's inputs), and its outputs. `check` refuses
//! a graph OVMS would refuse, with one line naming the problem; what needs
//! the models' signatures (types, shapes, item names) is checked when the
//! pipeline is built.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The node name that stands for the pipeline's request.
pub const REQUEST_NODE: &str = "request";
/// The node name that stands for the pipeline's response.
pub const RESPONSE_NODE: &str = "response";

/// One pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Name clients call it by.
    pub name: String,
    /// The pipeline's input names.
    pub inputs: Vec<String>,
    /// Its nodes.
    pub nodes: Vec<NodeConfig>,
    /// The response: one `{"output name": {"node_name", "data_item"}}` per output.
    pub outputs: Vec<BTreeMap<String, Source>>,
}

/// What feeds a node input or a pipeline output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The node (`request` for the pipeline's inputs).
    pub node_name: String,
    /// The node's output alias (or the pipeline input's name).
    pub data_item: String,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique within the pipeline.
    pub name: String,
    /// `"DL model"` or `"custom"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The model a `DL model` node runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// A fixed version of that model (else its latest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The library a `custom` node runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library_name: Option<String>,
    /// A custom node's parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<BTreeMap<String, String>>,
    /// One `{"node input": {"node_name", "data_item"}}` per input.
    #[serde(default)]
    pub inputs: Vec<BTreeMap<String, Source>>,
    /// The node's outputs: the model's output (`data_item`) and the name
    /// other nodes use (`alias`).
    #[serde(default)]
    pub outputs: Vec<NodeOutput>,
    /// Splits the outputs along the first dimension (N, or -1 for dynamic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demultiply_count: Option<i64>,
    /// Gathers the branches a demultiplexing node split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather_from_node: Option<String>,
}

/// A node output and its alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOutput {
    /// The model's output name.
    pub data_item: String,
    /// The name the pipeline uses for it.
    pub alias: String,
}

/// A DL model node's type string.
pub const DL_MODEL: &str = "DL model";
/// A custom node's type string.
pub const CUSTOM: &str = "custom";

impl PipelineConfig {
    /// Every (input name, source) of node `node`.
    pub fn node_inputs(node: &NodeConfig) -> impl Iterator<Item = (&String, &Source)> {
        node.inputs.iter().flat_map(|map| map.iter())
    }

    /// Every (output name, source) of the response.
    pub fn response(&self) -> impl Iterator<Item = (&String, &Source)> {
        self.outputs.iter().flat_map(|map| map.iter())
    }

    /// Checks the graph: node names, kinds, that every source exists, no
    /// cycle, every node connected to the response; `models` are the model
    /// names the config serves, `libraries` its custom node libraries.
    pub fn check(
        &self,
        models: &HashSet<&str>,
        libraries: &HashSet<&str>,
    ) -> Result<(), ConfigError> {
        let invalid = |message: String| {
            Err(ConfigError::Invalid(format!(
                "pipeline {:?}: {message}",
                self.name
            )))
        };
        if self.name.trim().is_empty() {
            return Err(ConfigError::Invalid("pipeline name is empty".into()));
        }
        if models.contains(self.name.as_str()) {
            return invalid("a model has the same name".into());
        }
        let mut aliases: HashMap<&str, HashSet<&str>> = HashMap::new();
        aliases.insert(
            REQUEST_NODE,
            self.inputs.iter().map(String::as_str).collect(),
        );
        for node in &self.nodes {
            if node.name == REQUEST_NODE || node.name == RESPONSE_NODE {
                return invalid(format!("node name {:?} is reserved", node.name));
            }
            let outputs = node.outputs.iter().map(|o| o.alias.as_str()).collect();
            if aliases.insert(node.name.as_str(), outputs).is_some() {
                return invalid(format!("node name {:?} is used twice", node.name));
            }
            match (node.kind.as_str(), &node.model_name) {
                (DL_MODEL, Some(model)) if models.contains(model.as_str()) => {}
                (DL_MODEL, Some(model)) => {
                    return invalid(format!(
                        "node {:?} uses model {model:?}, which is not in model_config_list",
                        node.name
                    ));
                }
                (DL_MODEL, None) => {
                    return invalid(format!("node {:?} has no model_name", node.name));
                }
                (CUSTOM, _) => match &node.library_name {
                    Some(library) if libraries.contains(library.as_str()) => {}
                    Some(library) => {
                        return invalid(format!(
                            "node {:?} uses library {library:?}, which is not in \
                             custom_node_library_config_list",
                            node.name
                        ));
                    }
                    None => {
                        return invalid(format!("node {:?} has no library_name", node.name));
                    }
                },
                (other, _) => {
                    return invalid(format!(
                        "node {:?} has type {other:?}; use \"DL model\" or \"custom\"",
                        node.name
                    ));
                }
            }
            if let Some(count) = node.demultiply_count
                && (count == 0 || count < -1)
            {
                return invalid(format!(
                    "node {:?}: demultiply_count {count} must be -1 (dynamic) or positive",
                    node.name
                ));
            }
            if node.outputs.is_empty() {
                return invalid(format!("node {:?} has no outputs", node.name));
            }
        }
        let known = |source: &Source, user: &str| -> Result<(), ConfigError> {
            match aliases.get(source.node_name.as_str()) {
                None => invalid(format!(
                    "{user} reads from node {:?}, which does not exist",
                    source.node_name
                )),
                Some(items) if !items.contains(source.data_item.as_str()) => invalid(format!(
                    "{user} reads {:?} from node {:?}, which has no such {}",
                    source.data_item,
                    source.node_name,
                    match source.node_name.as_str() {
                        REQUEST_NODE => "pipeline input",
                        _ => "output alias",
                    }
                )),
                Some(_) => Ok(()),
            }
        };
        for node in &self.nodes {
            if node.inputs.is_empty() {
                return invalid(format!("node {:?} has no inputs", node.name));
            }
            for (_, source) in Self::node_inputs(node) {
                known(source, &format!("node {:?}", node.name))?;
            }
        }
        if self.outputs.is_empty() {
            return invalid("it has no outputs".into());
        }
        for (name, source) in self.response() {
            known(source, &format!("output {name:?}"))?;
        }
        let order = match self.order() {
            Ok(order) => order,
            Err(message) => return invalid(message),
        };
        self.check_connected().or_else(invalid)?;
        self.check_branches(&order).or_else(invalid)
    }

    /// Demultiplexing, one level deep: a node reads the branches of at most
    /// one demultiplexer; `gather_from_node` names the demultiplexer whose
    /// branches the node's inputs are; a demultiplexer is not itself inside
    /// branches; the response gathers any branches left open (all of one
    /// demultiplexer).
    fn check_branches(&self, order: &[usize]) -> Result<(), String> {
        // The demultiplexer whose branches each node's outputs are in.
        let mut branch_of: HashMap<&str, Option<&str>> = HashMap::new();
        let branches = |sources: &mut dyn Iterator<Item = &Source>,
                        branch_of: &HashMap<&str, Option<&str>>,
                        user: &str|
         -> Result<Option<String>, String> {
            let mut found: Option<&str> = None;
            for source in sources {
                if let Some(Some(demux)) = branch_of.get(source.node_name.as_str()) {
                    match found {
                        Some(other) if other != *demux => {
                            return Err(format!(
                                "{user} reads the branches of two demultiplexers, {other:?} and {demux:?}"
                            ));
                        }
                        _ => found = Some(demux),
                    }
                }
            }
            Ok(found.map(str::to_string))
        };
        for &i in order {
            let node = &self.nodes[i];
            let user = format!("node {:?}", node.name);
            let inside = branches(
                &mut Self::node_inputs(node).map(|(_, s)| s),
                &branch_of,
                &user,
            )?;
            let inside = match (&node.gather_from_node, inside) {
                (Some(gather), Some(demux)) if *gather == demux => None,
                (Some(gather), _) => {
                    let demultiplies = self
                        .nodes
                        .iter()
                        .any(|n| n.name == *gather && n.demultiply_count.is_some());
                    return Err(match demultiplies {
                        false => format!(
                            "{user} gathers from node {gather:?}, which does not demultiply"
                        ),
                        true => format!(
                            "{user} gathers from node {gather:?}, but its inputs are not that node's branches"
                        ),
                    });
                }
                (None, inside) => inside,
            };
            let out = match (node.demultiply_count, &inside) {
                (Some(_), Some(outer)) => {
                    return Err(format!(
                        "{user} demultiplies inside the branches of {outer:?}; nested demultiplexing is not supported"
                    ));
                }
                (Some(_), None) => Some(node.name.as_str()),
                (None, _) => inside
                    .and_then(|d| self.nodes.iter().find(|n| n.name == d))
                    .map(|n| n.name.as_str()),
            };
            branch_of.insert(node.name.as_str(), out);
        }
        branches(
            &mut self.response().map(|(_, s)| s),
            &branch_of,
            "the response",
        )
        .map(drop)
    }

    /// Each node's position, by name.
    pub fn node_index(&self) -> HashMap<&str, usize> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect()
    }

    /// The nodes (indices) in an order where each comes after every node
    /// it reads from; a cycle is an error naming a node on it.
    pub fn order(&self) -> Result<Vec<usize>, String> {
        let index = self.node_index();
        let mut order = Vec::with_capacity(self.nodes.len());
        // 0 unvisited, 1 on the current path, 2 done.
        let mut marks = vec![0u8; self.nodes.len()];
        fn visit(
            config: &PipelineConfig,
            index: &HashMap<&str, usize>,
            node: usize,
            marks: &mut [u8],
            order: &mut Vec<usize>,
        ) -> Result<(), String> {
            match marks[node] {
                2 => return Ok(()),
                1 => {
                    return Err(format!("node {:?} is on a cycle", config.nodes[node].name));
                }
                _ => {}
            }
            marks[node] = 1;
            for (_, source) in PipelineConfig::node_inputs(&config.nodes[node]) {
                if let Some(&from) = index.get(source.node_name.as_str()) {
                    visit(config, index, from, marks, order)?;
                }
            }
            marks[node] = 2;
            order.push(node);
            Ok(())
        }
        for node in 0..self.nodes.len() {
            visit(self, &index, node, &mut marks, &mut order)?;
        }
        Ok(order)
    }

    /// Every node must lead to the response (OVMS refuses unconnected nodes).
    fn check_connected(&self) -> Result<(), String> {
        let mut used: HashSet<&str> = self.response().map(|(_, s)| s.node_name.as_str()).collect();
        let mut pending: Vec<&str> = used.iter().copied().collect();
        while let Some(name) = pending.pop() {
            if let Some(node) = self.nodes.iter().find(|n| n.name == name) {
                for (_, source) in Self::node_inputs(node) {
                    if used.insert(source.node_name.as_str()) {
                        pending.push(source.node_name.as_str());
                    }
                }
            }
        }
        match self.nodes.iter().find(|n| !used.contains(n.name.as_str())) {
            Some(node) => Err(format!(
                "node {:?} is not connected to the response",
                node.name
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PipelineConfig {
        serde_json::from_str(text).unwrap()
    }

    const CHAIN: &str = r#"{
        "name": "chain",
        "inputs": ["in"],
        "nodes": [
            {"name": "first", "model_name": "a", "type": "DL model",
             "inputs": [{"x": {"node_name": "request", "data_item": "in"}}],
             "outputs": [{"data_item": "y", "alias": "mid"}]},
            {"name": "second", "model_name": "b", "type": "DL model",
             "inputs": [{"x": {"node_name": "first", "data_item": "mid"}}],
             "outputs": [{"data_item": "y", "alias": "out"}]}
        ],
        "outputs": [{"result": {"node_name": "second", "data_item": "out"}}]
    }"#;

    fn models() -> HashSet<&'static str> {
        ["a", "b"].into_iter().collect()
    }

    fn refusal(text: &str) -> String {
        parse(text)
            .check(&models(), &HashSet::new())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_chain_is_accepted_in_order() {
        let chain = parse(CHAIN);
        chain.check(&models(), &HashSet::new()).unwrap();
        assert_eq!(chain.order().unwrap(), [0, 1]);
    }

    #[test]
    fn graphs_ovms_refuses_are_refused_naming_the_problem() {
        let unknown_model = CHAIN.replace("\"model_name\": \"b\"", "\"model_name\": \"zz\"");
        assert!(
            refusal(&unknown_model).contains("model \"zz\", which is not in model_config_list")
        );
        let unknown_node = CHAIN.replace("\"node_name\": \"first\"", "\"node_name\": \"nope\"");
        assert!(refusal(&unknown_node).contains("node \"nope\", which does not exist"));
        let unknown_item = CHAIN.replace("\"data_item\": \"mid\"}", "\"data_item\": \"other\"}");
        assert!(refusal(&unknown_item).contains("no such output alias"));
        let unknown_input = CHAIN.replace("\"data_item\": \"in\"", "\"data_item\": \"missing\"");
        assert!(refusal(&unknown_input).contains("no such pipeline input"));
        let cycle = CHAIN.replace(
            "{\"x\": {\"node_name\": \"request\", \"data_item\": \"in\"}}",
            "{\"x\": {\"node_name\": \"second\", \"data_item\": \"out\"}}",
        );
        assert!(
            refusal(&cycle).contains("is on a cycle"),
            "{}",
            refusal(&cycle)
        );
        let dangling = CHAIN.replace(
            "\"outputs\": [{\"result\": {\"node_name\": \"second\", \"data_item\": \"out\"}}]",
            "\"outputs\": [{\"result\": {\"node_name\": \"first\", \"data_item\": \"mid\"}}]",
        );
        assert!(refusal(&dangling).contains("node \"second\" is not connected to the response"));
        let twice = CHAIN.replace("\"name\": \"second\"", "\"name\": \"first\"");
        assert!(refusal(&twice).contains("used twice"));
        let reserved = CHAIN.replace("\"name\": \"second\"", "\"name\": \"request\"");
        assert!(refusal(&reserved).contains("reserved"));
        let clash = parse(&CHAIN.replace("\"name\": \"chain\"", "\"name\": \"a\""));
        assert!(
            clash
                .check(&models(), &HashSet::new())
                .unwrap_err()
                .to_string()
                .contains("same name")
        );
    }

    #[test]
    fn demultiplexing_is_one_level_and_gathers_name_their_demultiplexer() {
        let mut demux = parse(CHAIN);
        demux.nodes[0].demultiply_count = Some(-1);
        demux.check(&models(), &HashSet::new()).unwrap();
        demux.nodes[1].gather_from_node = Some("first".into());
        demux.check(&models(), &HashSet::new()).unwrap();
        let mut wrong = demux.clone();
        wrong.nodes[1].gather_from_node = Some("second".into());
        let message = wrong
            .check(&models(), &HashSet::new())
            .unwrap_err()
            .to_string();
        assert!(message.contains("gathers from node \"second\", which does not demultiply"));
        let mut nested = demux.clone();
        nested.nodes[1].gather_from_node = None;
        nested.nodes[1].demultiply_count = Some(2);
        let message = nested
            .check(&models(), &HashSet::new())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("nested demultiplexing is not supported"),
            "{message}"
        );
        let mut zero = demux;
        zero.nodes[0].demultiply_count = Some(0);
        let message = zero
            .check(&models(), &HashSet::new())
            .unwrap_err()
            .to_string();
        assert!(message.contains("must be -1 (dynamic) or positive"));
    }
}
