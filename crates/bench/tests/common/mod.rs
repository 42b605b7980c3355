//! Shared test helpers: run `inferd-bench` with a time limit, and an
//! `inferd` server on free loopback ports, killed on drop.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BENCH: &str = env!("CARGO_BIN_EXE_inferd-bench");
/// How long a server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
const START_ATTEMPTS: usize = 3;

/// Runs `inferd-bench args`, killing it after `limit`.
pub fn run_bench(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(BENCH)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn inferd-bench");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "inferd-bench {args:?} ran past {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        sleep(POLL);
    }
    child.wait_with_output().expect("output")
}

/// The stderr of `output`, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A port that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Two distinct ports that were free a moment ago.
fn free_port_pair() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = |l: &TcpListener| l.local_addr().expect("local address").port();
    (port(&a), port(&b))
}

/// The `inferd` binary: `$INFERD_BIN`, else beside `inferd-bench`.
pub fn inferd_bin() -> PathBuf {
    let path = match std::env::var_os("INFERD_BIN") {
        Some(path) => PathBuf::from(path),
        None => Path::new(BENCH).with_file_name("inferd"),
    };
    assert!(
        path.is_file(),
        "the inferd server binary is not at {}: build the whole workspace \
         (cargo build --workspace, same profile) or set INFERD_BIN",
        path.display()
    );
    path
}

/// A running `inferd` serving `<repo>/models/config.json`; killed on drop.
pub struct Server {
    child: Child,
    /// gRPC port.
    pub grpc_port: u16,
    /// REST port.
    pub rest_port: u16,
    log: tempfile::NamedTempFile,
}

impl Server {
    /// Starts the server and waits until `GET /v2/health/ready` answers 200.
    pub fn start() -> Server {
        Server::start_with(&[], health_ready)
    }

    /// Starts the server with `extra` flags and waits until `ready(rest port)`.
    pub fn start_with(extra: &[&str], ready: impl Fn(u16) -> bool) -> Server {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/config.json");
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let log = tempfile::NamedTempFile::new().expect("log file");
            let file = log.as_file();
            let (grpc_port, rest_port) = free_port_pair();
            let child = Command::new(inferd_bin())
                .arg("--config_path")
                .arg(&config)
                .args(["--port", &grpc_port.to_string()])
                .args(["--rest_port", &rest_port.to_string()])
                .args([
                    "--grpc_bind_address",
                    "127.0.0.1",
                    "--rest_bind_address",
                    "127.0.0.1",
                ])
                .args(["--log_level", "WARNING"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::from(file.try_clone().expect("clone log")))
                .stderr(Stdio::from(file.try_clone().expect("clone log")))
                .spawn()
                .expect("spawn inferd");
            let mut server = Server {
                child,
                grpc_port,
                rest_port,
                log,
            };
            if server.wait_ready(&ready) {
                return server;
            }
            last_log = server.log();
        }
        panic!("inferd did not become ready in {START_ATTEMPTS} attempts; last log:\n{last_log}");
    }

    fn wait_ready(&mut self, ready: &impl Fn(u16) -> bool) -> bool {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited, most likely a lost port race
            }
            if ready(self.rest_port) {
                return true;
            }
            sleep(POLL);
        }
        false
    }

    /// `127.0.0.1:<grpc port>`.
    pub fn grpc(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    /// `127.0.0.1:<rest port>`.
    pub fn rest(&self) -> String {
        format!("127.0.0.1:{}", self.rest_port)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET /v2/health/ready` on `port` answers 200.
pub fn health_ready(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(1));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    let request = "GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}
