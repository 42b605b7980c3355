#!/usr/bin/env python3
"""Engine-choice benchmark, run by scripts/engine-choice.sh (which builds and
installs what it needs first); prints the tables from the results it records.

    engine_choice.py --model-dir DIR   measure, then report
    engine_choice.py --report OUT_DIR  report an earlier run again

1. The tiny `add` model served with no backend named (inferd measures the
   engines at load and keeps the fastest) beside the same model pinned to
   each engine by name, over KServe gRPC and REST binary at 1 and 8 clients:
   requests/s and server CPU µs per request, and the default's median
   throughput ÷ the best pinned engine's.
2. The ResNet-50-sized model on ONNX Runtime at 1, 2 and 4 clients, with its
   requests run one at a time (`nireq` 1: what the session mutex forced
   before ONNX Runtime's concurrent Run was used) and concurrently (the
   default now).
Each server is its own process; series are interleaved over ROUNDS rounds
and reported as medians (ratios: median of the per-round ratios). PARTS
(default "add,resnet") picks the parts to measure.
"""
import argparse
import json
import os
import pathlib
import statistics

from overhead import INFERD, ROOT, Recorder, Server, bench, env, get_json, median, ratio

ENGINES = ("openvino", "onnxruntime", "tract")
ADD_PROTOCOLS = ("kserve-grpc", "kserve-rest-binary")
ADD_LEVELS = (1, 8)
RESNET_LEVELS = (1, 2, 4)


def config_file(out, name, models):
    path = out / f"config-{name}.json"
    path.write_text(json.dumps({"model_config_list": [{"config": m} for m in models]}))
    return path


def measure(args, out):
    rounds, window_ms = int(env("ROUNDS", "3")), int(env("WINDOW_MS", "1000"))
    parts = env("PARTS", "add,resnet").split(",")
    model_dir = pathlib.Path(args.model_dir).resolve()
    add = str(ROOT / "models/add")
    servers = {}
    if "add" in parts:
        servers["add default"] = Server("add default", INFERD, config_file(
            out, "default", [{"name": "add", "base_path": add}]), out)
        for engine in ENGINES:
            servers[f"add {engine}"] = Server(f"add {engine}", INFERD, config_file(
                out, engine, [{"name": "add", "base_path": add, "backend": engine}]), out)
        platform = get_json(f"http://127.0.0.1:{servers['add default'].rest}/v2/models/add")["platform"]
        (out / "choice.txt").write_text(f"the default server chose platform {platform}\n")
    if "resnet" in parts:
        for name, nireq in (("resnet one at a time", 1), ("resnet concurrent", None)):
            model = {"name": "resnet50", "base_path": str(model_dir), "backend": "onnxruntime"}
            if nireq:
                model["nireq"] = nireq
            servers[name] = Server(name, INFERD, config_file(out, name.replace(" ", "_"), [model]), out)
    (out / "settings.json").write_text(json.dumps({"rounds": rounds, "parts": parts}))
    record = Recorder(out / "results.jsonl")
    try:
        for rnd in range(1, rounds + 1):
            for protocol in ADD_PROTOCOLS if "add" in parts else ():
                for c in ADD_LEVELS:
                    for series in ("add default",) + tuple(f"add {e}" for e in ENGINES):
                        result = bench(servers[series], "add", protocol, c, window_ms, out)
                        record("add", f"{series} {protocol}", rnd, c, result)
            for c in RESNET_LEVELS if "resnet" in parts else ():
                for series in ("resnet one at a time", "resnet concurrent"):
                    result = bench(servers[series], "resnet50", "kserve-grpc", c, window_ms * 3, out)
                    record("resnet50", series, rnd, c, result)
    finally:
        for server in servers.values():
            server.stop()


def load(out):
    table = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        table.setdefault((row["model"], row["series"], row["concurrency"]), {})[row["round"]] = row
    return table


def report(out):
    settings = json.loads((out / "settings.json").read_text())
    table = load(out)
    parts = settings.get("parts", ["add", "resnet"])
    if "add" in parts:
        report_add(out, settings, table)
    if "resnet" in parts:
        report_resnet(settings, table)
    errors = sum(row["errors"] for cells in table.values() for row in cells.values())
    if errors:
        print(f"note: {errors} failed requests (see results.jsonl)")


def report_add(out, settings, table):
    print(f"\nadd (tiny model): requests/s and server CPU µs per request, medians of "
          f"{settings['rounds']} rounds; default = no backend named")
    print((out / "choice.txt").read_text().strip())
    header = f"{'protocol':<20} {'c':>2} | {'default':>15}"
    for engine in ENGINES:
        header += f" | {engine:>15}"
    print(header + " | default ÷ best")
    for protocol in ADD_PROTOCOLS:
        for c in ADD_LEVELS:
            cells = {s: table.get(("add", f"add {s} {protocol}", c), {})
                     for s in ("default",) + ENGINES}
            line = f"{protocol:<20} {c:>2}"
            for series in ("default",) + ENGINES:
                line += (f" | {median(cells[series], 'throughput'):>7.0f} "
                         f"{median(cells[series], 'cpu_us_per_request'):>5.1f}µs")
            # The default's median throughput over the best pinned engine's.
            best = max(median(cells[e], "throughput") for e in ENGINES)
            ratio_text = f"{median(cells['default'], 'throughput') / best:.3f}" if best else "n/a"
            print(f"{line} | {ratio_text}")


def report_resnet(settings, table):
    print(f"\nResNet-50-sized ONNX on ONNX Runtime over gRPC: inferences/s, p50 ms and CPU ms "
          f"per inference, medians of {settings['rounds']} rounds")
    print(f"{'c':>2} | {'one at a time':>24} | {'concurrent':>24} | concurrent ÷ one at a time")
    for c in RESNET_LEVELS:
        one = table.get(("resnet50", "resnet one at a time", c), {})
        many = table.get(("resnet50", "resnet concurrent", c), {})
        cell = lambda cells: (f"{median(cells, 'throughput'):>6.2f}/s {median(cells, 'p50_us') / 1000:>6.1f} "
                              f"{median(cells, 'cpu_us_per_request') / 1000:>6.1f}")
        print(f"{c:>2} | {cell(one):>24} | {cell(many):>24} | {ratio(many, one):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", help="the ResNet-50-sized model's base path")
    parser.add_argument("--report", metavar="OUT_DIR", help="only print the tables of an earlier run")
    args = parser.parse_args()
    if args.report:
        report(pathlib.Path(args.report))
        return
    if not args.model_dir:
        parser.error("--model-dir is needed to measure")
    out = pathlib.Path(env("OUT", str(ROOT / "target/engine-choice")))
    out.mkdir(parents=True, exist_ok=True)
    measure(args, out)
    report(out)


if __name__ == "__main__":
    main()
