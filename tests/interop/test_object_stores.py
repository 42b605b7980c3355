"""Models served from object stores, each a real server started here on
loopback: S3 (moto), Google Cloud Storage (gcp-storage-emulator, the JSON
API) and Azure Blob (Microsoft's Azurite, from npm via
scripts/install-azurite.sh). The test's own client for each store (boto3,
plain HTTP, azure-storage-blob) uploads and deletes versions while inferd
serves them, found through the variables OVMS documents."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from ovmsclient import make_grpc_client

from conftest import REPO, server_binary

MODELS = REPO / "models"
BUCKET = "models"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# The stores' clients and inferd's honour proxy variables: keep loopback
# traffic off any proxy the machine sets.
LOOPBACK = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
os.environ.update(LOOPBACK)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


def answers(url):
    try:
        OPENER.open(url, timeout=2)
        return True
    except urllib.error.HTTPError:
        return True  # up, if unhappy with the question
    except Exception:
        return False


class Store:
    """A store server on a loopback port: start() and stop() at will (its
    contents go with it), upload/delete objects, and the environment that
    points inferd at it."""

    scheme = ""

    def __init__(self, log_dir: pathlib.Path):
        self.port = free_port()
        self.log = log_dir / f"{type(self).__name__}.log"
        self.process = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def command(self):
        raise NotImplementedError

    def start(self):
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        assert wait_until(lambda: answers(self.endpoint + "/"), 60), self.log.read_text()

    # The signal that stops the server promptly.
    stop_signal = signal.SIGINT

    def stop(self):
        if self.process is not None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def base_path(self, model):
        return f"{self.scheme}://{BUCKET}/{model}"

    def upload_version(self, model, version, source_version=None):
        folder = MODELS / "versioned" / str(source_version or version)
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.put(f"{model}/{version}/{path.relative_to(folder)}", path.read_bytes())

    def delete_version(self, model, version):
        for key in self.keys(f"{model}/{version}/"):
            self.delete(key)


class S3(Store):
    scheme = "s3"
    CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_REGION": "us-east-1"}

    def __init__(self, log_dir, check_keys=False):
        super().__init__(log_dir)
        # moto checks keys against its IAM users (it has none) only when asked.
        self.check_keys = check_keys

    def start(self):
        if self.check_keys:
            os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        try:
            super().start()
        finally:
            os.environ.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)

    def command(self):
        binary = pathlib.Path(sys.executable).parent / "moto_server"
        return [str(binary), "-H", "127.0.0.1", "-p", str(self.port)]

    def env(self):
        return {**self.CREDENTIALS, "S3_ENDPOINT": self.endpoint}

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def create_bucket(self):
        self.client().create_bucket(Bucket=BUCKET)

    def put(self, key, data):
        self.client().put_object(Bucket=BUCKET, Key=key, Body=data)

    def keys(self, prefix):
        listed = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]

    def delete(self, key):
        self.client().delete_object(Bucket=BUCKET, Key=key)


class Gcs(Store):
    """gcp-storage-emulator speaks GCS's JSON API; inferd finds it through
    STORAGE_EMULATOR_HOST, as Google's own client libraries do."""

    scheme = "gs"

    def command(self):
        return [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                "--port", str(self.port), "--in-memory"]

    def env(self):
        return {"STORAGE_EMULATOR_HOST": f"127.0.0.1:{self.port}"}

    def request(self, method, path, data=None, content_type="application/octet-stream"):
        request = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                         headers={"Content-Type": content_type})
        with OPENER.open(request, timeout=10) as response:
            return response.read()

    def create_bucket(self):
        self.request("POST", "/storage/v1/b", json.dumps({"name": BUCKET}).encode(),
                     "application/json")

    def put(self, key, data):
        name = urllib.parse.quote(key, safe="")
        self.request("POST", f"/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}", data)

    def keys(self, prefix):
        query = urllib.parse.urlencode({"prefix": prefix})
        listed = json.loads(self.request("GET", f"/storage/v1/b/{BUCKET}/o?{query}"))
        return [item["name"] for item in listed.get("items", [])]

    def delete(self, key):
        self.request("DELETE", f"/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(key, safe='')}")


