"""KServe v2 interop: drives inferd with NVIDIA's tritonclient over REST and gRPC.

Inference cases run over three transports: HTTP with JSON tensors, HTTP with
binary tensor data, and gRPC. The server fixture lives in conftest.py.
"""
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

TRANSPORTS = ["http_json", "http_binary", "grpc"]
URL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Transport:
    """One way of talking to the server; hides the http/grpc client differences."""

    def __init__(self, kind, client):
        self.kind = kind
        self.client = client

    @property
    def is_grpc(self):
        return self.kind == "grpc"

    @property
    def binary(self):
        return self.kind == "http_binary"

    def make_input(self, name, array):
        datatype = np_to_triton_dtype(array.dtype)
        if self.is_grpc:
            return grpcclient.InferInput(name, list(array.shape), datatype).set_data_from_numpy(array)
        tensor = httpclient.InferInput(name, list(array.shape), datatype)
        return tensor.set_data_from_numpy(array, binary_data=self.binary)

    def make_output(self, name):
        if self.is_grpc:
            return grpcclient.InferRequestedOutput(name)
        return httpclient.InferRequestedOutput(name, binary_data=self.binary)

    def infer(self, model, inputs, outputs, version="", request_id=""):
        """inputs: {name: ndarray}; outputs: names to request (always explicit)."""
        return self.client.infer(
            model,
            [self.make_input(name, array) for name, array in inputs.items()],
            model_version=version,
            outputs=[self.make_output(name) for name in outputs],
            request_id=request_id,
        )

    def response_field(self, result, field):
        """A top-level field of the inference response ('id', 'model_version', ...)."""
        response = result.get_response()
        return getattr(response, field) if self.is_grpc else response.get(field)

    def model_metadata(self, name):
        metadata = self.client.get_model_metadata(name)
        if not self.is_grpc:
            return metadata
        return {
            "name": metadata.name,
            "versions": list(metadata.versions),
            "platform": metadata.platform,
            "inputs": [_tensor_metadata(t) for t in metadata.inputs],
            "outputs": [_tensor_metadata(t) for t in metadata.outputs],
        }

    def server_metadata(self):
        metadata = self.client.get_server_metadata()
        if not self.is_grpc:
            return metadata
        return {"name": metadata.name, "version": metadata.version, "extensions": list(metadata.extensions)}


def _tensor_metadata(tensor):
    """gRPC TensorMetadata as the dict the REST API returns."""
    return {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}


@pytest.fixture(params=TRANSPORTS)
def transport(request, http_client, grpc_client):
    return Transport(request.param, grpc_client if request.param == "grpc" else http_client)


@pytest.fixture(params=["http", "grpc"])
def protocol(request, http_client, grpc_client):
    """For calls where JSON vs binary tensor data makes no difference."""
    if request.param == "grpc":
        return Transport("grpc", grpc_client)
    return Transport("http_json", http_client)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def random_add_inputs(rng, rows=3):
    a = rng.standard_normal((rows, 16)).astype(np.float32)
    b = rng.standard_normal((rows, 16)).astype(np.float32)
    return a, b


def assert_close_f32(actual, expected):
    assert actual is not None
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)


def check_add(transport, rng, rows=3):
    """A valid add request over `transport` succeeds with the right answers."""
    a, b = random_add_inputs(rng, rows)
    result = transport.infer("add", {"a": a, "b": b}, ["sum", "diff"])
    assert_close_f32(result.as_numpy("sum"), a + b)
    assert_close_f32(result.as_numpy("diff"), a - b)


# ---------------------------------------------------------------- health & metadata


def test_server_live_and_ready(protocol):
    assert protocol.client.is_server_live()
    assert protocol.client.is_server_ready()
    assert protocol.client.is_model_ready("add")


def test_server_metadata(protocol):
    metadata = protocol.server_metadata()
    assert metadata["name"]
    assert isinstance(metadata.get("extensions"), list)


def test_model_metadata_add(protocol):
    metadata = protocol.model_metadata("add")
    assert metadata["name"] == "add"
    assert metadata["platform"]
    assert "1" in metadata["versions"]
    inputs = {t["name"]: t for t in metadata["inputs"]}
    outputs = {t["name"]: t for t in metadata["outputs"]}
    assert set(inputs) == {"a", "b"}
    assert set(outputs) == {"sum", "diff"}
    for tensor in [*inputs.values(), *outputs.values()]:
        assert tensor["datatype"] == "FP32", tensor
        assert list(tensor["shape"]) == [-1, 16], tensor


def test_model_config_add(protocol):
    """Triton's model configuration extension, as get_model_config reads it
    (JSON on HTTP, the ModelConfig message on gRPC)."""
    if protocol.kind == "grpc":
        config = protocol.client.get_model_config("add", as_json=True)["config"]
    else:
        config = protocol.client.get_model_config("add")
    assert config["name"] == "add"
    assert [t["name"] for t in config["input"]] == ["a", "b"]
    assert [t["name"] for t in config["output"]] == ["sum", "diff"]
    for tensor in [*config["input"], *config["output"]]:
        assert tensor["data_type"] == "TYPE_FP32", tensor
        assert [int(d) for d in tensor["dims"]] == [-1, 16], tensor
    assert config.get("max_batch_size", 0) == 0
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    with pytest.raises(Exception, match="not found"):
        protocol.client.get_model_config("ghost")


# ---------------------------------------------------------------- inference


def test_add(transport, rng):
    check_add(transport, rng)


def test_add_only_requested_output(transport, rng):
    a, b = random_add_inputs(rng)
    result = transport.infer("add", {"a": a, "b": b}, ["diff"])
    assert_close_f32(result.as_numpy("diff"), a - b)
    assert result.as_numpy("sum") is None


