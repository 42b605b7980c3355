//! Signatures that run one computation under two names, such as the
//! `serve` and `serving_default` of a Keras `model.export`: each is a
//! wrapper function calling the same traced function on the same captured
//! variables. Such a twin is served by the other's compiled model rather
//! than compiled again. Only TF2 signature wrappers are recognised (a call
//! node, then Identity and NoOp); anything else counts as its own.

use std::collections::BTreeMap;

use prost::Message;

use super::{DEFAULT_SIGNATURE, SavedSignature};

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, optional, tag = "2")]
    library: Option<LibraryProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    op: String,
    #[prost(string, repeated, tag = "3")]
    input: Vec<String>,
    #[prost(btree_map = "string, message", tag = "5")]
    attr: BTreeMap<String, AttrProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttrProto {
    #[prost(message, optional, tag = "10")]
    func: Option<FunctionNameProto>,
}

#[derive(Clone, PartialEq, Message)]
struct FunctionNameProto {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct LibraryProto {
    #[prost(message, repeated, tag = "1")]
    function: Vec<FunctionProto>,
}

#[derive(Clone, PartialEq, Message)]
struct FunctionProto {
    #[prost(message, optional, tag = "1")]
    signature: Option<OpDefProto>,
    #[prost(message, repeated, tag = "3")]
    node_def: Vec<NodeProto>,
    #[prost(btree_map = "string, string", tag = "4")]
    ret: BTreeMap<String, String>,
}

#[derive(Clone, PartialEq, Message)]
struct OpDefProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, repeated, tag = "2")]
    input_arg: Vec<ArgProto>,
}

#[derive(Clone, PartialEq, Message)]
struct ArgProto {
    #[prost(string, tag = "1")]
    name: String,
}

const CALLS: [&str; 2] = ["StatefulPartitionedCall", "PartitionedCall"];
const WRAPPER_OPS: [&str; 4] = [
    "StatefulPartitionedCall",
    "PartitionedCall",
    "Identity",
    "NoOp",
];

fn called(node: &NodeProto) -> Option<&str> {
    node.attr
        .get("f")
        .and_then(|a| a.func.as_ref())
        .map(|f| f.name.as_str())
}

/// For each signature that computes what another one does, the name of
/// the one to serve it: `serving_default` when it is a twin, else the first
/// twin by name. `graph_def` is the meta graph's encoded GraphDef.
pub(super) fn twins(graph_def: &[u8], signatures: &[SavedSignature]) -> BTreeMap<String, String> {
    let Ok(graph) = GraphProto::decode(graph_def) else {
        return BTreeMap::new();
    };
    let mut by_computation: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for signature in signatures.iter().filter(|s| s.is_servable()) {
        if let Some(key) = computation(&graph, signature) {
            by_computation.entry(key).or_default().push(&signature.name);
        }
    }
    let mut found = BTreeMap::new();
    for names in by_computation.values().filter(|n| n.len() > 1) {
        let served = names
            .iter()
            .find(|n| **n == DEFAULT_SIGNATURE)
            .unwrap_or(&names[0]);
        for name in names.iter().filter(|n| *n != served) {
            found.insert(name.to_string(), served.to_string());
        }
    }
    found
}

