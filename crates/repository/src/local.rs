use std::path::{Path, PathBuf};

/// Why a model's folder could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The base path does not exist or cannot be read.
    #[error("cannot read model folder {path}: {source}")]
    Read {
        /// Folder that was read.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
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

/// What a version folder held at one moment: every file with its size and
/// modification time. Two equal snapshots taken a poll apart mean the folder
/// is no longer being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSnapshot {
    files: Vec<(PathBuf, u64, Option<std::time::SystemTime>)>,
}

impl FolderSnapshot {
    /// Takes a snapshot of `dir` (recursively).
    pub fn take(dir: &Path) -> Result<Self, SourceError> {
        let files = list_files(dir)?
            .into_iter()
            .map(|path| {
                let meta = std::fs::metadata(&path).ok();
                let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
                let modified = meta.and_then(|m| m.modified().ok());
                (path, size, modified)
            })
            .collect();
        Ok(FolderSnapshot { files })
    }
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
    fn snapshots_change_when_files_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.onnx"), b"x").unwrap();
        let first = FolderSnapshot::take(dir.path()).unwrap();
        assert_eq!(first, FolderSnapshot::take(dir.path()).unwrap());
        std::fs::write(dir.path().join("model.onnx"), b"xy").unwrap();
        assert_ne!(first, FolderSnapshot::take(dir.path()).unwrap());
        let second = FolderSnapshot::take(dir.path()).unwrap();
        std::fs::write(dir.path().join("weights.bin"), b"").unwrap();
        assert_ne!(second, FolderSnapshot::take(dir.path()).unwrap());
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
