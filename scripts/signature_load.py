"""Load cost of a SavedModel's signatures (see signature-load.sh): a
MobileNetV2 (random weights) saved by Keras with one signature, by
model.export (`serve` and `serving_default`: twins, compiled once) and with
two different signatures (the scores, and their top 5: compiled each);
inferd serves each; prints the median time from exec to AVAILABLE and the
RSS then, with ratios against the one-signature model."""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def save_models(folder):
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    spec = [tf.TensorSpec([None, 224, 224, 3], tf.float32, name="image")]

    def top5(image):
        values, indices = tf.math.top_k(model(image), 5)
        return {"values": values, "indices": indices}

    def archive(path, endpoints):
        export = keras.export.ExportArchive()
        export.track(model)
        for name, function in endpoints.items():
            export.add_endpoint(name, function, input_signature=spec)
        export.write_out(path)

    archive(f"{folder}/one/1", {"serving_default": model.__call__})
    model.export(f"{folder}/keras/1")
    archive(f"{folder}/two/1", {"serving_default": model.__call__, "top5": top5})

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_once(base_path):
    rest = free_port()
    command = [os.environ["INFERD_BIN"], "--model_name=m", f"--model_base_path={base_path}",
               f"--port={free_port()}", f"--rest_port={rest}", "--grpc_bind_address=127.0.0.1",
               "--rest_bind_address=127.0.0.1", "--log_level=WARNING"]
    started = time.monotonic()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = started + 120
        while time.monotonic() < deadline:
            try:
                with OPENER.open(f"http://127.0.0.1:{rest}/v1/models/m", timeout=2) as answer:
                    states = [v["state"] for v in json.load(answer)["model_version_status"]]
                if "AVAILABLE" in states:
                    return time.monotonic() - started, rss_mb(server.pid)
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{base_path} never AVAILABLE")
    finally:
        server.terminate()
        server.wait(timeout=20)


def main(runs):
    with tempfile.TemporaryDirectory() as folder:
        save_models(folder)
        cases = [("one signature (baseline)", "one"), ("Keras export: serve + serving_default", "keras"),
                 ("two signatures: scores, top5", "two")]
        results = {}
        for label, name in cases:
            samples = [load_once(f"{folder}/{name}") for _ in range(runs)]
            results[label] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))
    base_time, base_rss = results[cases[0][0]]
    print(f"MobileNetV2 SavedModel through OpenVINO, median of {runs} loads")
    print("| saved as | to AVAILABLE (s) | ratio | RSS (MB) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for label, (seconds, rss) in results.items():
        print(f"| {label} | {seconds:.2f} | {seconds / base_time:.2f} | {rss:.0f} | {rss / base_rss:.2f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]))
