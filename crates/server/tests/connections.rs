//! The REST listener against slow and greedy clients: read timeouts, the
//! connection cap, and shutdown with idle connections open.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{TestServer, add_body, config_path};

const INFER_ADD: &str = "/v2/models/add/infer";

fn connect(server: &TestServer) -> TcpStream {
    let socket = TcpStream::connect(("127.0.0.1", server.rest_port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
}

/// A client that opens a new connection per request: with a 1 s read
/// timeout, the server closes keep-alive connections idle that long, and a
/// pooled client could pick one just as it closes.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn infer_add(server: &TestServer) {
    let answer = fresh_client()
        .post(server.rest_url(INFER_ADD))
        .json(&add_body())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

/// Reads until the server closes the connection (or 10 s pass); what came.
fn read_until_closed(socket: &mut TcpStream) -> Result<Vec<u8>, std::io::Error> {
    let mut all = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => return Ok(all),
            Ok(n) => all.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(all),
            Err(e) => return Err(e),
        }
    }
}

#[tokio::test]
async fn a_client_that_stops_sending_is_dropped_while_others_are_served() {
    let server = TestServer::start(&[
        "--config_path",
        &config_path(),
        "--rest_read_timeout_seconds",
        "1",
    ])
    .await;
    // Headers that never end.
    let mut stalled_headers = connect(&server);
    stalled_headers
        .write_all(b"POST /v2/models/add/infer HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    // A body that never comes.
    let mut stalled_body = connect(&server);
    stalled_body
        .write_all(
            b"POST /v2/models/add/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"in",
        )
        .unwrap();
    let started = Instant::now();
    for _ in 0..5 {
        infer_add(&server).await;
    }
    let headers_answer = read_until_closed(&mut stalled_headers).expect("closed, not hanging");
    let body_answer = read_until_closed(&mut stalled_body).expect("closed, not hanging");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "slow clients held for {:?}",
        started.elapsed()
    );
    let body_answer = String::from_utf8_lossy(&body_answer);
    assert!(
        body_answer.is_empty() || body_answer.starts_with("HTTP/1.1 4"),
        "{body_answer}"
    );
    drop(headers_answer);
    infer_add(&server).await;
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let server = TestServer::start(&[
        "--config_path",
        &config_path(),
        "--rest_max_connections",
        "3",
    ])
    .await;
    let live = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..5 {
        let mut socket = connect(&server);
        socket.write_all(live).unwrap();
        let mut answer = [0u8; 256];
        match socket.read(&mut answer) {
            Ok(n) if n > 0 => open.push(socket),
            _ => refused += 1,
        }
    }
    assert!(refused >= 2, "{refused} of 5 refused with a cap of 3");
    assert!(open.len() <= 3);
    drop(open);
    // Capacity comes back as connections close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut socket = connect(&server);
        socket.write_all(live).unwrap();
        let mut answer = [0u8; 256];
        if matches!(socket.read(&mut answer), Ok(n) if n > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "no connection accepted again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn shutdown_does_not_wait_for_idle_or_half_read_connections() {
    let server = TestServer::start(&["--config_path", &config_path()]).await;
    // A keep-alive connection left idle after one request, and one that
    // never sent anything.
    let mut idle = connect(&server);
    idle.write_all(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut answer = [0u8; 256];
    assert!(idle.read(&mut answer).unwrap() > 0);
    let _silent = connect(&server);
    // A request head that stops half-way (the read timeout is 30 s).
    let mut half = connect(&server);
    half.write_all(b"POST /v2/models/add/infer HTTP/1.1\r\nhost: x\r\ncontent-le")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let (status, log) = server.stop_with_log().await;
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(!log.contains("still in flight"), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
}

/// Peak resident memory of process `pid`, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// About 1 MB of gzip that expands to 1 GiB: refused as it streams, long
/// before the server holds anything like a gigabyte.
#[tokio::test]
async fn a_gzip_bomb_is_refused_without_the_memory_it_asks_for() {
    let server = TestServer::with_models().await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..1024 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 8 << 20, "{} bytes", bomb.len());
    let before = peak_rss_kb(server.pid());
    let (status, body) = server
        .post_bytes(
            INFER_ADD,
            &[
                ("content-encoding", "gzip".into()),
                ("content-type", "application/json".into()),
            ],
            bomb,
        )
        .await;
    assert_eq!(status, 413, "{body}");
    let grown_mb = (peak_rss_kb(server.pid()) - before) / 1024;
    // The body stops at 32 times its compressed size (--max_decompression_ratio).
    assert!(grown_mb < 1024, "peak memory grew by {grown_mb} MB");
    // The refused connection is closed with the body unread: ask on a new one.
    infer_add(&server).await;
}

#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let server = TestServer::start(&[
        "--config_path",
        &config_path(),
        "--max_header_bytes",
        "16384",
    ])
    .await;
    let mut socket = connect(&server);
    let filler = "x".repeat(32 * 1024);
    socket
        .write_all(
            format!("GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-filler: {filler}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let answer = read_until_closed(&mut socket).expect("answered");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    infer_add(&server).await;
}

/// A tensor declared far larger than what is sent is refused from its
/// shape, without memory for the declared size.
#[tokio::test]
async fn an_oversized_tensor_declaration_allocates_nothing() {
    let server = TestServer::with_models().await;
    let before = peak_rss_kb(server.pid());
    let body = serde_json::json!({"inputs": [
        {"name": "a", "shape": [1_000_000_000u64, 16], "datatype": "FP32", "data": [1.0]},
        {"name": "b", "shape": [1_000_000_000u64, 16], "datatype": "FP32", "data": [1.0]}
    ]});
    let answer = fresh_client()
        .post(server.rest_url(INFER_ADD))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let text = answer.text().await.unwrap();
    assert!(text.contains("Invalid number of values"), "{text}");
    let grown_mb = (peak_rss_kb(server.pid()) - before) / 1024;
    assert!(grown_mb < 64, "peak memory grew by {grown_mb} MB");
}
