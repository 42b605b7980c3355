#!/usr/bin/env python3
"""Image benchmark driver (see scripts/image-bench.sh).

1. Decode speed, one core: inferd's decoder (crates/image/benches/decode.rs,
   built by the shell script) beside Pillow and OpenCV decoding the same
   JPEGs in this process, each alone on one thread; then decode + resize to
   a 224x224 FP32 BGR input (what a model gets), each its own way (Pillow:
   BILINEAR; OpenCV and inferd: INTER_LINEAR).
2. Serving: a ResNet-50-sized model (NCHW, served with --layout NHWC:NCHW)
   fed JPEG requests (the server decodes and resizes) vs raw FP32 requests
   of the decoded size, with inferd-bench over KServe gRPC: requests/s and
   request bytes on the wire.
"""
import argparse
import io
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parent.parent


def make_photo(path, width, height, seed):
    """A photo-like JPEG: smooth shading, shapes, and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        fx, fy, phase = rng.uniform(0.002, 0.02, 2).tolist() + [rng.uniform(0, 6.28)]
        image[:, :, c] = 128 + 90 * np.sin(x * fx + y * fy + phase)
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.2) * min(width, height)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        image[mask] = rng.uniform(0, 255, 3)
    image += rng.normal(0, 6, image.shape)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)


def rate(work, budget_s):
    work()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < budget_s or count < 5:
        work()
        count += 1
    return count / (time.perf_counter() - started)


def peers(path, budget_s):
    data = path.read_bytes()
    cv2.setNumThreads(1)

    def pillow_decode():
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def pillow_input():
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224), Image.BILINEAR)
        return np.asarray(image)[:, :, ::-1].astype(np.float32)

    def opencv_decode():
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    def opencv_input():
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return cv2.resize(image, (224, 224), interpolation=cv2.INTER_LINEAR).astype(np.float32)

    return {
        "pillow": (rate(pillow_decode, budget_s), rate(pillow_input, budget_s)),
        "opencv": (rate(opencv_decode, budget_s), rate(opencv_input, budget_s)),
    }


def decode_table(files, bench_binary, budget_s):
    env = dict(os.environ, BENCH_MS=str(int(budget_s * 1000)))
    # One core for everyone: the decoder bench is single-threaded; pin it.
    run = subprocess.run(["taskset", "-c", "0", bench_binary, *map(str, files)],
                         capture_output=True, text=True, check=True, env=env)
    ours = {json.loads(line)["file"]: json.loads(line) for line in run.stdout.splitlines()
            if line.startswith("{")}
    os.sched_setaffinity(0, {0})
    print("\n## Decode speed, images/s on one core (higher is better)\n")
    print("| image | task | inferd | OpenCV | Pillow | inferd ÷ OpenCV | inferd ÷ Pillow |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = []
    for path in files:
        theirs = peers(path, budget_s)
        mine = ours[str(path)]
        size = Image.open(path).size
        for task, index, key in (("decode", 0, "decode_per_s"), ("to 224x224 FP32", 1, "to_input_per_s")):
            i, o, p = mine[key], theirs["opencv"][index], theirs["pillow"][index]
            rows.append({"image": f"{size[0]}x{size[1]}", "task": task, "inferd": i, "opencv": o, "pillow": p})
            print(f"| {size[0]}x{size[1]} ({path.stat().st_size // 1024} KiB) | {task} | {i:.0f} | {o:.0f} "
                  f"| {p:.0f} | {i / o:.2f} | {i / p:.2f} |")
    os.sched_setaffinity(0, set(range(os.cpu_count())))
    return rows


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_and_measure(model_dir, files, inferd, bench, seconds, concurrency):
    grpc, rest = free_port(), free_port()
    log = open(REPO / "target" / "image-bench" / "server.log", "wb")
    server = subprocess.Popen(
        [inferd, "--model_name", "resnet", "--model_path", str(model_dir), "--layout", "NHWC:NCHW",
         "--port", str(grpc), "--rest_port", str(rest), "--grpc_bind_address", "127.0.0.1",
         "--rest_bind_address", "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.time() + 120
    while True:
        try:
            if opener.open(f"http://127.0.0.1:{rest}/v2/models/resnet/ready", timeout=2).status == 200:
                break
        except Exception:
            pass
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            sys.exit("inferd did not become ready; see target/image-bench/server.log")
        time.sleep(0.5)
    print("\n## ResNet-50-sized model from JPEG vs raw FP32 requests "
          f"(KServe gRPC, {concurrency} clients)\n")
    print("| request | bytes on the wire | requests/s | p50 ms | ÷ raw FP32 |")
    print("|---|---:|---:|---:|---:|")
    results = []
    try:
        cases = [("raw FP32 [1,224,224,3]", ["--shape", "data:1,224,224,3"])]
        cases += [(f"JPEG {Image.open(f).size[0]}x{Image.open(f).size[1]}", ["--image", f"data:{f}"])
                  for f in files]
        for label, extra in cases:
            out = REPO / "target" / "image-bench" / "bench.json"
            subprocess.run(
                [bench, "--protocol", "kserve-grpc", "-u", f"127.0.0.1:{grpc}", "-m", "resnet",
                 "-c", str(concurrency),
                 "--measurement-interval-ms", str(int(seconds * 1000)), "--warmup-ms", "2000",
                 "--max-trials", "4", "--max-duration-s", str(int(seconds * 6 + 30)),
                 "--json", str(out), *extra],
                check=True, stdout=subprocess.DEVNULL)
            level = json.loads(out.read_text())["levels"][0]
            wire = (224 * 224 * 3 * 4 if extra[0] == "--shape"
                    else pathlib.Path(extra[1][5:]).stat().st_size + 4)
            results.append((label, wire, level))
        base = results[0][2]["throughput_infer_per_s"]
        for label, wire, level in results:
            rps = level["throughput_infer_per_s"]
            print(f"| {label} | {wire} | {rps:.1f} | {level['latency_p50_us'] / 1000:.1f} | {rps / base:.2f} |")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--decode-bench", required=True)
    parser.add_argument("--inferd", required=True)
    parser.add_argument("--bench", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--parts", default="decode,serve")
    args = parser.parse_args()
    out = REPO / "target" / "image-bench"
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "photo_224.jpg", out / "photo_1280x720.jpg"]
    make_photo(files[0], 224, 224, 1)
    make_photo(files[1], 1280, 720, 2)
    if "decode" in args.parts:
        decode_table(files, args.decode_bench, args.seconds)
    if "serve" in args.parts:
        serve_and_measure(pathlib.Path(args.model), files, args.inferd, args.bench,
                          args.seconds, args.concurrency)


if __name__ == "__main__":
    main()
