#!/usr/bin/env python3
"""Serving-overhead measurement, run by scripts/overhead.sh (which builds
what it needs first); prints the tables from the results it records.

    overhead.py --raw-bench PATH --model-dir DIR   measure, then report
    overhead.py --report OUT_DIR                   report an earlier run again

Series are measured in rounds, interleaved (engine in process, then each
server and protocol, per concurrency), so that the drift of a shared machine
hits all of them alike; tables give the median over rounds, and ratios are
the median of the per-round ratios. Server CPU time per request is the
server process's CPU time over the requests its statistics endpoint counted
in the same span: less sensitive to other load on the machine than
throughput.
"""
import argparse
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
INFERD = ROOT / "target/release/inferd"
BENCH = ROOT / "target/release/inferd-bench"
ALL_METRICS = ",".join([
    "ovms_requests_success", "ovms_requests_fail", "ovms_request_time_us",
    "ovms_inference_time_us", "ovms_wait_for_infer_req_time_us", "ovms_current_requests",
    "ovms_streams", "ovms_infer_req_queue_size", "ovms_infer_req_active",
])
GRPC_PROTOCOLS = ("kserve-grpc", "tfs-grpc")
RESNET_PROTOCOLS = ("kserve-grpc", "kserve-rest-binary")
# Models whose engine time is next to nothing, so that what is measured is
# the serving itself: (part name, model, inferd-bench arguments, protocols,
# levels, with the engine in process and a metrics-on server too, title).
WIRE_SERIES = (
    ("add", "add", [], ("kserve-grpc", "kserve-rest", "kserve-rest-binary"), (1, 8), True,
     "add (tiny model)"),
    # A ResNet-sized tensor (1x3x224x224 floats, 602 KB) in and out.
    ("identity", "identity", ["--shape", "input:1,150528"], RESNET_PROTOCOLS, (1, 4), False,
     "identity with a ResNet-sized tensor (602 KB) in and out"),
    # 1 MiB in and out: what writing a binary answer costs.
    ("identity-1mb", "identity", ["--shape", "input:1,262144"], ("kserve-rest-binary",), (1, 8),
     False, "identity with a 1 MiB tensor in and out"),
)
# Every part of the benchmark; PARTS picks some (e.g. PARTS=add,identity-1mb).
ALL_PARTS = "resnet," + ",".join(series[0] for series in WIRE_SERIES)


def env(name, default):
    return os.environ.get(name) or default


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, context=None):
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return json.load(response)


