//! TensorFlow SavedModel signatures, read from `saved_model.pb`: what TF
//! Serving lists in a model's metadata and selects by `signature_name`, and
//! a copy of a SavedModel whose `serving_default` is another of its
//! signatures (OpenVINO's TensorFlow frontend reads only that one).
//!
//! The messages below are the few fields of TensorFlow's SavedModel,
//! MetaGraphDef and SignatureDef this needs, with their public field
//! numbers; every other field of a meta graph is kept as its encoded bytes,
//! so a rewritten file differs from the original only in its signatures.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;

use crate::BackendError;

mod twins;

/// The signature a request without `signature_name` gets.
pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// The file holding a SavedModel's graphs and signatures.
pub const SAVED_MODEL_FILE: &str = "saved_model.pb";
/// The tag set served (TF Serving's `--saved_model_tags` default).
const SERVE_TAG: &str = "serve";

/// One `signature_def` of the served meta graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSignature {
    /// Its key in the signature map, e.g. `serving_default`.
    pub name: String,
    /// E.g. `tensorflow/serving/predict`.
    pub method_name: String,
    /// Inputs by key, in key order.
    pub inputs: Vec<SavedTensor>,
    /// Outputs by key, in key order.
    pub outputs: Vec<SavedTensor>,
    /// Another signature that computes the same (see [`twins`]): served
    /// by that one's compiled model.
    pub same_as: Option<String>,
}

impl SavedSignature {
    /// Whether it can be served: TensorFlow keeps names starting with `__`
    /// (such as `__saved_model_init_op`) for its own use.
    pub fn is_servable(&self) -> bool {
        !self.name.starts_with("__")
    }
}

/// The signature a model serves to clients that cannot name one (KServe):
/// `serving_default`, else the first servable one in name order.
pub fn primary(found: &[SavedSignature]) -> Option<&SavedSignature> {
    let mut servable = found.iter().filter(|s| s.is_servable());
    found
        .iter()
        .find(|s| s.name == DEFAULT_SIGNATURE)
        .or_else(|| servable.next())
}

/// One tensor of a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedTensor {
    /// The key clients use, e.g. `a`.
    pub key: String,
    /// The graph's tensor, e.g. `serving_default_a:0`.
    pub tensor_name: String,
    /// TensorFlow's DataType number (1 is DT_FLOAT).
    pub dtype: i32,
    /// Dimensions, -1 where unknown; `None` for an unknown rank.
    pub shape: Option<Vec<i64>>,
}

#[derive(Clone, PartialEq, Message)]
struct SavedModelProto {
    #[prost(int64, tag = "1")]
    saved_model_schema_version: i64,
    #[prost(message, repeated, tag = "2")]
    meta_graphs: Vec<MetaGraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct MetaGraphProto {
    #[prost(bytes = "vec", optional, tag = "1")]
    meta_info_def: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "2")]
    graph_def: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "3")]
    saver_def: Option<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "4")]
    collection_def: Vec<Vec<u8>>,
    #[prost(btree_map = "string, message", tag = "5")]
    signature_def: BTreeMap<String, SignatureDefProto>,
    #[prost(bytes = "vec", repeated, tag = "6")]
    asset_file_def: Vec<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "7")]
    object_graph_def: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct MetaInfoProto {
    #[prost(string, repeated, tag = "4")]
    tags: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct SignatureDefProto {
    #[prost(btree_map = "string, message", tag = "1")]
    inputs: BTreeMap<String, TensorInfoProto>,
    #[prost(btree_map = "string, message", tag = "2")]
    outputs: BTreeMap<String, TensorInfoProto>,
    #[prost(string, tag = "3")]
    method_name: String,
    #[prost(btree_map = "string, bytes", tag = "4")]
    defaults: BTreeMap<String, Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorInfoProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int32, tag = "2")]
    dtype: i32,
    #[prost(message, optional, tag = "3")]
    tensor_shape: Option<ShapeProto>,
    #[prost(bytes = "vec", optional, tag = "4")]
    coo_sparse: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "5")]
    composite_tensor: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct ShapeProto {
    #[prost(message, repeated, tag = "2")]
    dim: Vec<DimProto>,
    #[prost(bool, tag = "3")]
    unknown_rank: bool,
}

#[derive(Clone, PartialEq, Message)]
struct DimProto {
    #[prost(int64, tag = "1")]
    size: i64,
}

