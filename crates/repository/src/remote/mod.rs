//! Model versions in an object store: numeric "folders" under the model's
//! prefix are its versions, fingerprinted from the listing (each object's
//! name, size and ETag), and a version is fetched once into a local cache
//! folder, which the engines read. The stores: [`stores`].

mod client;
mod stores;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;

use crate::source::{Fingerprint, LocalVersion, Source, SourceError};
use client::StoreClient;
pub use stores::{azure, gcs, s3};

/// Where fetched versions are kept unless `--model_cache_dir` says otherwise.
fn default_cache_root() -> PathBuf {
    std::env::temp_dir().join("inferd-model-cache")
}

static CACHE_ROOT: OnceLock<PathBuf> = OnceLock::new();

/// Sets the folder fetched versions are kept in (`--model_cache_dir`);
/// only the first call counts.
pub fn set_cache_root(path: PathBuf) {
    let _ = CACHE_ROOT.set(path);
}

fn cache_root() -> PathBuf {
    CACHE_ROOT.get().cloned().unwrap_or_else(default_cache_root)
}

/// The runtime storage requests run on, whatever thread asks: the answer
/// comes back over a channel, so callers need no runtime of their own.
fn run<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("inferd-storage")
            .enable_all()
            .build()
            .expect("a runtime for storage requests")
    });
    let (done, answer) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = done.send(future.await);
    });
    answer.recv().expect("storage requests run to completion")
}

/// Large objects are downloaded in parts of this size...
const PART_BYTES: u64 = 8 << 20;
/// ...this many at a time.
const PARTS_AT_ONCE: usize = 8;

/// A model's versions in an object store.
#[derive(Debug)]
pub struct RemoteSource {
    /// The base path as configured, for messages.
    url: String,
    client: StoreClient,
    prefix: ObjectPath,
    /// This model's cache folder.
    cache: PathBuf,
}

impl RemoteSource {
    /// The source of model `model` for `url`'s objects under `prefix` in
    /// the store `client` reaches, cached under the cache root in a folder
    /// of the model's own (two models may share a base path, each with its
    /// own versions).
    fn new(model: &str, url: &str, client: StoreClient, prefix: ObjectPath) -> Self {
        let relative: PathBuf = std::iter::once(model)
            .chain(url.split("://").next())
            .chain(
                url.split_once("://")
                    .map_or(url, |(_, rest)| rest)
                    .split('/'),
            )
            .filter(|part| !part.is_empty() && *part != "." && *part != "..")
            .collect();
        RemoteSource {
            url: url.to_string(),
            client,
            prefix,
            cache: cache_root().join(relative),
        }
    }

