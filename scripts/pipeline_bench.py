"""Pipeline benchmark (issue 18), driven by scripts/pipeline-bench.sh.

1. A server-side pipeline of two small models (`chain`: double -> versioned)
   against the client calling the same two models in turn (inferd-bench
   --then), requests/s and p50 at 1 and 8 clients, KServe gRPC.
2. The pipeline's own cost per node: server CPU per request of a pipeline of
   one identity node against one of four (identity_fp32 chained), at 8
   clients; (4 nodes - 1 node) / 3 is the cost of an extra node.
Rounds are interleaved so that drift on this shared machine hits every
series alike; medians are printed.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

from overhead import BENCH, ROOT, Server

MODELS = ROOT / "models"


def config(out):
    def node(name, model, source, item, output, alias):
        return {"name": name, "model_name": model, "type": "DL model",
                "inputs": [{list(source)[0]: {"node_name": source[list(source)[0]], "data_item": item}}],
                "outputs": [{"data_item": output, "alias": alias}]}

    chain = {"name": "chain", "inputs": ["in"], "nodes": [
        node("twice", "double", {"x": "request"}, "in", "y", "doubled"),
        node("plus", "versioned", {"x": "twice"}, "doubled", "y", "out")],
        "outputs": [{"result": {"node_name": "plus", "data_item": "out"}}]}

    def identities(count):
        nodes, previous, item = [], "request", "in"
        for i in range(count):
            nodes.append(node(f"id{i}", "identity_fp32", {"input": previous}, item, "output", "out"))
            previous, item = f"id{i}", "out"
        return {"name": f"identity{count}", "inputs": ["in"], "nodes": nodes,
                "outputs": [{"out": {"node_name": previous, "data_item": "out"}}]}

    models = [{"config": {"name": n, "base_path": str(MODELS / n)}}
              for n in ("double", "versioned", "identity_fp32")]
    path = out / "config.json"
    path.write_text(json.dumps({"model_config_list": models, "pipeline_config_list":
                                [chain, identities(1), identities(4)]}, indent=1))
    return path


def run(server, model, concurrency, window_ms, out, counted, extra=()):
    """One inferd-bench level: throughput, p50, server CPU µs per request
    (requests counted by `counted`'s statistics)."""
    result = out / "last.json"
    cpu, before = server.cpu_seconds(), server.answered(counted)
    bench = subprocess.run(
        [str(BENCH), "--protocol", "kserve-grpc", "-u", f"127.0.0.1:{server.grpc}", "-m", model,
         "-c", str(concurrency), "--input-data", "zero", "-b", "1",
         "--measurement-interval-ms", str(window_ms), "--max-trials", "4",
         "--max-duration-s", "60", "--json", str(result), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if bench.returncode != 0:
        sys.exit(f"inferd-bench failed on {model}:\n{bench.stderr[-2000:]}")
    cpu, answered = server.cpu_seconds() - cpu, server.answered(counted) - before
    level = json.loads(result.read_text())["levels"][0]
    if level["errors"]:
        sys.exit(f"{model}: {level['errors']} failed requests")
    return {"throughput": level["throughput_infer_per_s"], "p50_us": level["latency_p50_us"],
            "cpu_us": cpu * 1e6 / max(answered, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window-ms", type=int, default=1500)
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "target/pipeline-bench")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server = Server("inferd", ROOT / "target/release/inferd", config(args.out), args.out)
    series = {}
    try:
        for round_ in range(args.rounds):
            for c in (1, 8):
                series.setdefault(("pipeline", c), []).append(
                    run(server, "chain", c, args.window_ms, args.out, "chain"))
                series.setdefault(("client chain", c), []).append(
                    run(server, "double", c, args.window_ms, args.out, "versioned",
                        ("--then", "versioned")))
            for n in (1, 4):
                series.setdefault((f"identity x{n}", 8), []).append(
                    run(server, f"identity{n}", 8, args.window_ms, args.out, f"identity{n}",
                        ("--shape", "in:1,16")))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        server.stop()

    def med(name, c, key):
        return statistics.median(r[key] for r in series[(name, c)])

    print("\n| series | clients | requests/s | p50 µs | server CPU µs/request |")
    print("|---|---:|---:|---:|---:|")
    for (name, c) in series:
        print(f"| {name} | {c} | {med(name, c, 'throughput'):.0f} | {med(name, c, 'p50_us'):.0f} "
              f"| {med(name, c, 'cpu_us'):.1f} |")
    print("\n| clients | pipeline ÷ client chain (requests/s) | target |")
    print("|---:|---:|---|")
    for c in (1, 8):
        ratio = med("pipeline", c, "throughput") / med("client chain", c, "throughput")
        print(f"| {c} | {ratio:.2f} | >= 1.5 |")
    extra = (med("identity x4", 8, "cpu_us") - med("identity x1", 8, "cpu_us")) / 3
    print(f"\nserver CPU per extra node (identity x4 - x1) / 3: {extra:.2f} µs (target < 5 µs)")
    (args.out / "results.json").write_text(json.dumps(
        {f"{k[0]} c={k[1]}": v for k, v in series.items()}, indent=1))


if __name__ == "__main__":
    main()
