#!/usr/bin/env python3
"""Runs the inferd container images that scripts/container.sh builds, with
real clients over loopback, and prints what it measured. Exits non-zero on
the first failed check.

The images' sizes are under their targets (tract-only 50 MB, full 200 MB,
uncompressed). For each image (full: OpenVINO, ONNX Runtime and tract;
tract-only):
  - serves the sample models (the repository's models/ mounted read-only,
    a config.json mounted beside) over KServe REST and gRPC (tritonclient)
    and TF Serving gRPC (ovmsclient); on the full image the same `add`
    model is served by each engine;
  - the process runs as the image's non-root user (uid 10001);
  - the image's HEALTHCHECK (inferd --health_probe) answers healthy;
  - SIGTERM under load (podman kill; 4 clients on `add`, and 2 ResNet-sized
    requests in flight at the signal, which must be answered): every answer
    is correct, errors only after the signal, the container exits 0 and
    logs "shutdown complete";
  - container start (podman run) to first correct answer: the small `add`
    model (median of 3), and a ResNet-50-sized ONNX model (full image:
    OpenVINO without and with the compiled-model cache volume; tract-only:
    tract).

Usage: container_check.py FULL_IMAGE TRACT_IMAGE RESNET_DIR
(RESNET_DIR holds 1/model.onnx, from scripts/gen_resnet50.py)
"""
import json
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from ovmsclient import make_grpc_client as make_tfs_client

REPO = pathlib.Path(__file__).resolve().parent.parent
NAME = "inferd-container-check"
READY_TIMEOUT_S = 120
UID = 10001


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podman(*args, check=True, capture=True):
    result = subprocess.run(["podman", *args], text=True, capture_output=capture)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed: {result.stderr.strip()}")
    return result


class Container:
    """One `podman run -d` of an image, with its published ports."""

    def __init__(self, image, args, mounts, started_at=None):
        self.rest_port, self.grpc_port = free_port(), free_port()
        podman("rm", "-f", NAME, check=False)
        volumes = [a for m in mounts for a in ("-v", m)]
        self.started_at = started_at or time.perf_counter()
        podman("run", "-d", "--name", NAME, "--health-interval", "disable",
               "-p", f"127.0.0.1:{self.rest_port}:8000", "-p", f"127.0.0.1:{self.grpc_port}:9000",
               *volumes, image, *args)

    def log(self):
        result = podman("logs", NAME, check=False)
        return result.stdout + result.stderr

    def http(self):
        return httpclient.InferenceServerClient(f"127.0.0.1:{self.rest_port}", network_timeout=60)

    def wait_for(self, answer, what):
        """Polls `answer()` until it returns True; seconds since start."""
        deadline = time.perf_counter() + READY_TIMEOUT_S
        while time.perf_counter() < deadline:
            try:
                if answer():
                    return time.perf_counter() - self.started_at
            except Exception:  # not listening or not loaded yet
                pass
            state = podman("inspect", "--format", "{{.State.Status}}", NAME, check=False).stdout.strip()
            if state == "exited":
                raise RuntimeError(f"container exited before {what}:\n{self.log()}")
            time.sleep(0.01)
        raise RuntimeError(f"no {what} within {READY_TIMEOUT_S} s:\n{self.log()}")

    def remove(self):
        podman("rm", "-f", "-t", "0", NAME, check=False)


def add_answer_ok(client, model="add"):
    values = np.arange(16, dtype=np.float32).reshape(1, 16)
    inputs = [client_module(client).InferInput(n, [1, 16], "FP32") for n in ("a", "b")]
    for item in inputs:
        item.set_data_from_numpy(values)
    result = client.infer(model, inputs)
    return (np.array_equal(result.as_numpy("sum"), values * 2)
            and np.array_equal(result.as_numpy("diff"), values * 0))


def client_module(client):
    return httpclient if isinstance(client, httpclient.InferenceServerClient) else grpcclient


PASSED = []


def check(condition, message):
    if not condition:
        raise RuntimeError(message)
    PASSED.append(message)
    print(f"  ok: {message}")


def write_config(folder, models):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_config_list": [{"config": m} for m in models]}))
    return f"{folder}:/config:ro"


