"""Encoded images through the real clients: tritonclient (HTTP binary and
gRPC, BYTES), ovmsclient (string_val / b64) and curl (a raw JPEG body),
checked pixel by pixel against Pillow's decoding and OpenCV's resizing."""
import json
import pathlib
import shutil
import subprocess

import cv2
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from ovmsclient import make_grpc_client, make_http_client
from PIL import Image
from tritonclient.utils import InferenceServerException

from conftest import REPO, start_server

IMAGES = REPO / "tests" / "data" / "images"
CONFIG = REPO / "models" / "image_config.json"
CURL = shutil.which("curl")

# Pillow (libjpeg-turbo) and inferd (zune-jpeg) round their IDCT and
# chroma upsampling differently: a JPEG's values may differ by a few levels,
# rarely; lossless PNGs must be identical.
JPEG_MAX_DIFFERENCE = 6
JPEG_MEAN_DIFFERENCE = 1.0


@pytest.fixture(scope="module")
def image_server(tmp_path_factory):
    yield from start_server(tmp_path_factory, config=CONFIG)


def read(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def pillow_bgr(name: str) -> np.ndarray:
    """Pillow's decoding as OVMS gives it to a model: BGR, 0-255."""
    image = Image.open(IMAGES / name)
    if image.mode.startswith("I;16"):
        values = (np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(values[:, :, None], 3, axis=2).astype(np.float32)
    return np.asarray(image.convert("RGB"))[:, :, ::-1].astype(np.float32)


def assert_close_to_pillow(got: np.ndarray, name: str):
    want = pillow_bgr(name)
    assert got.shape == want.shape, name
    difference = np.abs(got - want)
    if name.endswith(".png"):
        assert difference.max() == 0, name
    else:
        assert difference.max() <= JPEG_MAX_DIFFERENCE, (name, difference.max())
        assert difference.mean() <= JPEG_MEAN_DIFFERENCE, (name, difference.mean())


def bytes_input(module, names):
    data = np.array([read(n) for n in names], dtype=np.object_)
    tensor = module.InferInput("image", [len(names)], "BYTES")
    return tensor, data


NAMES = ["photo.jpg", "photo_444.jpg", "progressive.jpg", "rgb.png", "rgba.png", "grey.png"]


def test_tritonclient_http_binary_images_match_pillow(image_server):
    client = httpclient.InferenceServerClient(image_server.rest_url)
    tensor, data = bytes_input(httpclient, NAMES)
    tensor.set_data_from_numpy(data, binary_data=True)
    result = client.infer("image_nhwc", [tensor]).as_numpy("pixels")
    # Every image of the batch has the first one's size (all are 40x30 here).
    assert result.shape == (len(NAMES), 30, 40, 3)
    for index, name in enumerate(NAMES):
        assert_close_to_pillow(result[index], name)


def test_tritonclient_grpc_images_match_pillow(image_server):
    client = grpcclient.InferenceServerClient(image_server.grpc_url)
    for name in NAMES:
        tensor, data = bytes_input(grpcclient, [name])
        tensor.set_data_from_numpy(data)
        result = client.infer("image_nhwc", [tensor]).as_numpy("pixels")
        assert_close_to_pillow(result[0], name)


def test_resizing_matches_opencv_bilinear(image_server):
    client = httpclient.InferenceServerClient(image_server.rest_url)
    for name in ["photo.jpg", "rgb.png"]:
        tensor, data = bytes_input(httpclient, [name])
        tensor.set_data_from_numpy(data, binary_data=True)
        decoded = client.infer("image_nhwc", [tensor]).as_numpy("pixels")[0]
        resized = client.infer("image_fixed", [tensor]).as_numpy("pixels")[0]
        want = cv2.resize(decoded.astype(np.uint8), (8, 8), interpolation=cv2.INTER_LINEAR)
        assert resized.shape == (8, 8, 3)
        # Same source pixels: OpenCV's fixed-point bilinear to within one level.
        assert np.abs(resized - want.astype(np.float32)).max() <= 1, name


def test_grey_images_for_a_one_channel_input(image_server):
    client = httpclient.InferenceServerClient(image_server.rest_url)
    tensor, data = bytes_input(httpclient, ["grey.png"])
    tensor.set_data_from_numpy(data, binary_data=True)
    result = client.infer("image_grey", [tensor]).as_numpy("pixels")
    want = np.asarray(Image.open(IMAGES / "grey.png")).astype(np.float32)
    assert result.shape == (1, 30, 40, 1)
    assert np.array_equal(result[0, :, :, 0], want)


def test_a_corrupt_image_is_a_400_naming_it(image_server):
    client = httpclient.InferenceServerClient(image_server.rest_url)
    tensor, data = bytes_input(httpclient, ["photo.jpg", "corrupt.jpg"])
    tensor.set_data_from_numpy(data, binary_data=True)
    with pytest.raises(InferenceServerException) as error:
        client.infer("image_nhwc", [tensor])
    assert error.value.status() == "400"
    assert "input image, image 1" in error.value.message()


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_ovmsclient_sends_encoded_images(image_server, transport):
    if transport == "rest":
        client = make_http_client(image_server.rest_url)
    else:
        client = make_grpc_client(image_server.grpc_url)
    result = client.predict({"image": read("rgb.png")}, "image_nhwc")
    assert result.shape == (1, 30, 40, 3)
    assert_close_to_pillow(result[0], "rgb.png")
    # The model's metadata, as ovmsclient reads it.
    metadata = client.get_model_metadata("image_nhwc")
    assert metadata["inputs"]["image"]["shape"] == [-1, -1, -1, 3]


def test_curl_raw_jpeg_body(image_server):
    if CURL is None:
        pytest.fail("curl is needed for the raw binary interop tests", pytrace=False)
    run = subprocess.run(
        [CURL, "-s", "--noproxy", "*", "-D", "-", "-X", "POST",
         "-H", "Inference-Header-Content-Length: 0",
         "-H", "Content-Type: application/octet-stream",
         "--data-binary", f"@{IMAGES / 'photo.jpg'}",
         f"{image_server.rest_base}/v2/models/image_nhwc/infer"],
        capture_output=True, timeout=30, check=True)
    head, _, payload = run.stdout.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == 200, run.stdout[:500]
    length = next(int(line.split(b":", 1)[1]) for line in head.splitlines()
                  if line.lower().startswith(b"inference-header-content-length:"))
    header = json.loads(payload[:length])
    assert header["outputs"][0]["shape"] == [1, 30, 40, 3]
    pixels = np.frombuffer(payload[length:], dtype=np.float32).reshape(30, 40, 3)
    assert_close_to_pillow(pixels, "photo.jpg")
