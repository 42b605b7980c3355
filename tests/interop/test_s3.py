"""Models served from an S3 bucket: a moto server (S3-compatible, started
here on loopback) holds the model; boto3 uploads and deletes versions while
inferd serves them, found through S3_ENDPOINT and the AWS_* variables."""
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from ovmsclient import make_grpc_client

from conftest import REPO, server_binary

MODELS = REPO / "models"
BUCKET = "models"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# boto3 here and inferd's store client both honour proxy variables: keep
# loopback traffic off any proxy the machine sets.
LOOPBACK = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
os.environ.update(LOOPBACK)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if OPENER.open(url, timeout=2).status == 200:
                return True
        except Exception:
            time.sleep(0.2)
    return False


class Moto:
    """A moto S3 server on a loopback port; start() and stop() at will."""

    def __init__(self, log_dir: pathlib.Path):
        self.port = free_port()
        self.log = log_dir / "moto.log"
        self.process = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        binary = pathlib.Path(sys.executable).parent / "moto_server"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS})
        assert wait_for(f"{self.endpoint}/moto-api/"), "moto did not start"

    def stop(self):
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=20)
            self.process = None

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture
def moto(tmp_path):
    store = Moto(tmp_path)
    store.start()
    yield store
    store.stop()


def upload_version(s3, model, version, source_version=None):
    folder = MODELS / "versioned" / str(source_version or version)
    for path in folder.rglob("*"):
        if path.is_file():
            key = f"{model}/{version}/{path.relative_to(folder)}"
            s3.upload_file(str(path), BUCKET, key)


def delete_version(s3, model, version):
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{model}/{version}/")
    for item in listed.get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=item["Key"])


class Inferd:
    def __init__(self, moto, tmp_path, base_path):
        self.grpc, self.rest = free_port(), free_port()
        self.log = tmp_path / "inferd.log"
        env = {**os.environ, **CREDENTIALS, "S3_ENDPOINT": moto.endpoint}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(server_binary()), "--model_name", "v", "--model_path", base_path,
                 "--port", str(self.grpc), "--rest_port", str(self.rest),
                 "--grpc_bind_address", "127.0.0.1", "--rest_bind_address", "127.0.0.1",
                 "--file_system_poll_wait_seconds", "1",
                 "--model_cache_dir", str(tmp_path / "cache")],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        assert wait_for(f"http://127.0.0.1:{self.rest}/v2/health/ready", 60), self.log.read_text()

    def infer(self, version=""):
        """`versioned` adds its version number to x: the answer names the version."""
        client = httpclient.InferenceServerClient(f"127.0.0.1:{self.rest}")
        x = httpclient.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(np.zeros((1, 4), np.float32))
        return int(client.infer("v", [x], model_version=version).as_numpy("y")[0, 0])

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0, self.log.read_text()[-5000:]


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


@pytest.fixture
def serving(moto, tmp_path):
    """Version 1 of `versioned` in the bucket, and inferd serving it as `v`."""
    s3 = moto.client()
    s3.create_bucket(Bucket=BUCKET)
    upload_version(s3, "versioned", 1)
    server = Inferd(moto, tmp_path, f"s3://{BUCKET}/versioned")
    yield s3, server
    server.stop()


def test_a_model_in_a_bucket_is_served_over_both_apis_and_follows_uploads(serving, tmp_path):
    s3, server = serving
    assert server.infer() == 1
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
        upload_version(s3, "versioned", 2)
        assert wait_until(lambda: server.infer() == 2), server.log.read_text()[-3000:]
        cached = tmp_path / "cache" / "v" / "s3" / BUCKET / "versioned"
        assert (cached / "2" / "model.onnx").is_file()
        # Deleted again: version 1 serves again, and version 2's copy goes.
        delete_version(s3, "versioned", 2)
        assert wait_until(lambda: server.infer() == 1), server.log.read_text()[-3000:]
        assert wait_until(lambda: not (cached / "2").exists())
    finally:
        stop.set()
        worker.join(timeout=30)
    assert failures == []


def test_a_version_still_being_uploaded_is_not_loaded(serving):
    s3, server = serving
    # Version 2's model is there but another of its files keeps changing
    # (an upload in progress): each poll sees another fingerprint, so it
    # is not loaded, though it could be.
    upload_version(s3, "versioned", 2)
    deadline = time.time() + 4
    step = 0
    while time.time() < deadline:
        step += 1
        s3.put_object(Bucket=BUCKET, Key="versioned/2/part", Body=b"x" * step)
        assert server.infer() == 1
        time.sleep(0.3)
    # Unchanged for two polls: version 2 serves.
    assert wait_until(lambda: server.infer() == 2), server.log.read_text()[-3000:]


def test_a_stopped_store_keeps_loaded_versions_serving(moto, serving):
    _, server = serving
    assert server.infer() == 1
    moto.stop()
    # The polls fail (logged with the store's error); the loaded version
    # keeps serving.
    assert wait_until(lambda: "cannot list versions" in server.log.read_text())
    assert server.infer() == 1


def test_a_server_started_with_the_store_down_loads_once_it_is_up(moto, tmp_path):
    moto.stop()
    server = Inferd(moto, tmp_path, f"s3://{BUCKET}/versioned")
    try:
        with pytest.raises(Exception):
            server.infer()
        moto.start()
        s3 = moto.client()
        s3.create_bucket(Bucket=BUCKET)
        upload_version(s3, "versioned", 1)
        assert wait_until(lambda: server.infer() == 1, 30), server.log.read_text()[-3000:]
    finally:
        server.stop()