fn load_error(dir: &Path, what: impl std::fmt::Display) -> BackendError {
    BackendError::Load(format!("{}: {what}", dir.join(SAVED_MODEL_FILE).display()))
}

fn read(dir: &Path) -> Result<SavedModelProto, BackendError> {
    let bytes = std::fs::read(dir.join(SAVED_MODEL_FILE)).map_err(|e| load_error(dir, e))?;
    SavedModelProto::decode(bytes.as_slice()).map_err(|e| load_error(dir, e))
}

/// The index of the meta graph tagged `serve` (and nothing else), as TF
/// Serving loads with its default `--saved_model_tags`.
fn served_graph(model: &SavedModelProto, dir: &Path) -> Result<usize, BackendError> {
    model
        .meta_graphs
        .iter()
        .position(|graph| {
            graph
                .meta_info_def
                .as_deref()
                .and_then(|info| MetaInfoProto::decode(info).ok())
                .is_some_and(|info| info.tags == [SERVE_TAG])
        })
        .ok_or_else(|| load_error(dir, "no meta graph has the tag set {serve}"))
}

/// The signatures of the SavedModel in `dir`, in name order.
pub fn signatures(dir: &Path) -> Result<Vec<SavedSignature>, BackendError> {
    let model = read(dir)?;
    let graph = &model.meta_graphs[served_graph(&model, dir)?];
    let mut found: Vec<SavedSignature> = graph
        .signature_def
        .iter()
        .map(|(name, def)| SavedSignature {
            name: name.clone(),
            method_name: def.method_name.clone(),
            inputs: tensors(&def.inputs),
            outputs: tensors(&def.outputs),
            same_as: None,
        })
        .collect();
    let twins = twins::twins(graph.graph_def.as_deref().unwrap_or_default(), &found);
    for signature in &mut found {
        signature.same_as = twins.get(&signature.name).cloned();
    }
    Ok(found)
}

fn tensors(infos: &BTreeMap<String, TensorInfoProto>) -> Vec<SavedTensor> {
    infos
        .iter()
        .map(|(key, info)| SavedTensor {
            key: key.clone(),
            tensor_name: info.name.clone(),
            dtype: info.dtype,
            shape: info
                .tensor_shape
                .as_ref()
                .filter(|s| !s.unknown_rank)
                .map(|s| s.dim.iter().map(|d| d.size).collect()),
        })
        .collect()
}

/// A SavedModel copied to a temporary folder (under `TMPDIR`, else /tmp)
/// with one signature as its only, `serving_default`, one: the rewritten
/// `saved_model.pb` and links to everything else of the original folder.
/// Removed when dropped (links only: the original files stay).
#[derive(Debug)]
pub struct SignatureCopy {
    dir: tempfile::TempDir,
}

impl SignatureCopy {
    /// Copies the SavedModel in `dir` with `signature` as `serving_default`.
    pub fn new(dir: &Path, signature: &str) -> Result<SignatureCopy, BackendError> {
        let mut model = read(dir)?;
        let index = served_graph(&model, dir)?;
        let graph = &mut model.meta_graphs[index];
        let chosen = graph
            .signature_def
            .remove(signature)
            .ok_or_else(|| load_error(dir, format!("no signature {signature:?}")))?;
        graph.signature_def.retain(|name, _| name.starts_with("__"));
        graph
            .signature_def
            .insert(DEFAULT_SIGNATURE.to_string(), chosen);
        let copy_error = |e: std::io::Error| {
            BackendError::Load(format!(
                "copying signature {signature:?} of {} to a temporary folder: {e}",
                dir.display()
            ))
        };
        let copy = tempfile::Builder::new()
            .prefix("inferd-signature-")
            .tempdir()
            .map_err(copy_error)?;
        std::fs::write(copy.path().join(SAVED_MODEL_FILE), model.encode_to_vec())
            .map_err(copy_error)?;
        for entry in std::fs::read_dir(dir).map_err(|e| load_error(dir, e))? {
            let entry = entry.map_err(|e| load_error(dir, e))?;
            let name = entry.file_name();
            // The fingerprint is of the original graph file: left out.
            if name == SAVED_MODEL_FILE || name == "fingerprint.pb" {
                continue;
            }
            let target = std::path::absolute(entry.path()).map_err(copy_error)?;
            std::os::unix::fs::symlink(target, copy.path().join(&name)).map_err(copy_error)?;
        }
        Ok(SignatureCopy { dir: copy })
    }

