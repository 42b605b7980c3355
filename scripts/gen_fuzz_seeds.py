"""Writes the seed corpora of the fuzz targets (fuzz/seeds/<target>/): a few
small, valid and near-valid requests of each kind, so fuzzing starts from
the shapes real clients send. Run with the project's venv (scripts/venv.sh),
whose tritonclient and ovmsclient provide the gRPC messages:

    $(scripts/venv.sh | tail -n 1) scripts/gen_fuzz_seeds.py
"""

import json
import pathlib
import struct

from tritonclient.grpc import service_pb2 as kserve
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import predict_pb2
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import (
    tensor_pb2, tensor_shape_pb2, types_pb2)

ROOT = pathlib.Path(__file__).resolve().parent.parent / "fuzz" / "seeds"


def write(target, name, data):
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (folder / name).write_bytes(data)


def kserve_rest():
    add = {
        "id": "1",
        "inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "b", "shape": [2], "datatype": "INT64", "data": [[4, 5]]},
            {"name": "c", "shape": [2], "datatype": "BYTES", "data": ["x", "yz"]},
            {"name": "d", "shape": [2], "datatype": "FP16", "data": ["NaN", 1.5]},
        ],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        "parameters": {"priority": 1, "timeout": 1000, "sequence_id": "s"},
    }
    write("kserve_rest", "json", b"\x00" + json.dumps(add).encode())
    write("kserve_rest", "nan", b"\x00" + json.dumps(add).replace("\"NaN\"", "NaN").encode())
    header = json.dumps({
        "inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32",
             "parameters": {"binary_data_size": 12}},
            {"name": "c", "shape": [1], "datatype": "BYTES",
             "parameters": {"binary_data_size": 7}},
        ],
        "parameters": {"binary_data_output": True},
    }).encode()
    binary = struct.pack("<3f", 1, 2, 3) + struct.pack("<I", 3) + b"abc"
    write("kserve_rest", "binary", b"\x01" + struct.pack("<H", len(header)) + header + binary)


def tfs_rest():
    write("tfs_rest", "rows", json.dumps({"instances": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}))
    write("tfs_rest", "named_rows", json.dumps({
        "signature_name": "serving_default",
        "instances": [{"a": [1, 2, 3], "b": [1, 2], "c": {"b64": "aGk="}, "d": [0.5]}],
    }))
    write("tfs_rest", "columns", '{"inputs": {"a": [[NaN, Infinity, -Infinity]], "b": [7, 8]}}')
    write("tfs_rest", "column", '{"inputs": [[1, 2, 3]]}')


def tensor_proto(dtype, dims, **values):
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)


def tfs_grpc():
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.model_spec.version.value = 1
    request.inputs["a"].CopyFrom(tensor_proto(types_pb2.DT_FLOAT, [1, 3], float_val=[1, 2, 3]))
    request.inputs["b"].CopyFrom(tensor_proto(types_pb2.DT_INT64, [2], int64_val=[4, 5]))
    request.inputs["c"].CopyFrom(tensor_proto(types_pb2.DT_STRING, [1], string_val=[b"abc"]))
    request.inputs["d"].CopyFrom(tensor_proto(types_pb2.DT_HALF, [2], half_val=[15360, 0]))
    request.output_filter.append("y")
    write("tfs_grpc", "typed", request.SerializeToString())
    raw = predict_pb2.PredictRequest()
    raw.model_spec.name = "m"
    raw.model_spec.version_label = "stable"
    raw.inputs["a"].CopyFrom(tensor_proto(
        types_pb2.DT_FLOAT, [1, 3], tensor_content=struct.pack("<3f", 1, 2, 3)))
    write("tfs_grpc", "tensor_content", raw.SerializeToString())


def kserve_grpc():
    request = kserve.ModelInferRequest(model_name="m", model_version="1", id="x")
    a = request.inputs.add(name="a", datatype="FP32", shape=[1, 3])
    a.contents.fp32_contents.extend([1, 2, 3])
    b = request.inputs.add(name="b", datatype="INT64", shape=[2])
    b.contents.int64_contents.extend([4, 5])
    c = request.inputs.add(name="c", datatype="BYTES", shape=[1])
    c.contents.bytes_contents.append(b"abc")
    request.outputs.add(name="y").parameters["binary_data"].bool_param = True
    request.parameters["priority"].uint64_param = 2
    request.parameters["sequence_id"].string_param = "s"
    write("kserve_grpc", "typed", request.SerializeToString())
    raw = kserve.ModelInferRequest(model_name="m")
    raw.inputs.add(name="a", datatype="FP32", shape=[1, 3])
    raw.inputs.add(name="d", datatype="FP16", shape=[2])
    raw.raw_input_contents.extend([struct.pack("<3f", 1, 2, 3), struct.pack("<2e", 1, 2)])
    write("kserve_grpc", "raw", raw.SerializeToString())


def config_json():
    config = {
        "model_config_list": [
            {"config": {"name": "add", "base_path": "add", "nireq": 2,
                        "shape": {"a": "(1,-1)"}, "layout": "NHWC:NCHW",
                        "plugin_config": {"INFERENCE_NUM_THREADS": 1}}},
            {"config": {"name": "v", "base_path": "/v",
                        "model_version_policy": {"specific": {"versions": [1, 2]}},
                        "version_labels": {"stable": 1}}},
            {"config": {"name": "l", "base_path": "l", "batch_size": "auto",
                        "model_version_policy": {"latest": {"num_versions": 2}}}},
        ],
        "monitoring": {"metrics": {"enable": True, "metrics_list": ["ovms_requests_success"]}},
    }
    write("config_json", "models", json.dumps(config, indent=1))
    write("config_json", "empty", '{"model_config_list": []}')


def path_segments():
    for name, text in [("latest", ""), ("zero", "0"), ("one", "1"), ("big", "18446744073709551616"),
                       ("negative", "-1"), ("predict", "3:predict"), ("label", "stable:predict")]:
        write("path_segments", name, text)


def images():
    """The committed test images (scripts/gen_test_images.py), each a seed."""
    folder = ROOT.parent.parent / "tests" / "data" / "images"
    for path in sorted(folder.iterdir()):
        write("images", path.name, path.read_bytes())


if __name__ == "__main__":
    images()
    kserve_rest()
    tfs_rest()
    kserve_grpc()
    tfs_grpc()
    config_json()
    path_segments()
