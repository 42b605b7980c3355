"""API and admin keys with the real clients: tritonclient over HTTP and
gRPC sends the key as an `authorization` header / metadata."""
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import add_inputs, start_server

API_KEY = "interop-api-key"
ADMIN_KEY = "interop-admin-key"
# tritonclient.http adds its own headers to the dict it is given: tests pass
# copies (see fresh).
API = {"authorization": f"Bearer {API_KEY}"}
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
WRONG = {"authorization": "Bearer not-the-key"}


def fresh(headers):
    return dict(headers) if headers is not None else None


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys")
    (keys / "api").write_text(API_KEY)
    (keys / "admin").write_text(ADMIN_KEY)
    yield from start_server(
        tmp_path_factory,
        ["--api_key_file", str(keys / "api"), "--admin_key_file", str(keys / "admin")],
    )


@pytest.mark.parametrize("headers, ok", [(None, False), (WRONG, False), (API, True), (ADMIN, True)])
def test_http_inference_needs_a_key(keyed_server, headers, ok):
    client = httpclient.InferenceServerClient(url=keyed_server.rest_url)
    inputs, values = add_inputs(httpclient)
    try:
        if ok:
            result = client.infer("add", inputs, headers=fresh(headers))
            np.testing.assert_array_equal(result.as_numpy("sum"), values * 2)
        else:
            with pytest.raises(InferenceServerException, match="credentials"):
                client.infer("add", inputs, headers=fresh(headers))
        assert client.is_server_live()
    finally:
        client.close()


@pytest.mark.parametrize("headers, ok", [(None, False), (WRONG, False), (API, True)])
def test_grpc_inference_needs_a_key(keyed_server, headers, ok):
    client = grpcclient.InferenceServerClient(
        url=keyed_server.grpc_url, channel_args=[("grpc.enable_http_proxy", 0)]
    )
    inputs, values = add_inputs(grpcclient)
    try:
        if ok:
            result = client.infer("add", inputs, headers=fresh(headers))
            np.testing.assert_array_equal(result.as_numpy("sum"), values * 2)
        else:
            with pytest.raises(InferenceServerException) as refused:
                client.infer("add", inputs, headers=fresh(headers))
            assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
        assert client.is_server_live()
    finally:
        client.close()


def test_repository_calls_need_the_admin_key(keyed_server):
    http = httpclient.InferenceServerClient(url=keyed_server.rest_url)
    grpc = grpcclient.InferenceServerClient(
        url=keyed_server.grpc_url, channel_args=[("grpc.enable_http_proxy", 0)]
    )
    try:
        with pytest.raises(InferenceServerException, match="admin key"):
            http.unload_model("add", headers=fresh(API))
        with pytest.raises(InferenceServerException) as refused:
            grpc.unload_model("add", headers=fresh(API))
        assert refused.value.status() == "StatusCode.PERMISSION_DENIED"
        assert http.is_model_ready("add", headers=fresh(API))
        http.unload_model("add", headers=fresh(ADMIN))
        assert not http.is_model_ready("add", headers=fresh(API))
        grpc.load_model("add", headers=fresh(ADMIN))
        assert grpc.is_model_ready("add", headers=fresh(API))
    finally:
        http.close()
        grpc.close()