class Azure(Store):
    """Azurite's Blob service; inferd reads AZURE_STORAGE_CONNECTION_STRING."""

    scheme = "az"
    # Azurite lingers for many seconds after SIGINT; its data is in memory.
    stop_signal = signal.SIGKILL
    ACCOUNT = "devstoreaccount1"
    # Azurite's published development key.
    KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    def command(self):
        binary = os.environ.get("INFERD_AZURITE") or subprocess.run(
            [str(REPO / "scripts" / "install-azurite.sh")], check=True, capture_output=True,
            text=True).stdout.strip().splitlines()[-1]
        return [binary, "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                "--inMemoryPersistence", "--skipApiVersionCheck", "--silent"]

    def connection_string(self, key=None):
        return (f"DefaultEndpointsProtocol=http;AccountName={self.ACCOUNT};"
                f"AccountKey={key or self.KEY};"
                f"BlobEndpoint={self.endpoint}/{self.ACCOUNT};")

    def env(self):
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string()}

    def container(self):
        from azure.storage.blob import BlobServiceClient
        service = BlobServiceClient.from_connection_string(self.connection_string())
        return service.get_container_client(BUCKET)

    def create_bucket(self):
        self.container().create_container()

    def put(self, key, data):
        self.container().upload_blob(key, data, overwrite=True)

    def keys(self, prefix):
        return [blob.name for blob in self.container().list_blobs(name_starts_with=prefix)]

    def delete(self, key):
        self.container().delete_blob(key)


STORES = {"s3": S3, "gcs": Gcs, "azure": Azure}


@pytest.fixture(params=sorted(STORES))
def store(request, tmp_path):
    server = STORES[request.param](tmp_path)
    server.start()
    yield server
    server.stop()


class Inferd:
    """inferd serving `base_path` as model `v` (or a config file), polling
    every second, with the store's variables (or `env`)."""

    def __init__(self, tmp_path, env, base_path=None, config=None):
        self.grpc, self.rest = free_port(), free_port()
        self.log = tmp_path / "inferd.log"
        models = (["--config_path", str(config)] if config else
                  ["--model_name", "v", "--model_path", base_path])
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(server_binary()), *models,
                 "--port", str(self.grpc), "--rest_port", str(self.rest),
                 "--grpc_bind_address", "127.0.0.1", "--rest_bind_address", "127.0.0.1",
                 "--file_system_poll_wait_seconds", "1",
                 "--model_cache_dir", str(tmp_path / "cache")],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
        assert wait_until(lambda: OPENER.open(f"{self.url}/v2/health/ready", timeout=2), 60), \
            self.log.read_text()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.rest}"

    def infer(self, version="", model="v"):
        """`versioned` adds its version number to x: the answer names the version."""
        client = httpclient.InferenceServerClient(f"127.0.0.1:{self.rest}")
        x = httpclient.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(np.zeros((1, 4), np.float32))
        return int(client.infer(model, [x], model_version=version).as_numpy("y")[0, 0])

    def get(self, path):
        """(status, JSON body) of a GET."""
        try:
            with OPENER.open(self.url + path, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def index(self):
        request = urllib.request.Request(self.url + "/v2/repository/index", data=b"{}",
                                         method="POST",
                                         headers={"Content-Type": "application/json"})
        with OPENER.open(request, timeout=10) as response:
            return {entry["name"]: entry for entry in json.loads(response.read())}

    def tail(self):
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.tail()


@pytest.fixture
def serving(store, tmp_path):
    """Version 1 of `versioned` in the bucket, and inferd serving it as `v`."""
    store.create_bucket()
    store.upload_version("versioned", 1)
    server = Inferd(tmp_path, store.env(), store.base_path("versioned"))
    assert wait_until(lambda: server.infer() == 1, 30), server.tail()
    yield store, server
    server.stop()


def test_a_model_in_a_bucket_is_served_over_both_apis_and_follows_uploads(serving, tmp_path):
    store, server = serving
    # TF Serving gRPC and KServe gRPC too.
    ovms = make_grpc_client(f"127.0.0.1:{server.grpc}")
    assert ovms.predict({"x": np.zeros((1, 4), np.float32)}, "v")[0, 0] == 1
    grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc}")
    assert grpc.is_model_ready("v", "1")

    # Version 2 uploaded while requests keep coming: none fails, and
    # version 2 answers after the next polls.
    failures, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                assert server.infer() in (1, 2)
            except Exception as error:
                failures.append(error)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        store.upload_version("versioned", 2)
        assert wait_until(lambda: server.infer() == 2), server.tail()
        cached = tmp_path / "cache" / "v" / store.scheme / BUCKET / "versioned"
        assert (cached / "2" / "model.onnx").is_file()
        # Deleted again: version 1 serves again, and version 2's copy goes.
        store.delete_version("versioned", 2)
        assert wait_until(lambda: server.infer() == 1), server.tail()
        assert wait_until(lambda: not (cached / "2").exists())
    finally:
        stop.set()
        worker.join(timeout=30)
    assert failures == []


