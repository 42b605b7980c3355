#!/usr/bin/env python3
"""Writes the tiny ONNX models under models/ that the tests and the quick start use.

Run with the project venv (scripts/venv.sh prints its python). The output is
committed; rerun only to change the models. Every model is a few hundred bytes.
"""
import json
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = pathlib.Path(__file__).resolve().parent.parent / "models"
OPSET = [helper.make_opsetid("", 13)]


def save(graph, name, version):
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="inferd-gen")
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder = ROOT / name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))


def add_model():
    """a, b: FP32 [batch, 16] -> sum = a + b, diff = a - b."""
    shape = ["batch", 16]
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"]), helper.make_node("Sub", ["a", "b"], ["diff"])],
        "add",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("sum", "diff")],
    )
    save(graph, "add", 1)


def versioned_model():
    """x: FP32 [1, 4] (fixed) -> y = x + version, for versions 1..3."""
    for version in (1, 2, 3):
        offset = helper.make_tensor("offset", TensorProto.FLOAT, [1], [float(version)])
        graph = helper.make_graph(
            [helper.make_node("Add", ["x", "offset"], ["y"])],
            "versioned",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
            initializer=[offset],
        )
        save(graph, "versioned", version)


IDENTITY_TYPES = {
    "fp32": TensorProto.FLOAT,
    "fp64": TensorProto.DOUBLE,
    "fp16": TensorProto.FLOAT16,
    "int8": TensorProto.INT8,
    "int16": TensorProto.INT16,
    "int32": TensorProto.INT32,
    "int64": TensorProto.INT64,
    "uint8": TensorProto.UINT8,
    "uint16": TensorProto.UINT16,
    "uint32": TensorProto.UINT32,
    "uint64": TensorProto.UINT64,
    "bool": TensorProto.BOOL,
    "bytes": TensorProto.STRING,
}


def identity_models():
    """identity_<type>: input [rows, cols] -> output, same values, one model per type."""
    for suffix, elem in IDENTITY_TYPES.items():
        graph = helper.make_graph(
            [helper.make_node("Identity", ["input"], ["output"])],
            f"identity_{suffix}",
            [helper.make_tensor_value_info("input", elem, ["rows", "cols"])],
            [helper.make_tensor_value_info("output", elem, ["rows", "cols"])],
        )
        save(graph, f"identity_{suffix}", 1)


def unnamed_dims_models():
    """Inputs whose first dimension is unnamed (neither dim_value nor dim_param),
    as several exporters write it:
    unnamed_dims: a, b FP32 [?, 4] -> sum = a + b;
    double: x FP32 [?, 4] -> y = x + x (one input, one variable dimension)."""
    unnamed = [None, 4]
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"])],
        "unnamed_dims",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, unnamed) for n in ("a", "b")],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, unnamed)],
    )
    save(graph, "unnamed_dims", 1)
    doubling_model("double", unnamed)


def doubling_model(name, shape):
    """`name`: x FP32 `shape` -> y = x + x."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
    )
    save(graph, name, 1)


def double_rows_model():
    """double_rows: x FP32 [batch, 1, 4] -> y = x + x (what a pipeline gathers
    from branches of [1, 4] rows)."""
    doubling_model("double_rows", ["batch", 1, 4])


def accumulator_model():
    """accumulator: x, state_in FP32 [1, 4] -> y = x + state_in, state_out = y
    (a stateful model whose state the server feeds back per sequence)."""
    shape = [1, 4]
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "state_in"], ["y"]),
         helper.make_node("Identity", ["y"], ["state_out"])],
        "accumulator",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "state_in")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("y", "state_out")],
    )
    save(graph, "accumulator", 1)


def sequence_controls_model():
    """sequence_controls: the accumulator (x, state_in FP32 [1, 4] -> y,
    state_out) with Triton's control inputs START FP32 [1], END INT32 [1]
    and CORRID UINT64 [1], which the server fills and the model hands back
    as start_seen, end_seen and corrid_seen."""
    shape = [1, 4]
    controls = [("START", TensorProto.FLOAT), ("END", TensorProto.INT32), ("CORRID", TensorProto.UINT64)]
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "state_in"], ["y"]),
         helper.make_node("Identity", ["y"], ["state_out"]),
         helper.make_node("Identity", ["START"], ["start_seen"]),
         helper.make_node("Identity", ["END"], ["end_seen"]),
         helper.make_node("Identity", ["CORRID"], ["corrid_seen"])],
        "sequence_controls",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "state_in")]
        + [helper.make_tensor_value_info(n, t, [1]) for n, t in controls],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("y", "state_out")]
        + [helper.make_tensor_value_info(f"{n.lower()}_seen", t, [1]) for n, t in controls],
    )
    save(graph, "sequence_controls", 1)


def accumulator_ov_model():
    """accumulator_ov (OpenVINO IR): x FP32 [1, 4] -> y = x + acc, acc = y,
    with the state inside the model (ReadValue/Assign on the variable
    "acc", initially zeros). Written with the openvino wheel that
    scripts/install-runtimes.sh unpacks into runtimes/."""
    sys.path.insert(0, str(ROOT.parent / "runtimes"))
    import openvino as ov
    from openvino import opset13 as ops

    info = ov.op.util.VariableInfo()
    info.data_shape = ov.PartialShape([1, 4])
    info.data_type = ov.Type.f32
    info.variable_id = "acc"
    variable = ov.op.util.Variable(info)
    x = ops.parameter([1, 4], np.float32, name="x")
    x.output(0).get_tensor().set_names({"x"})
    state = ops.read_value(ops.constant(np.zeros((1, 4), np.float32)), variable)
    total = ops.add(x, state)
    total.output(0).get_tensor().set_names({"y"})
    model = ov.Model(results=[ops.result(total)], sinks=[ops.assign(total, variable)],
                     parameters=[x], name="accumulator_ov")
    folder = ROOT / "accumulator_ov" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(folder / "model.xml"))


def echo_bytes_model():
    """echo_bytes: text BYTES [1] -> echo, the same element (Triton's raw
    binary requests send a BYTES [1] input as the whole body)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["echo"])],
        "echo_bytes",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [1])],
        [helper.make_tensor_value_info("echo", TensorProto.STRING, [1])],
    )
    save(graph, "echo_bytes", 1)


