"""DAG pipelines called as models by the real clients: tritonclient (KServe
REST and gRPC) and ovmsclient (TF Serving gRPC and REST), on
models/pipeline_config.json (chain: 2 in + 3; diamond: 2a, 2b)."""
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from ovmsclient import make_grpc_client, make_http_client
from tritonclient.utils import InferenceServerException

from conftest import REPO, start_server

CONFIG = REPO / "models" / "pipeline_config.json"


@pytest.fixture(scope="module")
def pipeline_server(tmp_path_factory):
    yield from start_server(tmp_path_factory, config=CONFIG)


def test_tritonclient_calls_pipelines_over_http_and_grpc(pipeline_server):
    x = np.array([[1, 2, 3, 4]], np.float32)
    for module, url in ((httpclient, pipeline_server.rest_url),
                        (grpcclient, pipeline_server.grpc_url)):
        client = module.InferenceServerClient(url)
        assert client.is_model_ready("chain")
        metadata = client.get_model_metadata("chain")
        inputs = metadata["inputs"] if isinstance(metadata, dict) else [
            {"name": i.name, "datatype": i.datatype} for i in metadata.inputs]
        assert [(i["name"], i["datatype"]) for i in inputs] == [("in", "FP32")]
        tensor = module.InferInput("in", [1, 4], "FP32")
        tensor.set_data_from_numpy(x)
        answer = client.infer("chain", [tensor])
        np.testing.assert_array_equal(answer.as_numpy("result"), 2 * x + 3)

        a = np.arange(16, dtype=np.float32).reshape(1, 16)
        b = np.full((1, 16), 7, np.float32)
        inputs = [module.InferInput(n, [1, 16], "FP32") for n in ("a", "b")]
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(b)
        answer = client.infer("diamond", inputs)
        np.testing.assert_array_equal(answer.as_numpy("twice_a"), 2 * a)
        np.testing.assert_array_equal(answer.as_numpy("twice_b"), 2 * b)


def test_tritonclient_sees_the_ovms_message_for_a_missing_input(pipeline_server):
    client = httpclient.InferenceServerClient(pipeline_server.rest_url)
    tensor = httpclient.InferInput("wrong", [1, 4], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 4), np.float32))
    with pytest.raises(InferenceServerException, match="Missing input with specific name"):
        client.infer("chain", [tensor])


def test_ovmsclient_predicts_and_reads_status_and_metadata(pipeline_server):
    x = np.array([[0.5, 1, 1.5, 2]], np.float32)
    for client in (make_grpc_client(pipeline_server.grpc_url),
                   make_http_client(pipeline_server.rest_url)):
        np.testing.assert_array_equal(client.predict({"in": x}, "chain"), 2 * x + 3)
        status = client.get_model_status("chain")
        assert status[1]["state"] == "AVAILABLE"
        metadata = client.get_model_metadata("diamond")
        assert sorted(metadata["inputs"]) == ["a", "b"]
        assert sorted(metadata["outputs"]) == ["twice_a", "twice_b"]