/// What `signature` computes, as text equal for twins; `None` when it is
/// not a plain TF2 signature wrapper.
fn computation(graph: &GraphProto, signature: &SavedSignature) -> Option<String> {
    let mut call_node = None;
    let mut outputs = Vec::new();
    for output in &signature.outputs {
        let (node, index) = output.tensor_name.rsplit_once(':')?;
        if call_node.is_some_and(|n| n != node) {
            return None;
        }
        call_node = Some(node);
        outputs.push((&output.key, index, output.dtype, &output.shape));
    }
    let node = graph
        .node
        .iter()
        .find(|n| Some(n.name.as_str()) == call_node)?;
    if !CALLS.contains(&node.op.as_str()) {
        return None;
    }
    let wrapper_name = called(node)?;
    let wrapper = graph
        .library
        .as_ref()?
        .function
        .iter()
        .find(|f| f.signature.as_ref().is_some_and(|s| s.name == wrapper_name))?;
    if wrapper
        .node_def
        .iter()
        .any(|n| !WRAPPER_OPS.contains(&n.op.as_str()))
    {
        return None;
    }
    let body: Vec<_> = wrapper
        .node_def
        .iter()
        .map(|n| (&n.name, &n.op, &n.input, called(n)))
        .collect();
    let args: Vec<&str> = wrapper
        .signature
        .iter()
        .flat_map(|s| s.input_arg.iter().map(|a| a.name.as_str()))
        .collect();
    // The call's inputs: the signature's placeholders by key, then the
    // captured variables, which twins share.
    let inputs: Vec<String> = node
        .input
        .iter()
        .map(|input| {
            let placeholder = signature.inputs.iter().find(|t| {
                let tensor = t.tensor_name.strip_suffix(":0").unwrap_or(&t.tensor_name);
                input == tensor || *input == t.tensor_name
            });
            placeholder.map_or_else(|| input.clone(), |t| format!("@{}", t.key))
        })
        .collect();
    let declared: Vec<_> = signature
        .inputs
        .iter()
        .map(|t| (&t.key, t.dtype, &t.shape))
        .collect();
    Some(format!(
        "{} {:?} {body:?} {args:?} {inputs:?} {declared:?} {outputs:?} {}",
        node.op, wrapper.ret, signature.method_name
    ))
}

#[cfg(test)]
mod tests {
    use super::super::SavedTensor;
    use super::*;

    fn call(name: &str, wrapper: &str, placeholder: &str) -> NodeProto {
        let f = AttrProto {
            func: Some(FunctionNameProto {
                name: wrapper.into(),
            }),
        };
        NodeProto {
            name: name.into(),
            op: "StatefulPartitionedCall".into(),
            input: vec![placeholder.into(), "kernel".into()],
            attr: BTreeMap::from([("f".to_string(), f)]),
        }
    }

    fn wrapper(name: &str, inner: &str, extra_op: Option<&str>) -> FunctionProto {
        let mut inner_call = call("StatefulPartitionedCall", inner, "features");
        inner_call.input[1] = "unknown".into();
        let mut nodes = vec![inner_call];
        if let Some(op) = extra_op {
            nodes.push(NodeProto {
                name: "extra".into(),
                op: op.into(),
                ..Default::default()
            });
        }
        FunctionProto {
            signature: Some(OpDefProto {
                name: name.into(),
                input_arg: vec![ArgProto {
                    name: "features".into(),
                }],
            }),
            node_def: nodes,
            ret: BTreeMap::from([("identity".into(), "Identity:output:0".into())]),
        }
    }

    fn signature(name: &str, placeholder: &str, call_node: &str) -> SavedSignature {
        let tensor = |key: &str, tensor_name: String| SavedTensor {
            key: key.into(),
            tensor_name,
            dtype: 1,
            shape: Some(vec![-1, 16]),
        };
        SavedSignature {
            name: name.into(),
            method_name: "tensorflow/serving/predict".into(),
            inputs: vec![tensor("features", format!("{placeholder}:0"))],
            outputs: vec![tensor("output_0", format!("{call_node}:0"))],
            same_as: None,
        }
    }

    fn graph(wrappers: Vec<FunctionProto>) -> Vec<u8> {
        GraphProto {
            node: vec![
                call("Call", "wrap_serve", "serve_features"),
                call("Call_1", "wrap_default", "serving_default_features"),
            ],
            library: Some(LibraryProto { function: wrappers }),
        }
        .encode_to_vec()
    }

    #[test]
    fn wrappers_of_one_function_are_twins() {
        let signatures = [
            signature("serve", "serve_features", "Call"),
            signature("serving_default", "serving_default_features", "Call_1"),
        ];
        let same = graph(vec![
            wrapper("wrap_serve", "inner", None),
            wrapper("wrap_default", "inner", None),
        ]);
        assert_eq!(
            twins(&same, &signatures),
            BTreeMap::from([("serve".to_string(), "serving_default".to_string())])
        );
        let other = graph(vec![
            wrapper("wrap_serve", "inner", None),
            wrapper("wrap_default", "inner_2", None),
        ]);
        assert!(twins(&other, &signatures).is_empty());
        let more = graph(vec![
            wrapper("wrap_serve", "inner", Some("Mul")),
            wrapper("wrap_default", "inner", Some("Mul")),
        ]);
        assert!(twins(&more, &signatures).is_empty());
        assert!(twins(b"\xff", &signatures).is_empty());
    }
}
