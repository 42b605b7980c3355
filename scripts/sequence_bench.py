"""Stateful-model benchmark (issue 19), run by scripts/sequence-bench.sh.

64 concurrent sequences of 100 steps, KServe gRPC with tritonclient (one
client and thread per sequence), on two models: the accumulator (y = x +
state, 16-byte state) and an LSTM-sized recurrent cell generated here
(y = tanh(x Wx + h Wh), x [1, 64], state h [1, 256]: 1 KB each way,
random weights, not committed). Each stateful (the server keeps the state:
`sequence_id`, `sequence_start`, `sequence_end`) against the same model
served stateless, the client sending the state and reading it back.
Prints requests/s, p50/p99, tensor bytes per request and server CPU per
request; rounds interleaved, medians.
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


# name -> (base path, x shape, state shape)
SHAPES = {"accumulator": ([1, 4], [1, 4]), "lstm": ([1, 64], [1, 256])}


def recurrent_model(out):
    """The LSTM-sized cell: x [1, 64], state_in [1, 256] -> y = tanh(x Wx +
    state_in Wh), state_out = y."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    wx = numpy_helper.from_array((rng.standard_normal((64, 256)) * 0.05).astype(np.float32), "wx")
    wh = numpy_helper.from_array((rng.standard_normal((256, 256)) * 0.05).astype(np.float32), "wh")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "wx"], ["a"]),
         helper.make_node("MatMul", ["state_in", "wh"], ["b"]),
         helper.make_node("Add", ["a", "b"], ["c"]),
         helper.make_node("Tanh", ["c"], ["y"]),
         helper.make_node("Identity", ["y"], ["state_out"])],
        "lstm_sized",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64]),
         helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256]),
         helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, 256])],
        initializer=[wx, wh])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder = out / "lstm" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    return out / "lstm"


def config(out):
    bases = {"accumulator": str(MODELS / "accumulator"), "lstm": str(recurrent_model(out))}
    models = []
    for name, base in bases.items():
        models.append({"config": {"name": f"{name}_stateful", "base_path": base, "stateful": True,
                                  "max_sequence_number": 1000,
                                  "sequence_batching": {"state": [{"input_name": "state_in",
                                                                   "output_name": "state_out"}]}}})
        models.append({"config": {"name": f"{name}_stateless", "base_path": base}})
    path = out / "config.json"
    path.write_text(json.dumps({"model_config_list": models}))
    return path


def sequence(url, model, stateful, number, latencies, errors):
    client = grpcclient.InferenceServerClient(url)
    x_shape, state_shape = SHAPES[model]
    x = np.ones(x_shape, np.float32)
    state = np.zeros(state_shape, np.float32)
    for step in range(STEPS):
        inputs = [grpcclient.InferInput("x", x_shape, "FP32")]
        inputs[0].set_data_from_numpy(x)
        started = time.perf_counter()
        try:
            if stateful:
                answer = client.infer(f"{model}_stateful", inputs, sequence_id=number,
                                      sequence_start=step == 0, sequence_end=step == STEPS - 1)
            else:
                inputs.append(grpcclient.InferInput("state_in", state_shape, "FP32"))
                inputs[1].set_data_from_numpy(state)
                answer = client.infer(f"{model}_stateless", inputs)
                state = answer.as_numpy("state_out")
            latencies.append(time.perf_counter() - started)
            if model == "accumulator" and answer.as_numpy("y")[0, 0] != step + 1:
                errors.append(f"sequence {number} step {step}: {answer.as_numpy('y')[0, 0]}")
        except Exception as error:  # noqa: BLE001 - counted and reported
            errors.append(str(error))


def run(server, model, stateful, round_):
    latencies, errors = [], []
    cpu = server.cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=sequence, args=(
        f"127.0.0.1:{server.grpc}", model, stateful, 1 + round_ * 1000 + i, latencies, errors))
        for i in range(SEQUENCES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu
    if errors:
        sys.exit(f"{model} {'stateful' if stateful else 'stateless'}: {len(errors)} errors, "
                 f"e.g. {errors[0]}")
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
    results = {}
    try:
        for round_ in range(args.rounds):
            for model in SHAPES:
                for stateful in (True, False):
                    key = (model, "stateful" if stateful else "stateless")
                    results.setdefault(key, []).append(run(server, model, stateful, round_))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        server.stop()
    print("\n| model | mode | requests/s | p50 µs | p99 µs | tensor bytes sent / received "
          "| server CPU µs/request |")
    print("|---|---|---:|---:|---:|---:|---:|")
    med = {}
    for (model, mode), rows in results.items():
        x_bytes = 4 * int(np.prod(SHAPES[model][0]))
        y_bytes = {"accumulator": 16, "lstm": 1024}[model]
        state_bytes = 4 * int(np.prod(SHAPES[model][1]))
        sent = x_bytes + (state_bytes if mode == "stateless" else 0)
        received = y_bytes + (state_bytes if mode == "stateless" else 8)
        med[(model, mode)] = m = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"| {model} | {mode} | {m['throughput']:.0f} | {m['p50_us']:.0f} | {m['p99_us']:.0f} "
              f"| {sent} / {received} | {m['cpu_us']:.1f} |")
    for model in SHAPES:
        extra = med[(model, "stateful")]["cpu_us"] / med[(model, "stateless")]["cpu_us"] - 1
        print(f"\n{model}: stateful server CPU per request vs stateless: {extra * 100:+.1f}%"
              + (" (target: at most +10%)" if model == "accumulator" else ""))
    results = {f"{k[0]} {k[1]}": v for k, v in results.items()}
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
