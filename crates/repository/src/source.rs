//! Where a model's versions are stored. A source lists a model's versions,
//! fingerprints one (to tell a changed or still-being-written version from a
//! settled one), and makes a version available as local files for the
//! engines. The manager sees only this trait; the local file system is the
//! first implementation, object stores the next.

use std::path::PathBuf;
use std::sync::Arc;

use crate::local::LocalSource;

/// Why a source could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A folder or file could not be read.
    #[error("cannot read model folder {path}: {source}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The base path names a storage this build cannot read.
    #[error("model path {0} is on a storage inferd cannot read yet")]
    Unsupported(String),
    /// An object store refused or could not be reached.
    #[error("{url}: {message}")]
    Remote {
        /// The model's base path.
        url: String,
        /// What failed, and the store's answer.
        message: String,
    },
}

/// What a version held at one moment: every file's path within the version,
/// size and change stamp (a modification time, an ETag). Two equal
/// fingerprints taken a poll apart mean the version is no longer being
/// written; a different one means it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    files: Vec<(String, u64, String)>,
}

impl Fingerprint {
    /// A fingerprint of these (path, size, stamp) entries, in any order.
    pub fn new(mut files: Vec<(String, u64, String)>) -> Self {
        files.sort();
        Fingerprint { files }
    }
}

/// A version available as local files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalVersion {
    /// The version's folder.
    pub dir: PathBuf,
    /// Every regular file under it, recursively, sorted.
    pub files: Vec<PathBuf>,
}

/// A model's storage. Calls may block (file systems, networks): make them
/// off the async threads.
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The versions present: positive integers, ascending. A failure is an
    /// error, never an empty list, so that a storage hiccup unloads nothing.
    fn list_versions(&self) -> Result<Vec<u64>, SourceError>;

    /// The current fingerprint of `version`.
    fn fingerprint(&self, version: u64) -> Result<Fingerprint, SourceError>;

    /// Makes `version` available as local files (a no-op for local storage).
    fn fetch(&self, version: u64) -> Result<LocalVersion, SourceError>;

    /// Drops the local copies of every version but `versions` (fetched
    /// versions no longer aspired or loaded); nothing for local storage.
    fn keep_only(&self, versions: &[u64]) {
        let _ = versions;
    }
}

/// The source for model `name`'s `base_path`.
pub fn open_source(name: &str, base_path: &str) -> Result<Arc<dyn Source>, SourceError> {
    if base_path.starts_with("s3://") {
        return Ok(Arc::new(crate::remote::s3(name, base_path)?));
    }
    if base_path.starts_with("gs://") {
        return Ok(Arc::new(crate::remote::gcs(name, base_path)?));
    }
    if base_path.starts_with("az://") {
        return Ok(Arc::new(crate::remote::azure(name, base_path)?));
    }
    if crate::config::REMOTE_SCHEMES
        .iter()
        .any(|s| base_path.starts_with(*s))
    {
        return Err(SourceError::Unsupported(base_path.to_string()));
    }
    Ok(Arc::new(LocalSource::new(base_path)))
}
