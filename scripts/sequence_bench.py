"""Stateful-model benchmark (issue 19), run by scripts/sequence-bench.sh.

64 concurrent sequences of 100 steps on the accumulator (y = x + state),
KServe gRPC with tritonclient (one client and thread per sequence):
stateful (the server keeps the state: `sequence_id`, `sequence_start`,
`sequence_end`) against the same model served stateless, the client sending
the state and reading it back. Prints requests/s, p50/p99, request payload
bytes and server CPU per request; rounds interleaved, medians.
"""
import argparse
import json
import statistics
import sys
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient

from overhead import ROOT, Server

MODELS = ROOT / "models"
SEQUENCES, STEPS = 64, 100


def config(out):
    base = str(MODELS / "accumulator")
    models = [
        {"config": {"name": "stateful", "base_path": base, "stateful": True,
                    "max_sequence_number": 1000,
                    "sequence_batching": {"state": [{"input_name": "state_in",
                                                     "output_name": "state_out"}]}}},
        {"config": {"name": "stateless", "base_path": base}},
    ]
    path = out / "config.json"
    path.write_text(json.dumps({"model_config_list": models}))
    return path


def sequence(url, stateful, number, latencies, errors):
    client = grpcclient.InferenceServerClient(url)
    x = np.ones((1, 4), np.float32)
    state = np.zeros((1, 4), np.float32)
    for step in range(STEPS):
        inputs = [grpcclient.InferInput("x", [1, 4], "FP32")]
        inputs[0].set_data_from_numpy(x)
        started = time.perf_counter()
        try:
            if stateful:
                answer = client.infer("stateful", inputs, sequence_id=number,
                                      sequence_start=step == 0, sequence_end=step == STEPS - 1)
            else:
                inputs.append(grpcclient.InferInput("state_in", [1, 4], "FP32"))
                inputs[1].set_data_from_numpy(state)
                answer = client.infer("stateless", inputs)
                state = answer.as_numpy("state_out")
            latencies.append(time.perf_counter() - started)
            if answer.as_numpy("y")[0, 0] != step + 1:
                errors.append(f"sequence {number} step {step}: {answer.as_numpy('y')[0, 0]}")
        except Exception as error:  # noqa: BLE001 - counted and reported
            errors.append(str(error))


def run(server, stateful, round_):
    latencies, errors = [], []
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=sequence, args=(
        f"127.0.0.1:{server.grpc}", stateful, 1 + round_ * 1000 + i, latencies, errors))
        for i in range(SEQUENCES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu
    if errors:
        sys.exit(f"{'stateful' if stateful else 'stateless'}: {len(errors)} errors, e.g. {errors[0]}")
    latencies.sort()
    requests = len(latencies)
    return {"throughput": requests / elapsed,
            "p50_us": latencies[requests // 2] * 1e6,
            "p99_us": latencies[int(requests * 0.99)] * 1e6,
            "cpu_us": cpu * 1e6 / requests}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "target/sequence-bench"))
    args = parser.parse_args()
    import pathlib
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    server = Server("inferd", ROOT / "target/release/inferd", config(out), out)
    results = {"stateful": [], "stateless": []}
    try:
        for round_ in range(args.rounds):
            results["stateful"].append(run(server, True, round_))
            results["stateless"].append(run(server, False, round_))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        server.stop()
    # Request payload (tensor bytes): x, plus the state both ways when stateless.
    payload = {"stateful": 16, "stateless": 16 + 16}
    answer = {"stateful": 16 + 8, "stateless": 16 + 16}
    print("\n| mode | requests/s | p50 µs | p99 µs | tensor bytes sent / received | server CPU µs/request |")
    print("|---|---:|---:|---:|---:|---:|")
    med = {}
    for mode, rows in results.items():
        med[mode] = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        m = med[mode]
        print(f"| {mode} | {m['throughput']:.0f} | {m['p50_us']:.0f} | {m['p99_us']:.0f} "
              f"| {payload[mode]} / {answer[mode]} | {m['cpu_us']:.1f} |")
    extra = med["stateful"]["cpu_us"] / med["stateless"]["cpu_us"] - 1
    print(f"\nstateful server CPU per request vs stateless: {extra * 100:+.1f}% (target: at most +10%)")
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
