use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use inferd_backend::Backends;
use inferd_backend::fake::{self, FakeBackend};
use inferd_repository::{ModelConfig, ServerModelsConfig, VersionPolicy};
use inferd_tensor::{DataType, TensorData};

use super::*;
use crate::{InferInput, InferRequest};

fn manager() -> Arc<Manager> {
    Arc::new(Manager::new(Backends::from_engines(vec![Arc::new(
        FakeBackend::default(),
    )])))
}

fn write_version(base: &Path, version: u64, script: &str) {
    let dir = base.join(version.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.fake"), script).unwrap();
}

fn config(models: Vec<ModelConfig>) -> ServerModelsConfig {
    let entries = models
        .into_iter()
        .map(|m| serde_json::json!({"config": m}))
        .collect::<Vec<_>>();
    serde_json::from_value(serde_json::json!({"model_config_list": entries})).unwrap()
}

fn model(name: &str, base: &Path, policy: VersionPolicy) -> ModelConfig {
    let mut m = ModelConfig::new(name, base.to_string_lossy());
    m.model_version_policy = Some(policy);
    m
}

fn request(value: f32) -> InferRequest {
    InferRequest {
        inputs: vec![InferInput {
            name: "x".into(),
            dtype: DataType::F32,
            shape: vec![1],
            data: TensorData::Raw(Bytes::copy_from_slice(&value.to_le_bytes())),
            encoding: Default::default(),
            parameters: Default::default(),
        }],
        outputs: vec![],
        ..Default::default()
    }
}

fn states(manager: &Manager, name: &str) -> Vec<(u64, ServableState)> {
    manager
        .model_status(name)
        .unwrap()
        .into_iter()
        .map(|s| (s.version, s.state))
        .collect()
}

/// Waits (bounded) until model `name`'s version states are `want`.
async fn wait_for_states(manager: &Manager, name: &str, want: &[(u64, ServableState)]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while states(manager, name) != want {
        assert!(
            std::time::Instant::now() < deadline,
            "states stayed {:?}, want {want:?}",
            states(manager, name)
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn policy_picks_versions_and_latest_routes_to_highest() {
    let dir = tempfile::tempdir().unwrap();
    for v in 1..=3 {
        write_version(dir.path(), v, &format!("offset={v}"));
    }
    let manager = manager();
    manager
        .apply(
            &config(vec![model("m", dir.path(), VersionPolicy::latest(2))]),
            LoadTiming::Now,
        )
        .await;
    assert!(manager.is_ready());
    assert_eq!(
        states(&manager, "m"),
        vec![(2, ServableState::Available), (3, ServableState::Available)]
    );
    assert_eq!(
        manager
            .handle("m", VersionRequest::Latest)
            .unwrap()
            .version(),
        3
    );
    assert_eq!(
        manager
            .handle("m", VersionRequest::Specific(2))
            .unwrap()
            .version(),
        2
    );
    assert!(matches!(
        manager.handle("m", VersionRequest::Specific(1)),
        Err(CoreError::VersionNotFound)
    ));
    assert!(matches!(
        manager.handle("n", VersionRequest::Latest),
        Err(CoreError::ModelNotFound)
    ));
    let response = manager
        .handle("m", VersionRequest::Latest)
        .unwrap()
        .infer(request(1.0))
        .await
        .unwrap();
    let TensorData::Raw(bytes) = response.outputs[0].1.data() else {
        panic!("raw output expected")
    };
    assert_eq!(bytes.as_ref(), 4.0f32.to_le_bytes());
}

#[tokio::test]
async fn a_storage_that_cannot_be_listed_is_reported_until_it_answers() {
    let manager = manager();
    let broken = vec![ModelConfig::new("remote", "s3:///no-bucket")];
    manager.apply(&config(broken), LoadTiming::Now).await;
    assert!(manager.is_ready());
    let fault = manager.storage_fault("remote").unwrap();
    assert!(fault.contains("no bucket name"), "{fault}");
    match manager.handle("remote", VersionRequest::Latest) {
        Err(CoreError::StorageFault { model, message }) => {
            assert_eq!((model.as_str(), message), ("remote", fault));
        }
        other => panic!("{:?}", other.err()),
    }
    // Moved to storage that answers: the fault clears and the model loads.
    let dir = tempfile::tempdir().unwrap();
    write_version(dir.path(), 1, "offset=1");
    let fixed = vec![model("remote", dir.path(), VersionPolicy::default())];
    manager.apply(&config(fixed), LoadTiming::Now).await;
    assert_eq!(manager.storage_fault("remote"), None);
    assert!(manager.handle("remote", VersionRequest::Latest).is_ok());
}

#[tokio::test]
async fn failed_model_does_not_affect_others() {
    let good = tempfile::tempdir().unwrap();
    let bad = tempfile::tempdir().unwrap();
    write_version(good.path(), 1, "offset=1");
    write_version(bad.path(), 1, "load=fail");
    write_version(bad.path(), 2, "load=panic");
    let manager = manager();
    let models = vec![
        model("good", good.path(), VersionPolicy::default()),
        model("bad", bad.path(), VersionPolicy::all()),
        model(
            "missing",
            Path::new("/no/such/inferd/dir"),
            VersionPolicy::default(),
        ),
    ];
    manager.apply(&config(models), LoadTiming::Now).await;
    assert!(manager.is_ready());
    assert!(manager.handle("good", VersionRequest::Latest).is_ok());
    let bad_status = manager.model_status("bad").unwrap();
    assert_eq!(bad_status[0].state, ServableState::Loading);
    assert_eq!(
        bad_status[0].error.as_deref(),
        Some("fake backend: fake load failure")
    );
    assert_eq!(
        bad_status[1].error.as_deref(),
        Some("the backend panicked while loading the model")
    );
    assert!(matches!(
        manager.handle("bad", VersionRequest::Specific(1)),
        Err(CoreError::VersionNotLoaded)
    ));
    assert!(matches!(
        manager.handle("bad", VersionRequest::Latest),
        Err(CoreError::VersionNotLoaded)
    ));
    // A folder that cannot be read is the reason the model has no version.
    assert!(matches!(
        manager.handle("missing", VersionRequest::Latest),
        Err(CoreError::StorageFault { message, .. }) if message.contains("/no/such/inferd/dir")
    ));
}

#[tokio::test]
async fn removed_versions_and_models_end_but_in_flight_handles_finish() {
    let dir = tempfile::tempdir().unwrap();
    write_version(dir.path(), 1, "offset=1\nrun_ms=200");
    let manager = manager();
    manager
        .apply(
            &config(vec![model("m", dir.path(), VersionPolicy::default())]),
            LoadTiming::Now,
        )
        .await;
    let handle = manager.handle("m", VersionRequest::Latest).unwrap();
    let in_flight = tokio::spawn(async move { handle.infer(request(1.0)).await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    manager.apply(&config(vec![]), LoadTiming::Now).await;
    // Retired at once for new requests, released only after the one in flight.
    assert_eq!(states(&manager, "m"), vec![(1, ServableState::Unloading)]);
    assert!(matches!(
        manager.handle("m", VersionRequest::Latest),
        Err(CoreError::VersionNotFound)
    ));
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.model_version, 1);
    wait_for_states(&manager, "m", &[(1, ServableState::End)]).await;
}

#[tokio::test]
async fn new_version_is_loaded_before_old_is_unloaded() {
    let dir = tempfile::tempdir().unwrap();
    write_version(dir.path(), 1, "offset=1");
    let manager = manager();
    let cfg = config(vec![model("m", dir.path(), VersionPolicy::default())]);
    manager.apply(&cfg, LoadTiming::Now).await;
    write_version(dir.path(), 2, "offset=2\nload_ms=300");
    let applying = {
        let manager = manager.clone();
        let cfg = cfg.clone();
        tokio::spawn(async move { manager.apply(&cfg, LoadTiming::Now).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // While version 2 loads, version 1 keeps serving.
    assert_eq!(
        manager
            .handle("m", VersionRequest::Latest)
            .unwrap()
            .version(),
        1
    );
    applying.await.unwrap();
    assert_eq!(
        manager
            .handle("m", VersionRequest::Latest)
            .unwrap()
            .version(),
        2
    );
    wait_for_states(
        &manager,
        "m",
        &[(1, ServableState::End), (2, ServableState::Available)],
    )
    .await;
}

#[tokio::test]
async fn version_labels_route_to_their_versions() {
    let dir = tempfile::tempdir().unwrap();
    for v in 1..=2 {
        write_version(dir.path(), v, &format!("offset={v}"));
    }
    let mut m = model("m", dir.path(), VersionPolicy::all());
    m.version_labels = Some([("stable".to_string(), 1), ("canary".to_string(), 2)].into());
    let manager = manager();
    manager.apply(&config(vec![m]), LoadTiming::Now).await;
    for (label, version) in [("stable", 1), ("canary", 2)] {
        let handle = manager
            .handle("m", VersionRequest::Label(label.into()))
            .unwrap();
        assert_eq!(handle.version(), version);
        assert_eq!(manager.label_version("m", label).unwrap(), version);
    }
    assert!(matches!(
        manager.handle("m", VersionRequest::Label("beta".into())),
        Err(CoreError::LabelNotFound(l)) if l == "beta"
    ));
    assert!(matches!(
        manager.handle("n", VersionRequest::Label("stable".into())),
        Err(CoreError::ModelNotFound)
    ));
}

#[tokio::test]
async fn polling_loads_a_new_folder_only_once_it_has_settled() {
    let dir = tempfile::tempdir().unwrap();
    write_version(dir.path(), 1, "offset=1");
    let manager = manager();
    let cfg = config(vec![model("m", dir.path(), VersionPolicy::all())]);
    manager.apply(&cfg, LoadTiming::WhenSettled).await;
    assert_eq!(states(&manager, "m"), vec![(1, ServableState::Start)]);
    // Still being written: the files differ from one poll to the next.
    std::fs::write(dir.path().join("1/model.fake"), "offset=1\n# more").unwrap();
    manager.apply(&cfg, LoadTiming::WhenSettled).await;
    assert_eq!(states(&manager, "m"), vec![(1, ServableState::Start)]);
    manager.apply(&cfg, LoadTiming::WhenSettled).await;
    assert_eq!(states(&manager, "m"), vec![(1, ServableState::Available)]);
}

#[tokio::test]
async fn a_failing_new_version_leaves_the_old_one_serving_until_fixed() {
    let dir = tempfile::tempdir().unwrap();
    write_version(dir.path(), 1, "offset=1");
    let manager = manager();
    let cfg = config(vec![model("m", dir.path(), VersionPolicy::default())]);
    manager.apply(&cfg, LoadTiming::Now).await;
    write_version(dir.path(), 2, "load=fail");
    for _ in 0..3 {
        manager.apply(&cfg, LoadTiming::Now).await;
        let status = manager.model_status("m").unwrap();
        assert_eq!(status[0].state, ServableState::Available, "{status:?}");
        assert_eq!(status[1].state, ServableState::Loading);
        assert_eq!(
            status[1].error.as_deref(),
            Some("fake backend: fake load failure")
        );
        let served = manager.handle("m", VersionRequest::Latest).unwrap();
        assert_eq!(served.infer(request(1.0)).await.unwrap().model_version, 1);
    }
    // Fixing the files is picked up by the next pass.
    write_version(dir.path(), 2, "offset=2");
    manager.apply(&cfg, LoadTiming::Now).await;
    let served = manager.handle("m", VersionRequest::Latest).unwrap();
    assert_eq!(served.version(), 2);
    wait_for_states(
        &manager,
        "m",
        &[(1, ServableState::End), (2, ServableState::Available)],
    )
    .await;
}

#[tokio::test]
async fn a_hanging_load_does_not_block_other_models() {
    let dir = tempfile::tempdir().unwrap();
    let (fast, slow) = (dir.path().join("fast"), dir.path().join("slow"));
    write_version(&fast, 1, "offset=1");
    let manager = manager();
    manager
        .apply(
            &config(vec![model("fast", &fast, VersionPolicy::default())]),
            LoadTiming::Now,
        )
        .await;
    write_version(&slow, 1, "load_ms=3000");
    let both = config(vec![
        model("fast", &fast, VersionPolicy::default()),
        model("slow", &slow, VersionPolicy::default()),
    ]);
    let applying = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.apply(&both, LoadTiming::Now).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(states(&manager, "slow"), vec![(1, ServableState::Loading)]);
    for _ in 0..20 {
        let handle = manager.handle("fast", VersionRequest::Latest).unwrap();
        handle.infer(request(1.0)).await.unwrap();
    }
    assert!(
        !applying.is_finished(),
        "requests to the other model were served while the slow load ran"
    );
    applying.await.unwrap();
    assert_eq!(
        states(&manager, "slow"),
        vec![(1, ServableState::Available)]
    );
}

/// With two engines and no backend named, a version that one engine fails to
/// load is served by the other; one that both fail keeps both errors.
#[tokio::test]
async fn a_version_moves_to_the_next_engine_and_keeps_every_error() {
    let base = tempfile::tempdir().unwrap();
    write_version(base.path(), 1, "offset=2\nload@first=fail");
    write_version(base.path(), 2, "load=fail");
    let manager = Arc::new(Manager::new(Backends::from_engines(vec![
        Arc::new(FakeBackend::named("first")),
        Arc::new(FakeBackend::named("second")),
    ])));
    let models = vec![model("m", base.path(), VersionPolicy::all())];
    manager.apply(&config(models), LoadTiming::Now).await;
    let status = manager.model_status("m").unwrap();
    let by_version = |v: u64| status.iter().find(|s| s.version == v).unwrap();
    assert_eq!(by_version(1).state, ServableState::Available);
    let served = manager.handle("m", VersionRequest::Specific(1)).unwrap();
    assert_eq!(served.platform(), "fake");
    let answer = served.infer(request(1.0)).await.unwrap();
    let TensorData::Raw(bytes) = answer.outputs[0].1.data() else {
        panic!("raw output expected")
    };
    assert_eq!(bytes.as_ref(), 3.0f32.to_le_bytes());
    assert_eq!(by_version(2).state, ServableState::Loading);
    assert_eq!(
        by_version(2).error.as_deref(),
        Some("first backend: fake load failure; second backend: fake load failure")
    );
}

fn manager_with_load_threads(num_load_threads: usize) -> Arc<Manager> {
    let backends = Backends::from_engines(vec![Arc::new(FakeBackend::default())]);
    let options = ManagerOptions {
        num_load_threads,
        ..ManagerOptions::default()
    };
    Arc::new(Manager::with_options(backends, options))
}

/// Waits (bounded) until `count` loads wait at fake gate `gate`.
async fn wait_at_gate(gate: &str, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fake::waiting_at_gate(gate) != count {
        assert!(
            std::time::Instant::now() < deadline,
            "{gate}: never {count} waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Model A's load hangs; meanwhile model B gets a new version, is unloaded
/// and comes back through two polls, each change complete on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_load_delays_no_change_of_another_model() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    write_version(&a, 1, "gate=hang-a");
    write_version(&b, 1, "offset=1");
    let manager = manager_with_load_threads(2);
    let only_b = config(vec![model("b", &b, VersionPolicy::default())]);
    manager.apply(&only_b, LoadTiming::Now).await;
    let both = config(vec![
        model("a", &a, VersionPolicy::default()),
        model("b", &b, VersionPolicy::default()),
    ]);
    drop(manager.submit(&both, LoadTiming::Now, None).detach());
    wait_at_gate("hang-a", 1).await;

    write_version(&b, 2, "offset=2");
    manager
        .submit(&both, LoadTiming::Now, Some("b"))
        .settled()
        .await;
    use ServableState::{Available, End, Loading};
    assert_eq!(states(&manager, "b"), vec![(1, End), (2, Available)]);

    let only_a = config(vec![model("a", &a, VersionPolicy::default())]);
    manager
        .submit(&only_a, LoadTiming::Now, Some("b"))
        .settled()
        .await;
    assert_eq!(states(&manager, "b"), vec![(1, End), (2, End)]);
    assert!(manager.handle("b", VersionRequest::Latest).is_err());

    // Two polls: the first sees B's files, the second loads them. A is
    // busy, so each poll leaves A's change to A's running work.
    for _ in 0..2 {
        manager
            .submit(&both, LoadTiming::WhenSettled, None)
            .detach()
            .finished()
            .await;
    }
    assert_eq!(states(&manager, "b"), vec![(1, End), (2, Available)]);
    let answer = manager
        .handle("b", VersionRequest::Latest)
        .unwrap()
        .infer(request(1.0))
        .await
        .unwrap();
    assert_eq!(answer.model_version, 2);

    assert_eq!(states(&manager, "a"), vec![(1, Loading)]);
    assert_eq!(fake::waiting_at_gate("hang-a"), 1);
    fake::open_gate("hang-a");
    wait_for_states(&manager, "a", &[(1, Available)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_in_flight_never_exceed_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["m1", "m2", "m3", "m4", "m5"];
    let models = names
        .iter()
        .map(|name| {
            let base = dir.path().join(name);
            write_version(&base, 1, "gate=bounded");
            model(name, &base, VersionPolicy::default())
        })
        .collect();
    let manager = manager_with_load_threads(2);
    let applying = {
        let (manager, cfg) = (manager.clone(), config(models));
        tokio::spawn(async move { manager.apply(&cfg, LoadTiming::Now).await })
    };
    wait_at_gate("bounded", 2).await;
    // Every load has started: two hold the permits, three wait for one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while manager.loads_queued() != 3 {
        assert!(std::time::Instant::now() < deadline, "loads never queued");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let loading = names
        .iter()
        .filter(|name| states(&manager, name) == vec![(1, ServableState::Loading)])
        .count();
    assert_eq!(loading, 2);
    assert_eq!(fake::waiting_at_gate("bounded"), 2);
    fake::open_gate("bounded");
    applying.await.unwrap();
    for name in names {
        assert_eq!(states(&manager, name), vec![(1, ServableState::Available)]);
    }
    assert_eq!(fake::peak_at_gate("bounded"), 2);
}

/// A listing that fails (here the model folder is gone for a moment) is not
/// an empty listing: the serving version stays.
#[tokio::test]
async fn a_failed_listing_unloads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("m");
    write_version(&base, 1, "offset=1");
    let manager = manager();
    let cfg = config(vec![model("m", &base, VersionPolicy::default())]);
    manager.apply(&cfg, LoadTiming::Now).await;
    let moved = dir.path().join("m.moved");
    std::fs::rename(&base, &moved).unwrap();
    manager.apply(&cfg, LoadTiming::WhenSettled).await;
    assert_eq!(states(&manager, "m"), vec![(1, ServableState::Available)]);
    let served = manager.handle("m", VersionRequest::Latest).unwrap();
    served.infer(request(1.0)).await.unwrap();
    std::fs::rename(&moved, &base).unwrap();
    manager.apply(&cfg, LoadTiming::WhenSettled).await;
    assert_eq!(states(&manager, "m"), vec![(1, ServableState::Available)]);
}
