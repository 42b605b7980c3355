"""Dynamic batching with the real clients: concurrent tritonclient requests
of every data type share engine calls and each gets its own rows back;
TensorFlow Serving's ovmsclient is batched the same way.

The server serves models/config.json with `dynamic_batching` added to every
identity model: batches of up to 8 rows, waiting up to 300 ms for company,
so that requests sent together are batched on any machine.
"""
import json
import threading

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from ovmsclient import make_grpc_client as make_tfs_client

from conftest import CONFIG, start_server

BATCHING = {"max_batch_size": 8, "max_queue_delay_microseconds": 300_000}
TYPES = {
    "FP32": np.float32, "FP64": np.float64, "FP16": np.float16,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "BOOL": np.bool_, "BYTES": np.object_,
}
ROWS = (1, 2, 3)


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory):
    config = json.loads(CONFIG.read_text())
    for entry in config["model_config_list"]:
        model = entry["config"]
        model["base_path"] = str(CONFIG.parent / model["base_path"])
        if model["name"].startswith("identity_"):
            model["dynamic_batching"] = BATCHING
    path = tmp_path_factory.mktemp("batching") / "config.json"
    path.write_text(json.dumps(config))
    yield from start_server(tmp_path_factory, config=path)


def rows_of(datatype, rows, first):
    """`rows` rows of 3 values; row i starts from first + i."""
    values = np.arange(first, first + rows * 3).reshape(rows, 3)
    if datatype == "BYTES":
        return np.array([[str(v).encode() for v in row] for row in values], dtype=np.object_)
    if datatype == "BOOL":
        return values % 2 == 0
    return values.astype(TYPES[datatype])


def send_together(client, model, datatype):
    """One async request per entry of ROWS, all in flight at once; the inputs
    and the answers (or errors)."""
    done = threading.Semaphore(0)
    results = {}

    def callback(index):
        def store(result, error):
            results[index] = (result, error)
            done.release()
        return store

    sent = []
    for index, rows in enumerate(ROWS):
        data = rows_of(datatype, rows, first=10 * index)
        item = grpcclient.InferInput("input", list(data.shape), datatype)
        item.set_data_from_numpy(data)
        client.async_infer(model, [item], callback(index))
        sent.append(data)
    for _ in ROWS:
        assert done.acquire(timeout=30), "an answer did not come"
    return sent, [results[i] for i in range(len(ROWS))]


@pytest.mark.parametrize("datatype", sorted(TYPES))
def test_concurrent_tritonclient_requests_share_calls_and_get_their_own_rows(
        batching_server, datatype):
    model = f"identity_{datatype.lower()}"
    client = grpcclient.InferenceServerClient(
        batching_server.grpc_url, channel_args=[("grpc.enable_http_proxy", 0)])
    try:
        before = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
        sent, answers = send_together(client, model, datatype)
        for data, (result, error) in zip(sent, answers):
            assert error is None, error
            np.testing.assert_array_equal(result.as_numpy("output"), data)
        after = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    finally:
        client.close()
    inferences = int(after.get("inference_count", 0)) - int(before.get("inference_count", 0))
    executions = int(after.get("execution_count", 0)) - int(before.get("execution_count", 0))
    assert inferences == sum(ROWS)
    assert executions < len(ROWS), f"{executions} executions for {len(ROWS)} requests"
    assert any(int(b["batch_size"]) > max(ROWS) for b in after["batch_stats"])


def test_triton_http_statistics_show_batches(batching_server):
    grpc = grpcclient.InferenceServerClient(
        batching_server.grpc_url, channel_args=[("grpc.enable_http_proxy", 0)])
    try:
        send_together(grpc, "identity_fp32", "FP32")
    finally:
        grpc.close()
    client = httpclient.InferenceServerClient(batching_server.rest_url)
    try:
        stats = client.get_inference_statistics("identity_fp32")["model_stats"][0]
    finally:
        client.close()
    sizes = [int(b["batch_size"]) for b in stats["batch_stats"]]
    assert sizes, stats
    total_rows = sum(int(b["batch_size"]) * int(b["compute_infer"]["count"])
                     for b in stats["batch_stats"])
    assert total_rows == int(stats["inference_count"])


def test_tf_serving_predicts_from_threads_are_batched(batching_server):
    client = make_tfs_client(batching_server.grpc_url)
    data = np.arange(6, dtype=np.int32).reshape(2, 3)
    answers = [None] * 4

    def predict(i):
        answers[i] = client.predict({"input": data + i}, "identity_int32")

    threads = [threading.Thread(target=predict, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(np.asarray(answer), data + i)
