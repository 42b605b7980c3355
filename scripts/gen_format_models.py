#!/usr/bin/env python3
"""Writes tiny `add` models in the non-ONNX formats the OpenVINO backend reads:
IR (model.xml + model.bin), TensorFlow SavedModel, frozen TensorFlow graph
(.pb) and TFLite, under models/add_<format>/1/. Each computes, like models/add,
sum = a + b and diff = a - b over FP32 [batch, 16].

Needs tensorflow-cpu and openvino (not in the test venv: install them in a
scratch venv, `pip install tensorflow-cpu openvino onnx`). The output is
committed; every file is a few kilobytes.
"""
import pathlib
import shutil

import openvino as ov
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

MODELS = pathlib.Path(__file__).resolve().parent.parent / "models"
SPEC = [tf.TensorSpec([None, 16], tf.float32, name="a"), tf.TensorSpec([None, 16], tf.float32, name="b")]


class Add(tf.Module):
    @tf.function(input_signature=SPEC)
    def __call__(self, a, b):
        return {"sum": tf.add(a, b, name="sum"), "diff": tf.subtract(a, b, name="diff")}


def folder(name):
    path = MODELS / name / "1"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def ir():
    model = ov.convert_model(str(MODELS / "add" / "1" / "model.onnx"))
    ov.save_model(model, str(folder("add_ir") / "model.xml"), compress_to_fp16=False)


def saved_model():
    module = Add()
    tf.saved_model.save(module, str(folder("add_savedmodel")), signatures={"serving_default": module.__call__})


def frozen():
    concrete = Add().__call__.get_concrete_function()
    graph = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    tf.io.write_graph(graph, str(folder("add_frozen")), "model.pb", as_text=False)


def tflite():
    module = Add()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    (folder("add_tflite") / "model.tflite").write_bytes(converter.convert())


if __name__ == "__main__":
    ir()
    saved_model()
    frozen()
    tflite()
    # What OpenVINO reads from each (a SavedModel is read by its folder).
    for name, file in [("add_ir", "model.xml"), ("add_savedmodel", ""), ("add_frozen", "model.pb"), ("add_tflite", "model.tflite")]:
        model = ov.Core().read_model(str(MODELS / name / "1" / file))
        print(name, [(i.any_name, i.partial_shape) for i in model.inputs], [(o.any_name, o.partial_shape) for o in model.outputs])