def test_a_version_still_being_uploaded_is_not_loaded(serving):
    store, server = serving
    # Version 2's model is there but another of its files keeps changing
    # (an upload in progress): each poll sees another fingerprint, so it
    # is not loaded, though it could be.
    store.upload_version("versioned", 2)
    deadline = time.time() + 4
    step = 0
    while time.time() < deadline:
        step += 1
        store.put("versioned/2/part", b"x" * step)
        assert server.infer() == 1
        time.sleep(0.3)
    # Unchanged for two polls: version 2 serves.
    assert wait_until(lambda: server.infer() == 2), server.tail()


def test_a_stopped_store_is_reported_while_loaded_versions_keep_serving(serving):
    store, server = serving
    store.stop()
    # The polls fail: the repository index gives the store's error as the
    # serving version's reason, and the version keeps serving.
    assert wait_until(lambda: "cannot list versions" in server.index()["v"]["reason"]), \
        server.tail()
    assert server.index()["v"]["state"] == "READY"
    assert server.infer() == 1
    # Back up, with the model: the fault clears.
    store.start()
    store.create_bucket()
    store.upload_version("versioned", 1)
    assert wait_until(lambda: server.index()["v"]["reason"] == "", 40), server.tail()
    assert server.infer() == 1


def test_a_server_started_with_the_store_down_loads_once_it_is_up(store, tmp_path):
    store.stop()
    server = Inferd(tmp_path, store.env(), store.base_path("versioned"))
    try:
        status, body = server.get("/v1/models/v")
        assert status == 404
        assert body["error"].startswith("Could not find any versions of model v: "), body
        assert store.base_path("versioned") in body["error"]
        with pytest.raises(Exception):
            server.infer()
        store.start()
        store.create_bucket()
        store.upload_version("versioned", 1)
        assert wait_until(lambda: server.infer() == 1, 40), server.tail()
    finally:
        server.stop()


def test_a_missing_bucket_is_reported_and_affects_no_other_model(store, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [
        {"config": {"name": "local", "base_path": str(MODELS / "versioned")}},
        {"config": {"name": "v", "base_path": store.base_path("versioned")}},
    ]}))
    server = Inferd(tmp_path, store.env(), config=config)
    try:
        assert wait_until(lambda: server.infer(model="local") == 3), server.tail()
        assert wait_until(lambda: server.get("/v1/models/v")[0] == 404), server.tail()
        message = server.get("/v1/models/v")[1]["error"]
        assert "Could not find any versions of model v" in message, message
        assert "\n" not in message
        reason = server.index()["v"]["reason"]
        assert store.base_path("versioned") in reason
        assert server.infer(model="local") == 3
        # The bucket appears: the model loads at a later poll.
        store.create_bucket()
        store.upload_version("versioned", 1)
        assert wait_until(lambda: server.infer() == 1, 40), server.tail()
    finally:
        server.stop()


def test_wrong_s3_credentials_are_reported(tmp_path):
    store = S3(tmp_path, check_keys=True)
    store.start()
    try:
        server = Inferd(tmp_path, store.env(), store.base_path("versioned"))
        try:
            status, body = server.get("/v1/models/v")
            assert status == 404
            assert "403" in body["error"] and "InvalidAccessKeyId" in body["error"], body
            ovms = make_grpc_client(f"127.0.0.1:{server.grpc}")
            with pytest.raises(Exception, match="Could not find any versions of model v"):
                ovms.get_model_status("v")
        finally:
            server.stop()
    finally:
        store.stop()


