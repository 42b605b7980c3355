"""Triton's model repository extension driven by tritonclient over REST and gRPC.

The server is shared by the whole session: every test that unloads a model
loads it again before it ends.
"""
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

MODEL = "identity_uint16"


@pytest.fixture(params=["http", "grpc"])
def client(request, server):
    if request.param == "http":
        client = httpclient.InferenceServerClient(url=server.rest_url)
    else:
        client = grpcclient.InferenceServerClient(url=server.grpc_url)
    yield client
    try:
        client.load_model(MODEL)
    finally:
        client.close()


def index(client, ready=False):
    if isinstance(client, grpcclient.InferenceServerClient):
        answer = client.get_model_repository_index(as_json=True)
        entries = answer.get("models", [])
        # MessageToJson leaves out empty strings.
        return [
            {key: entry.get(key, "") for key in ("name", "version", "state", "reason")}
            for entry in entries
        ]
    return client.get_model_repository_index()


def test_index_lists_models(client):
    entries = index(client)
    add = [e for e in entries if e["name"] == "add"]
    assert add == [{"name": "add", "version": "1", "state": "READY", "reason": ""}]
    assert {e["name"] for e in entries} >= {"versioned", MODEL}
    assert "model_repository" in (
        client.get_server_metadata(as_json=True)
        if isinstance(client, grpcclient.InferenceServerClient)
        else client.get_server_metadata()
    )["extensions"]


def test_unload_then_load(client):
    assert client.is_model_ready(MODEL)
    client.unload_model(MODEL)
    try:
        assert not client.is_model_ready(MODEL)
        states = {e["state"] for e in index(client) if e["name"] == MODEL}
        assert states == {"UNAVAILABLE"}
        assert client.is_model_ready("add")
    finally:
        client.load_model(MODEL)
    assert client.is_model_ready(MODEL)
    states = {e["state"] for e in index(client) if e["name"] == MODEL}
    assert states == {"READY"}


def test_unknown_model_and_config_parameter_are_refused(client):
    with pytest.raises(InferenceServerException, match="not in the model configuration"):
        client.load_model("no_such_model")
    with pytest.raises(InferenceServerException, match="'config' is not a model configuration"):
        client.load_model(MODEL, config='{"bogus": 1}')
    assert client.is_model_ready(MODEL)