    /// The copy's folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> TensorInfoProto {
        TensorInfoProto {
            name: name.into(),
            dtype: 1,
            tensor_shape: Some(ShapeProto {
                dim: vec![DimProto { size: -1 }, DimProto { size: 16 }],
                unknown_rank: false,
            }),
            coo_sparse: None,
            composite_tensor: None,
        }
    }

    fn signature(inputs: &[(&str, &str)], outputs: &[(&str, &str)]) -> SignatureDefProto {
        SignatureDefProto {
            inputs: inputs
                .iter()
                .map(|(k, n)| (k.to_string(), info(n)))
                .collect(),
            outputs: outputs
                .iter()
                .map(|(k, n)| (k.to_string(), info(n)))
                .collect(),
            method_name: "tensorflow/serving/predict".into(),
            defaults: BTreeMap::new(),
        }
    }

    fn graph(tags: &[&str]) -> MetaGraphProto {
        let info = MetaInfoProto {
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        MetaGraphProto {
            meta_info_def: Some(info.encode_to_vec()),
            graph_def: Some(vec![10, 3, 1, 2, 3]),
            saver_def: None,
            collection_def: vec![vec![1, 2]],
            signature_def: BTreeMap::from([
                (
                    "serving_default".to_string(),
                    signature(&[("a", "serving_default_a:0")], &[("y", "Call:0")]),
                ),
                (
                    "scale".to_string(),
                    signature(&[("x", "scale_x:0")], &[("z", "Call_1:0")]),
                ),
                ("__saved_model_init_op".to_string(), signature(&[], &[])),
            ]),
            asset_file_def: vec![],
            object_graph_def: Some(vec![7, 7]),
        }
    }

    fn write(dir: &Path, graphs: Vec<MetaGraphProto>) {
        let model = SavedModelProto {
            saved_model_schema_version: 1,
            meta_graphs: graphs,
        };
        std::fs::write(dir.join(SAVED_MODEL_FILE), model.encode_to_vec()).unwrap();
    }

    #[test]
    fn reads_the_serve_graphs_signatures() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            vec![graph(&["serve", "gpu"]), graph(&["serve"])],
        );
        let found = signatures(dir.path()).unwrap();
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["__saved_model_init_op", "scale", "serving_default"]);
        assert!(!found[0].is_servable() && found[1].is_servable());
        assert_eq!(primary(&found).unwrap().name, "serving_default");
        assert_eq!(primary(&found[..2]).unwrap().name, "scale");
        assert!(primary(&found[..1]).is_none());
        assert_eq!(
            found[1].inputs,
            [SavedTensor {
                key: "x".into(),
                tensor_name: "scale_x:0".into(),
                dtype: 1,
                shape: Some(vec![-1, 16]),
            }]
        );
        write(dir.path(), vec![graph(&["train"])]);
        let e = signatures(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no meta graph has the tag set {serve}"), "{e}");
        std::fs::write(dir.path().join(SAVED_MODEL_FILE), b"\xff\xff").unwrap();
        assert!(signatures(dir.path()).is_err());
    }

    #[test]
    fn a_copy_serves_another_signature_as_the_default() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), vec![graph(&["serve"])]);
        std::fs::create_dir(dir.path().join("variables")).unwrap();
        std::fs::write(dir.path().join("variables/variables.index"), b"i").unwrap();
        let copy = SignatureCopy::new(dir.path(), "scale").unwrap();
        let found = signatures(copy.path()).unwrap();
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["__saved_model_init_op", "serving_default"]);
        assert_eq!(found[1].inputs[0].tensor_name, "scale_x:0");
        let original = read(dir.path()).unwrap().meta_graphs.remove(0);
        let copied = read(copy.path()).unwrap().meta_graphs.remove(0);
        assert_eq!(copied.graph_def, original.graph_def);
        assert_eq!(copied.collection_def, original.collection_def);
        assert_eq!(copied.object_graph_def, original.object_graph_def);
        let index = std::fs::read(copy.path().join("variables/variables.index")).unwrap();
        assert_eq!(index, b"i");
        let path = copy.path().to_path_buf();
        drop(copy);
        assert!(!path.exists());
        assert!(dir.path().join("variables/variables.index").exists());
        let e = SignatureCopy::new(dir.path(), "nope")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no signature \"nope\""), "{e}");
    }
}
