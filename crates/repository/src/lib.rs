//! The model repository: the OVMS `config.json` schema, version policies, and
//! the local-disk source that lists a model's versions and files.

mod config;
mod local;
mod policy;
mod shape;

pub use config::{
    BACKEND_NAMES, BatchSize, ConfigError, CustomNodeLibraryConfig, LayoutSetting, ModelConfig,
    ModelConfigEntry, MonitoringConfig, PerInput, ServerModelsConfig,
};
pub use local::{FolderSnapshot, SourceError, list_files, list_versions};
pub use policy::VersionPolicy;
pub use shape::{ShapeSetting, parse_dims, parse_layout};
