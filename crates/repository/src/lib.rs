//! The model repository: the OVMS `config.json` schema, version policies, and
//! sources of model versions (the [`Source`] trait; the local file system).

mod batching;
mod config;
mod expected;
mod local;
mod pipeline;
mod policy;
mod preprocess;
mod remote;
mod sequence;
mod shape;
mod source;
mod warmup;

pub use batching::{DEFAULT_MAX_BATCH_SIZE, DynamicBatching};
pub use config::{
    BACKEND_NAMES, BatchSize, ConfigError, CustomNodeLibraryConfig, LayoutSetting, ModelConfig,
    ModelConfigEntry, MonitoringConfig, PerInput, ServerModelsConfig,
};
pub use expected::{ExpectedSignature, ExpectedTensor};
pub use local::{LocalSource, list_files, list_versions};
pub use pipeline::{
    CUSTOM, DL_MODEL, NodeConfig, NodeOutput, PipelineConfig, REQUEST_NODE, RESPONSE_NODE,
    Source as NodeSource,
};
pub use policy::VersionPolicy;
pub use preprocess::{ChannelValues, Color, ColorFormat, InputSetting};
pub use remote::set_cache_root;
pub use sequence::{
    ControlInput, ControlKind, DEFAULT_MAX_SEQUENCE_NUMBER, SequenceBatching, StateConfig,
};
pub use shape::{InputShape, ShapeSetting, parse_dims, parse_layout};
pub use source::{Fingerprint, LocalVersion, Source, SourceError, open_source};
pub use warmup::{WarmupData, WarmupInput, WarmupSample};
