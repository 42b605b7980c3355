//! Shared helpers for the integration tests: a `TestServer` that runs the
//! `inferd` binary on free loopback ports, and small REST/wire helpers.

#![allow(dead_code)]

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use inferd_server::proto::kserve::grpc_inference_service_client::GrpcInferenceServiceClient;
use serde_json::Value;
use tonic::transport::Channel;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_inferd");
/// How long a server may take to answer `GET /v2/health/ready` with 200.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);
const START_ATTEMPTS: usize = 3;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `<repo>/models`.
pub fn models_dir() -> PathBuf {
    repo_root().join("models")
}

/// `<repo>/models/config.json`.
pub fn config_path() -> String {
    models_dir()
        .join("config.json")
        .to_string_lossy()
        .into_owned()
}

/// Two distinct free loopback ports (bound at once, then released).
pub fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Backends the environment says must be present (`INFERD_REQUIRE_BACKENDS`;
/// CI installs them).
pub fn required_backends() -> Vec<String> {
    std::env::var("INFERD_REQUIRE_BACKENDS")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A reqwest client that never goes through a proxy.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("reqwest client")
}

/// A running `inferd`; killed on drop.
pub struct TestServer {
    child: Option<Child>,
    /// gRPC port.
    pub grpc_port: u16,
    /// REST port.
    pub rest_port: u16,
    log: tempfile::NamedTempFile,
    client: reqwest::Client,
    scheme: &'static str,
}

impl TestServer {
    /// Serves `<repo>/models/config.json`.
    pub async fn with_models() -> TestServer {
        TestServer::start(&["--config_path", &config_path()]).await
    }

    /// Starts the binary with loopback addresses, two free ports and `args`,
    /// and waits until it is ready. Retries on a lost port race.
    pub async fn start(args: &[&str]) -> TestServer {
        TestServer::start_with(args, http_client(), "http").await
    }

    /// Like [`TestServer::start`], for a REST port that speaks `scheme`
    /// (`https` over TLS), checked for readiness with `client`.
    pub async fn start_with(
        args: &[&str],
        client: reqwest::Client,
        scheme: &'static str,
    ) -> TestServer {
        TestServer::start_program(Path::new(BIN), args, client, scheme).await
    }

    /// Like [`TestServer::start`], running `program` (e.g. a link to the
    /// binary under another server's name).
    pub async fn start_as(program: &Path, args: &[&str]) -> TestServer {
        TestServer::start_program(program, args, http_client(), "http").await
    }

    async fn start_program(
        program: &Path,
        args: &[&str],
        client: reqwest::Client,
        scheme: &'static str,
    ) -> TestServer {
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            match TestServer::try_start(program, args, client.clone(), scheme).await {
                Ok(server) => return server,
                Err(log) if log.contains("cannot listen") => last_log = log,
                Err(log) => panic!("inferd did not become ready (args {args:?}); log:\n{log}"),
            }
        }
        panic!(
            "inferd could not bind its ports in {START_ATTEMPTS} attempts; last log:\n{last_log}"
        )
    }

    async fn try_start(
        program: &Path,
        args: &[&str],
        client: reqwest::Client,
        scheme: &'static str,
    ) -> Result<TestServer, String> {
        let (grpc_port, rest_port) = free_ports();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let out = log.as_file().try_clone().expect("clone log handle");
        let err = log.as_file().try_clone().expect("clone log handle");
        let child = Command::new(program)
            .args([
                "--grpc_bind_address",
                "127.0.0.1",
                "--rest_bind_address",
                "127.0.0.1",
            ])
            .args([
                "--port",
                &grpc_port.to_string(),
                "--rest_port",
                &rest_port.to_string(),
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn inferd");
        let mut server = TestServer {
            child: Some(child),
            grpc_port,
            rest_port,
            log,
            client,
            scheme,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = server.rest_url("/v2/health/ready");
        loop {
            if let Some(status) = server.child_mut().try_wait().expect("try_wait") {
                server.child = None;
                return Err(format!("exited early with {status}\n{}", server.log()));
            }
            if let Ok(response) = server
                .client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && response.status() == reqwest::StatusCode::OK
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready after {READY_TIMEOUT:?}\n{}",
                    server.log()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("server process already reaped")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("server process already reaped")
            .id()
    }

    /// `http://127.0.0.1:<rest_port><path>` (`https` over TLS).
    pub fn rest_url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.rest_port)
    }

    /// A client for this server's REST port.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A KServe gRPC client connected to this server.
    pub async fn grpc_client(&self) -> GrpcInferenceServiceClient<Channel> {
        GrpcInferenceServiceClient::connect(format!("http://127.0.0.1:{}", self.grpc_port))
            .await
            .unwrap_or_else(|e| panic!("cannot connect gRPC: {e}\n{}", self.log()))
    }

    /// A channel to this server's gRPC port.
    pub async fn grpc_channel(&self) -> Channel {
        Channel::from_shared(format!("http://127.0.0.1:{}", self.grpc_port))
            .unwrap()
            .connect()
            .await
            .expect("gRPC channel")
    }

    /// Everything the server wrote so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path())
            .unwrap_or_else(|e| format!("<cannot read log: {e}>"))
    }

    /// Sends SIGTERM and waits (at most [`STOP_TIMEOUT`]) for the exit status.
    pub async fn stop(self) -> ExitStatus {
        self.stop_with_log().await.0
    }

    /// Like [`TestServer::stop`], also returning everything the server logged.
    pub async fn stop_with_log(mut self) -> (ExitStatus, String) {
        match self.stop_within(STOP_TIMEOUT).await {
            Some(status) => (status, self.log()),
            None => panic!(
                "inferd did not exit within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                self.log()
            ),
        }
    }

    /// Sends SIGTERM and waits up to `timeout`; `None` if the process still
    /// runs then (it is killed when the server is dropped).
    pub async fn stop_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// GET `path`; status and body (JSON, or `Value::Null` when empty/not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.rest_url(path))
            .send()
            .await
            .expect("GET");
        split_json(response).await
    }

    /// GET `path` as text (e.g. `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.rest_url(path))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("text body")
    }

    /// POST `body` as JSON to `path`; status and JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.rest_url(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        split_json(response).await
    }

    /// POST raw bytes with extra headers; status and JSON body.
    pub async fn post_bytes(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, Value) {
        split_json(self.post_raw(path, headers, body).await).await
    }

    /// POST raw bytes with extra headers.
    pub async fn post_raw(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.rest_url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.expect("POST")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Status and JSON body of a response (`Value::Null` for a non-JSON body).
pub async fn split_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("response body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Asserts a 200 answer and returns its body.
#[track_caller]
pub fn assert_ok(answer: (u16, Value)) -> Value {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1
}

/// Asserts a `{"error": ...}` answer with `status` whose message starts with `prefix`.
#[track_caller]
pub fn assert_error(actual: &(u16, Value), status: u16, prefix: &str) {
    let (code, body) = actual;
    let message = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no error message in {body}"));
    assert_eq!(*code, status, "status for {body}");
    assert!(
        message.starts_with(prefix),
        "error message {message:?} should start with {prefix:?}"
    );
}

/// What a finished process left behind.
#[derive(Debug)]
pub struct Finished {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Its standard error.
    pub stderr: String,
    /// Its standard output.
    pub stdout: String,
}

/// Runs the binary with `args` (no implicit flags) and waits up to `timeout`;
/// a process still running then is killed and the test fails.
pub fn run_binary(args: &[&str], timeout: Duration) -> Finished {
    let out = tempfile::NamedTempFile::new().expect("stdout file");
    let err = tempfile::NamedTempFile::new().expect("stderr file");
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.reopen().expect("reopen")))
        .stderr(Stdio::from(err.reopen().expect("reopen")))
        .spawn()
        .expect("spawn inferd");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "inferd {args:?} still running after {timeout:?}; stderr:\n{}",
                read(err.path())
            );
        }
        std::thread::sleep(POLL);
    };
    Finished {
        code: status.code(),
        stderr: read(err.path()),
        stdout: read(out.path()),
    }
}

