//! Finding native runtime libraries at run time: an explicit path (flag), then
//! environment variables, then the runtimes folders that
//! `scripts/install-runtimes.sh` fills (`pip install --target`).

use std::path::{Path, PathBuf};

/// Where to look for native runtimes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeSearch {
    /// `--openvino_lib`: path of `libopenvino_c.so*`.
    pub openvino_lib: Option<PathBuf>,
    /// `--onnxruntime_lib`: path of `libonnxruntime.so*`.
    pub onnxruntime_lib: Option<PathBuf>,
    /// Folders holding `openvino/libs/` and `onnxruntime/capi/`, in order.
    pub runtimes_dirs: Vec<PathBuf>,
}

impl RuntimeSearch {
    /// The default runtimes folders: `$INFERD_RUNTIMES_DIR`, `./runtimes`, and
    /// `runtimes` beside the executable and two levels up (`target/release/..`).
    pub fn default_dirs() -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(dir) = std::env::var_os("INFERD_RUNTIMES_DIR") {
            dirs.push(PathBuf::from(dir));
        }
        dirs.push(PathBuf::from("runtimes"));
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            dirs.push(exe_dir.join("runtimes"));
            if let Some(up) = exe_dir.parent().and_then(Path::parent) {
                dirs.push(up.join("runtimes"));
            }
        }
        dirs
    }
}

/// How a native library was looked for, and the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibrarySearch {
    /// The library found.
    pub found: Option<PathBuf>,
    /// Every place looked at, in order, for the "not found" message.
    pub searched: Vec<String>,
}

/// Looks for a shared library: `explicit`, then each of `env_vars`, then
/// `<dir>/<subdir>/<stem>*` in each runtimes folder (versioned names such as
/// `libopenvino_c.so.2641` included; the shortest name wins).
pub fn find_library(
    explicit: Option<&Path>,
    env_vars: &[&str],
    dirs: &[PathBuf],
    subdir: &str,
    stem: &str,
) -> LibrarySearch {
    let mut searched = Vec::new();
    if let Some(path) = explicit {
        searched.push(format!("flag: {}", path.display()));
        return LibrarySearch {
            found: path.is_file().then(|| path.to_path_buf()),
            searched,
        };
    }
    for var in env_vars {
        if let Some(value) = std::env::var_os(var) {
            let path = PathBuf::from(value);
            searched.push(format!("${var}={}", path.display()));
            if path.is_file() {
                return LibrarySearch {
                    found: Some(path),
                    searched,
                };
            }
        } else {
            searched.push(format!("${var} (unset)"));
        }
    }
    for dir in dirs {
        let folder = dir.join(subdir);
        searched.push(format!("{}/{stem}*", folder.display()));
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut candidates: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(stem))
            })
            .collect();
        candidates.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
        if let Some(found) = candidates.into_iter().next() {
            return LibrarySearch {
                found: Some(found),
                searched,
            };
        }
    }
    LibrarySearch {
        found: None,
        searched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_versioned_library_in_runtimes_dir() {
        let dir = tempfile::tempdir().unwrap();
        let libs = dir.path().join("openvino/libs");
        std::fs::create_dir_all(&libs).unwrap();
        std::fs::write(libs.join("libopenvino_c.so.2641"), b"").unwrap();
        std::fs::write(libs.join("libopenvino.so.2641"), b"").unwrap();
        let search = find_library(
            None,
            &[],
            &[PathBuf::from("/nowhere"), dir.path().to_path_buf()],
            "openvino/libs",
            "libopenvino_c.so",
        );
        assert_eq!(search.found, Some(libs.join("libopenvino_c.so.2641")));
        assert_eq!(search.searched.len(), 2);
    }

    #[test]
    fn explicit_path_wins_and_missing_is_reported() {
        let search = find_library(Some(Path::new("/no/such/lib.so")), &[], &[], "x", "lib");
        assert_eq!(search.found, None);
        assert_eq!(search.searched, vec!["flag: /no/such/lib.so".to_string()]);
    }
}
