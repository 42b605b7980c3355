"""Stateful models with the real clients: tritonclient's sequence arguments
(`sequence_id`, `sequence_start`, `sequence_end` of `infer`, HTTP and gRPC)
and ovmsclient with OVMS's `sequence_id` / `sequence_control_input` inputs
(gRPC and REST), against the accumulator (y = x + the sequence's sum)."""
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from ovmsclient import make_grpc_client, make_http_client
from tritonclient.utils import InferenceServerException

from conftest import REPO, start_server

CONFIG = REPO / "models" / "stateful_config.json"


@pytest.fixture(scope="module")
def stateful_server(tmp_path_factory):
    yield from start_server(tmp_path_factory, config=CONFIG)


def x(value):
    return np.full((1, 4), value, np.float32)


@pytest.mark.parametrize("module", [httpclient, grpcclient])
def test_tritonclient_sequences_interleave_and_end(stateful_server, module):
    url = stateful_server.rest_url if module is httpclient else stateful_server.grpc_url
    client = module.InferenceServerClient(url)
    base = 1000 if module is httpclient else 2000

    def step(sequence, value, **flags):
        tensor = module.InferInput("x", [1, 4], "FP32")
        tensor.set_data_from_numpy(x(value))
        answer = client.infer("accumulator", [tensor], sequence_id=sequence, **flags)
        return answer.as_numpy("y")[0, 0]

    assert step(base + 1, 1, sequence_start=True) == 1
    assert step(base + 2, 10, sequence_start=True) == 10
    assert step(base + 1, 2) == 3
    assert step(base + 2, 5) == 15
    assert step(base + 1, 3, sequence_end=True) == 6
    with pytest.raises(InferenceServerException, match="Sequence with provided ID does not exist"):
        step(base + 1, 1)
    assert step(base + 2, 0, sequence_end=True) == 15


@pytest.mark.parametrize("make", [make_grpc_client, make_http_client])
def test_ovmsclient_sequences_with_server_assigned_ids(stateful_server, make):
    url = stateful_server.grpc_url if make is make_grpc_client else stateful_server.rest_url
    client = make(url)
    start = client.predict({"x": x(2), "sequence_id": np.array([0], np.uint64),
                            "sequence_control_input": np.array([1], np.uint32)}, "accumulator")
    sequence = int(np.asarray(start["sequence_id"]).reshape(-1)[0])
    assert sequence > 0
    np.testing.assert_array_equal(start["y"], x(2))
    middle = client.predict({"x": x(3), "sequence_id": np.array([sequence], np.uint64)},
                            "accumulator")
    np.testing.assert_array_equal(middle["y"], x(5))
    end = client.predict({"x": x(1), "sequence_id": np.array([sequence], np.uint64),
                          "sequence_control_input": np.array([2], np.uint32)}, "accumulator")
    np.testing.assert_array_equal(end["y"], x(6))
    with pytest.raises(Exception, match="Sequence with provided ID does not exist"):
        client.predict({"x": x(1), "sequence_id": np.array([sequence], np.uint64)}, "accumulator")
