"""What TLS costs: the tiny `add` model's requests/s, p99 and server CPU per
request over KServe gRPC and REST (binary), 1 and 8 clients, against two
inferd processes of the same build, one plain and one with TLS on both
ports, measured interleaved in one run. Target: TLS keeps at least 85 % of
plain throughput at 8 clients. Run through scripts/tls-overhead.sh.

Each inferd-bench client holds one connection for the whole run, as real
clients do, so this measures encryption, not handshakes.
"""
import argparse
import json
import os
import pathlib
import ssl
import statistics
import subprocess
import sys

import trustme

from overhead import Server

ROOT = pathlib.Path(__file__).resolve().parent.parent
INFERD = ROOT / "target/release/inferd"
BENCH = ROOT / "target/release/inferd-bench"
CONFIG = ROOT / "models/config.json"
PROTOCOLS = ("kserve-grpc", "kserve-rest-binary")
LEVELS = (1, 8)


def start(name, out, pki=None):
    """One inferd; TLS on both ports when `pki` is given."""
    extra = ["--tls_cert", pki["cert"], "--tls_key", pki["key"]] if pki else []
    context = ssl.create_default_context(cafile=pki["ca"]) if pki else None
    return Server(name, INFERD, CONFIG, out, extra, context)


def bench(server, protocol, clients, window_ms, out, pki):
    port = server.grpc if "grpc" in protocol else server.rest
    result = out / "last-bench.json"
    tls = ["--tls-ca", pki["ca"]] if server.context else []
    cpu, answered = server.cpu_seconds(), server.answered("add")
    run = subprocess.run(
        [str(BENCH), "--protocol", protocol, "-u", f"{server.base}:{port}",
         "-m", "add", "-c", str(clients), "--input-data", "zero",
         "--measurement-interval-ms", str(window_ms), "--max-trials", "4",
         "--max-duration-s", "60", "--json", str(result), *tls],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.exit(f"inferd-bench failed against {server.name}:\n{run.stderr[-2000:]}")
    cpu, answered = server.cpu_seconds() - cpu, server.answered("add") - answered
    level = json.loads(result.read_text())["levels"][0]
    return {"throughput": level["throughput_infer_per_s"], "p99_us": level["latency_p99_us"],
            "errors": level["errors"], "cpu_us": cpu * 1e6 / max(answered, 1)}


def make_pki(out):
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": out / "ca.pem", "cert": out / "cert.pem", "key": out / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    leaf.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    return {k: str(v) for k, v in paths.items()}


def report(results):
    print(f"{'protocol':20} {'c':>2} | {'plain rps':>10} {'p99 ms':>7} {'CPU µs':>7} | "
          f"{'TLS rps':>10} {'p99 ms':>7} {'CPU µs':>7} | {'TLS ÷ plain':>11}")
    worst = None
    for protocol in PROTOCOLS:
        for clients in LEVELS:
            cells = {}
            for name in ("plain", "tls"):
                runs = [r for r in results if r["protocol"] == protocol
                        and r["clients"] == clients and r["server"] == name]
                cells[name] = {key: statistics.median(r[key] for r in runs)
                               for key in ("throughput", "p99_us", "cpu_us")}
            ratio = cells["tls"]["throughput"] / cells["plain"]["throughput"]
            if clients == max(LEVELS):
                worst = ratio if worst is None else min(worst, ratio)
            p, t = cells["plain"], cells["tls"]
            print(f"{protocol:20} {clients:>2} | {p['throughput']:>10.0f} {p['p99_us'] / 1000:>7.2f} "
                  f"{p['cpu_us']:>7.1f} | {t['throughput']:>10.0f} {t['p99_us'] / 1000:>7.2f} "
                  f"{t['cpu_us']:>7.1f} | {ratio:>11.3f}")
    verdict = "met" if worst >= 0.85 else "NOT met"
    print(f"\nworst TLS ÷ plain at {max(LEVELS)} clients: {worst:.3f} (target ≥ 0.85: {verdict})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    parser.add_argument("--window-ms", type=int, default=int(os.environ.get("WINDOW_MS", 2000)))
    parser.add_argument("--out", default=str(ROOT / "target/tls-overhead"))
    parser.add_argument("--report", action="store_true", help="print the last run again")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.jsonl"
    if not args.report:
        pki = make_pki(out)
        servers = [start("plain", out), start("tls", out, pki)]
        results = []
        try:
            for round_index in range(args.rounds):
                for protocol in PROTOCOLS:
                    for clients in LEVELS:
                        # Alternate which server goes first, so drift hits both alike.
                        order = servers if round_index % 2 == 0 else servers[::-1]
                        for server in order:
                            cell = bench(server, protocol, clients, args.window_ms, out, pki)
                            cell.update(server=server.name, protocol=protocol, clients=clients,
                                        round=round_index)
                            results.append(cell)
                            print(json.dumps(cell), file=sys.stderr)
        finally:
            for server in servers:
                server.stop()
        results_file.write_text("".join(json.dumps(r) + "\n" for r in results))
    results = [json.loads(line) for line in results_file.read_text().splitlines()]
    report(results)


if __name__ == "__main__":
    main()