def image_models():
    """Identities for encoded-image inputs: image_nhwc FP32 [N, H, W, 3]
    (H, W dynamic), image_fixed FP32 [N, 8, 8, 3], image_grey FP32
    [N, H, W, 1], and image_nchw FP32 [N, 3, H, W] (served with a layout
    conversion and pre-processing by models/image_config.json)."""
    shapes = {
        "image_nhwc": ["n", "h", "w", 3],
        "image_fixed": ["n", 8, 8, 3],
        "image_grey": ["n", "h", "w", 1],
        "image_nchw": ["n", 3, "h", "w"],
    }
    for name, shape in shapes.items():
        graph = helper.make_graph(
            [helper.make_node("Identity", ["image"], ["pixels"])],
            name,
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, shape)],
        )
        save(graph, name, 1)


def image_config():
    """models/image_config.json: the image models; image_nchw once per engine,
    each with the same layout conversion and pre-processing."""
    entries = [
        {"config": {"name": n, "base_path": n}} for n in ("image_nhwc", "image_fixed", "image_grey")
    ]
    for engine in ("openvino", "onnxruntime", "tract"):
        entries.append({"config": {
            "name": f"image_nchw_{engine}",
            "base_path": "image_nchw",
            "backend": engine,
            "layout": "NHWC:NCHW",
            "color_format": "BGR:RGB",
            "mean": [10.0, 20.0, 30.0],
            "scale": "[2, 4, 8]",
        }})
    (ROOT / "image_config.json").write_text(
        json.dumps({"model_config_list": entries}, indent=2) + "\n"
    )


def config():
    """models/config.json serving every model above (relative base paths)."""
    names = ["add", "versioned"] + [f"identity_{s}" for s in IDENTITY_TYPES]
    names += ["unnamed_dims", "double", "echo_bytes"]
    entries = []
    for name in names:
        entry = {"name": name, "base_path": name}
        if name == "versioned":
            entry["model_version_policy"] = {"all": {}}
            entry["version_labels"] = {"stable": 1, "canary": 2}
        if name in ("identity_int64", "identity_uint64", "identity_bytes", "echo_bytes"):
            # OpenVINO's CPU plugin computes 64-bit integers in 32 bits, and
            # ONNX Runtime strings cannot hold NUL bytes; the interop tests
            # send full-range values and arbitrary bytes, so pin tract.
            entry["backend"] = "tract"
        entries.append({"config": entry})
    (ROOT / "config.json").write_text(json.dumps({"model_config_list": entries}, indent=2) + "\n")


def pipeline_config():
    """models/pipeline_config.json: `double`, `versioned` (latest) and `add`,
    with two pipelines in OVMS's schema: `chain` (in -> double -> versioned:
    2 in + 3) and `diamond` (a, b -> add's sum and add's diff side by side ->
    add again: 2a, 2b)."""
    def source(node, item):
        return {"node_name": node, "data_item": item}

    def node(name, model, inputs, outputs):
        return {"name": name, "model_name": model, "type": "DL model", "inputs": inputs,
                "outputs": [{"data_item": d, "alias": a} for d, a in outputs]}

    ab = [{"a": source("request", "a")}, {"b": source("request", "b")}]
    pipelines = [
        {"name": "chain", "inputs": ["in"],
         "nodes": [node("twice", "double", [{"x": source("request", "in")}], [("y", "doubled")]),
                   node("plus", "versioned", [{"x": source("twice", "doubled")}], [("y", "out")])],
         "outputs": [{"result": source("plus", "out")}]},
        {"name": "diamond", "inputs": ["a", "b"],
         "nodes": [node("left", "add", ab, [("sum", "s")]),
                   node("right", "add", ab, [("diff", "d")]),
                   node("join", "add", [{"a": source("left", "s")}, {"b": source("right", "d")}],
                        [("sum", "a2"), ("diff", "b2")])],
         "outputs": [{"twice_a": source("join", "a2")}, {"twice_b": source("join", "b2")}]},
    ]
    models = [{"config": {"name": n, "base_path": n}} for n in ("double", "versioned", "add")]
    (ROOT / "pipeline_config.json").write_text(json.dumps(
        {"model_config_list": models, "pipeline_config_list": pipelines}, indent=2) + "\n")


def stateful_config():
    """models/stateful_config.json: the accumulator as a stateful model, its
    state fed back by the server."""
    entry = {"name": "accumulator", "base_path": "accumulator", "stateful": True,
             "max_sequence_number": 100,
             "sequence_batching": {"state": [{"input_name": "state_in",
                                              "output_name": "state_out"}]}}
    (ROOT / "stateful_config.json").write_text(
        json.dumps({"model_config_list": [{"config": entry}]}, indent=2) + "\n")


if __name__ == "__main__":
    add_model()
    versioned_model()
    identity_models()
    unnamed_dims_models()
    echo_bytes_model()
    double_rows_model()
    accumulator_model()
    sequence_controls_model()
    accumulator_ov_model()
    image_models()
    config()
    image_config()
    pipeline_config()
    stateful_config()
    print(f"models written under {ROOT}")