fn read(path: &Path) -> String {
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map(|_| text)
        .unwrap_or_default()
}

/// Little-endian bytes of `values`.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A TF Serving `DT_FLOAT` tensor of shape `[1, values.len()]` (one row).
pub fn tf_float_row(values: &[f32]) -> inferd_server::proto::tensorflow::TensorProto {
    use inferd_server::proto::tensorflow::tensor_shape_proto::Dim;
    use inferd_server::proto::tensorflow::{DataType, TensorProto, TensorShapeProto};
    let dim = |size| Dim {
        size,
        name: String::new(),
    };
    TensorProto {
        dtype: DataType::DtFloat as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: vec![dim(1), dim(values.len() as i64)],
            unknown_rank: false,
        }),
        tensor_content: f32_bytes(values).into(),
        ..Default::default()
    }
}

/// Reads little-endian f32 values.
pub fn f32_values(bytes: &[u8]) -> Vec<f32> {
    assert_eq!(bytes.len() % 4, 0, "FP32 content of {} bytes", bytes.len());
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// KServe BYTES wire form: a 4-byte little-endian length before each element.
pub fn length_prefixed(items: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(&(item.len() as u32).to_le_bytes());
        out.extend_from_slice(item);
    }
    out
}

/// Splits the KServe BYTES wire form into its elements.
pub fn split_length_prefixed(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut items = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 4, "truncated length prefix");
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        assert!(bytes.len() >= 4 + len, "truncated element");
        items.push(bytes[4..4 + len].to_vec());
        bytes = &bytes[4 + len..];
    }
    items
}

