"""`/lsp` through the official daytona==0.226.1 SDK `LspServer`, against real pylsp and
typescript-language-server started by the real daemon."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import time
import warnings

import pytest
from daytona.common.errors import DaytonaError, DaytonaLspServerNotInitializedError
from daytona.common.lsp_server import LspCompletionPosition

from conftest import assert_envelope

needs_pylsp = pytest.mark.skipif(
    shutil.which("pylsp") is None, reason="pylsp is not installed (pip install python-lsp-server)"
)
needs_tsls = pytest.mark.skipif(
    shutil.which("typescript-language-server") is None,
    reason="typescript-language-server is not installed (npm install -g typescript-language-server typescript)",
)

SHAPES_PY = '''\
class Circle:
    """A round shape."""

    def __init__(self, radius):
        self.radius = radius

    def area(self):
        """Area of the circle."""
        return 3.14159 * self.radius ** 2

    def perimeter(self):
        return 2 * 3.14159 * self.radius


c = Circle(2)
c.
'''

GREETER_TS = """\
export class Greeter {
  greeting: string;
  constructor(message: string) { this.greeting = message; }
  /** Says hello. */
  greet(): string { return 'Hello, ' + this.greeting; }
}
const g = new Greeter('x');
g.
"""


def make_project(root: pathlib.Path, name: str, files: dict[str, str]) -> pathlib.Path:
    project = root / name
    project.mkdir(parents=True, exist_ok=True)
    for file, text in files.items():
        (project / file).write_text(text)
    return project


def descendants(pid: int) -> list[tuple[int, str]]:
    """Live processes below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            try:
                cmd = pathlib.Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmd = ""
            found.append((child, cmd))
            queue.append(child)
    return found


def labels(completion_list) -> list[str]:
    return [item.label for item in completion_list.items]


@needs_pylsp
def test_python_completions_symbols_and_stop(sdk_lsp, daemon):
    project = make_project(daemon.work, "shapes", {"shapes.py": SHAPES_PY, "util.py": "def helper_area():\n    pass\n"})
    path = str(project / "shapes.py")
    lsp = sdk_lsp("python", str(project))
    lsp.start()
    lsp.did_open(path)

    members = lsp.completions(path, LspCompletionPosition(line=15, character=2))
    assert isinstance(members.items, list)
    for name in ("area", "perimeter", "radius"):
        assert any(label.startswith(name) for label in labels(members)), labels(members)
    for item in members.items:
        assert item.documentation is None or isinstance(item.documentation, dict)

    # Line 0, character 0 (the reference daemon rejected it with a 400).
    first = lsp.completions(path, LspCompletionPosition(line=0, character=0))
    assert first.items, "completions at the very start of a file"

    symbols = lsp.document_symbols(path)
    by_name = {s.name: s for s in symbols}
    assert by_name["Circle"].kind == 5
    assert by_name["Circle"].location.uri == f"file://{path}"
    assert by_name["area"].location.range.start.line == 6
    assert by_name["perimeter"].kind == 6

    found = lsp.sandbox_symbols("area")
    assert sorted(s.name for s in found) == ["area", "helper_area"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert {s.name for s in lsp.workspace_symbols("perimeter")} == {"perimeter"}

    lsp.did_close(path)
    assert any("pylsp" in cmd for _, cmd in descendants(daemon.proc.pid))
    lsp.stop()
    assert descendants(daemon.proc.pid) == [], "no language-server process survives stop"

    with pytest.raises(DaytonaLspServerNotInitializedError):
        lsp.completions(path, LspCompletionPosition(line=15, character=2))


@needs_tsls
def test_typescript_completions_and_symbols(sdk_lsp, daemon):
    project = make_project(daemon.work, "web", {"greeter.ts": GREETER_TS})
    path = str(project / "greeter.ts")
    lsp = sdk_lsp("typescript", str(project))
    lsp.start()
    lsp.did_open(path)

    members = lsp.completions(path, LspCompletionPosition(line=7, character=2))
    assert {"greet", "greeting"} <= set(labels(members))

    symbols = {s.name: s for s in lsp.document_symbols(path)}
    assert symbols["Greeter"].kind == 5
    assert symbols["greet"].kind == 6
    assert symbols["greet"].location.range.start.line == 4

    assert "Greeter" in {s.name for s in lsp.sandbox_symbols("Greet")}
    lsp.did_close(path)
    lsp.stop()
    assert descendants(daemon.proc.pid) == [], "tsserver children are gone too"


@needs_pylsp
def test_did_open_sends_the_current_content(sdk_lsp, daemon):
    first = "class Box:\n    def first_method(self):\n        pass\n\n\nb = Box()\nb.\n"
    project = make_project(daemon.work, "box", {"box.py": first})
    path = project / "box.py"
    lsp = sdk_lsp("python", str(project))
    lsp.start()
    lsp.did_open(str(path))
    assert any(label.startswith("first_method") for label in labels(lsp.completions(str(path), LspCompletionPosition(6, 2))))

    # Rewritten but not reopened: the server still works on the opened text.
    path.write_text(first.replace("class Box:\n", "class Box:\n    def second_method(self):\n        pass\n\n"))
    stale = labels(lsp.completions(str(path), LspCompletionPosition(6, 2)))
    assert not any(label.startswith("second_method") for label in stale), stale

    lsp.did_open(str(path))
    fresh = labels(lsp.completions(str(path), LspCompletionPosition(9, 2)))
    assert any(label.startswith("second_method") for label in fresh), fresh
    lsp.stop()


@needs_pylsp
def test_relative_paths_resolve_against_the_project(sdk_lsp, daemon):
    project = make_project(daemon.work, "rel", {"shapes.py": SHAPES_PY})
    lsp = sdk_lsp("python", str(project))
    lsp.start()
    # The SDK sends "file://" + the path as given, so a relative path arrives as file://shapes.py.
    lsp.did_open("shapes.py")
    assert "Circle" in {s.name for s in lsp.document_symbols("shapes.py")}
    lsp.stop()


@needs_pylsp
def test_a_crashed_server_fails_fast_and_restarts(sdk_lsp, daemon):
    project = make_project(daemon.work, "crash", {"shapes.py": SHAPES_PY})
    path = str(project / "shapes.py")
    lsp = sdk_lsp("python", str(project))
    lsp.start()
    servers = [pid for pid, cmd in descendants(daemon.proc.pid) if "pylsp" in cmd]
    assert len(servers) == 1, descendants(daemon.proc.pid)
    pid = servers[0]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    # Reaped by the daemon (which it does once it noticed), not merely a zombie whose other
    # threads may still hold stdin open for a moment.
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)

    started = time.monotonic()
    with pytest.raises(DaytonaError) as failure:
        lsp.did_open(path)
    message = str(failure.value)
    assert time.monotonic() - started < 5, message
    assert failure.value.status_code == 503, message
    assert "exited" in message and "start it again" in message

    lsp.start()
    lsp.did_open(path)
    assert "Circle" in {s.name for s in lsp.document_symbols(path)}
    lsp.stop()


