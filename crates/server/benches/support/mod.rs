//! The `inferd` binary on a free loopback REST port, for the benchmarks.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `inferd`; killed on drop.
pub struct Server {
    child: Child,
    /// REST port.
    pub rest: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Server {
    /// Starts the binary with `args` on loopback (REST only), logging
    /// warnings only, and waits (at most 30 s) until it is ready.
    pub async fn start(args: &[&str]) -> Server {
        let rest = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_inferd"))
            .args(args)
            .args(["--port", "0", "--rest_port", &rest.to_string()])
            .args(["--rest_bind_address", "127.0.0.1", "--log_level", "WARNING"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start inferd");
        let server = Server { child, rest };
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        for _ in 0..300 {
            let ready = client.get(server.url("/v2/health/ready")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("inferd did not become ready");
    }

    /// `http://127.0.0.1:<rest><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.rest)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}
