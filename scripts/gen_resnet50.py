#!/usr/bin/env python3
"""Writes a ResNet-50-shaped ONNX model with random weights (about 100 MB) for
benchmarks: input `data` FP32 [batch, 3, 224, 224], output `logits` FP32
[batch, 1000]. Batch norms are folded into the convolutions, as inference
graphs have them. Never committed: the default output is under target/.

Usage: .venv/bin/python scripts/gen_resnet50.py [OUT_DIR]
(OUT_DIR default: target/bench-models/resnet50; the model goes to OUT_DIR/1/model.onnx)
"""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(50)
nodes, weights = [], []


def conv(x, cin, cout, k, stride=1, relu=True, name=""):
    w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
    b = np.zeros(cout, dtype=np.float32)
    weights.extend([numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")])
    pad = k // 2
    out = f"{name}_out"
    nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [out], kernel_shape=[k, k],
                                  strides=[stride, stride], pads=[pad] * 4))
    if relu:
        nodes.append(helper.make_node("Relu", [out], [f"{name}_relu"]))
        return f"{name}_relu"
    return out


def bottleneck(x, cin, width, stride, name):
    y = conv(x, cin, width, 1, name=f"{name}_a")
    y = conv(y, width, width, 3, stride, name=f"{name}_b")
    y = conv(y, width, width * 4, 1, relu=False, name=f"{name}_c")
    shortcut = x if (stride == 1 and cin == width * 4) else conv(x, cin, width * 4, 1, stride, relu=False, name=f"{name}_proj")
    nodes.append(helper.make_node("Add", [y, shortcut], [f"{name}_sum"]))
    nodes.append(helper.make_node("Relu", [f"{name}_sum"], [f"{name}_out"]))
    return f"{name}_out"


def build():
    x = conv("data", 3, 64, 7, 2, name="stem")
    nodes.append(helper.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    x, cin = "pool", 64
    for stage, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
        for block in range(blocks):
            stride = 2 if (block == 0 and stage > 0) else 1
            x = bottleneck(x, cin, width, stride, f"s{stage}b{block}")
            cin = width * 4
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], axis=1))
    fc_w = (rng.standard_normal((2048, 1000)) * 0.01).astype(np.float32)
    weights.append(numpy_helper.from_array(fc_w, "fc_w"))
    weights.append(numpy_helper.from_array(np.zeros(1000, dtype=np.float32), "fc_b"))
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"]))
    graph = helper.make_graph(
        nodes, "resnet50",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])],
        initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="inferd-bench")
    model.ir_version = 8
    return model


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/bench-models/resnet50") / "1"
    out.mkdir(parents=True, exist_ok=True)
    model = build()
    onnx.checker.check_model(model)
    onnx.save(model, str(out / "model.onnx"))
    params = sum(int(np.prod(w.dims)) for w in model.graph.initializer)
    print(f"wrote {out / 'model.onnx'} ({params / 1e6:.1f} M parameters)")
