"""Starts one inferd server for the whole interop test session.

The binary comes from $INFERD_BIN (default: <repo>/target/release/inferd); it
is started on two free loopback ports with models/config.json, and stopped
with SIGTERM at the end of the session (it must exit with status 0).
"""
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFIG = REPO / "models" / "config.json"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
LOG_TAIL_CHARS = 20_000

# urllib would otherwise honour http_proxy & co. even for 127.0.0.1.
URL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen
    grpc_port: int
    rest_port: int
    log_path: pathlib.Path
    # "https" when the REST port speaks TLS.
    scheme: str = "http"

    @property
    def rest_url(self) -> str:
        """host:port, as tritonclient.http wants it (no scheme)."""
        return f"127.0.0.1:{self.rest_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.rest_port}"

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as err:
            return f"<cannot read {self.log_path}: {err}>"
        return text[-LOG_TAIL_CHARS:]


def server_binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("INFERD_BIN", REPO / "target" / "release" / "inferd"))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"inferd binary not found or not executable: {path}\n"
            "Build it with `cargo build --release -p inferd-server` or point "
            "$INFERD_BIN at a built binary.",
            pytrace=False,
        )
    return path


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all bound at once, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def http_status(url: str, timeout: float = 2.0, opener=URL_OPENER) -> int | None:
    """HTTP status of GET url, or None when nothing answered."""
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


def wait_until_ready(server: Server, opener=URL_OPENER) -> None:
    url = f"{server.rest_base}/v2/health/ready"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            pytest.fail(
                f"inferd exited with status {code} before becoming ready; log:\n{server.log_tail()}",
                pytrace=False,
            )
        if http_status(url, opener=opener) == 200:
            return
        time.sleep(0.1)
    pytest.fail(
        f"inferd not ready after {READY_TIMEOUT_S:.0f} s ({url}); log:\n{server.log_tail()}",
        pytrace=False,
    )


def stop(process: subprocess.Popen) -> int | None:
    """SIGTERM, then wait; kill and return None if it does not stop in time."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def add_inputs(module):
    """Inputs `a` and `b` of the `add` model for tritonclient.http or .grpc
    (`module`), both 0..15; and the values."""
    values = np.arange(16, dtype=np.float32).reshape(1, 16)
    inputs = [module.InferInput(name, [1, 16], "FP32") for name in ("a", "b")]
    for item in inputs:
        item.set_data_from_numpy(values)
    return inputs, values


def start_server(tmp_path_factory, extra_args=(), https_context=None, config=CONFIG, program=None):
    """Starts inferd on `config` (models/config.json) with `extra_args`;
    yields it, then stops it with SIGTERM and checks it exits 0 in time. With
    `https_context` (an ssl.SSLContext) the REST port is taken to speak TLS;
    `program` runs a link to the binary under another name; `config=None`
    passes no --config_path (the models come from `extra_args`)."""
    binary = program or server_binary()
    grpc_port, rest_port = free_ports(2)
    log_path = tmp_path_factory.mktemp("inferd") / "server.log"
    command = [
        str(binary),
        *(["--config_path", str(config)] if config is not None else []),
        "--port", str(grpc_port),
        "--rest_port", str(rest_port),
        "--grpc_bind_address", "127.0.0.1",
        "--rest_bind_address", "127.0.0.1",
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    scheme = "https" if https_context is not None else "http"
    srv = Server(process, grpc_port, rest_port, log_path, scheme)
    opener = URL_OPENER
    if https_context is not None:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=https_context))
    try:
        wait_until_ready(srv, opener)
    except BaseException:
        stop(process)
        raise

    yield srv

    code = stop(process)
    if code is None:
        pytest.fail(
            f"inferd did not exit within {STOP_TIMEOUT_S:.0f} s of SIGTERM; log:\n{srv.log_tail()}",
            pytrace=False,
        )
    if code != 0:
        pytest.fail(
            f"inferd exited with status {code} after SIGTERM (expected 0); log:\n{srv.log_tail()}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    yield from start_server(tmp_path_factory)


@pytest.fixture(scope="session")
def http_client(server):
    client = httpclient.InferenceServerClient(url=server.rest_url)
    yield client
    client.close()


def make_grpc_client(server: Server) -> grpcclient.InferenceServerClient:
    # Keep gRPC away from any proxy configured in the environment.
    return grpcclient.InferenceServerClient(
        url=server.grpc_url, channel_args=[("grpc.enable_http_proxy", 0)]
    )


@pytest.fixture(scope="session")
def grpc_client(server):
    client = make_grpc_client(server)
    yield client
    client.close()


@pytest.fixture
def grpc_client_factory(server):
    """Makes extra gRPC clients (one per thread); all are closed afterwards."""
    clients = []

    def make():
        client = make_grpc_client(server)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
