//! The local file system as a [`Source`]: versions are numbered folders
//! under the base path, fingerprinted by each file's size and modification
//! time.

use std::path::{Path, PathBuf};

use crate::source::{Fingerprint, LocalVersion, Source, SourceError};

/// A model's versions in a local folder.
#[derive(Debug, Clone)]
pub struct LocalSource {
    base_path: PathBuf,
}

impl LocalSource {
    /// The source of the model whose versions are folders under `base_path`.
    pub fn new(base_path: impl Into<PathBuf>) -> Self {
        LocalSource {
            base_path: base_path.into(),
        }
    }

    fn version_dir(&self, version: u64) -> PathBuf {
        self.base_path.join(version.to_string())
    }
}

impl Source for LocalSource {
    fn list_versions(&self) -> Result<Vec<u64>, SourceError> {
        list_versions(&self.base_path)
    }

    fn fingerprint(&self, version: u64) -> Result<Fingerprint, SourceError> {
        let dir = self.version_dir(version);
        let files = list_files(&dir)?
            .into_iter()
            .map(|path| {
                let meta = std::fs::metadata(&path).ok();
                let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
                let modified = meta
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or_else(String::new, |d| d.as_nanos().to_string());
                let name = path.strip_prefix(&dir).unwrap_or(&path);
                (name.to_string_lossy().into_owned(), size, modified)
            })
            .collect();
        Ok(Fingerprint::new(files))
    }

    fn fetch(&self, version: u64) -> Result<LocalVersion, SourceError> {
        let dir = self.version_dir(version);
        let files = list_files(&dir)?;
        Ok(LocalVersion { dir, files })
    }
}

/// The version numbers under `base_path`: folders named by a positive integer.
/// Other entries are ignored.
pub fn list_versions(base_path: &Path) -> Result<Vec<u64>, SourceError> {
    let read_err = |source| SourceError::Read {
        path: base_path.to_path_buf(),
        source,
    };
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(base_path).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let Some(version) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if version > 0 && entry.path().is_dir() {
            versions.push(version);
        }
    }
    versions.sort_unstable();
    Ok(versions)
}

/// Lists the regular files under version folder `dir`, recursively, sorted.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let mut files = Vec::new();
    collect_files(dir, &mut files).map_err(|source| SourceError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    files.sort();
    Ok(files)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_positive_integer_folders() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["1", "3", "0", "x", "02", "10"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("7"), b"a file, not a version").unwrap();
        assert_eq!(list_versions(dir.path()).unwrap(), vec![1, 2, 3, 10]);
    }

    #[test]
    fn missing_base_path_is_an_error() {
        let err = list_versions(Path::new("/no/such/inferd/model")).unwrap_err();
        assert!(err.to_string().contains("/no/such/inferd/model"));
    }

    #[test]
    fn fingerprints_change_when_files_do() {
        let dir = tempfile::tempdir().unwrap();
        let version = dir.path().join("1");
        std::fs::create_dir(&version).unwrap();
        let source = LocalSource::new(dir.path());
        std::fs::write(version.join("model.onnx"), b"x").unwrap();
        let first = source.fingerprint(1).unwrap();
        assert_eq!(first, source.fingerprint(1).unwrap());
        std::fs::write(version.join("model.onnx"), b"xy").unwrap();
        assert_ne!(first, source.fingerprint(1).unwrap());
        let second = source.fingerprint(1).unwrap();
        std::fs::write(version.join("weights.bin"), b"").unwrap();
        assert_ne!(second, source.fingerprint(1).unwrap());
        assert!(source.fingerprint(2).is_err());
        let fetched = source.fetch(1).unwrap();
        assert_eq!(fetched.dir, version);
        assert_eq!(fetched.files.len(), 2);
    }

    #[test]
    fn an_unreadable_base_path_is_an_error_not_an_empty_list() {
        let source = LocalSource::new("/no/such/inferd/model");
        assert!(source.list_versions().is_err());
    }

    #[test]
    fn files_are_listed_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("variables")).unwrap();
        std::fs::write(dir.path().join("model.onnx"), b"x").unwrap();
        std::fs::write(dir.path().join("variables/v.index"), b"x").unwrap();
        let files = list_files(dir.path()).unwrap();
        assert_eq!(
            files,
            vec![
                dir.path().join("model.onnx"),
                dir.path().join("variables/v.index")
            ]
        );
    }
}
