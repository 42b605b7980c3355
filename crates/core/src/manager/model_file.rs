//! Triton's `default_model_filename`: the one file (or folder) of a
//! version folder that holds the model; the engines see only it.

use std::path::Path;

use inferd_backend::ModelFiles;

/// `files` narrowed to `name` under `files.dir`: that file, everything
/// under that folder, and an OpenVINO IR's weights beside its `.xml`.
pub(super) fn only(files: ModelFiles, name: &str) -> Result<ModelFiles, String> {
    let chosen = files.dir.join(name);
    if Path::new(name).components().count() != 1 {
        return Err(format!(
            "default_model_filename '{name}' must name a file or folder of the version folder"
        ));
    }
    let weights = chosen.with_extension("bin");
    let is_ir = chosen.extension().is_some_and(|e| e == "xml");
    let kept: Vec<_> = files
        .files
        .into_iter()
        .filter(|p| p.starts_with(&chosen) || (is_ir && *p == weights))
        .collect();
    if kept.is_empty() {
        return Err(format!(
            "default_model_filename '{name}': no such file or folder in {}",
            files.dir.display()
        ));
    }
    Ok(ModelFiles {
        dir: files.dir,
        files: kept,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn files(names: &[&str]) -> ModelFiles {
        let dir = PathBuf::from("/m/1");
        ModelFiles {
            files: names.iter().map(|n| dir.join(n)).collect(),
            dir,
        }
    }

    fn kept(found: ModelFiles) -> Vec<String> {
        let dir = found.dir.clone();
        found
            .files
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn only_the_named_model_is_kept() {
        let all = || {
            files(&[
                "a.onnx",
                "b.onnx",
                "net.xml",
                "net.bin",
                "tf/saved_model.pb",
            ])
        };
        assert_eq!(kept(only(all(), "b.onnx").unwrap()), ["b.onnx"]);
        assert_eq!(
            kept(only(all(), "net.xml").unwrap()),
            ["net.xml", "net.bin"]
        );
        assert_eq!(kept(only(all(), "tf").unwrap()), ["tf/saved_model.pb"]);
        let e = only(all(), "c.onnx").unwrap_err();
        assert!(e.contains("no such file or folder"), "{e}");
        assert!(only(all(), "../x.onnx").is_err());
    }
}