def test_unusable_google_credentials_are_reported(tmp_path):
    broken = tmp_path / "key.json"
    broken.write_text("{not json")
    for path, words in ((tmp_path / "missing.json", "which is not a file"),
                        (broken, "")):
        env = {"GOOGLE_APPLICATION_CREDENTIALS": str(path), "STORAGE_EMULATOR_HOST": ""}
        server = Inferd(tmp_path, env, "gs://models/versioned")
        try:
            status, body = server.get("/v1/models/v")
            assert status == 404
            assert "GOOGLE_APPLICATION_CREDENTIALS" in body["error"], body
            assert words in body["error"]
        finally:
            server.stop()


def test_wrong_azure_credentials_are_reported(tmp_path):
    store = Azure(tmp_path)
    store.start()
    try:
        store.create_bucket()
        store.upload_version("versioned", 1)
        wrong = {"AZURE_STORAGE_CONNECTION_STRING":
                 store.connection_string(key="d3Jvbmcta2V5LXdyb25nLWtleQ==")}
        server = Inferd(tmp_path, wrong, store.base_path("versioned"))
        try:
            assert wait_until(lambda: server.get("/v1/models/v")[0] == 404), server.tail()
            message = server.get("/v1/models/v")[1]["error"]
            assert "403" in message and "AuthorizationFailure" in message, message
            grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc}")
            assert not grpc.is_model_ready("v")
        finally:
            server.stop()
    finally:
        store.stop()


class CountingProxy:
    """A forward HTTP proxy on loopback that counts the requests it relays."""

    def __init__(self):
        import http.server

        proxy = self
        self.requests = 0
        # While set, object reads (ranged GETs) are cut off mid-body.
        self.cut_downloads = False

        class Relay(http.server.BaseHTTPRequestHandler):
            def relay(self):
                proxy.requests += 1
                if proxy.cut_downloads and self.command == "GET" and "Range" in self.headers:
                    self.send_response(206)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 10)
                    self.close_connection = True
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-connection", "connection", "host")}
                request = urllib.request.Request(self.path, data=body, method=self.command,
                                                 headers=headers)
                try:
                    with OPENER.open(request, timeout=10) as answer:
                        status, reply, data = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as error:
                    status, reply, data = error.code, error.headers, error.read()
                self.send_response(status)
                for key, value in reply.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = relay

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def behind_proxy(tmp_path):
    """Version 1 in an S3 bucket, a counting proxy, and the environment that
    sends inferd's store requests through it."""
    store = S3(tmp_path)
    store.start()
    proxy = CountingProxy()
    try:
        store.create_bucket()
        store.upload_version("versioned", 1)
        env = {**store.env(), "HTTP_PROXY": proxy.url, "http_proxy": proxy.url,
               "NO_PROXY": "", "no_proxy": ""}
        yield store, proxy, env
    finally:
        proxy.close()
        store.stop()


def test_store_requests_go_through_the_proxy_the_environment_names(behind_proxy, tmp_path):
    store, proxy, env = behind_proxy
    server = Inferd(tmp_path, env, store.base_path("versioned"))
    try:
        assert wait_until(lambda: server.infer() == 1, 30), server.tail()
        assert proxy.requests >= 2  # a listing and a download at least
    finally:
        server.stop()


def test_a_cut_off_download_is_reported_and_tried_again(behind_proxy, tmp_path):
    store, proxy, env = behind_proxy
    proxy.cut_downloads = True
    server = Inferd(tmp_path, env, store.base_path("versioned"))
    try:
        def version_error():
            status = server.get("/v1/models/v")[1]["model_version_status"][0]
            return status["state"] == "LOADING" and status["status"]["error_message"]

        assert wait_until(lambda: "cannot download" in version_error()), server.tail()
        # The download works again: a later poll fetches and loads it.
        proxy.cut_downloads = False
        assert wait_until(lambda: server.infer() == 1, 40), server.tail()
        assert "download failed" in server.log.read_text()
    finally:
        server.stop()