@pytest.mark.parametrize("version", ["1", "2", "3", ""], ids=["v1", "v2", "v3", "default"])
def test_versioned(transport, version):
    expected_version = int(version or 3)
    x = np.array([[1.0, 2.5, -3.0, 0.25]], dtype=np.float32)
    result = transport.infer("versioned", {"x": x}, ["y"], version=version)
    y = result.as_numpy("y")
    assert y is not None and y.dtype == np.float32
    np.testing.assert_array_equal(y, x + np.float32(expected_version))
    assert str(transport.response_field(result, "model_version")) == str(expected_version)


def int_values(dtype):
    info = np.iinfo(dtype)
    if info.min < 0:
        rows = [[info.min, -1, 0], [1, 42, info.max]]
    else:
        rows = [[0, 1, 42], [info.max // 2, info.max - 1, info.max]]
    return np.array(rows, dtype=dtype)


# Short decimal floats, so JSON text round-trips without relying on a perfect
# float parser; FP16 values are all exactly representable halves.
IDENTITY_CASES = {
    "fp32": np.array([[0.0, -1.5, 3.1415927], [1e-30, -65504.0, 123456.78]], dtype=np.float32),
    "fp64": np.array([[0.0, -1.5, 0.1], [2.5e-8, -123456.789, 6.02e23]], dtype=np.float64),
    "fp16": np.array([[0.0, -1.5, 3.140625], [65504.0, -0.0009765625, 0.5]], dtype=np.float16),
    **{np.dtype(t).name: int_values(t) for t in (
        np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)},
    "bool": np.array([[True, False, True], [False, False, True]], dtype=np.bool_),
    # UTF-8 only: the JSON transport carries BYTES as text.
    "bytes": np.array([[b"hello", b"", b"\xc3\xa9"], [b"a b c", b"\xe2\x82\xac1", b"{\"k\": [1]}"]],
                      dtype=np.object_),
}


def as_bytes_list(array):
    """BYTES output as a flat list of bytes (JSON gives str, binary gives bytes)."""
    return [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in array.flatten().tolist()]


@pytest.mark.parametrize("suffix", list(IDENTITY_CASES))
def test_identity_roundtrip(transport, suffix):
    expected = IDENTITY_CASES[suffix]
    result = transport.infer(f"identity_{suffix}", {"input": expected}, ["output"])
    actual = result.as_numpy("output")
    assert actual is not None
    assert actual.shape == expected.shape
    output = result.get_output("output")
    datatype = output.datatype if transport.is_grpc else output["datatype"]
    assert datatype == np_to_triton_dtype(expected.dtype)
    if suffix == "bytes":
        assert as_bytes_list(actual) == as_bytes_list(expected)
        return
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)
    if expected.dtype.kind == "f":
        assert actual.tobytes() == expected.tobytes(), "float values not bit-exact"


def test_request_id_echoed(transport, rng):
    a, b = random_add_inputs(rng, rows=1)
    result = transport.infer("add", {"a": a, "b": b}, ["sum"], request_id="req-42")
    assert transport.response_field(result, "id") == "req-42"


# ---------------------------------------------------------------- errors

X_OK = np.zeros((1, 4), dtype=np.float32)
A_OK = np.ones((1, 16), dtype=np.float32)

ERROR_CASES = {
    "unknown_model": ("nope", "", {"x": X_OK}, "Model with requested name is not found"),
    "unknown_version": ("versioned", "9", {"x": X_OK}, "Model with requested version is not found"),
    "wrong_shape": ("versioned", "", {"x": np.zeros((1, 5), np.float32)}, "Invalid input shape"),
    "wrong_batch": ("versioned", "", {"x": np.zeros((2, 4), np.float32)}, "Invalid input batch size"),
    "wrong_dtype": (
        "add", "", {"a": np.ones((1, 16), np.int32), "b": np.ones((1, 16), np.int32)},
        "Invalid input precision",
    ),
    "missing_input": ("add", "", {"a": A_OK}, "Invalid number of inputs - Expected: 2; Actual: 1"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_inference_errors(transport, rng, case):
    model, version, inputs, message = ERROR_CASES[case]
    outputs = ["y"] if model != "add" else ["sum"]
    with pytest.raises(InferenceServerException) as excinfo:
        transport.infer(model, inputs, outputs, version=version)
    assert message in (excinfo.value.message() or ""), str(excinfo.value)
    check_add(transport, rng)  # the server keeps serving after the error


def post(server, path, body):
    """POST body as JSON to the REST port: (status, parsed JSON body)."""
    request = urllib.request.Request(
        server.rest_base + path, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with URL_OPENER.open(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        pytest.fail(f"HTTP {status} body is not JSON: {raw[:200]!r}")


def test_http_unknown_model_is_404(server):
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}]})
    status, payload = post(server, "/v2/models/nope/infer", body.encode())
    assert status == 404
    assert payload == {"error": "Model with requested name is not found"}


def test_http_malformed_json_is_400(server):
    status, payload = post(server, "/v2/models/add/infer", b'{"inputs": [{"name": "a",')
    assert status == 400
    assert isinstance(payload, dict) and isinstance(payload.get("error"), str) and payload["error"]


# ---------------------------------------------------------------- concurrency

THREADS = 8
REQUESTS_PER_THREAD = 25


def test_concurrent_grpc_add(grpc_client_factory):
    def worker(seed):
        transport = Transport("grpc", grpc_client_factory())
        rng = np.random.default_rng(seed)
        for i in range(REQUESTS_PER_THREAD):
            check_add(transport, rng, rows=1 + i % 4)
        return REQUESTS_PER_THREAD

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        completed = sum(pool.map(worker, range(THREADS)))
    assert completed == THREADS * REQUESTS_PER_THREAD
