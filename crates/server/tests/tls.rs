//! TLS and mutual TLS on both ports, certificate rotation without a restart,
//! TF Serving's --ssl_config_file, and refused TLS material, over the wire.
//! Certificates are made here with rcgen.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    TestServer, add_body, assert_ok, config_path, expected_sum, f32_data, output, run_binary,
};
use hyper_util::rt::TokioIo;
use inferd_server::proto::kserve::ServerReadyRequest;
use inferd_server::proto::kserve::grpc_inference_service_client::GrpcInferenceServiceClient;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::TlsConnector;

/// A certificate authority that signs server and client certificates.
struct Authority {
    cert: Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM.
struct Issued {
    cert: String,
    key: String,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Authority { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    fn issue(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn server(&self) -> Issued {
        self.issue(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self) -> Issued {
        self.issue(&["test client"], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// Writes `text` to `path` whole (a temporary file renamed over it), as a
/// certificate manager would.
fn write_atomically(path: &Path, text: &str) {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// The server's certificate files in a temporary folder.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(server: &Issued, client_ca: Option<&Authority>) -> Files {
        let files = Files {
            dir: tempfile::tempdir().unwrap(),
        };
        files.install(server);
        if let Some(ca) = client_ca {
            std::fs::write(files.path("client-ca.pem"), ca.pem()).unwrap();
        }
        files
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn install(&self, server: &Issued) {
        write_atomically(Path::new(&self.path("key.pem")), &server.key);
        write_atomically(Path::new(&self.path("cert.pem")), &server.cert);
    }
}

impl Files {
    /// Starts inferd over the committed models with these files as
    /// `--{prefix}tls_cert`/`--{prefix}tls_key` ("" for both ports, "rest_"
    /// for REST only) and `extra` flags; readiness checked with `client`.
    async fn serve(&self, prefix: &str, extra: &[&str], client: reqwest::Client) -> TestServer {
        let (cert, key) = (self.path("cert.pem"), self.path("key.pem"));
        let (cert_flag, key_flag) = (format!("--{prefix}tls_cert"), format!("--{prefix}tls_key"));
        let config = config_path();
        let mut args = vec!["--config_path", &config, &cert_flag, &cert, &key_flag, &key];
        args.extend_from_slice(extra);
        TestServer::start_with(&args, client, "https").await
    }
}

/// A REST client that trusts `ca` and presents `identity` if given.
fn rest_client(ca: &Authority, identity: Option<&Issued>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap());
    if let Some(identity) = identity {
        let pem = format!("{}{}", identity.cert, identity.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// A rustls client configuration trusting `ca`, offering HTTP/2.
fn tls_connector(ca: &Authority, identity: Option<&Issued>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(identity.cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// Asks the gRPC port whether the server is ready, over TLS; the error
/// text when the connection or the call fails.
async fn grpc_ready(port: u16, connector: TlsConnector) -> Result<bool, String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let endpoint = tonic::transport::Endpoint::from_static("http://127.0.0.1")
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(10));
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(address).await?;
                let name = ServerName::try_from("localhost").unwrap();
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut client = GrpcInferenceServiceClient::new(channel);
    client
        .server_ready(ServerReadyRequest {})
        .await
        .map(|r| r.into_inner().ready)
        .map_err(|e| format!("{e:?}"))
}

async fn rest_ready(server: &TestServer, client: &reqwest::Client) -> Result<u16, String> {
    client
        .get(server.rest_url("/v2/health/ready"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn both_ports_serve_tls_with_one_certificate() {
    let ca = Authority::new("inferd test CA");
    let files = Files::new(&ca.server(), None);
    let client = rest_client(&ca, None);
    let server = files.serve("", &[], client.clone()).await;

    let response = client
        .post(server.rest_url("/v2/models/add/infer"))
        .json(&add_body())
        .send()
        .await
        .unwrap();
    let body = assert_ok((response.status().as_u16(), response.json().await.unwrap()));
    assert_eq!(f32_data(output(&body, "sum")), expected_sum());

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = common::http_client()
        .get(format!(
            "http://127.0.0.1:{}/v2/health/ready",
            server.rest_port
        ))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");

    assert_eq!(
        grpc_ready(server.grpc_port, tls_connector(&ca, None)).await,
        Ok(true)
    );
    // A client that trusts another CA refuses the server.
    let stranger = Authority::new("another CA");
    assert!(
        rest_ready(&server, &rest_client(&stranger, None))
            .await
            .is_err()
    );
    assert!(
        grpc_ready(server.grpc_port, tls_connector(&stranger, None))
            .await
            .is_err()
    );
    assert!(server.log().contains("tls=true"), "{}", server.log());
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_certified_by_the_ca() {
    let ca = Authority::new("inferd test CA");
    let clients = Authority::new("client CA");
    let files = Files::new(&ca.server(), Some(&clients));
    let client_ca = files.path("client-ca.pem");
    let good = clients.client();
    let server = files
        .serve(
            "",
            &["--tls_client_ca", &client_ca],
            rest_client(&ca, Some(&good)),
        )
        .await;

    assert_eq!(
        rest_ready(&server, &rest_client(&ca, Some(&good))).await,
        Ok(200)
    );
    assert!(rest_ready(&server, &rest_client(&ca, None)).await.is_err());
    let rogue = Authority::new("rogue CA").client();
    assert!(
        rest_ready(&server, &rest_client(&ca, Some(&rogue)))
            .await
            .is_err()
    );

    let port = server.grpc_port;
    assert_eq!(
        grpc_ready(port, tls_connector(&ca, Some(&good))).await,
        Ok(true)
    );
    assert!(grpc_ready(port, tls_connector(&ca, None)).await.is_err());
    assert!(
        grpc_ready(port, tls_connector(&ca, Some(&rogue)))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn certificates_rotate_without_a_restart() {
    let first = Authority::new("first CA");
    let files = Files::new(&first.server(), None);
    let cert = files.path("cert.pem");
    let server = files.serve("rest_", &[], rest_client(&first, None)).await;
    assert_eq!(
        rest_ready(&server, &rest_client(&first, None)).await,
        Ok(200)
    );

    // A broken certificate is reported and the old one keeps serving.
    write_atomically(Path::new(&cert), "not a certificate");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.log().contains("cannot be used") {
        assert!(Instant::now() < deadline, "no warning:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rest_ready(&server, &rest_client(&first, None)).await,
        Ok(200)
    );

    let second = Authority::new("second CA");
    files.install(&second.server());
    let deadline = Instant::now() + Duration::from_secs(15);
    while rest_ready(&server, &rest_client(&second, None)).await != Ok(200) {
        assert!(Instant::now() < deadline, "not rotated:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        rest_ready(&server, &rest_client(&first, None))
            .await
            .is_err()
    );
    assert!(
        server.log().contains("TLS certificates reloaded"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn ssl_config_file_sets_the_grpc_port_as_tf_serving_does() {
    let ca = Authority::new("inferd test CA");
    let clients = Authority::new("client CA");
    let issued = ca.server();
    let dir = tempfile::tempdir().unwrap();
    let ssl_config = dir.path().join("ssl.txt");
    let quoted = |pem: &str| format!("{pem:?}");
    std::fs::write(
        &ssl_config,
        format!(
            "server_key: {}\nserver_cert: {}\ncustom_ca: {}\nclient_verify: true\n",
            quoted(&issued.key),
            quoted(&issued.cert),
            quoted(&clients.pem())
        ),
    )
    .unwrap();
    let config = config_path();
    let ssl_config = ssl_config.to_string_lossy().into_owned();
    // REST stays plain: TF Serving's flag is about gRPC.
    let server =
        TestServer::start(&["--config_path", &config, "--ssl_config_file", &ssl_config]).await;
    let port = server.grpc_port;
    let good = clients.client();
    assert_eq!(
        grpc_ready(port, tls_connector(&ca, Some(&good))).await,
        Ok(true)
    );
    assert!(grpc_ready(port, tls_connector(&ca, None)).await.is_err());
}

#[test]
fn unusable_tls_material_stops_the_start_with_one_line() {
    let ca = Authority::new("inferd test CA");
    let other = ca.server();
    let files = Files::new(&ca.server(), None);
    let config = config_path();
    let (cert, key) = (files.path("cert.pem"), files.path("key.pem"));
    let missing = files.path("missing.pem");
    let mismatched = files.path("other-key.pem");
    std::fs::write(&mismatched, &other.key).unwrap();
    let ssl_config = files.path("ssl.txt");
    std::fs::write(&ssl_config, "server_kee: \"x\"\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--tls_cert", &cert, "--tls_key", &missing], "cannot read"),
        (
            &["--tls_cert", &key, "--tls_key", &key],
            "no PEM certificate found",
        ),
        (
            &["--tls_cert", &cert, "--tls_key", &mismatched],
            "cert.pem and",
        ),
        (&["--ssl_config_file", &ssl_config], "server_kee"),
    ];
    for (flags, expected) in cases {
        // Only a listening port reads its TLS files: gRPC listens, REST is off.
        let port = common::free_ports().0.to_string();
        let mut args = vec![
            "--config_path",
            &config,
            "--port",
            &port,
            "--rest_port",
            "0",
        ];
        args.extend(["--grpc_bind_address", "127.0.0.1"]);
        args.extend_from_slice(flags);
        let finished = run_binary(&args, Duration::from_secs(30));
        assert_eq!(finished.code, Some(1), "{flags:?}: {}", finished.stderr);
        let all = format!("{}{}", finished.stdout, finished.stderr);
        assert!(
            all.contains("TLS") && all.contains(expected),
            "{flags:?}: {all}"
        );
    }
}

/// Reads until the peer closes; how long that took.
fn time_until_closed(port: u16) -> Duration {
    use std::io::Read;
    let started = Instant::now();
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buffer = [0u8; 64];
    while matches!(socket.read(&mut buffer), Ok(n) if n > 0) {}
    started.elapsed()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_is_dropped() {
    let ca = Authority::new("inferd test CA");
    let files = Files::new(&ca.server(), None);
    let server = files
        .serve(
            "",
            &["--rest_read_timeout_seconds", "1"],
            rest_client(&ca, None),
        )
        .await;
    for port in [server.rest_port, server.grpc_port] {
        let waited = tokio::task::spawn_blocking(move || time_until_closed(port))
            .await
            .unwrap();
        assert!(
            waited < Duration::from_secs(5),
            "port {port}: open for {waited:?}"
        );
    }
    // Others are still served.
    assert_eq!(rest_ready(&server, &rest_client(&ca, None)).await, Ok(200));
}
