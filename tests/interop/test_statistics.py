"""Triton's statistics extension through tritonclient, over REST and gRPC.

The server is shared with the other interop tests, so the checks look at how
the figures change around requests this test makes.
"""
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

MODEL = "identity_int16"


def rest_stats(http_client, model=MODEL, version=""):
    return http_client.get_inference_statistics(model, model_version=version)


def grpc_stats(grpc_client, model=MODEL, version=""):
    return grpc_client.get_inference_statistics(model, model_version=version, as_json=True)


def infer_stats(answer):
    """(success count, fail count, execution count) of the single version in `answer`."""
    (entry,) = answer["model_stats"]
    stats = entry["inference_stats"]
    # Protobuf JSON writes uint64 values as strings; REST JSON as numbers.
    count = lambda d: int(d.get("count", 0))
    return count(stats["success"]), count(stats.get("fail", {})), int(entry.get("execution_count", 0))


def identity_request(client_module, shape):
    tensor = client_module.InferInput("input", list(shape), "INT16")
    tensor.set_data_from_numpy(np.arange(np.prod(shape), dtype=np.int16).reshape(shape))
    return [tensor]


def test_successes_and_failures_show_in_rest_and_grpc_statistics(http_client, grpc_client):
    metadata = http_client.get_model_metadata(MODEL)
    shape = [1 if d < 0 else d for d in metadata["inputs"][0]["shape"]]
    success, fail, executions = infer_stats(rest_stats(http_client))
    for _ in range(3):
        http_client.infer(MODEL, identity_request(httpclient, shape))
    grpc_client.infer(MODEL, identity_request(grpcclient, shape))
    with pytest.raises(InferenceServerException):
        http_client.infer(MODEL, identity_request(httpclient, shape + [2]))
    after_rest = infer_stats(rest_stats(http_client))
    after_grpc = infer_stats(grpc_stats(grpc_client))
    assert after_rest == (success + 4, fail + 1, executions + 4)
    assert after_grpc == after_rest


def test_statistics_of_one_version_and_of_every_model(http_client, grpc_client):
    one = rest_stats(http_client, "versioned", "2")
    assert [(s["name"], s["version"]) for s in one["model_stats"]] == [("versioned", "2")]
    everything = rest_stats(http_client, "")
    names = {s["name"] for s in everything["model_stats"]}
    assert {"add", "versioned", MODEL} <= names
    assert len(grpc_stats(grpc_client, "")["model_stats"]) == len(everything["model_stats"])


def test_statistics_of_unknown_models_are_refused(http_client, grpc_client):
    with pytest.raises(InferenceServerException):
        rest_stats(http_client, "no_such_model")
    with pytest.raises(InferenceServerException):
        grpc_stats(grpc_client, "no_such_model")
    with pytest.raises(InferenceServerException):
        rest_stats(http_client, "versioned", "99")


def test_server_metadata_lists_the_statistics_extension(http_client):
    assert "statistics" in http_client.get_server_metadata()["extensions"]
