"""inferd in place of `tritonserver`, started with Triton's flags only
(through a link of that name) on a Triton-layout model repository: one
model with a config.pbtxt (batching, two instances, an output reshaped),
one without (completed
from the model), one with a version policy; tritonclient (HTTP and gRPC)
reads the configurations, infers, and loads and unloads models in explicit
control mode."""
import json
import shutil

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

import urllib.request
from types import SimpleNamespace

from conftest import REPO, free_ports, server_binary, start_server

ADD_CONFIG = """
name: "add"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  { name: "a", data_type: TYPE_FP32, dims: [ 16 ] },
  { name: "b", data_type: TYPE_FP32, dims: [ 16 ] }
]
output [
  { name: "sum", data_type: TYPE_FP32, dims: [ 16 ] },
  { name: "diff", data_type: TYPE_FP32, dims: [ 4, 4 ], reshape: { shape: [ 16 ] } }
]
instance_group [ { count: 2, kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
"""


def triton_repository(folder):
    repo = folder / "model_repository"
    for name in ("add", "plain"):
        (repo / name / "1").mkdir(parents=True)
        shutil.copy(REPO / "models" / "add" / "1" / "model.onnx", repo / name / "1" / "model.onnx")
    (repo / "add" / "config.pbtxt").write_text(ADD_CONFIG)
    shutil.copytree(REPO / "models" / "versioned", repo / "versioned")
    (repo / "versioned" / "config.pbtxt").write_text(
        "version_policy: { specific: { versions: [ 1, 3 ] } }\n")
    return repo


def start_triton(tmp_path_factory, *flags):
    work = tmp_path_factory.mktemp("triton")
    program = work / "tritonserver"
    program.symlink_to(server_binary())
    repo = triton_repository(work)
    (metrics_port,) = free_ports(1)
    args = [f"--model-repository={repo}", f"--metrics-port={metrics_port}",
            "--metrics-address=127.0.0.1", *flags]
    for server in start_server(tmp_path_factory, args, config=None, program=program):
        yield SimpleNamespace(rest_port=server.rest_port, grpc_port=server.grpc_port,
                              metrics_port=metrics_port)


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    yield from start_triton(tmp_path_factory, "--model-control-mode=none", "--log-verbose=0",
                            "--strict-model-config=false", "--exit-timeout-secs=10")


@pytest.fixture(params=["http", "grpc"])
def client(request, triton):
    if request.param == "http":
        return httpclient.InferenceServerClient(f"127.0.0.1:{triton.rest_port}")
    return grpcclient.InferenceServerClient(f"127.0.0.1:{triton.grpc_port}")


def module_of(client):
    return httpclient if isinstance(client, httpclient.InferenceServerClient) else grpcclient


def ready(client, name, version=""):
    """Readiness; gRPC answers an unknown version NOT_FOUND (as OVMS does)."""
    try:
        return client.is_model_ready(name, version)
    except Exception as error:  # tritonclient.utils.InferenceServerException
        assert "not found" in str(error).lower(), error
        return False


def config_of(client, name):
    if isinstance(client, grpcclient.InferenceServerClient):
        return client.get_model_config(name, as_json=True)["config"]
    return client.get_model_config(name)


def test_config_pbtxt_is_served_as_written(client):
    config = config_of(client, "add")
    assert config["name"] == "add"
    assert config["max_batch_size"] == 8
    assert config["backend"] == "onnxruntime"
    assert [int(d) for d in config["input"][0]["dims"]] == [16]
    assert config["instance_group"][0]["count"] == 2
    diff = config["output"][1]
    assert [int(d) for d in diff["dims"]] == [4, 4]
    assert [int(d) for d in diff["reshape"]["shape"]] == [16]
    assert int(config["dynamic_batching"]["max_queue_delay_microseconds"]) == 100


def test_a_model_without_config_pbtxt_is_completed_from_the_model(client):
    config = config_of(client, "plain")
    assert [t["name"] for t in config["input"]] == ["a", "b"]
    assert config.get("max_batch_size", 0) == 0
    assert [int(d) for d in config["input"][0]["dims"]] == [-1, 16]


def test_inference_and_version_policy(client):
    module = module_of(client)
    values = np.arange(32, dtype=np.float32).reshape(2, 16)
    inputs = [module.InferInput(n, [2, 16], "FP32") for n in ("a", "b")]
    for item in inputs:
        item.set_data_from_numpy(values)
    result = client.infer("add", inputs)
    np.testing.assert_array_equal(result.as_numpy("sum"), values * 2)
    # diff is declared with dims [4, 4] over the model's [16].
    np.testing.assert_array_equal(result.as_numpy("diff"), np.zeros((2, 4, 4), dtype=np.float32))
    assert ready(client, "versioned", "1")
    assert ready(client, "versioned", "3")
    assert not ready(client, "versioned", "2")


def test_nv_metrics_on_the_metrics_port(triton):
    client = httpclient.InferenceServerClient(f"127.0.0.1:{triton.rest_port}")
    values = np.ones((1, 16), dtype=np.float32)
    inputs = [httpclient.InferInput(n, [1, 16], "FP32") for n in ("a", "b")]
    for item in inputs:
        item.set_data_from_numpy(values)
    client.infer("plain", inputs)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"http://127.0.0.1:{triton.metrics_port}/metrics"
    with opener.open(url, timeout=10) as answer:
        text = answer.read().decode()
    assert 'nv_inference_request_success{model="plain",version="1"} 1' in text
    assert "# TYPE nv_inference_compute_infer_duration_us counter" in text


def test_explicit_control_mode_loads_and_unloads(tmp_path_factory):
    for server in start_triton(tmp_path_factory, "--model-control-mode=explicit", "--load-model=plain"):
        for client in (httpclient.InferenceServerClient(f"127.0.0.1:{server.rest_port}"),
                       grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")):
            assert ready(client, "plain")
            assert not ready(client, "add")
            client.load_model("add")
            assert ready(client, "add")
            client.unload_model("add")
            assert not ready(client, "add")
            # A load with a configuration of its own serves that configuration.
            override = {"backend": "onnxruntime", "max_batch_size": 4,
                        "instance_group": [{"count": 2, "kind": "KIND_CPU"}]}
            client.load_model("plain", config=json.dumps(override))
            config = config_of(client, "plain")
            assert config["max_batch_size"] == 4 and config["backend"] == "onnxruntime"
            with pytest.raises(Exception, match="configuration expects datatype TYPE_INT64"):
                client.load_model("plain", config=json.dumps(
                    {"input": [{"name": "a", "data_type": "TYPE_INT64", "dims": [-1, 16]}]}))
            assert config_of(client, "plain")["max_batch_size"] == 4