class Server:
    """One inferd process on loopback ports, with metrics on or off; with an
    ssl `context`, its REST port is taken to speak TLS."""

    def __init__(self, name, binary, config, out, extra=(), context=None):
        self.name = name
        self.context = context
        self.base = f"{'https' if context else 'http'}://127.0.0.1"
        self.grpc, self.rest = free_port(), free_port()
        self.log = open(out / f"server-{name.replace(' ', '_')}.log", "w")
        self.process = subprocess.Popen(
            [str(binary), "--config_path", str(config), "--port", str(self.grpc),
             "--rest_port", str(self.rest), "--grpc_bind_address", "127.0.0.1",
             "--rest_bind_address", "127.0.0.1", "--file_system_poll_wait_seconds", "0",
             "--log_level", "WARNING", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{name} exited at start-up; see {self.log.name}")
            try:
                urllib.request.urlopen(f"{self.base}:{self.rest}/v2/health/ready", timeout=1,
                                       context=self.context)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        sys.exit(f"{name} did not become ready in 120 s; see {self.log.name}")

    def cpu_seconds(self):
        fields = pathlib.Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def answered(self, model):
        stats = get_json(f"{self.base}:{self.rest}/v2/models/{model}/stats", self.context)
        return sum(s["inference_stats"]["success"]["count"] for s in stats["model_stats"])

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def bench(server, model, protocol, concurrency, window_ms, out, extra=()):
    port = server.grpc if protocol in GRPC_PROTOCOLS else server.rest
    result_file = out / "last-bench.json"
    cpu, answered = server.cpu_seconds(), server.answered(model)
    run = subprocess.run(
        [str(BENCH), "--protocol", protocol, "-u", f"127.0.0.1:{port}", "-m", model,
         "-c", str(concurrency), "--input-data", "zero", "--measurement-interval-ms",
         str(window_ms), "--max-trials", "4", "--max-duration-s", "90",
         "--json", str(result_file), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.exit(f"inferd-bench failed against {server.name}:\n{run.stderr[-2000:]}")
    cpu, answered = server.cpu_seconds() - cpu, server.answered(model) - answered
    level = json.loads(result_file.read_text())["levels"][0]
    return {
        "throughput": level["throughput_infer_per_s"],
        "p50_us": level["latency_p50_us"],
        "p99_us": level["latency_p99_us"],
        "errors": level["errors"],
        "stable": level["stable"],
        "cpu_us_per_request": cpu * 1e6 / max(answered, 1),
    }


def raw(raw_bench, model_version_dir, backend, concurrency, seconds):
    run = subprocess.run(
        [raw_bench, model_version_dir, backend, str(concurrency), str(seconds)],
        cwd=ROOT, capture_output=True, text=True)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if run.returncode != 0 or not lines:
        sys.exit(f"raw bench failed:\n{run.stderr[-2000:]}")
    level = json.loads(lines[-1])
    return {
        "throughput": level["throughput"],
        "p50_us": level["p50_us"],
        "p99_us": level["p99_us"],
        "errors": 0,
        "stable": True,
        "cpu_us_per_request": level["cpu_us_per_run"],
    }


class Recorder:
    def __init__(self, path):
        self.file = open(path, "w")

    def __call__(self, model, series, rnd, concurrency, result):
        row = {"model": model, "series": series, "round": rnd, "concurrency": concurrency, **result}
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        print(f"  round {rnd} {model:<8} {series:<28} c={concurrency}: "
              f"{result['throughput']:9.1f}/s  p50 {result['p50_us'] / 1000:8.2f} ms  "
              f"CPU {result['cpu_us_per_request']:9.1f} us/req", file=sys.stderr)


def measure(args, out):
    backend, add_backend = env("BACKEND", "openvino"), env("ADD_BACKEND", "tract")
    levels = [int(c) for c in env("LEVELS", "1,2,4,8").split(",")]
    rounds, window_ms = int(env("ROUNDS", "5")), int(env("WINDOW_MS", "2000"))
    add_rounds = int(env("ADD_ROUNDS", "5"))
    raw_seconds = float(env("RAW_SECONDS", "6"))
    before = os.environ.get("BEFORE")
    parts = set(env("PARTS", ALL_PARTS).split(","))
    if "resnet" not in parts:
        rounds = 0
    model_dir = pathlib.Path(args.model_dir)
    if not model_dir.is_absolute():
        model_dir = ROOT / model_dir
    config = out / "config.json"
    config.write_text(json.dumps({"model_config_list": [
        {"config": {"name": "resnet50", "base_path": str(model_dir), "backend": backend}},
        {"config": {"name": "add", "base_path": str(ROOT / "models/add"), "backend": add_backend}},
        {"config": {"name": "identity", "base_path": str(ROOT / "models/identity_fp32"),
                    "backend": add_backend}},
    ]}))
    (out / "settings.json").write_text(json.dumps({
        "backend": backend, "add_backend": add_backend, "rounds": rounds, "add_rounds": add_rounds,
        "before": before}))
    servers = {"inferd": Server("inferd", INFERD, config, out),
               "inferd+metrics": Server("inferd+metrics", INFERD, config, out,
                                        ["--metrics_enable", "--metrics_list", ALL_METRICS])}
    if before:
        servers["before"] = Server("before", before, config, out)
    record = Recorder(out / "results.jsonl")
    resnet_dir = str(model_dir.relative_to(ROOT) / "1")
    try:
        for rnd in range(1, max(rounds, add_rounds) + 1):
            for c in levels if rnd <= rounds else ():
                # The engine alone before the servers in odd rounds, after
                # them in even ones, so that a steady drift cancels out.
                if rnd % 2:
                    record("resnet50", "raw", rnd, c, raw(args.raw_bench, resnet_dir, backend, c, raw_seconds))
                for name in ("inferd", "before"):
                    for protocol in RESNET_PROTOCOLS if name in servers else ():
                        result = bench(servers[name], "resnet50", protocol, c, window_ms, out)
                        record("resnet50", f"{name} {protocol}", rnd, c, result)
                if not rnd % 2:
                    record("resnet50", "raw", rnd, c, raw(args.raw_bench, resnet_dir, backend, c, raw_seconds))
            for part, model, extra, protocols, wire_levels, with_raw, _ in WIRE_SERIES:
                for c in wire_levels if rnd <= add_rounds and part in parts else ():
                    if with_raw:
                        result = raw(args.raw_bench, f"models/{model}/1", add_backend, c, raw_seconds / 2)
                        record(part, "raw", rnd, c, result)
                    for protocol in protocols:
                        # Servers in turn, the order reversed every other
                        # round, so that none always runs first.
                        order = list(servers.items())
                        for name, server in order if rnd % 2 else order[::-1]:
                            if name == "inferd+metrics" and not with_raw:
                                continue
                            result = bench(server, model, protocol, c, window_ms // 2, out, extra)
                            record(part, f"{name} {protocol}", rnd, c, result)
    finally:
        for server in servers.values():
            server.stop()


def load(out):
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    table = {}
    for row in rows:
        table.setdefault((row["model"], row["series"], row["concurrency"]), {})[row["round"]] = row
    return table


def median(cells, key):
    values = [cell[key] for cell in cells.values() if cell.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def ratio(a, b, key="throughput"):
    """Median over rounds of a ÷ b (each a dict round → row)."""
    values = [a[r][key] / b[r][key] for r in a if r in b and b[r][key]]
    return statistics.median(values) if values else float("nan")


def best_per_round(table, model, series, levels):
    """Per round, the best throughput over the levels: round → value."""
    best = {}
    for c in levels:
        for rnd, row in table.get((model, series, c), {}).items():
            best[rnd] = max(best.get(rnd, 0.0), row["throughput"])
    return best


def report(out):
    settings = json.loads((out / "settings.json").read_text())
    table = load(out)
    levels = sorted({c for (model, _, c) in table if model == "resnet50"})
    servers = ["inferd"] + (["before"] if settings.get("before") else [])
    notes = set()

    def cell(model, series, c):
        cells = table.get((model, series, c), {})
        if any(row["errors"] for row in cells.values()):
            notes.add(f"{model} {series} c={c}: failed requests (see results.jsonl)")
        return cells

    if levels:
        print(f"\nResNet-50-sized ONNX on {settings['backend']}: inferences/s, median of "
              f"{settings['rounds']} rounds; ÷raw = median of the per-round ratios; CPU = ms of CPU time per inference")
        header = f"{'c':>3} {'raw':>7}"
        for name in servers:
            for protocol in RESNET_PROTOCOLS:
                label = ("" if name == "inferd" else "before ") + protocol.replace("kserve-", "")
                header += f" | {label:>18} {'÷raw':>6}"
        print(header + " | CPU raw / " + " / ".join(p.replace("kserve-", "") for p in RESNET_PROTOCOLS))
        for c in levels:
            raw_cells = cell("resnet50", "raw", c)
            line = f"{c:>3} {median(raw_cells, 'throughput'):>7.2f}"
            for name in servers:
                for protocol in RESNET_PROTOCOLS:
                    cells = cell("resnet50", f"{name} {protocol}", c)
                    line += f" | {median(cells, 'throughput'):>18.2f} {ratio(cells, raw_cells):>6.3f}"
            cpu = [median(raw_cells, "cpu_us_per_request")] + [
                median(cell("resnet50", f"inferd {p}", c), "cpu_us_per_request") for p in RESNET_PROTOCOLS]
            print(line + " | " + " / ".join(f"{v / 1000:.1f}" for v in cpu))
        best_raw = best_per_round(table, "resnet50", "raw", levels)
        for name in servers:
            for protocol in RESNET_PROTOCOLS:
                best = best_per_round(table, "resnet50", f"{name} {protocol}", levels)
                ratios = sorted(best[r] / best_raw[r] for r in best if best_raw.get(r))
                if ratios:
                    print(f"best level, {name} {protocol} ÷ raw: median {statistics.median(ratios):.3f} "
                          f"(per round: {', '.join(f'{x:.3f}' for x in ratios)})")

    for model, _, _, protocols, wire_levels, with_raw, title in WIRE_SERIES:
        if not any(m == model for (m, _, _) in table):
            continue
        rounds = settings.get("add_rounds", settings["rounds"])
        print(f"\n{title} on {settings['add_backend']}: requests/s, p50 / p99 µs, server CPU µs per "
              f"request{' (raw: engine in process, CPU µs per run)' if with_raw else ''}; medians of {rounds} rounds")
        header = f"{'series':<20} {'c':>2} {'req/s':>8} {'p50':>6} {'p99':>6} {'CPU':>6}"
        if with_raw:
            header += f" | {'metrics on':>10} {'CPU':>6} {'on÷off':>6}"
        if "before" in servers:
            header += f" | {'before':>8} {'CPU':>6} {'now÷before':>10}"
        print(header)
        for c in wire_levels if with_raw else ():
            raw_cells = cell(model, "raw", c)
            print(f"{'raw engine':<20} {c:>2} {median(raw_cells, 'throughput'):>8.0f} "
                  f"{median(raw_cells, 'p50_us'):>6.0f} {median(raw_cells, 'p99_us'):>6.0f} "
                  f"{median(raw_cells, 'cpu_us_per_request'):>6.1f}")
        for protocol in protocols:
            for c in wire_levels:
                now = cell(model, f"inferd {protocol}", c)
                line = (f"{protocol:<20} {c:>2} {median(now, 'throughput'):>8.0f} {median(now, 'p50_us'):>6.0f} "
                        f"{median(now, 'p99_us'):>6.0f} {median(now, 'cpu_us_per_request'):>6.1f}")
                if with_raw:
                    on = cell(model, f"inferd+metrics {protocol}", c)
                    line += (f" | {median(on, 'throughput'):>10.0f} {median(on, 'cpu_us_per_request'):>6.1f} "
                             f"{ratio(on, now):>6.3f}")
                if "before" in servers:
                    old = cell(model, f"before {protocol}", c)
                    line += (f" | {median(old, 'throughput'):>8.0f} {median(old, 'cpu_us_per_request'):>6.1f} "
                             f"{ratio(now, old):>10.3f}")
                print(line)
    for note in sorted(notes):
        print(f"note: {note}")
    unstable = sum(1 for cells in table.values() for row in cells.values() if not row["stable"])
    if unstable:
        print(f"note: {unstable} of {sum(len(c) for c in table.values())} measurements did not settle "
              "within 4 windows (their last 3 windows count)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw-bench", help="the raw-engine bench executable (benches/raw.rs)")
    parser.add_argument("--model-dir", help="the ResNet-50-sized model's base path")
    parser.add_argument("--report", metavar="OUT_DIR", help="only print the tables of an earlier run")
    args = parser.parse_args()
    if args.report:
        report(pathlib.Path(args.report))
        return
    if not (args.raw_bench and args.model_dir):
        parser.error("--raw-bench and --model-dir are needed to measure")
    out = pathlib.Path(env("OUT", str(ROOT / "target/overhead")))
    out.mkdir(parents=True, exist_ok=True)
    measure(args, out)
    report(out)


if __name__ == "__main__":
    main()
