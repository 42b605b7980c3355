"""Sends COUNT requests to the `add` model, one at a time, for instructions.sh.

usage: instructions_client.py json|binary|keepalive|grpc REST_PORT GRPC_PORT COUNT
json and binary REST requests open a new connection each (urllib), as many
simple clients do; keepalive sends binary requests over one connection, as
pooling clients (tritonclient, requests.Session) do.
"""
import http.client
import json
import struct
import sys
import urllib.request

mode, rest_port, grpc_port, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
values = [float(i) for i in range(16)]
if mode == "grpc":
    import numpy as np
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
    tensor = np.array(values, dtype=np.float32).reshape(1, 16)
    inputs = [grpcclient.InferInput(name, [1, 16], "FP32") for name in "ab"]
    for item in inputs:
        item.set_data_from_numpy(tensor)
    for _ in range(count):
        client.infer("add", inputs)
    sys.exit(0)
url = f"http://127.0.0.1:{rest_port}/v2/models/add/infer"
if mode == "json":
    body = json.dumps({"inputs": [
        {"name": name, "shape": [1, 16], "datatype": "FP32", "data": values} for name in "ab"
    ]}).encode()
    headers = {"Content-Type": "application/json"}
else:
    header = json.dumps({
        "inputs": [{"name": name, "shape": [1, 16], "datatype": "FP32",
                    "parameters": {"binary_data_size": 64}} for name in "ab"],
        "parameters": {"binary_data_output": True},
    }).encode()
    body = header + struct.pack("<16f", *values) * 2
    headers = {"Inference-Header-Content-Length": str(len(header))}
if mode == "keepalive":
    connection = http.client.HTTPConnection("127.0.0.1", int(rest_port))
    for _ in range(count):
        connection.request("POST", "/v2/models/add/infer", body, headers)
        connection.getresponse().read()
    sys.exit(0)
for _ in range(count):
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers)) as answer:
        answer.read()
