#!/usr/bin/env python3
"""Dynamic batching benchmark, run by scripts/batching-bench.sh (which builds
and generates what it needs first); prints the tables from the results it
records.

    batching_bench.py [--mlp-dir DIR] [--resnet-dir DIR]   measure, then report
    batching_bench.py --report OUT_DIR                     report an earlier run again

Per model, three server settings, each its own inferd (started, measured over
KServe gRPC at every concurrency level, stopped):

    off    no dynamic_batching key: every request runs alone
    on     "dynamic_batching": {"max_batch_size": MAX_BATCH}: no queue delay
    tuned  the same plus "max_queue_delay_microseconds": the model's delay
           and "preferred_batch_size": TUNED_PREFERRED

Settings are interleaved within a round (off, on, tuned; reversed in even
rounds) so that the drift of a shared machine hits all of them alike; tables
give the median over rounds, and ratios are the median of the per-round
ratios. The mean batch is the server's inference_count over its
execution_count (its statistics endpoint), counted around each level.
Bounded: each level is one inferd-bench run of at most 4 windows and 90 s
(overhead.bench); a server gets 120 s to have its model ready.

Environment (defaults in brackets):
    PARTS               models to measure [mlp,mlp_wide,resnet50]
    LEVELS, ROUNDS      the MLP's concurrencies and rounds [1,4,16,64; 3]
    WINDOW_MS, WARMUP_MS  the MLP's measurement window and warm-up [1000; 500]
    LEVELS_RESNET, ROUNDS_RESNET, WINDOW_MS_RESNET, WARMUP_MS_RESNET
                        the same for ResNet-50 [1,4,16,64; 1; 5000; 3000]
    MAX_BATCH           max_batch_size of on and tuned [64]
    TUNED_DELAY_US      tuned's queue delay for both models, unless
    MLP_DELAY_US, WIDE_DELAY_US, RESNET_DELAY_US  set it per model [500; 2000; 20000]
    TUNED_PREFERRED     tuned's preferred batch sizes [4,8,16,32,64]
    PROTOCOL            inferd-bench's protocol [kserve-rest-binary]
    BACKEND             the models' backend [the server's own choice]
    OUT                 results folder [target/batching-bench]
mlp_wide (hidden layers 2048 wide) shares the MLP's levels, rounds and
windows. Targets, on each MLP: at 16 clients batching on serves at least 3x the
requests/s of off; at 1 client its p50 stays within 5 % of off's.
"""
import argparse
import json
import math
import os
import pathlib
import statistics
import sys
import time
import urllib.request

# Run as a script, this folder is on sys.path: the server and bench helpers
# of the serving-overhead benchmark serve here as they are.
import overhead
from overhead import INFERD, ROOT, Recorder, Server, env, get_json, median

MODELS = ("mlp", "mlp_wide", "resnet50")
SETTINGS = ("off", "on", "tuned")
# REST binary by default: its per-request cost is the lowest of the
# transports, so the engine's share (what batching saves) shows most.
PROTOCOL = os.environ.get("PROTOCOL", "kserve-rest-binary")
TITLES = {"mlp": "MLP 256-1024-1024-10", "mlp_wide": "MLP 256-2048-2048-10",
          "resnet50": "ResNet-50-sized ONNX"}
# Per model: environment names and defaults of its levels, rounds, window,
# warm-up and tuned queue delay (TUNED_DELAY_US, if set, stands in for the
# per-model delay's default).
PLANS = {
    "mlp": {"levels": ("LEVELS", "1,4,16,64"), "rounds": ("ROUNDS", "3"),
            "window_ms": ("WINDOW_MS", "1000"), "warmup_ms": ("WARMUP_MS", "500"),
            "delay_us": ("MLP_DELAY_US", "500")},
    "mlp_wide": {"levels": ("LEVELS", "1,4,16,64"), "rounds": ("ROUNDS", "3"),
                 "window_ms": ("WINDOW_MS", "1000"), "warmup_ms": ("WARMUP_MS", "500"),
                 "delay_us": ("WIDE_DELAY_US", "2000")},
    "resnet50": {"levels": ("LEVELS_RESNET", "1,4,16,64"), "rounds": ("ROUNDS_RESNET", "1"),
                 "window_ms": ("WINDOW_MS_RESNET", "5000"), "warmup_ms": ("WARMUP_MS_RESNET", "3000"),
                 "delay_us": ("RESNET_DELAY_US", "20000")},
}
# tuned: a batch runs as soon as it reaches one of these sizes.
PREFERRED = [int(s) for s in os.environ.get("TUNED_PREFERRED", "4,8,16,32,64").split(",")]
TARGET_SPEEDUP = 3.0  # the MLP at 16 clients: on÷off requests/s at least
TARGET_P50 = 1.05     # the MLP at 1 client: on÷off p50 at most
READY_S = 120


