"""Triton's raw binary request sent with curl (the Python client cannot send
one), and requests the server must refuse by name, through the real clients."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

CURL = shutil.which("curl")


def curl_raw(server, model, body, *extra):
    """POSTs `body` as a raw binary request; returns (status, headers text, body bytes)."""
    if CURL is None:
        pytest.fail("curl is needed for the raw binary interop tests", pytrace=False)
    run = subprocess.run(
        [CURL, "-s", "--noproxy", "*", "-D", "-", "-X", "POST",
         "-H", "Inference-Header-Content-Length: 0", "-H", "Content-Type: application/octet-stream",
         "--data-binary", "@-", *extra, f"{server.rest_base}/v2/models/{model}/infer"],
        input=body, capture_output=True, timeout=30, check=True)
    head, _, payload = run.stdout.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, head.decode(), payload


def split_binary_answer(head, payload):
    length = next(int(line.split(":", 1)[1]) for line in head.splitlines()
                  if line.lower().startswith("inference-header-content-length:"))
    return json.loads(payload[:length]), payload[length:]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_curl_raw_fp32_request_gets_a_binary_answer(server, chunked):
    x = np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5
    extra = ("-H", "Transfer-Encoding: chunked") if chunked else ()
    status, head, payload = curl_raw(server, "double", x.tobytes(), *extra)
    assert status == 200, payload
    header, binary = split_binary_answer(head, payload)
    assert header["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [3, 4],
                                  "parameters": {"binary_data_size": 48}}]
    np.testing.assert_array_equal(np.frombuffer(binary, dtype=np.float32).reshape(3, 4), x * 2)


def test_curl_raw_bytes_request_is_one_element(server):
    text = "café \x00 text\n".encode()
    status, head, payload = curl_raw(server, "echo_bytes", text)
    assert status == 200, payload
    header, binary = split_binary_answer(head, payload)
    assert header["outputs"][0]["shape"] == [1]
    assert binary == len(text).to_bytes(4, "little") + text


def test_curl_raw_request_to_a_two_input_model_is_refused(server):
    status, _, payload = curl_raw(server, "add", np.zeros(32, np.float32).tobytes())
    assert status == 400
    assert json.loads(payload)["error"].startswith("Raw request must only have 1 input")


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_tritonclient_output_asked_twice_is_refused(server, kind):
    module = httpclient if kind == "http" else grpcclient
    url = server.rest_url if kind == "http" else server.grpc_url
    client = module.InferenceServerClient(url)
    a = np.ones((1, 16), dtype=np.float32)
    inputs = [module.InferInput("a", [1, 16], "FP32"), module.InferInput("b", [1, 16], "FP32")]
    for item in inputs:
        item.set_data_from_numpy(a)
    outputs = [module.InferRequestedOutput("sum"), module.InferRequestedOutput("sum")]
    with pytest.raises(InferenceServerException) as refused:
        client.infer("add", inputs, outputs=outputs)
    assert "Requested output: sum is requested more than once" in str(refused.value)
    assert client.infer("add", inputs).as_numpy("sum").tolist() == (a * 2).tolist()