def test_bad_inputs_are_contract_errors(sdk_lsp, daemon, http_client):
    project = make_project(daemon.work, "p", {"a.py": "x = 1\n"})
    with pytest.raises(DaytonaError) as failure:
        sdk_lsp("rust", str(project)).start()
    assert failure.value.status_code == 400 and failure.value.code == "BAD_REQUEST"
    assert "unsupported language" in str(failure.value)

    with pytest.raises(DaytonaError) as failure:
        sdk_lsp("python", str(project / "missing")).start()
    assert failure.value.status_code == 400 and "does not exist" in str(failure.value)

    lsp = sdk_lsp("python", str(project))
    with pytest.raises(DaytonaLspServerNotInitializedError):
        lsp.did_open(str(project / "a.py"))
    with pytest.raises(DaytonaLspServerNotInitializedError):
        lsp.document_symbols(str(project / "a.py"))
    with pytest.raises(DaytonaLspServerNotInitializedError):
        lsp.sandbox_symbols("x")
    with pytest.raises(DaytonaLspServerNotInitializedError):
        lsp.stop()

    body = assert_envelope(
        http_client.post(f"{daemon.url}/lsp/did-close", json={"languageId": "python", "pathToProject": str(project), "uri": "file:///a.py"}),
        400,
        "LSP_SERVER_NOT_INITIALIZED",
    )
    assert "POST /lsp/start" in body["message"]
    assert_envelope(http_client.post(f"{daemon.url}/lsp/start", json={"languageId": "python"}), 400, "INVALID_REQUEST_BODY")
    assert_envelope(
        http_client.get(f"{daemon.url}/lsp/workspacesymbols", params={"query": "", "languageId": "python", "pathToProject": str(project)}),
        400,
        "BAD_REQUEST",
    )


def test_a_missing_server_names_how_to_install_it(start_daemon):
    from daytona._sync.lsp_server import LspServer
    from daytona_toolbox_api_client import LspApi

    from conftest import make_api_client

    d = start_daemon(env={"PATH": "/nonexistent"})
    project = make_project(d.work, "p", {})
    client = make_api_client(d)
    for language, install in (("python", "pip install python-lsp-server"),
                              ("typescript", "npm install -g typescript-language-server typescript")):
        started = time.monotonic()
        with pytest.raises(DaytonaError) as failure:
            LspServer(language, str(project), LspApi(client)).start()
        assert time.monotonic() - started < 10, "no hang"
        assert install in str(failure.value) and "not installed" in str(failure.value)
