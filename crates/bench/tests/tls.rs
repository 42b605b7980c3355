//! Runs over TLS: `https://` targets with `--tls-ca`, and a client
//! certificate for mutual TLS, against an inferd serving TLS on both ports.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::{Server, run_bench, stderr};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as
/// PEM files in a temporary folder.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        for (name, sans, purpose) in [
            (
                "server",
                vec!["127.0.0.1".to_string()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                vec!["client.test".to_string()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(sans).unwrap();
            params.extended_key_usages = vec![purpose];
            let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).unwrap()
    }

    /// Whether `GET /v2/health/ready` answers 200 over mutual TLS.
    fn ready(&self, port: u16) -> bool {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(&self.read("ca.pem")).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(&self.read("client.pem")).unwrap()],
                PrivateKeyDer::from_pem_slice(&self.read("client.key")).unwrap(),
            )
            .unwrap();
        let name = "127.0.0.1".try_into().unwrap();
        let Ok(connection) = rustls::ClientConnection::new(Arc::new(config), name) else {
            return false;
        };
        let Ok(socket) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = socket.set_read_timeout(Some(Duration::from_secs(2)));
        let mut stream = rustls::StreamOwned::new(connection, socket);
        let request = "GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer.starts_with(b"HTTP/1.1 200")
    }
}

#[test]
fn every_protocol_runs_over_mutual_tls() {
    let pki = Pki::new();
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem"),
    );
    let flags = [
        "--tls_cert",
        &cert,
        "--tls_key",
        &key,
        "--tls_client_ca",
        &ca,
    ];
    let server = Server::start_with(&flags, |port| pki.ready(port));
    let (client_cert, client_key) = (pki.path("client.pem"), pki.path("client.key"));
    for (protocol, port) in [
        ("kserve-grpc", server.grpc_port),
        ("kserve-rest-binary", server.rest_port),
        ("tfs-grpc", server.grpc_port),
    ] {
        let url = format!("https://127.0.0.1:{port}");
        let args = [
            "--protocol",
            protocol,
            "-u",
            &url,
            "-m",
            "add",
            "-c",
            "1",
            "--tls-ca",
            &ca,
            "--tls-cert",
            &client_cert,
            "--tls-key",
            &client_key,
            "--measurement-interval-ms",
            "200",
            "--warmup-ms",
            "50",
            "--max-trials",
            "3",
            "--max-duration-s",
            "10",
        ];
        let output = run_bench(&args, Duration::from_secs(60));
        assert!(
            output.status.success(),
            "{protocol}: {}\n{}",
            stderr(&output),
            server.log()
        );
        let table = String::from_utf8_lossy(&output.stdout);
        assert!(table.starts_with("Concurrency"), "{table}");

        // Without the client certificate the server refuses the connection.
        let refused = run_bench(&args[..10], Duration::from_secs(60));
        assert!(
            !refused.status.success(),
            "{protocol} ran without a client certificate"
        );
    }
}

#[test]
fn tls_flags_need_an_https_url_and_a_ca() {
    let plain = run_bench(
        &["-u", "127.0.0.1:1", "-m", "add", "--tls-ca", "ca.pem"],
        Duration::from_secs(30),
    );
    assert!(
        stderr(&plain).contains("need an https:// --url"),
        "{}",
        stderr(&plain)
    );
    let no_ca = run_bench(
        &["-u", "https://127.0.0.1:1", "-m", "add"],
        Duration::from_secs(30),
    );
    assert!(
        stderr(&no_ca).contains("needs --tls-ca"),
        "{}",
        stderr(&no_ca)
    );
}