    /// An error of this source, on one line (stores answer with indented
    /// XML or JSON bodies).
    fn error(&self, what: &str, error: impl std::fmt::Display) -> SourceError {
        let message = format!("{what}: {error}")
            .replace(
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#,
                "",
            )
            .replace(r#"<?xml version="1.0" encoding="utf-8"?>"#, "");
        SourceError::Remote {
            url: self.url.clone(),
            message: message.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }

    fn version_prefix(&self, version: u64) -> ObjectPath {
        ObjectPath::from(format!("{}/{version}", self.prefix))
    }

    /// Every object of `version`: path within the version, size, stamp.
    fn objects(&self, version: u64) -> Result<Vec<(String, u64, String)>, SourceError> {
        let client = self.client.clone();
        let prefix = self.version_prefix(version);
        let within = format!("{prefix}/");
        let listed = run(async move { client.list(&prefix, false).await })
            .map_err(|e| self.error(&format!("cannot list version {version}"), e))?;
        Ok(listed
            .objects
            .into_iter()
            .filter_map(|o| Some((o.path.strip_prefix(&within)?.to_string(), o.size, o.stamp)))
            .filter(|(relative, _, _)| !relative.is_empty() && !relative.ends_with('/'))
            .collect())
    }
}

impl Source for RemoteSource {
    fn list_versions(&self) -> Result<Vec<u64>, SourceError> {
        let client = self.client.clone();
        let prefix = self.prefix.clone();
        let listed = run(async move { client.list(&prefix, true).await })
            .map_err(|e| self.error("cannot list versions", e))?;
        let mut versions: Vec<u64> = listed
            .prefixes
            .iter()
            .filter_map(|p| p.rsplit('/').next()?.parse::<u64>().ok())
            .filter(|v| *v > 0)
            .collect();
        versions.sort_unstable();
        versions.dedup();
        Ok(versions)
    }

    fn fingerprint(&self, version: u64) -> Result<Fingerprint, SourceError> {
        self.objects(version).map(Fingerprint::new)
    }

    fn fetch(&self, version: u64) -> Result<LocalVersion, SourceError> {
        let objects = self.objects(version)?;
        let dir = self.cache.join(version.to_string());
        let stamp_file = self.cache.join(format!("{version}.fingerprint"));
        let stamp = serde_json::to_string(&objects).unwrap_or_default();
        if dir.is_dir() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(&stamp) {
            return local_version(&dir).map_err(|e| self.error("cannot read the cache", e));
        }
        // Unique per fetch: two models may share a base path (and a cache).
        static FETCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let fetch = FETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = self
            .cache
            .join(format!("{version}.partial-{}-{fetch}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let started = std::time::Instant::now();
        for (relative, size, _) in &objects {
            let target = partial.join(relative);
            let location = ObjectPath::from(format!("{}/{relative}", self.version_prefix(version)));
            self.download(&location, &target, *size)?;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir)
            .and_then(|()| std::fs::write(&stamp_file, &stamp))
            .map_err(|e| self.error("cannot write the cache", e))?;
        let bytes: u64 = objects.iter().map(|(_, size, _)| size).sum();
        let took = started.elapsed();
        tracing::info!(
            url = %self.url,
            version,
            bytes,
            took_ms = took.as_millis() as u64,
            mb_per_s = (bytes as f64 / 1e6 / took.as_secs_f64().max(1e-6)).round(),
            "version downloaded"
        );
        local_version(&dir).map_err(|e| self.error("cannot read the cache", e))
    }

    fn keep_only(&self, versions: &[u64]) {
        let Ok(entries) = std::fs::read_dir(&self.cache) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.split('.').next().and_then(|v| v.parse::<u64>().ok());
            if version.is_some_and(|v| !versions.contains(&v)) {
                let path = entry.path();
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                match removed {
                    Ok(()) => tracing::info!(path = %path.display(), "cached version deleted"),
                    Err(error) => {
                        tracing::warn!(path = %path.display(), %error, "cannot delete a cached version")
                    }
                }
            }
        }
    }
}

impl RemoteSource {
    /// Writes object `location` to `target`, checking it has `size` bytes:
    /// in parts of [`PART_BYTES`], [`PARTS_AT_ONCE`] ranged requests at a
    /// time, each written at its offset.
    fn download(&self, location: &ObjectPath, target: &Path, size: u64) -> Result<(), SourceError> {
        use futures_util::TryStreamExt;
        use std::os::unix::fs::FileExt;
        let what = format!("cannot download {location}");
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| self.error(&what, e))?;
        }
        let file = std::fs::File::create(target)
            .and_then(|file| file.set_len(size).map(|()| Arc::new(file)))
            .map_err(|e| self.error(&what, e))?;
        let ranges: Vec<std::ops::Range<u64>> = (0..size)
            .step_by(PART_BYTES as usize)
            .map(|start| start..(start + PART_BYTES).min(size))
            .collect();
        let (client, location) = (self.client.clone(), location.clone());
        let written = run(async move {
            futures_util::stream::iter(ranges)
                .map(|range| {
                    let (client, location) = (client.clone(), location.clone());
                    async move {
                        let bytes = client.get_range(&location, range.clone()).await?;
                        Ok::<_, String>((range.start, bytes))
                    }
                })
                .buffer_unordered(PARTS_AT_ONCE)
                .try_fold(0u64, |written, (offset, bytes)| {
                    let file = file.clone();
                    async move {
                        file.write_all_at(&bytes, offset)
                            .map_err(|e| format!("cannot write the cache: {e}"))?;
                        Ok(written + bytes.len() as u64)
                    }
                })
                .await
        })
        .map_err(|e| self.error(&what, e))?;
        if written != size {
            return Err(self.error(
                &what,
                format!("got {written} bytes, the listing said {size}"),
            ));
        }
        Ok(())
    }
}

fn local_version(dir: &Path) -> std::io::Result<LocalVersion> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(LocalVersion {
        dir: dir.to_path_buf(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

    use super::*;

    fn put(store: &Arc<dyn ObjectStore>, path: &str, bytes: &'static [u8]) {
        let store = store.clone();
        let path = ObjectPath::from(path);
        run(async move { store.put(&path, PutPayload::from_static(bytes)).await }).unwrap();
    }

    fn in_memory(url: &str, store: &Arc<dyn ObjectStore>, prefix: &str) -> RemoteSource {
        RemoteSource::new("m", url, StoreClient::Store(store.clone()), prefix.into())
    }

    #[test]
    fn versions_fingerprints_and_a_cached_fetch() {
        let cache = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        put(&store, "models/m/1/model.onnx", b"one");
        put(&store, "models/m/2/model.onnx", b"two!");
        put(&store, "models/m/2/sub/extra.bin", b"x");
        put(&store, "models/m/notes/readme", b"not a version");
        let mut source = in_memory("mem://models/m", &store, "models/m");
        source.cache = cache.path().join("m");
        assert_eq!(source.list_versions().unwrap(), [1, 2]);
        let before = source.fingerprint(2).unwrap();
        let fetched = source.fetch(2).unwrap();
        let names: Vec<_> = fetched
            .files
            .iter()
            .map(|f| {
                f.strip_prefix(&fetched.dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["model.onnx", "sub/extra.bin"]);
        assert_eq!(std::fs::read(&fetched.files[0]).unwrap(), b"two!");
        // A changed upload changes the fingerprint and is fetched again.
        put(&store, "models/m/2/model.onnx", b"TWO, again");
        assert_ne!(source.fingerprint(2).unwrap(), before);
        let again = source.fetch(2).unwrap();
        assert_eq!(std::fs::read(&again.files[0]).unwrap(), b"TWO, again");
        // Versions no longer wanted leave the cache.
        source.fetch(1).unwrap();
        source.keep_only(&[1]);
        assert!(source.cache.join("1").is_dir());
        assert!(!source.cache.join("2").exists());
        assert!(!source.cache.join("2.fingerprint").exists());
    }

    #[test]
    fn large_objects_arrive_whole_from_parallel_parts() {
        let cache = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let big: Vec<u8> = (0..PART_BYTES * 2 + 123).map(|i| (i % 251) as u8).collect();
        let (writer, payload) = (store.clone(), big.clone());
        run(async move {
            writer
                .put(&"m/1/weights.bin".into(), PutPayload::from(payload))
                .await
        })
        .unwrap();
        let mut source = in_memory("mem://m", &store, "m");
        source.cache = cache.path().join("m");
        let fetched = source.fetch(1).unwrap();
        assert_eq!(std::fs::read(&fetched.files[0]).unwrap(), big);
    }
}
