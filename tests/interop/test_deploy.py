"""The Kubernetes and KServe manifests under deploy/: rendered with
`kubectl kustomize`, validated offline against the Kubernetes schemas
(kubernetes-validate, strict) and against our KServe schemas
(deploy/kserve/schemas), and checked against the real binary so they cannot
drift: every flag they pass exists, the probe and metrics paths answer on
the ports the containers declare, and the grace period outlasts the drain."""
import json
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO, server_binary

DEPLOY = REPO / "deploy"
OVERLAYS = ["base", "overlays/cpu", "overlays/object-storage", "overlays/tls"]
KUBERNETES = "1.32.0"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def render(overlay):
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render deploy/kubernetes"
    out = subprocess.run([kubectl, "kustomize", str(DEPLOY / "kubernetes" / overlay)],
                         check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def kserve(name):
    return yaml.safe_load((DEPLOY / "kserve" / name).read_text())


def pod_of(containers):
    """A Pod around `containers`, to check them with the Kubernetes schema."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"},
            "spec": {"containers": containers}}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_and_validates_strictly(overlay):
    docs = render(overlay)
    kinds = sorted(doc["kind"] for doc in docs)
    assert {"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Service"} <= set(kinds)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


@pytest.mark.parametrize("name,schema", [
    ("servingruntime.yaml", "servingruntime.json"),
    ("clusterservingruntime.yaml", "servingruntime.json"),
    ("inferenceservice.yaml", "inferenceservice.json"),
])
def test_kserve_resources_validate(name, schema):
    doc = kserve(name)
    jsonschema.validate(doc, json.loads((DEPLOY / "kserve" / "schemas" / schema).read_text()))
    if doc["kind"] != "InferenceService":
        kubernetes_validate.validate(pod_of(doc["spec"]["containers"]), KUBERNETES, strict=True)
        formats = {f["name"] for f in doc["spec"]["supportedModelFormats"]}
        assert {"onnx", "openvino_ir", "tensorflow", "tflite", "paddle"} <= formats
        assert {"v1", "v2", "grpc-v2"} <= set(doc["spec"]["protocolVersions"])
    else:
        runtime = kserve("servingruntime.yaml")
        assert doc["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flags(args):
    """--name=value arguments as a dict (value None for bare flags)."""
    parsed = {}
    for arg in args:
        name, _, value = arg.partition("=")
        parsed[name] = value if "=" in arg else None
    return parsed


def known_flags():
    help_text = subprocess.run([str(server_binary()), "--help"], check=True,
                               capture_output=True, text=True).stdout
    return set(re.findall(r"(--[a-z_]+)", help_text))


def serve_like(args, tmp_path, replacements):
    """The binary run with a container's `args`, paths and ports replaced
    for this machine; returns (process, {container port: local port})."""
    parsed = flags(args)
    ports = {int(parsed["--port"]): free_port(), int(parsed["--rest_port"]): free_port()}
    command = [str(server_binary())]
    for name, value in parsed.items():
        if name in ("--port", "--rest_port"):
            value = str(ports[int(value)])
        elif name in ("--grpc_bind_address", "--rest_bind_address"):
            value = "127.0.0.1"
        elif name in replacements:
            value = replacements[name]
        command.append(name if value is None else f"{name}={value}")
    log = open(tmp_path / "inferd.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    return process, ports


def answers(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if OPENER.open(url, timeout=2).status == 200:
                return True
        except Exception:
            time.sleep(0.2)
    return False


def check_container(container, tmp_path, replacements, prometheus=None):
    args = container["args"]
    unknown = {name for name in flags(args) if name not in known_flags()}
    assert not unknown, f"flags the binary does not have: {unknown}"
    declared = {p["containerPort"] for p in container.get("ports", [])}
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    process, ports = serve_like(args, tmp_path, replacements)
    try:
        rest = int(flags(args)["--rest_port"])
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe not in container:
                continue
            get = container[probe]["httpGet"]
            port = named.get(get["port"], get["port"])
            assert port == rest, f"{probe} targets port {port}, REST is {rest}"
            assert answers(f"http://127.0.0.1:{ports[rest]}{get['path']}"), \
                (tmp_path / "inferd.log").read_text()
        if prometheus:
            port, path = prometheus
            assert int(port) == rest
            assert answers(f"http://127.0.0.1:{ports[rest]}{path}")
        assert int(flags(args)["--port"]) in declared or declared == set()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_the_deployment_matches_the_binary(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": [
        {"config": {"name": "add", "base_path": str(REPO / "models" / "add")}}]}))
    docs = render("base")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    annotations = pod["metadata"]["annotations"]
    check_container(container, tmp_path, {
        "--config_path": str(config),
        "--model_cache_dir": str(tmp_path / "models"),
        "--cache_dir": str(tmp_path / "compiled"),
    }, prometheus=(annotations["prometheus.io/port"], annotations["prometheus.io/path"]))
    drain = int(flags(container["args"])["--exit_timeout_seconds"])
    assert pod["spec"]["terminationGracePeriodSeconds"] > drain
    service = next(d for d in docs if d["kind"] == "Service")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == \
        {p["name"] for p in container["ports"]}


def test_the_serving_runtime_matches_the_binary(tmp_path):
    runtime = kserve("servingruntime.yaml")
    container = runtime["spec"]["containers"][0]
    check_container(container, tmp_path, {
        "--model_name": "add",
        "--model_path": str(REPO / "models" / "add"),
    }, prometheus=(runtime["spec"]["annotations"]["prometheus.kserve.io/port"],
                   runtime["spec"]["annotations"]["prometheus.kserve.io/path"]))


def containerfile_instructions(stage):
    """The instructions of one stage of ./Containerfile: {KEYWORD: [text, ...]}."""
    text = (REPO / "Containerfile").read_text().replace("\\\n", " ")
    found, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword == "FROM":
            current = rest.split(" AS ")[-1].strip()
        elif current == stage:
            found.setdefault(keyword, []).append(rest.strip())
    return found


def test_the_containerfile_matches_the_binary_and_the_manifests(tmp_path):
    image = containerfile_instructions("tract-only")
    entrypoint = json.loads(image["ENTRYPOINT"][0])
    cmd = json.loads(image["CMD"][0])
    health = json.loads(image["HEALTHCHECK"][0].split("CMD", 1)[1])
    exposed = {int(p) for p in image["EXPOSE"][0].split()}
    baked = dict(zip(entrypoint[1::2], entrypoint[2::2]))
    assert entrypoint[0] == health[0] == "/usr/local/bin/inferd"
    assert {name for name in [*baked, *cmd[::2]]} <= known_flags()
    assert {int(baked["--port"]), int(baked["--rest_port"])} == exposed
    probe = urllib.parse.urlsplit(health[2])
    assert health[1] == "--health_probe" and probe.port == int(baked["--rest_port"])
    uid = int(image["USER"][0].split(":")[0])

    deployment = next(d for d in render("base") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsUser"] == uid
    assert kserve("servingruntime.yaml")["spec"]["containers"][0]["securityContext"]["runAsUser"] == uid
    assert {p["containerPort"] for p in container["ports"]} <= exposed
    assert container["readinessProbe"]["httpGet"]["path"] == probe.path

    # The entrypoint's ports can be overridden by later flags (as the
    # manifests do), and the health check's probe passes on a ready server.
    grpc_port, rest_port = free_port(), free_port()
    command = [str(server_binary()), *entrypoint[1:], "--model_name", "add",
               "--model_path", str(REPO / "models" / "add"), "--port", str(grpc_port),
               "--rest_port", str(rest_port), "--grpc_bind_address", "127.0.0.1",
               "--rest_bind_address", "127.0.0.1"]
    log = open(tmp_path / "inferd.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{rest_port}{probe.path}"
        assert answers(url), (tmp_path / "inferd.log").read_text()
        checked = subprocess.run([str(server_binary()), "--health_probe", url],
                                 capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    down = subprocess.run([str(server_binary()), "--health_probe", url],
                          capture_output=True, text=True, timeout=30)
    assert down.returncode == 1 and "refused" in down.stderr