def serving_checks(image, models, work, resnet_dir):
    """Clients, user, health check, SIGTERM under load."""
    config = write_config(work / "serve", [
        {"name": name, "base_path": f"/models/{folder}", **({"backend": backend} if backend else {})}
        for name, folder, backend in models
    ] + [{"name": "slow", "base_path": "/slow", "backend": "tract"}])
    box = Container(image, ["--config_path", "/config/config.json"],
                    [f"{REPO / 'models'}:/models:ro", config, f"{resnet_dir}:/slow:ro"])
    try:
        box.wait_for(lambda: box.http().is_server_ready(), "readiness")
        http = box.http()
        grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{box.grpc_port}")
        tfs = make_tfs_client(f"127.0.0.1:{box.grpc_port}")
        for name, _, backend in models:
            check(add_answer_ok(http, name), f"{name} ({backend or 'engine of choice'}): tritonclient REST")
            check(add_answer_ok(grpc, name), f"{name}: tritonclient gRPC")
            a = np.arange(32, dtype=np.float32).reshape(2, 16)
            out = tfs.predict({"a": a, "b": a}, name)
            check(np.array_equal(np.asarray(out["sum"]), a * 2), f"{name}: ovmsclient (TF Serving gRPC)")
        pid = podman("inspect", "--format", "{{.State.Pid}}", NAME).stdout.strip()
        uids = next(line.split()[1:] for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("Uid:"))
        check(all(int(u) == UID for u in uids), f"the server runs as uid {UID}, not root (uids {uids})")
        health = podman("healthcheck", "run", NAME, check=False)
        check(health.returncode == 0, f"HEALTHCHECK (inferd --health_probe) passes {health.stderr.strip()}")
        sigterm_under_load(box)
    finally:
        box.remove()


def resnet_input():
    data = httpclient.InferInput("data", [1, 3, 224, 224], "FP32")
    data.set_data_from_numpy(np.random.default_rng(1).standard_normal((1, 3, 224, 224), dtype=np.float32),
                             binary_data=True)
    return data


def sigterm_under_load(box):
    """4 clients looping on `add` and 2 slow (ResNet-sized, tract) requests
    in flight when SIGTERM arrives: those must still be answered."""
    slow_done = []

    def slow_request():
        try:
            result = box.http().infer("slow", [resnet_input()])
            slow_done.append((time.perf_counter(), result.as_numpy("logits").shape))
        except Exception as e:
            slow_done.append((time.perf_counter(), repr(e)))

    stop = threading.Event()
    signalled = threading.Event()
    results = {"ok": 0, "wrong": 0, "early_errors": [], "late_errors": 0}
    lock = threading.Lock()

    def loop():
        client = box.http()
        deadline = time.perf_counter() + 20
        for _ in range(200_000):
            if stop.is_set() or time.perf_counter() > deadline:
                return
            try:
                correct = add_answer_ok(client)
            except Exception as e:  # refused or closed once the server drains
                with lock:
                    if signalled.is_set():
                        results["late_errors"] += 1
                    else:
                        results["early_errors"].append(repr(e))
                if signalled.is_set():
                    return
                continue
            with lock:
                results["ok" if correct else "wrong"] += 1

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    slow = [threading.Thread(target=slow_request) for _ in range(2)]
    for t in slow:
        t.start()
    time.sleep(0.1)
    signalled.set()
    signalled_at = time.perf_counter()
    podman("kill", "--signal", "TERM", NAME)
    code = podman("wait", NAME).stdout.strip()
    stop.set()
    for t in threads + slow:
        t.join()
    answered_late = [shape for at, shape in slow_done if at > signalled_at and shape == (1, 1000)]
    check(len(answered_late) == 2 and len(slow_done) == 2,
          f"the 2 slow requests in flight at SIGTERM were answered after it: {[s for _, s in slow_done]}")
    check(results["ok"] > 0 and results["wrong"] == 0,
          f"under load: {results['ok']} correct answers, {results['wrong']} wrong")
    check(not results["early_errors"], f"no error before SIGTERM {results['early_errors'][:3]}")
    check(code == "0", f"SIGTERM under load: container exit code {code}")
    check("shutdown complete" in box.log(), "logged 'shutdown complete'")