/// `a` = 1..=16 and `b` = 16 copies of 0.5, the inputs most `add` tests send.
pub fn add_inputs() -> (Vec<f32>, Vec<f32>) {
    ((1..=16).map(|v| v as f32).collect(), vec![0.5; 16])
}

/// `a + b` for [`add_inputs`].
pub fn expected_sum() -> Vec<f32> {
    let (a, b) = add_inputs();
    a.iter().zip(&b).map(|(x, y)| x + y).collect()
}

/// `a - b` for [`add_inputs`].
pub fn expected_diff() -> Vec<f32> {
    let (a, b) = add_inputs();
    a.iter().zip(&b).map(|(x, y)| x - y).collect()
}

/// A JSON infer body for `add` with [`add_inputs`] as flat data.
pub fn add_body() -> Value {
    let (a, b) = add_inputs();
    serde_json::json!({"inputs": [
        {"name": "a", "shape": [1, 16], "datatype": "FP32", "data": a},
        {"name": "b", "shape": [1, 16], "datatype": "FP32", "data": b},
    ]})
}

/// The output tensor `name` of a JSON infer answer.
#[track_caller]
pub fn output<'a>(body: &'a Value, name: &str) -> &'a Value {
    let outputs = body["outputs"].as_array();
    let found = outputs.and_then(|o| o.iter().find(|t| t["name"] == name));
    found.unwrap_or_else(|| panic!("no output {name} in {body}"))
}

/// The `data` of a JSON output tensor, as f32 values.
#[track_caller]
pub fn f32_data(tensor: &Value) -> Vec<f32> {
    let data = tensor["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array in {tensor}"));
    data.iter()
        .map(|v| v.as_f64().expect("a number") as f32)
        .collect()
}

/// `$INFERD_PROMTOOL` (default `promtool`) when it runs; `None` (the check
/// skipped) when it does not, which fails the test when
/// INFERD_REQUIRE_PROMTOOL is set (scripts/test.sh sets both).
pub fn promtool() -> Option<String> {
    let bin = std::env::var("INFERD_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    if Command::new(&bin).arg("--version").output().is_ok() {
        return Some(bin);
    }
    assert!(
        std::env::var_os("INFERD_REQUIRE_PROMTOOL").is_none(),
        "promtool is required but not installed"
    );
    eprintln!("promtool not installed: skipped");
    None
}

/// What `promtool check metrics` said about a scrape.
pub struct PromtoolFindings {
    /// It parsed (exit 0: clean, or 3: lint findings only).
    pub parsed: bool,
    /// Its output, one finding a line.
    pub text: String,
}

/// Runs `promtool check metrics` on `text`.
pub fn promtool_findings(bin: &str, text: &str) -> PromtoolFindings {
    use std::io::Write;
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().expect("promtool output");
    PromtoolFindings {
        parsed: matches!(output.status.code(), Some(0 | 3)),
        text: String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    }
}
