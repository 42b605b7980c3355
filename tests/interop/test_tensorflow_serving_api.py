"""TensorFlow Serving's own client package (tensorflow-serving-api, with the
TensorFlow it needs) against inferd started with TF Serving's flags only: a
SavedModel with two signatures called by name over TCP and over the Unix
domain socket (PredictionServiceStub, ModelServiceStub), its metadata with
TensorFlow's tensor names, and warm-up records written with
tf.io.TFRecordWriter run before the version is AVAILABLE. The client runs in
the venv of scripts/venv-tf.sh (INFERD_TF_PYTHON): TensorFlow's protos and
ovmsclient's copies cannot share one process."""
import json
import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from conftest import REPO, start_server

CLIENT = REPO / "tests" / "interop" / "tfs_api_client.py"


def tf_python():
    python = os.environ.get("INFERD_TF_PYTHON")
    if not python:
        pytest.skip("INFERD_TF_PYTHON is not set (scripts/venv-tf.sh makes that venv)")
    return python


def run_client(*args):
    done = subprocess.run([tf_python(), str(CLIENT), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.fixture(scope="module")
def tfs(tmp_path_factory):
    work = tmp_path_factory.mktemp("tfs-api")
    model = work / "sig"
    shutil.copytree(REPO / "models" / "add_signatures", model)
    run_client("warmup", str(model / "1"))
    socket = work / "inferd.sock"
    args = ["--model_name=sig", f"--model_base_path={model}", f"--grpc_socket_path={socket}"]
    for server in start_server(tmp_path_factory, args, config=None):
        yield SimpleNamespace(grpc_port=server.grpc_port, log_path=server.log_path, socket=socket)


def test_the_tf_serving_client_calls_each_signature_over_tcp_and_the_socket(tfs):
    targets = [f"127.0.0.1:{tfs.grpc_port}", f"unix:{tfs.socket}"]
    found = json.loads(run_client("query", "sig", *targets).strip().splitlines()[-1])
    ramp = [float(v) for v in range(1, 17)]
    doubled = [[2 * v for v in ramp]]
    for target in targets:
        answers = found[target]
        assert answers["default"]["signature_name"] == "serving_default"
        assert answers["default"]["version"] == 1
        assert answers["default"]["outputs"]["sum"] == doubled
        assert answers["default"]["outputs"]["diff"] == [[0.0] * 16]
        assert answers["scale"]["signature_name"] == "scale"
        assert answers["scale"]["outputs"] == {"scaled": doubled}
        assert answers["nope"] == {
            "code": "INVALID_ARGUMENT",
            "details": 'Serving signature name: "nope" not found in signature def'}
        signatures = answers["signatures"]
        assert signatures["serving_default"]["inputs"] == {"a": "serving_default_a:0", "b": "serving_default_b:0"}
        assert signatures["scale"] == {"inputs": {"x": "scale_x:0"}, "outputs": ["scaled"],
                                       "method": "tensorflow/serving/predict"}
        assert answers["status"] == ["AVAILABLE"]


def test_warmup_records_written_by_tensorflow_ran_before_available(tfs):
    # The version is marked AVAILABLE once its warm-up requests (one on each
    # signature) have run; the line says how many ran.
    log = tfs.log_path.read_text()
    available = [line for line in log.splitlines() if "AVAILABLE" in line and 'model="sig"' in line]
    assert len(available) == 1, log[-3000:]
    assert "signature serving_default (also scale)" in available[0]
    assert "signature not served model=sig version=1 signature=parse_examples" in log
    assert available[0].endswith("warmed up with 2 requests")
