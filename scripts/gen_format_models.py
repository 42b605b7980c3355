#!/usr/bin/env python3
"""Writes tiny `add` models in the non-ONNX formats the OpenVINO backend reads:
IR (model.xml + model.bin), TensorFlow SavedModel, frozen TensorFlow graph
(.pb), TFLite and PaddlePaddle (.pdmodel), under models/add_<format>/1/. Each computes, like models/add,
sum = a + b and diff = a - b over FP32 [batch, 16].

Also two SavedModels as TF Serving serves them: models/add_signatures/1
(tf.saved_model.save with three signatures: serving_default is the add
above, `scale` multiplies x by a variable of 2.0, `parse_examples` does the
same to the `x` feature of serialized tf.Examples, which OpenVINO cannot
run) and models/keras_dense/1 (Keras
`model.export` of Dense(3) with kernel[i, j] = (j + 1) / 16 and bias
[0, 1, 2], so ones in give [1, 3, 5]). `gen_format_models.py savedmodels`
writes only these two (needs tensorflow-cpu only).

Needs tensorflow-cpu, paddlepaddle 2.6 and openvino (not in the test venv:
install them in a scratch venv, `pip install tensorflow-cpu paddlepaddle==2.6.2
openvino onnx`). The output is
committed; every file is a few kilobytes.
"""
import pathlib
import shutil
import subprocess
import sys

if "paddle" not in sys.argv[1:]:
    # PaddlePaddle and TensorFlow crash when loaded in one process: the paddle
    # model is written by a second run of this script (see __main__).
    import openvino as ov
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

MODELS = pathlib.Path(__file__).resolve().parent.parent / "models"


def add_module():
    spec = [tf.TensorSpec([None, 16], tf.float32, name="a"), tf.TensorSpec([None, 16], tf.float32, name="b")]

    class Add(tf.Module):
        @tf.function(input_signature=spec)
        def __call__(self, a, b):
            return {"sum": tf.add(a, b, name="sum"), "diff": tf.subtract(a, b, name="diff")}

    return Add()


def folder(name):
    path = MODELS / name / "1"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def ir():
    model = ov.convert_model(str(MODELS / "add" / "1" / "model.onnx"))
    ov.save_model(model, str(folder("add_ir") / "model.xml"), compress_to_fp16=False)


def saved_model():
    module = add_module()
    tf.saved_model.save(module, str(folder("add_savedmodel")), signatures={"serving_default": module.__call__})


def signatures_saved_model():
    spec = [tf.TensorSpec([None, 16], tf.float32, name="a"), tf.TensorSpec([None, 16], tf.float32, name="b")]

    class Signatures(tf.Module):
        def __init__(self):
            super().__init__()
            self.factor = tf.Variable(tf.fill([16], 2.0), name="factor")

        @tf.function(input_signature=spec)
        def add(self, a, b):
            return {"sum": tf.add(a, b), "diff": tf.subtract(a, b)}

        @tf.function(input_signature=[tf.TensorSpec([None, 16], tf.float32, name="x")])
        def scale(self, x):
            return {"scaled": x * self.factor}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def parse_examples(self, examples):
            features = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([16], tf.float32)})
            return {"scaled": features["x"] * self.factor}

    module = Signatures()
    signatures = {"serving_default": module.add, "scale": module.scale, "parse_examples": module.parse_examples}
    tf.saved_model.save(module, str(folder("add_signatures")), signatures=signatures)


def keras_saved_model():
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((16,), name="features"), keras.layers.Dense(3, name="dense")])
    kernel = np.tile(np.arange(1, 4, dtype=np.float32) / 16, (16, 1))
    model.layers[-1].set_weights([kernel, np.arange(3, dtype=np.float32)])
    model.export(str(folder("keras_dense")))


def frozen():
    concrete = add_module().__call__.get_concrete_function()
    graph = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    tf.io.write_graph(graph, str(folder("add_frozen")), "model.pb", as_text=False)


def tflite():
    module = add_module()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    (folder("add_tflite") / "model.tflite").write_bytes(converter.convert())


def paddle_model():
    import paddle

    paddle.enable_static()
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup):
        a = paddle.static.data("a", [-1, 16], "float32")
        b = paddle.static.data("b", [-1, 16], "float32")
        total, diff = paddle.add(a, b, name="sum"), paddle.subtract(a, b, name="diff")
        exe = paddle.static.Executor(paddle.CPUPlace())
        exe.run(startup)
        paddle.static.save_inference_model(str(folder("add_paddle") / "model"), [a, b], [total, diff], exe, program=main)


if __name__ == "__main__":
    if "savedmodels" in sys.argv[1:]:
        signatures_saved_model()
        keras_saved_model()
        for name in ["add_signatures", "keras_dense"]:
            model = ov.Core().read_model(str(MODELS / name / "1"))
            print(name, [(i.any_name, i.partial_shape) for i in model.inputs], [(o.any_name, o.partial_shape) for o in model.outputs])
        sys.exit(0)
    if "paddle" in sys.argv[1:]:
        paddle_model()
        sys.exit(0)
    subprocess.run([sys.executable, __file__, "paddle"], check=True)
    ir()
    saved_model()
    frozen()
    tflite()
    # What OpenVINO reads from each (a SavedModel is read by its folder).
    for name, file in [("add_ir", "model.xml"), ("add_savedmodel", ""), ("add_frozen", "model.pb"), ("add_tflite", "model.tflite"), ("add_paddle", "model.pdmodel")]:
        model = ov.Core().read_model(str(MODELS / name / "1" / file))
        print(name, [(i.any_name, i.partial_shape) for i in model.inputs], [(o.any_name, o.partial_shape) for o in model.outputs])
