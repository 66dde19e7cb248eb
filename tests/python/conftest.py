"""Fixtures that run the real toolboxd binary and point the official clients at it.

`daemon` starts `target/debug/toolboxd` (or $TOOLBOXD_BIN) on an ephemeral port with a fresh
work dir; the `sdk_*` fixtures build the official `daytona==0.226.1` SDK objects on a
`daytona_toolbox_api_client` ApiClient whose host is the daemon, exactly as a Sandbox does
behind the proxy (minus the sandbox-id path prefix, which the proxy strips).
"""

from __future__ import annotations

import os
import pathlib
import select
import signal
import subprocess
import time

import httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("TOOLBOXD_BIN", str(ROOT / "target" / "debug" / "toolboxd"))


class Daemon:
    """A running toolboxd; `url` is its base URL, `work` its work dir."""

    def __init__(self, tmp: pathlib.Path, token: str | None = None, args: tuple[str, ...] = (), env: dict | None = None):
        self.work = tmp / "work"
        self.data = tmp / "data"
        self.work.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        self.token = token
        log_level = os.environ.get("TOOLBOXD_TEST_LOG", "error")
        cmd = [BINARY, "--port", "0", "--bind", "127.0.0.1", "--log-level", log_level,
               "--work-dir", str(self.work), "--data-dir", str(self.data)]
        if token:
            cmd += ["--token", token]
        cmd += list(args)
        child_env = dict(os.environ)
        child_env.pop("TOOLBOXD_TOKEN", None)
        # Side servers (SSH, web terminal) have fixed default ports; off unless a test asks.
        child_env.update({"TOOLBOXD_SSH_PORT": "0", "TOOLBOXD_WEB_TERMINAL_PORT": "0", "TOOLBOXD_RECORDINGS_PORT": "0"})
        child_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=child_env, text=True)
        self.addr = self._read_address(timeout=20)
        self.url = f"http://{self.addr}"

    def _read_address(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("listening on "):
                    return line.strip().removeprefix("listening on ")
                if not line and self.proc.poll() is not None:
                    break
        raise RuntimeError(f"toolboxd did not start (exit code {self.proc.poll()})")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    d.stop()


@pytest.fixture
def start_daemon(tmp_path):
    """Starts daemons with custom options; all are stopped after the test."""
    started: list[Daemon] = []

    def start(**kwargs) -> Daemon:
        d = Daemon(tmp_path / f"d{len(started)}", **kwargs)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def make_api_client(d: Daemon):
    from daytona_toolbox_api_client import ApiClient, Configuration

    client = ApiClient(Configuration(host=d.url))
    for name, value in d.headers().items():
        client.set_default_header(name, value)
    client.set_default_header("X-Daytona-Source", "sdk-python")
    client.set_default_header("X-Daytona-SDK-Version", "0.226.1")
    return client


@pytest.fixture
def api_client(daemon):
    client = make_api_client(daemon)
    yield client
    client.close() if hasattr(client, "close") else None


@pytest.fixture
def http_client(daemon):
    headers = {"X-Daytona-Source": "sdk-python", "X-Daytona-SDK-Version": "0.226.1", **daemon.headers()}
    with httpx.Client(headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
def sdk_fs(api_client, http_client):
    from daytona._sync.filesystem import FileSystem
    from daytona_toolbox_api_client import FileSystemApi

    return FileSystem(FileSystemApi(api_client), http_client=http_client)


@pytest.fixture
def sdk_git(api_client):
    from daytona._sync.git import Git
    from daytona_toolbox_api_client import GitApi

    return Git(GitApi(api_client))


@pytest.fixture
def sdk_process(api_client, http_client):
    from daytona._sync.process import Process
    from daytona_toolbox_api_client import ProcessApi

    return Process("python", ProcessApi(api_client), http_client=http_client)


@pytest.fixture
def sdk_code_interpreter(api_client, http_client):
    from daytona._sync.code_interpreter import CodeInterpreter
    from daytona_toolbox_api_client import InterpreterApi

    return CodeInterpreter(InterpreterApi(api_client), http_client=http_client)


@pytest.fixture
def sdk_lsp(api_client):
    """A factory: sdk_lsp("python", "/path/to/project") -> LspServer."""
    from daytona._sync.lsp_server import LspServer
    from daytona_toolbox_api_client import LspApi

    def make(language_id: str, path_to_project: str):
        return LspServer(language_id, path_to_project, LspApi(api_client))

    return make


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    """The contract's error JSON: every field present, source DAYTONA_DAEMON."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["statusCode"] == status
    assert body["code"] == code, body
    assert body["source"] == "DAYTONA_DAEMON"
    assert body["message"]
    assert body["timestamp"]
    assert body["path"] == response.request.url.path
    assert body["method"] == response.request.method
    return body
