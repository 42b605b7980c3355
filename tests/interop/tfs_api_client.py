"""TensorFlow Serving's own Python client against inferd, run with the venv of
scripts/venv-tf.sh (tensorflow-serving-api and TensorFlow) by
test_tensorflow_serving_api.py:

  tfs_api_client.py warmup VERSION_DIR   writes assets.extra/tf_serving_warmup_requests
                                         with tf.io.TFRecordWriter: one Predict record
                                         per signature of add_signatures
  tfs_api_client.py query MODEL TARGET.. calls PredictionServiceStub and
                                         ModelServiceStub on each gRPC target
                                         (host:port or unix:PATH); prints JSON
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc, predict_pb2,
    prediction_log_pb2, prediction_service_pb2_grpc)

RAMP = np.arange(1, 17, dtype=np.float32).reshape(1, 16)


def predict_request(model, signature):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if signature:
        request.model_spec.signature_name = signature
    names = ["x"] if signature == "scale" else ["a", "b"]
    for name in names:
        request.inputs[name].CopyFrom(tf.make_tensor_proto(RAMP))
    return request


def warmup(version_dir):
    folder = os.path.join(version_dir, "assets.extra")
    os.makedirs(folder, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, "tf_serving_warmup_requests")) as writer:
        for signature in ["", "scale"]:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=predict_request("sig", signature)))
            writer.write(log.SerializeToString())


def query(model, target):
    # grpcio sends the percent-encoded socket path as :authority, which the
    # HTTP/2 library refuses; "localhost" is what grpc-go sends.
    options = [("grpc.default_authority", "localhost")] if target.startswith("unix:") else []
    channel = grpc.insecure_channel(target, options=options)
    predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    found = {}
    for signature in ["", "scale"]:
        answer = predictions.Predict(predict_request(model, signature), timeout=10)
        found[signature or "default"] = {
            "signature_name": answer.model_spec.signature_name,
            "version": answer.model_spec.version.value,
            "outputs": {k: tf.make_ndarray(v).tolist() for k, v in answer.outputs.items()},
        }
    try:
        predictions.Predict(predict_request(model, "nope"), timeout=10)
        found["nope"] = "answered"
    except grpc.RpcError as error:
        found["nope"] = {"code": error.code().name, "details": error.details()}
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = model
    metadata = predictions.GetModelMetadata(request, timeout=10)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signature_map)
    found["signatures"] = {
        name: {"inputs": {k: v.name for k, v in d.inputs.items()},
               "outputs": sorted(d.outputs), "method": d.method_name}
        for name, d in signature_map.signature_def.items()}
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = model
    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request, timeout=10)
    found["status"] = [get_model_status_pb2.ModelVersionStatus.State.Name(v.state)
                       for v in status.model_version_status]
    channel.close()
    return found


if __name__ == "__main__":
    if sys.argv[1] == "warmup":
        warmup(sys.argv[2])
    elif sys.argv[1] == "query":
        model = sys.argv[2]
        print(json.dumps({target: query(model, target) for target in sys.argv[3:]}))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
