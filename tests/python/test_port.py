"""Ports and previews through the official generated client (`PortApi`, 0.226.1) and httpx.

Listeners are real sockets opened here; the daemon's answers are checked against them and
against the kernel (`ss`), and the preview route is driven against a real `http.server`.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading

import pytest
from daytona_toolbox_api_client import PortApi
from daytona_toolbox_api_client.exceptions import BadRequestException
from daytona_toolbox_api_client.models import IsPortInUseResponse, PortList

from conftest import assert_envelope


def listen(family: int, host: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen()
    return sock


def kernel_says_listening(port: int) -> bool | None:
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    return bool(out.stdout.strip())


@pytest.fixture
def port_api(api_client):
    return PortApi(api_client)


def test_get_ports_lists_ipv4_and_dual_stack_listeners(port_api):
    v4 = listen(socket.AF_INET, "127.0.0.1")
    # `[::]` with dual-stack on, as Node listens by default: only in /proc/net/tcp6.
    dual = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    dual.bind(("::", 0))
    dual.listen()
    ports = [v4.getsockname()[1], dual.getsockname()[1]]
    try:
        listed = port_api.get_ports()
        assert isinstance(listed, PortList)
        assert listed.ports is not None
        assert len(listed.ports) == len(set(listed.ports))
        for port in ports:
            assert port in listed.ports
            if kernel_says_listening(port) is not None:
                assert kernel_says_listening(port)
    finally:
        v4.close()
        dual.close()
    after = port_api.get_ports().ports
    for port in ports:
        assert port not in after


def test_is_port_in_use_for_any_tcp_port(port_api):
    sock = listen(socket.AF_INET6, "::1")
    port = sock.getsockname()[1]
    try:
        reply = port_api.is_port_in_use(port)
        assert isinstance(reply, IsPortInUseResponse)
        assert reply.is_in_use is True
    finally:
        sock.close()
    assert port_api.is_port_in_use(port).is_in_use is False


def test_is_port_in_use_rejects_ports_that_are_not_tcp_ports(port_api, daemon, http_client):
    for port in (0, 65536):
        with pytest.raises(BadRequestException) as err:
            port_api.is_port_in_use(port)
        assert "out of range" in err.value.body
    response = http_client.get(f"{daemon.url}/port/http/in-use")
    body = assert_envelope(response, 400, "BAD_REQUEST")
    assert body["message"] == "bad request: invalid port: must be a number between 1 and 65535"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = f"{self.path}|{self.headers.get('Host')}|{self.headers.get('X-Forwarded-For')}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_preview_route_reaches_an_app_and_its_port_shows_up(port_api, daemon, http_client):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert port in port_api.get_ports().ports
        response = http_client.get(f"{daemon.url}/proxy/{port}/a%2Fb/%40c?x=%20")
        assert response.status_code == 200
        assert response.text == f"/a%2Fb/%40c?x=%20|localhost:{port}|127.0.0.1"
        redirect = http_client.get(f"{daemon.url}/proxy/{port}", follow_redirects=False)
        assert redirect.status_code == 301
        assert redirect.headers["location"] == f"/proxy/{port}/"
    finally:
        server.shutdown()
        server.server_close()
    gone = http_client.get(f"{daemon.url}/proxy/{port}/")
    assert gone.status_code == 502
    assert gone.json()["message"].startswith("proxy upstream error: ")
    assert gone.json()["source"] == "DAYTONA_DAEMON"