def plan(model):
    """The model's levels, rounds, window, warm-up and tuned delay."""
    names = PLANS[model]
    delay_name, delay_default = names["delay_us"]
    return {
        "levels": [int(c) for c in env(*names["levels"]).split(",")],
        "rounds": int(env(*names["rounds"])),
        "window_ms": int(env(*names["window_ms"])),
        "warmup_ms": int(env(*names["warmup_ms"])),
        "delay_us": int(env(delay_name, env("TUNED_DELAY_US", delay_default))),
    }


def model_config(model, base_path, setting, delay_us, max_batch, backend):
    """The config.json of one server: the model alone, with `setting`."""
    config = {"name": model, "base_path": str(base_path)}
    if backend:
        config["backend"] = backend
    if setting != "off":
        config["dynamic_batching"] = {"max_batch_size": max_batch}
    if setting == "tuned":
        config["dynamic_batching"]["max_queue_delay_microseconds"] = delay_us
        config["dynamic_batching"]["preferred_batch_size"] = PREFERRED
    return {"model_config_list": [{"config": config}]}


def wait_model_ready(server, model):
    url = f"{server.base}:{server.rest}/v2/models/{model}/ready"
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or 4xx/5xx while loading
            pass
        time.sleep(0.2)
    sys.exit(f"{model} did not become ready in {READY_S} s; see {server.log.name}")


def counts(server, model):
    """The server's (inference_count, execution_count) for the model."""
    stats = get_json(f"{server.base}:{server.rest}/v2/models/{model}/stats")["model_stats"]
    return (sum(s["inference_count"] for s in stats), sum(s["execution_count"] for s in stats))


def run_setting(model, setting, config, rnd, model_plan, out, record):
    """One inferd with `config`, measured at every level, then stopped."""
    server = Server(f"{model}-{setting}", INFERD, config, out)
    try:
        wait_model_ready(server, model)
        for c in model_plan["levels"]:
            before = counts(server, model)
            result = overhead.bench(server, model, PROTOCOL, c, model_plan["window_ms"], out,
                                    ["--warmup-ms", str(model_plan["warmup_ms"])])
            after = counts(server, model)
            result.update(inferences=after[0] - before[0], executions=after[1] - before[1])
            record(model, setting, rnd, c, result)
            print(f"    mean batch {mean_batch([result]):.2f}", file=sys.stderr)
    finally:
        server.stop()


def model_dir(path):
    path = pathlib.Path(path)
    path = path if path.is_absolute() else ROOT / path
    if not (path / "1/model.onnx").exists():
        sys.exit(f"no model at {path}/1/model.onnx (scripts/batching-bench.sh generates it)")
    return path


def measure(args, out):
    parts = env("PARTS", ",".join(MODELS)).split(",")
    if unknown := set(parts) - set(MODELS):
        sys.exit(f"PARTS: unknown {', '.join(sorted(unknown))} (known: {', '.join(MODELS)})")
    max_batch, backend = int(env("MAX_BATCH", "64")), os.environ.get("BACKEND")
    dirs = {"mlp": args.mlp_dir, "mlp_wide": args.wide_dir, "resnet50": args.resnet_dir}
    plans = {model: plan(model) for model in parts}
    (out / "settings.json").write_text(json.dumps(
        {"max_batch": max_batch, "backend": backend, "models": plans}))
    record = Recorder(out / "results.jsonl")
    for model, model_plan in plans.items():
        base_path = model_dir(dirs[model])
        configs = {}
        for setting in SETTINGS:
            configs[setting] = out / f"config-{model}-{setting}.json"
            configs[setting].write_text(json.dumps(model_config(
                model, base_path, setting, model_plan["delay_us"], max_batch, backend), indent=1))
        for rnd in range(1, model_plan["rounds"] + 1):
            for setting in SETTINGS if rnd % 2 else SETTINGS[::-1]:
                run_setting(model, setting, configs[setting], rnd, model_plan, out, record)


def mean_batch(rows):
    executions = sum(row.get("executions", 0) for row in rows)
    return sum(row.get("inferences", 0) for row in rows) / executions if executions else math.nan


def per_round(table, model, setting, c, key):
    """Per round, `setting` ÷ off at level c, in round order."""
    a, b = table.get((model, setting, c), {}), table.get((model, "off", c), {})
    return [a[r][key] / b[r][key] for r in sorted(a) if r in b and b[r][key]]


