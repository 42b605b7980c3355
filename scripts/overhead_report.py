#!/usr/bin/env python3
"""Prints the tables of scripts/overhead.sh from the JSON files it left in OUT_DIR.

Usage: overhead_report.py OUT_DIR BACKEND ADD_BACKEND
"""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
backend, add_backend = sys.argv[2], sys.argv[3]


def levels(name):
    path = out / f"{name}.json"
    if not path.exists():
        return {}
    return {row["concurrency"]: row for row in json.loads(path.read_text())["levels"]}


# Two raw runs (before and after the server's); the better one is the baseline.
raw = {}
for line in (out / "raw_resnet50.jsonl").read_text().splitlines():
    row = json.loads(line)
    best = raw.get(row["concurrency"])
    if best is None or row["throughput"] > best["throughput"]:
        raw[row["concurrency"]] = row
grpc, rest = levels("resnet50_grpc"), levels("resnet50_rest_binary")

print(f"\nResNet-50-sized ONNX on {backend}: inferences/s (server ÷ raw in process, "
      "raw = the better of a run before and one after the server's)")
print(f"{'c':>3} {'raw':>9} {'gRPC':>9} {'÷raw':>6} {'REST bin':>9} {'÷raw':>6}   p50 ms raw/gRPC/REST")
for c in sorted(raw):
    r = raw[c]["throughput"]
    g = grpc.get(c, {}).get("throughput_infer_per_s", 0.0)
    b = rest.get(c, {}).get("throughput_infer_per_s", 0.0)
    p50 = [raw[c]["p50_us"], grpc.get(c, {}).get("latency_p50_us", 0), rest.get(c, {}).get("latency_p50_us", 0)]
    print(f"{c:>3} {r:>9.2f} {g:>9.2f} {g / r:>6.3f} {b:>9.2f} {b / r:>6.3f}   "
          + "/".join(f"{p / 1000:.1f}" for p in p50))
best_raw = max(row["throughput"] for row in raw.values())
for label, rows in (("gRPC", grpc), ("REST binary", rest)):
    if rows:
        best = max(row["throughput_infer_per_s"] for row in rows.values())
        print(f"best {label}: {best:.2f}/s ÷ best raw {best_raw:.2f}/s = {best / best_raw:.3f}")

print(f"\nadd (tiny model) on {add_backend}: requests/s, p50 / p99 µs; metrics off → on")
print(f"{'protocol':<20} {'c':>3} {'req/s':>9} {'p50':>7} {'p99':>7} | {'req/s':>9} {'p50':>7} {'p99':>7} {'on÷off':>7}")
for protocol in ("kserve-grpc", "kserve-rest", "kserve-rest-binary"):
    off, on = levels(f"add_{protocol}"), levels(f"add_{protocol}_metrics")
    for c in sorted(off):
        a, m = off[c], on.get(c)
        line = (f"{protocol:<20} {c:>3} {a['throughput_infer_per_s']:>9.0f} "
                f"{a['latency_p50_us']:>7.0f} {a['latency_p99_us']:>7.0f}")
        if m:
            line += (f" | {m['throughput_infer_per_s']:>9.0f} {m['latency_p50_us']:>7.0f} "
                     f"{m['latency_p99_us']:>7.0f} {m['throughput_infer_per_s'] / a['throughput_infer_per_s']:>7.3f}")
        stable = a.get("stable", True) and (m or {}).get("stable", True)
        print(line + ("" if stable else "  (not stable)"))
