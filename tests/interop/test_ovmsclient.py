"""TensorFlow Serving API interop: drives inferd with Intel's ovmsclient over
REST and gRPC (predict, get_model_metadata, get_model_status).

ovmsclient speaks the TFS API only: gRPC PredictionService/ModelService with
TensorProto tensors, and REST /v1/models/... with columnar JSON bodies. The
server fixture lives in conftest.py.
"""
import numpy as np
import pytest
from ovmsclient import make_grpc_client, make_http_client
from ovmsclient.tfs_compat.base.errors import InvalidInputError, ModelNotFoundError
from ovmsclient.tfs_compat.grpc.serving_client import GrpcClient

TRANSPORTS = ["rest", "grpc"]

# identity_<suffix> models and the numpy type ovmsclient sends for each.
IDENTITY_TYPES = {
    "fp32": np.float32,
    "fp64": np.float64,
    "fp16": np.float16,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "bool": np.bool_,
}


@pytest.fixture(scope="module", params=TRANSPORTS)
def client(request, server):
    if request.param == "rest":
        return make_http_client(server.rest_url)
    return make_grpc_client(server.grpc_url)


def add_inputs():
    a = np.arange(32, dtype=np.float32).reshape(2, 16)
    b = np.full((2, 16), 0.5, dtype=np.float32)
    return a, b


def test_predict_with_two_outputs(client):
    a, b = add_inputs()
    outputs = client.predict({"a": a, "b": b}, "add")
    assert set(outputs) == {"sum", "diff"}
    np.testing.assert_array_equal(np.asarray(outputs["sum"], dtype=np.float32), a + b)
    np.testing.assert_array_equal(np.asarray(outputs["diff"], dtype=np.float32), a - b)


def test_predict_chooses_the_version(client):
    x = np.array([[1, 2, 3, 4]], dtype=np.float32)
    for version in (1, 2, 3):
        out = client.predict({"x": x}, "versioned", model_version=version)
        np.testing.assert_array_equal(np.asarray(out, dtype=np.float32), x + version)
    latest = client.predict({"x": x}, "versioned")
    np.testing.assert_array_equal(np.asarray(latest, dtype=np.float32), x + 3)


@pytest.mark.parametrize("suffix", sorted(IDENTITY_TYPES))
def test_identity_round_trips_every_numeric_type(client, suffix):
    np_type = IDENTITY_TYPES[suffix]
    if np_type is np.bool_:
        data = np.array([[True, False, True]])
    else:
        info = np.finfo(np_type) if np.issubdtype(np_type, np.floating) else np.iinfo(np_type)
        top = info.max
        if np_type is np.uint64 and not isinstance(client, GrpcClient):
            # ovmsclient turns REST JSON lists into arrays with np.array, which
            # reads integers above 2**63 as float64 and loses them.
            top = np.iinfo(np.int64).max
        data = np.array([[info.min, 0, 1], [top, 2, 3]], dtype=np_type)
    out = client.predict({"input": data}, f"identity_{suffix}")
    np.testing.assert_array_equal(np.asarray(out).astype(np_type), data)
    assert np.asarray(out).shape == data.shape


def test_identity_bytes(client):
    data = np.array([[b"hello", b"inferd"]])
    out = np.asarray(client.predict({"input": data}, "identity_bytes"))
    assert out.shape == (1, 2)
    as_text = [v.decode() if isinstance(v, bytes) else str(v) for v in out.flatten()]
    assert as_text == ["hello", "inferd"]


def test_model_metadata(client):
    meta = client.get_model_metadata("add")
    assert meta["model_version"] == 1
    assert meta["inputs"] == {
        "a": {"shape": [-1, 16], "dtype": "DT_FLOAT"},
        "b": {"shape": [-1, 16], "dtype": "DT_FLOAT"},
    }
    assert set(meta["outputs"]) == {"sum", "diff"}
    versioned = client.get_model_metadata("versioned", model_version=2)
    assert versioned["model_version"] == 2
    assert versioned["inputs"]["x"] == {"shape": [1, 4], "dtype": "DT_FLOAT"}


def test_model_status(client):
    status = client.get_model_status("versioned")
    assert sorted(status) == [1, 2, 3]
    for version in (1, 2, 3):
        assert status[version] == {"state": "AVAILABLE", "error_code": 0, "error_message": ""}
    one = client.get_model_status("versioned", model_version=2)
    assert list(one) == [2]


def test_unknown_model_and_version(client):
    x = np.array([[1, 2, 3, 4]], dtype=np.float32)
    with pytest.raises(ModelNotFoundError, match="Model with requested name is not found"):
        client.predict({"x": x}, "no_such_model")
    with pytest.raises(ModelNotFoundError, match="Model with requested version is not found"):
        client.predict({"x": x}, "versioned", model_version=9)
    with pytest.raises(ModelNotFoundError):
        client.get_model_status("no_such_model")
    with pytest.raises(ModelNotFoundError):
        client.get_model_metadata("versioned", model_version=9)


def test_invalid_inputs(client):
    with pytest.raises(InvalidInputError, match="Invalid input shape"):
        client.predict({"x": np.zeros((1, 5), dtype=np.float32)}, "versioned")
    if isinstance(client, GrpcClient):
        # REST JSON carries no type: values are read as the model's type there.
        with pytest.raises(InvalidInputError, match="Invalid input precision"):
            client.predict({"x": np.zeros((1, 4), dtype=np.int32)}, "versioned")
    with pytest.raises(InvalidInputError, match="Missing input with specific name - Required input: b"):
        client.predict({"a": np.zeros((1, 16), dtype=np.float32), "c": np.zeros((1, 16), dtype=np.float32)}, "add")