def med(values):
    return statistics.median(values) if values else math.nan


def speed_table(table, model, model_plan, max_batch, levels):
    print(f"\n{TITLES[model]} over {PROTOCOL}: requests/s, p50 / p99 ms, medians of "
          f"{model_plan['rounds']} round(s); ÷off: median of the per-round ratios")
    print(f"on: max_batch_size {max_batch}, no queue delay; tuned: the same, "
          f"{model_plan['delay_us']} µs queue delay, preferred sizes {PREFERRED}")
    header = f"{'c':>3}" + "".join(f" | {s + ' req/s':>11} {'p50':>7} {'p99':>7}" for s in SETTINGS)
    print(header + "".join(f" | {s + '÷off req/s':>15} {'p50':>5}" for s in SETTINGS[1:]))
    for c in levels:
        line = f"{c:>3}"
        for setting in SETTINGS:
            cells = table.get((model, setting, c), {})
            line += (f" | {median(cells, 'throughput'):>11.1f} {median(cells, 'p50_us') / 1000:>7.2f} "
                     f"{median(cells, 'p99_us') / 1000:>7.2f}")
        for setting in SETTINGS[1:]:
            line += (f" | {med(per_round(table, model, setting, c, 'throughput')):>15.2f} "
                     f"{med(per_round(table, model, setting, c, 'p50_us')):>5.2f}")
        print(line)


def rows_at(table, model, setting, c):
    """Every round's row of `setting` at level c, or at every level for "all"."""
    return [row for (m, s, level), cells in table.items()
            if m == model and s == setting and c in (level, "all") for row in cells.values()]


def batch_table(table, model, levels):
    print("mean batch the server ran (inference_count ÷ execution_count, warm-up included)")
    print(f"{'c':>3} | " + " ".join(f"{s:>6}" for s in SETTINGS))
    for c in [*levels, "all"]:
        print(f"{c:>3} | " + " ".join(f"{mean_batch(rows_at(table, model, s, c)):>6.2f}" for s in SETTINGS))


def verdict(label, values, met):
    value = med(values)
    if math.isnan(value):
        print(f"  {label}: not measured")
        return
    rounds = ", ".join(f"{v:.3f}" for v in values)
    print(f"  {label}: {value:.3f} ({'met' if met(value) else 'NOT met'}; per round: {rounds})")


def targets(table, model):
    print(f"\ntargets ({TITLES[model]}):")
    verdict(f"(a) 16 clients, on÷off requests/s >= {TARGET_SPEEDUP}",
            per_round(table, model, "on", 16, "throughput"), lambda v: v >= TARGET_SPEEDUP)
    verdict(f"(b) 1 client, on÷off p50 <= {TARGET_P50}",
            per_round(table, model, "on", 1, "p50_us"), lambda v: v <= TARGET_P50)


def notes(table):
    for (model, setting, c), cells in sorted(table.items()):
        if any(row["errors"] for row in cells.values()):
            print(f"note: {model} {setting} c={c}: failed requests (see results.jsonl)")
    unstable = sum(1 for cells in table.values() for row in cells.values() if not row["stable"])
    if unstable:
        print(f"note: {unstable} of {sum(len(c) for c in table.values())} measurements did not settle "
              "within 4 windows (their last 3 windows count)")


def report(out):
    if not (out / "results.jsonl").exists() or not (out / "settings.json").exists():
        sys.exit(f"no results in {out} (results.jsonl and settings.json)")
    settings = json.loads((out / "settings.json").read_text())
    table = overhead.load(out)
    for model, model_plan in settings["models"].items():
        levels = sorted({c for (m, _, c) in table if m == model})
        if levels:
            speed_table(table, model, model_plan, settings["max_batch"], levels)
            batch_table(table, model, levels)
    for model in ("mlp", "mlp_wide"):
        if model in settings["models"]:
            targets(table, model)
    notes(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mlp-dir", default="target/bench-models/mlp", help="the MLP's base path")
    parser.add_argument("--wide-dir", default="target/bench-models/mlp_wide",
                        help="the wide MLP's base path")
    parser.add_argument("--resnet-dir", default="target/bench-models/resnet50",
                        help="the ResNet-50-sized model's base path")
    parser.add_argument("--report", metavar="OUT_DIR", help="only print the tables of an earlier run")
    args = parser.parse_args()
    if args.report:
        report(pathlib.Path(args.report))
        return
    out = pathlib.Path(env("OUT", str(ROOT / "target/batching-bench")))
    out.mkdir(parents=True, exist_ok=True)
    measure(args, out)
    report(out)


if __name__ == "__main__":
    main()
