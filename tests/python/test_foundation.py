"""The system endpoints through the official generated client, daytona-toolbox-api-client 0.226.1."""

from __future__ import annotations

import os
import shutil
import time

import httpx
import pytest
from daytona_toolbox_api_client import InfoApi, ServerApi, SystemApi
from daytona_toolbox_api_client.exceptions import BadRequestException, UnauthorizedException
from daytona_toolbox_api_client.models import InitializeRequest, UpdateEnvRequest

from conftest import assert_envelope, make_api_client


def test_version(api_client):
    version = InfoApi(api_client).get_version()
    assert version["version"].startswith("v")


def test_user_home_dir_is_the_daemon_home(api_client):
    assert InfoApi(api_client).get_user_home_dir().dir == os.environ["HOME"]


def test_work_dir_is_the_configured_dir(api_client, daemon):
    assert InfoApi(api_client).get_work_dir().dir == str(daemon.work)


def test_init_and_env(api_client):
    server = ServerApi(api_client)
    reply = server.initialize(InitializeRequest(token="telemetry"))
    assert reply["message"] == "Auth token set and telemetry initialized successfully"
    reply = server.update_env(UpdateEnvRequest(set={"TOOLBOXD_PY": "1"}, unset=["NOPE"]))
    assert reply["message"] == "Environment updated successfully"


def test_env_rejects_invalid_names(api_client):
    with pytest.raises(BadRequestException) as err:
        ServerApi(api_client).update_env(UpdateEnvRequest(set={"A=B": "1"}))
    assert "invalid environment variable name" in err.value.body


def test_metrics_are_plausible(api_client):
    metrics = SystemApi(api_client).get_system_metrics()
    assert 1 <= metrics.cpu_count <= os.cpu_count()
    assert 0 <= metrics.cpu_used_pct <= 100
    total, used, free = shutil.disk_usage("/")
    assert metrics.disk_total == total
    assert abs(metrics.disk_free - free) < 1 << 30
    assert metrics.mem_used > 1 << 20
    assert abs(metrics.timestamp_unix - time.time()) < 30
    assert metrics.timestamp.endswith("Z")


def test_cpu_usage_appears_after_two_samples(api_client):
    # The sampler reads CPU time every 5 s; after two readings the figure is a real measurement.
    time.sleep(5.5)
    deadline = time.time() + 3
    while time.time() < deadline:
        busy = sum(i * i for i in range(200_000))
        assert busy
    metrics = SystemApi(api_client).get_system_metrics()
    assert 0 <= metrics.cpu_used_pct <= 100


@pytest.mark.parametrize(
    "method,path,body,status,code",
    [
        ("POST", "/init", "not json", 400, "INVALID_REQUEST_BODY"),
        ("POST", "/env", "", 400, "INVALID_REQUEST_BODY"),
        ("POST", "/env", '{"set": ["x"]}', 400, "INVALID_REQUEST_BODY"),
        ("POST", "/env", '{"unset": "x"}', 400, "INVALID_REQUEST_BODY"),
        ("GET", "/nope", None, 404, "NOT_FOUND"),
        ("DELETE", "/version", None, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/system/metrics", None, 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_bad_input_gets_the_envelope(daemon, method, path, body, status, code):
    response = httpx.request(method, daemon.url + path, content=body)
    assert_envelope(response, status, code)


def test_sdk_error_mapping_uses_source_and_code(daemon):
    from daytona._utils.errors import intercept_errors
    from daytona.common.errors import DaytonaNotFoundError

    api = make_api_client(daemon)

    @intercept_errors(message_prefix="probe: ")
    def call():
        # The generated client's own response handling, on a route the daemon does not have.
        response = api.call_api("GET", daemon.url + "/no/such/route")
        response.read()
        api.response_deserialize(response, {"200": "object"})

    with pytest.raises(DaytonaNotFoundError) as err:
        call()
    assert err.value.code == "NOT_FOUND"
    assert err.value.source == "DAYTONA_DAEMON"
    assert "no route for GET /no/such/route" in str(err.value)


def test_token_is_required_when_configured(start_daemon):
    from daytona_toolbox_api_client import ApiClient, Configuration

    d = start_daemon(token="py-token")
    with pytest.raises(UnauthorizedException):
        InfoApi(ApiClient(Configuration(host=d.url))).get_version()
    assert InfoApi(make_api_client(d)).get_version()["version"].startswith("v")
    assert_envelope(httpx.get(d.url + "/work-dir", headers={"Authorization": "Bearer nope"}), 401, "UNAUTHORIZED")
