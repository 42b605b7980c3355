#!/usr/bin/env python3
"""Writes a small ONNX MLP with random weights (about 5 MB) for the dynamic
batching benchmark: input `x` FP32 [batch, 256], output `y` FP32 [batch, 10],
through Gemm+Relu layers 256->1024 and 1024->1024, then Gemm 1024->10. Its
engine time per row is small and its weights are read once per execution, so
what batching saves shows clearly. Never committed: the default output is
under target/.

Usage: .venv/bin/python scripts/gen_mlp.py [OUT_DIR [HIDDEN]]
(OUT_DIR default: target/bench-models/mlp; the model goes to OUT_DIR/1/model.onnx;
HIDDEN, default 1024, is the width of the two hidden layers)
"""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
# (inputs, outputs, followed by a Relu)
LAYERS = ((256, HIDDEN, True), (HIDDEN, HIDDEN, True), (HIDDEN, 10, False))

rng = np.random.default_rng(256)
nodes, weights = [], []


def dense(x, cin, cout, relu, name, out):
    """One Gemm (x · W + b) with He-scaled weights, then a Relu if asked;
    the layer's result is named `out`."""
    w = (rng.standard_normal((cin, cout)) * np.sqrt(2.0 / cin)).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.01).astype(np.float32)
    weights.extend([numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")])
    gemm_out = f"{name}_gemm" if relu else out
    nodes.append(helper.make_node("Gemm", [x, f"{name}_w", f"{name}_b"], [gemm_out]))
    if relu:
        nodes.append(helper.make_node("Relu", [gemm_out], [out]))
    return out


def build():
    x = "x"
    for i, (cin, cout, relu) in enumerate(LAYERS):
        x = dense(x, cin, cout, relu, f"fc{i}", "y" if i == len(LAYERS) - 1 else f"fc{i}_out")
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", LAYERS[0][0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", LAYERS[-1][1]])],
        initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="inferd-bench")
    model.ir_version = 8
    return model


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/bench-models/mlp") / "1"
    out.mkdir(parents=True, exist_ok=True)
    model = build()
    onnx.checker.check_model(model)
    onnx.save(model, str(out / "model.onnx"))
    params = sum(int(np.prod(w.dims)) for w in model.graph.initializer)
    print(f"wrote {out / 'model.onnx'} ({params / 1e6:.2f} M parameters)")