def time_to_first_answer(image, models_mount, args, model, inputs, extra_mounts=()):
    box = Container(image, args, [models_mount, *extra_mounts])
    try:
        client = box.http()

        def answered():
            result = client.infer(model, inputs)
            return result.as_numpy(result.get_response()["outputs"][0]["name"]) is not None

        return box.wait_for(answered, f"an answer from {model}")
    finally:
        box.remove()


def startup_figures(full, tract, resnet_dir, work):
    small = [httpclient.InferInput(n, [1, 16], "FP32") for n in ("a", "b")]
    for item in small:
        item.set_data_from_numpy(np.ones((1, 16), dtype=np.float32))
    rows = []
    for label, image in (("full", full), ("tract-only", tract)):
        runs = [time_to_first_answer(image, f"{REPO / 'models'}:/models:ro",
                                     ["--model_name", "add", "--model_path", "/models/add"], "add", small)
                for _ in range(3)]
        rows.append((label, "add (tiny ONNX), engine of choice", statistics.median(runs)))

    data = resnet_input()
    mount = f"{resnet_dir}:/models/resnet50:ro"
    ov_config = write_config(work / "resnet-ov", [
        {"name": "resnet50", "base_path": "/models/resnet50", "backend": "openvino"}])
    ov_args = ["--config_path", "/config/config.json"]
    rows.append(("full", "ResNet-50 ONNX, OpenVINO, no cache",
                 time_to_first_answer(full, mount, ov_args, "resnet50", [data], [ov_config])))
    volume = "inferd-check-cache"
    podman("volume", "rm", "-f", volume, check=False)
    podman("volume", "create", volume)
    try:
        cached = [*ov_args, "--cache_dir", "/cache"]
        first = time_to_first_answer(full, mount, cached, "resnet50", [data], [ov_config, f"{volume}:/cache"])
        rows.append(("full", "ResNet-50 ONNX, OpenVINO, cache volume (first run fills it)", first))
        cache_files = [p for p in pathlib.Path(podman("volume", "mount", volume).stdout.strip()).rglob("*")
                       if p.is_file()]
        podman("volume", "unmount", volume, check=False)
        check(cache_files, f"the first run wrote the compiled model to the cache volume ({len(cache_files)} files)")
        second = time_to_first_answer(full, mount, cached, "resnet50", [data], [ov_config, f"{volume}:/cache"])
        rows.append(("full", "ResNet-50 ONNX, OpenVINO, cache volume (filled)", second))
    finally:
        podman("volume", "rm", "-f", volume, check=False)
    rows.append(("tract-only", "ResNet-50 ONNX, tract",
                 time_to_first_answer(tract, mount, ["--model_name", "resnet50", "--model_path", "/models/resnet50"],
                                      "resnet50", [data])))
    return rows


def main():
    full, tract, resnet_dir = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]).resolve()
    for image, limit in ((tract, 50e6), (full, 200e6)):
        size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
        check(size < limit, f"{image} is {size / 1e6:.1f} MB, under {limit / 1e6:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="inferd-container-") as tmp:
        work = pathlib.Path(tmp)
        print(f"{full}:")
        serving_checks(full, [("add", "add", None), ("add_openvino", "add", "openvino"),
                              ("add_onnxruntime", "add", "onnxruntime"), ("add_tract", "add", "tract"),
                              ("add_ir", "add_ir", None)], work / "full", resnet_dir)
        print(f"{tract}:")
        serving_checks(tract, [("add", "add", None)], work / "tract", resnet_dir)
        print("container start (podman run) to first correct answer, this machine:")
        rows = startup_figures(full, tract, resnet_dir, work)
    print(f"| image | model | seconds |\n|---|---|---:|")
    for image, model, seconds in rows:
        print(f"| {image} | {model} | {seconds:.2f} |")


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        print(f"containers: {len(PASSED)} passed, 1 failed")
        sys.exit(1)
    print(f"containers: {len(PASSED)} passed, 0 failed")
