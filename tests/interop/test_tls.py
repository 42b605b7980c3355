"""TLS and mutual TLS with the real clients: tritonclient (HTTP and gRPC,
ssl=True), grpcio's secure channel, ovmsclient's gRPC tls_config and curl
--cacert. Certificates are made at test time with trustme; the server
requires a client certificate from its own client CA on both ports."""
import shutil
import ssl
import subprocess

import grpc
import numpy as np
import pytest
import trustme
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
import ovmsclient

from conftest import add_inputs, start_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Server CA, client CA, and their certificates as files."""
    folder = tmp_path_factory.mktemp("pki")
    server_ca = trustme.CA()
    client_ca = trustme.CA()
    stranger_ca = trustme.CA()
    files = {}

    def save(name, blob):
        path = folder / name
        blob.write_to_path(str(path))
        files[name] = str(path)

    leaf = server_ca.issue_cert("127.0.0.1", "localhost")
    save("server.pem", leaf.cert_chain_pems[0])
    save("server.key", leaf.private_key_pem)
    save("ca.pem", server_ca.cert_pem)
    save("client-ca.pem", client_ca.cert_pem)
    for prefix, authority in (("client", client_ca), ("stranger", stranger_ca)):
        cert = authority.issue_cert("client.inferd.test")
        save(f"{prefix}.pem", cert.cert_chain_pems[0])
        save(f"{prefix}.key", cert.private_key_pem)
    return files


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, pki):
    context = ssl.create_default_context(cafile=pki["ca.pem"])
    context.load_cert_chain(pki["client.pem"], pki["client.key"])
    yield from start_server(
        tmp_path_factory,
        ["--tls_cert", pki["server.pem"], "--tls_key", pki["server.key"],
         "--tls_client_ca", pki["client-ca.pem"]],
        https_context=context,
    )


def test_tritonclient_http_over_mutual_tls(tls_server, pki):
    client = httpclient.InferenceServerClient(
        tls_server.rest_url, ssl=True,
        ssl_options={"ca_certs": pki["ca.pem"], "certfile": pki["client.pem"],
                     "keyfile": pki["client.key"]})
    inputs, values = add_inputs(httpclient)
    result = client.infer("add", inputs)
    np.testing.assert_array_equal(result.as_numpy("sum"), values + values)
    client.close()


def test_tritonclient_http_without_a_client_certificate_is_refused(tls_server, pki):
    client = httpclient.InferenceServerClient(
        tls_server.rest_url, ssl=True, ssl_options={"ca_certs": pki["ca.pem"]})
    with pytest.raises(Exception):
        client.is_server_ready()
    client.close()


def test_tritonclient_grpc_over_mutual_tls(tls_server, pki):
    client = grpcclient.InferenceServerClient(
        tls_server.grpc_url, ssl=True, root_certificates=pki["ca.pem"],
        private_key=pki["client.key"], certificate_chain=pki["client.pem"])
    inputs, values = add_inputs(grpcclient)
    result = client.infer("add", inputs)
    np.testing.assert_array_equal(result.as_numpy("sum"), values + values)
    client.close()


def read(path):
    with open(path, "rb") as file:
        return file.read()


def server_live(port, credentials):
    channel = grpc.secure_channel(f"localhost:{port}", credentials)
    try:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        return stub.ServerLive(service_pb2.ServerLiveRequest(), timeout=10).live
    finally:
        channel.close()


def test_grpcio_secure_channel_needs_a_certificate_from_the_client_ca(tls_server, pki):
    good = grpc.ssl_channel_credentials(
        root_certificates=read(pki["ca.pem"]), private_key=read(pki["client.key"]),
        certificate_chain=read(pki["client.pem"]))
    assert server_live(tls_server.grpc_port, good) is True
    for key, chain in ((None, None), (pki["stranger.key"], pki["stranger.pem"])):
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read(pki["ca.pem"]),
            private_key=read(key) if key else None,
            certificate_chain=read(chain) if chain else None)
        with pytest.raises(grpc.RpcError) as refused:
            server_live(tls_server.grpc_port, credentials)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_ovmsclient_grpc_tls_config(tls_server, pki):
    # ovmsclient's HTTP client always builds http:// URLs, even with a
    # tls_config, so only its gRPC client can speak TLS (to any server).
    tls_config = {"client_key_path": pki["client.key"], "client_cert_path": pki["client.pem"],
                  "server_cert_path": pki["ca.pem"]}
    client = ovmsclient.make_grpc_client(
        tls_server.grpc_url.replace("127.0.0.1", "localhost"), tls_config=tls_config)
    values = np.ones((1, 16), dtype=np.float32)
    result = client.predict({"a": values, "b": values}, "add")
    np.testing.assert_array_equal(result["sum"], values * 2)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_cacert_and_client_certificate(tls_server, pki):
    url = f"https://127.0.0.1:{tls_server.rest_port}/v2/health/ready"
    base = ["curl", "--silent", "--show-error", "--noproxy", "*", "--max-time", "10",
            "--cacert", pki["ca.pem"]]
    ok = subprocess.run(
        base + ["--cert", pki["client.pem"], "--key", pki["client.key"],
                "--output", "/dev/null", "--write-out", "%{http_code} %{http_version}", url],
        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # curl negotiates HTTP/2 over TLS when the server offers it (ALPN).
    assert ok.stdout.split()[0] == "200"
    refused = subprocess.run(base + [url], capture_output=True, text=True)
    assert refused.returncode != 0
