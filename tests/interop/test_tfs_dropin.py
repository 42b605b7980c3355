"""inferd in place of `tensorflow_model_server`, started with TF Serving's
flags only (through a link of that name): a text-format model config file
with two models, labels and policies, reloaded when edited; warm-up records
written here with the protobuf package (TF Serving's PredictionLog as
ovmsclient bundles it) and google-crc32c; the PredictionServiceStub
generated from TF Serving's protos (ovmsclient's copy; tensorflow-serving-api
itself is in test_tensorflow_serving_api.py) over TCP and over the Unix
domain socket with grpcio; the Prometheus path of the monitoring config."""
import json
import shutil
import struct
import time
import urllib.request
from types import SimpleNamespace

import google_crc32c
import grpc
import numpy as np
import pytest
from ovmsclient import make_grpc_client
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc)

from conftest import REPO, server_binary, start_server

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
WARMUP_RECORDS = 2
ITERATIONS = 2


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tf_record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


def add_request(model="add", label=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if label:
        request.model_spec.version_label = label
    values = np.arange(16, dtype=np.float32)
    for name in ("a", "b"):
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1),
                     tensor_shape_pb2.TensorShapeProto.Dim(size=16)]),
            tensor_content=values.tobytes())
        request.inputs[name].CopyFrom(tensor)
    return request, values


def write_warmup(version_dir):
    folder = version_dir / "assets.extra"
    folder.mkdir()
    with open(folder / "tf_serving_warmup_requests", "wb") as out:
        for _ in range(WARMUP_RECORDS):
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(add_request()[0])
            out.write(tf_record(log.SerializeToString()))


def model_config(models):
    entries = "\n".join(f"""  config {{
    name: '{name}'
    base_path: '{path}'
    model_platform: 'tensorflow'
{extra}  }}""" for name, path, extra in models)
    return f"model_config_list {{\n{entries}\n}}\n"


@pytest.fixture(scope="module")
def tfs(tmp_path_factory):
    work = tmp_path_factory.mktemp("tfs")
    program = work / "tensorflow_model_server"
    program.symlink_to(server_binary())
    add = work / "add"
    shutil.copytree(REPO / "models" / "add", add)
    write_warmup(add / "1")
    versioned = str(REPO / "models" / "versioned")
    labels = ("    model_version_policy { specific { versions: 1 versions: 2 } }\n"
              "    version_labels { key: 'stable' value: 1 }\n"
              "    version_labels { key: 'canary' value: 2 }\n")
    config = work / "models.config"
    config.write_text(model_config([("add", add, ""), ("versioned", versioned, labels)]))
    monitoring = work / "monitoring.config"
    monitoring.write_text('prometheus_config {\n  enable: true,\n  path: "/monitoring/prometheus/metrics"\n}\n')
    socket_path = work / "grpc.sock"
    args = [f"--grpc_socket_path={socket_path}", f"--monitoring_config_file={monitoring}",
            "--model_config_file_poll_wait_seconds=1", "--file_system_poll_wait_seconds=1",
            f"--num_request_iterations_for_warmup={ITERATIONS}", "--enable_batching=false",
            "--tensorflow_intra_op_parallelism=2", "--tensorflow_inter_op_parallelism=2",
            "--rest_api_timeout_in_ms=30000"]
    for server in start_server(tmp_path_factory, args, config=config, program=program):
        yield SimpleNamespace(grpc_port=server.grpc_port, rest_base=server.rest_base,
                              log_tail=server.log_tail, socket_path=socket_path, config_path=config)


def rest_json(server, path):
    with OPENER.open(server.rest_base + path, timeout=10) as answer:
        return json.load(answer)


def test_warmup_records_ran_before_the_version_served(tfs):
    stats = rest_json(tfs, "/v2/models/add/versions/1/stats")
    assert stats["model_stats"][0]["execution_count"] == WARMUP_RECORDS * ITERATIONS
    assert "warmed up with 2 requests" in tfs.log_tail()


@pytest.mark.parametrize("transport", ["tcp", "uds"])
def test_the_prediction_service_stub_answers(tfs, transport):
    if transport == "tcp":
        channel = grpc.insecure_channel(f"127.0.0.1:{tfs.grpc_port}")
    else:
        # grpcio sends the percent-encoded socket path as :authority, which
        # the HTTP/2 library refuses; "localhost" is what grpc-go sends.
        channel = grpc.insecure_channel(f"unix:{tfs.socket_path}",
                                        options=[("grpc.default_authority", "localhost")])
    with channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request, values = add_request()
        answer = stub.Predict(request, timeout=10)
        total = np.frombuffer(answer.outputs["sum"].tensor_content, dtype=np.float32)
        np.testing.assert_array_equal(total, values * 2)
        canary, _ = add_request("versioned", label="canary")
        del canary.inputs["b"]
        canary.inputs["x"].CopyFrom(canary.inputs.pop("a"))
        canary.inputs["x"].tensor_shape.dim[1].size = 4
        canary.inputs["x"].tensor_content = np.ones(4, dtype=np.float32).tobytes()
        answer = stub.Predict(canary, timeout=10)
        assert answer.model_spec.version.value == 2


def test_the_model_list_serves_its_policies_and_labels(tfs):
    client = make_grpc_client(f"127.0.0.1:{tfs.grpc_port}")
    status = client.get_model_status("versioned")
    assert {v for v, s in status.items() if s["state"] == "AVAILABLE"} == {1, 2}
    label = rest_json(tfs, "/v1/models/versioned/labels/stable")
    assert [s["version"] for s in label["model_version_status"]] == ["1"]


def test_the_monitoring_path_has_tensorflow_servings_names(tfs):
    client = make_grpc_client(f"127.0.0.1:{tfs.grpc_port}")
    values = np.arange(16, dtype=np.float32).reshape(1, 16)
    client.predict({"a": values, "b": values}, "add")
    with OPENER.open(tfs.rest_base + "/monitoring/prometheus/metrics", timeout=10) as answer:
        text = answer.read().decode()
    assert ':tensorflow:serving:request_count{model_name="add",status="OK"}' in text
    assert '# TYPE :tensorflow:serving:request_latency histogram' in text


def test_editing_the_model_config_file_reloads_it(tfs):
    client = make_grpc_client(f"127.0.0.1:{tfs.grpc_port}")
    original = tfs.config_path.read_text()
    double = str(REPO / "models" / "double")
    tfs.config_path.write_text(original.replace(
        "model_config_list {\n", f"model_config_list {{\n  config {{ name: 'double' base_path: '{double}' }}\n", 1))
    try:
        deadline = time.time() + 15
        while True:
            try:
                status = client.get_model_status("double")
                if status[1]["state"] == "AVAILABLE":
                    break
            except Exception:
                pass
            assert time.time() < deadline, tfs.log_tail()
            time.sleep(0.2)
    finally:
        tfs.config_path.write_text(original)


def test_classify_is_refused_with_the_reason(tfs):
    from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import classification_pb2
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "add"
    request.input.example_list.examples.add()
    with grpc.insecure_channel(f"127.0.0.1:{tfs.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Classify(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert refused.value.details().startswith("Classify is not supported")
