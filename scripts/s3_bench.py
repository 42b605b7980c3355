#!/usr/bin/env python3
"""S3 benchmark driver (see scripts/s3-bench.sh): a moto S3 server on
loopback holds the ResNet-50-sized model; prints
  1. download throughput of its ~100 MB file: boto3's download_file
     (multipart, its default 8 MB parts, 10 threads) beside inferd's fetch
     (8 MB ranged parts, 8 at a time; from its "version downloaded" log line),
     interleaved over ROUNDS rounds;
  2. start-up to first answer of inferd serving the model from the bucket
     (empty cache) and from local disk.
"""
import argparse
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import numpy as np
import tritonclient.http as httpclient

REPO = pathlib.Path(__file__).resolve().parent.parent
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}
# Loopback traffic stays off any proxy the machine sets (boto3 and inferd).
os.environ.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if OPENER.open(url, timeout=2).status == 200:
                return
        except Exception:
            time.sleep(0.05)
    sys.exit(f"not ready: {url}")


def first_answer(inferd, model_path, env, log_path):
    """Seconds from starting inferd to its first inference answer."""
    rest, grpc = free_port(), free_port()
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [inferd, "--model_name", "resnet", "--model_path", model_path, "--backend", "openvino",
             "--port", str(grpc), "--rest_port", str(rest), "--rest_bind_address", "127.0.0.1",
             "--grpc_bind_address", "127.0.0.1", "--model_cache_dir", env["CACHE"]],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    try:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{rest}")
        x = httpclient.InferInput("data", [1, 3, 224, 224], "FP32")
        x.set_data_from_numpy(np.zeros((1, 3, 224, 224), np.float32))
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                client.infer("resnet", [x])
                return time.perf_counter() - started
            except Exception:
                time.sleep(0.02)
        sys.exit(f"no answer; see {log_path}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--inferd", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="inferd-s3-bench-"))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [str(pathlib.Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **KEYS})
    try:
        wait_ready(f"{endpoint}/moto-api/", 30)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                          aws_secret_access_key="bench", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        model = pathlib.Path(args.model) / "1" / "model.onnx"
        s3.upload_file(str(model), "models", "resnet/1/model.onnx")
        size = model.stat().st_size
        env = {**KEYS, "S3_ENDPOINT": endpoint}
        boto, ours, from_s3, from_disk = [], [], [], []
        for round_ in range(args.rounds):
            target = work / f"boto-{round_}.onnx"
            started = time.perf_counter()
            s3.download_file("models", "resnet/1/model.onnx", str(target))
            boto.append(size / 1e6 / (time.perf_counter() - started))
            target.unlink()
            log = work / f"s3-{round_}.log"
            cache = work / f"cache-{round_}"
            from_s3.append(first_answer(args.inferd, "s3://models/resnet", {**env, "CACHE": str(cache)}, log))
            line = next(l for l in log.read_text().splitlines() if "version downloaded" in l)
            took = int(re.search(r"took_ms=(\d+)", line).group(1)) / 1000
            ours.append(size / 1e6 / took)
            from_disk.append(first_answer(args.inferd, str(pathlib.Path(args.model).resolve()),
                                          {"CACHE": str(cache)}, work / f"disk-{round_}.log"))
        median = lambda v: sorted(v)[len(v) // 2]
        print(f"\n## ResNet-50-sized model ({size / 1e6:.0f} MB) from a moto S3 server on loopback, "
              f"median of {args.rounds} rounds\n")
        print("| measure | inferd | boto3 | inferd ÷ boto3 |")
        print("|---|---:|---:|---:|")
        print(f"| download, MB/s | {median(ours):.0f} | {median(boto):.0f} | {median(ours) / median(boto):.2f} |")
        print("\n| start-up to first answer | seconds |")
        print("|---|---:|")
        print(f"| from S3 (empty cache) | {median(from_s3):.2f} |")
        print(f"| from local disk | {median(from_disk):.2f} |")
        print(json.dumps({"inferd_mb_s": ours, "boto3_mb_s": boto, "from_s3_s": from_s3,
                          "from_disk_s": from_disk}))
    finally:
        moto.send_signal(signal.SIGINT)
        moto.wait(timeout=30)


if __name__ == "__main__":
    main()
