"""Accessibility (`/computeruse/a11y/…`) through the official SDK's
`sandbox.computer_use.accessibility`, against a real AT-SPI desktop: the tests start their own
Xvfb, a session D-Bus, the AT-SPI bus launcher (which starts the accessibility bus; the bus
starts the registry) and a GTK dialog (`zenity --entry`), then check what the daemon reports
and does against the dialog itself: the text it prints when its OK button is pressed, and its
exit.

The desktop tests skip, saying why, when one of those programs is missing (tests/run.sh
installs them). The error tests that need no desktop always run. Every process a test starts is
tagged with a variable of its own and killed at the end, with whatever it started.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import time
import uuid

import httpx
import pytest

from conftest import Daemon, assert_envelope, make_api_client

LAUNCHER = "/usr/libexec/at-spi-bus-launcher"
PROGRAMS = ("Xvfb", "dbus-daemon", "zenity", "xprop", LAUNCHER)
REGISTRY_ROOT = "org.a11y.atspi.Registry:/org/a11y/atspi/accessible/root"
PROMPT = "Your name:"


def wait_for(what: str, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


def tagged_pids(tag: str) -> list[int]:
    """Processes whose environment carries the tag: everything the desktop started, including
    the daemons D-Bus activated."""
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if tag.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


class Desktop:
    """Xvfb, a session bus, the AT-SPI bus launcher and one zenity entry dialog."""

    def __init__(self, tmp: pathlib.Path):
        self.tag = f"TOOLBOXD_A11Y_TEST_{uuid.uuid4().hex}"
        self.tmp = tmp
        self.number = next(n for n in range(120, 220) if not os.path.exists(f"/tmp/.X11-unix/X{n}")
                           and not os.path.exists(f"/tmp/.X{n}-lock"))
        self.display = f":{self.number}"
        env = {k: v for k, v in os.environ.items()
               if k not in ("DBUS_SESSION_BUS_ADDRESS", "AT_SPI_BUS_ADDRESS", "NO_AT_BRIDGE", "GTK_MODULES")}
        env.update({"DISPLAY": self.display, "XDG_RUNTIME_DIR": str(tmp / "run"), "HOME": str(tmp / "home"),
                    self.tag: "1"})
        (tmp / "run").mkdir(mode=0o700)
        (tmp / "home").mkdir()
        self.env = env
        self.procs: list[subprocess.Popen] = []
        self.spawn(["Xvfb", self.display, "-screen", "0", "1024x768x24", "-nolisten", "tcp", "-noreset"])
        wait_for("Xvfb", lambda: subprocess.run(["xprop", "-root"], env=self.env, capture_output=True).returncode == 0)
        bus = self.spawn(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE)
        self.session_bus = bus.stdout.readline().strip()
        assert self.session_bus.startswith("unix:"), self.session_bus
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.session_bus
        self.spawn([LAUNCHER, "--launch-immediately"])
        wait_for("the launcher to publish AT_SPI_BUS on the root window",
                 lambda: "unix:" in subprocess.run(["xprop", "-root", "AT_SPI_BUS"], env=self.env,
                                                   capture_output=True, text=True).stdout)
        self.zenity = self.spawn(["zenity", "--entry", "--title", "A11y probe", "--text", PROMPT],
                                 stdout=subprocess.PIPE)

    def spawn(self, argv, stdout=subprocess.DEVNULL) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self.procs.append(proc)
        return proc

    def close(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # The accessibility bus and the registry are the launcher's and the bus's children.
        for pid in tagged_pids(self.tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for("every desktop process to exit", lambda: not tagged_pids(self.tag), timeout=10)


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if (shutil.which(p) if not p.startswith("/") else (p if os.access(p, os.X_OK) else None)) is None]


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    missing = missing_programs()
    if missing:
        reason = f"SKIPPED: no AT-SPI desktop ({', '.join(missing)} not installed; tests/run.sh installs them)"
        print(reason)
        pytest.skip(reason)
    d = Desktop(tmp_path_factory.mktemp("a11y"))
    yield d
    d.close()


def accessibility_for(d: Daemon):
    from daytona._sync.computer_use import ComputerUse
    from daytona_toolbox_api_client import ComputerUseApi

    return ComputerUse(ComputerUseApi(make_api_client(d)), http_client=httpx.Client()).accessibility


@pytest.fixture(scope="module")
def a11y_daemon(desktop, tmp_path_factory):
    # The daemon finds the accessibility bus through the session bus, as AT-SPI clients do.
    d = Daemon(tmp_path_factory.mktemp("daemon"),
               env={"DISPLAY": desktop.display, "DBUS_SESSION_BUS_ADDRESS": desktop.session_bus})
    yield d
    d.stop()


@pytest.fixture(scope="module")
def a11y(a11y_daemon, desktop):
    acc = accessibility_for(a11y_daemon)
    # The dialog registers on the bus a moment after it starts.
    wait_for("zenity's OK button on the accessibility bus",
             lambda: acc.find_nodes(scope="all", role="push button", name="OK", name_match="exact").matches)
    return acc


def flatten(node):
    yield node
    for child in node.children or []:
        yield from flatten(child)


def test_the_tree_of_the_dialog_holds_its_widgets(a11y, desktop):
    tree = a11y.get_tree(scope="pid", pid=desktop.zenity.pid)
    assert tree.truncated is False
    assert tree.root.role == "application"
    assert tree.root.name == "zenity"
    nodes = list(flatten(tree.root))
    roles = {(n.role, n.name) for n in nodes}
    assert ("frame", "A11y probe") in roles or ("dialog", "A11y probe") in roles, roles
    assert ("push button", "OK") in roles and ("push button", "Cancel") in roles, roles
    assert ("label", PROMPT) in roles, roles
    assert any(n.role == "text" and "editable" in n.states for n in nodes), roles
    for node in nodes:
        bus, _, path = node.id.partition(":/")
        assert bus and path, node.id
        assert all(state == state.lower() and "-" not in state for state in node.states), node.states
    ok = next(n for n in nodes if n.role == "push button" and n.name == "OK")
    assert "click" in [action.lower() for action in ok.actions or []]
    assert ok.bounds.width > 0 and ok.bounds.height > 0
    assert 0 <= ok.bounds.x < 1024 and 0 <= ok.bounds.y < 768

    # The focused scope: the only application with a window is the dialog.
    focused = a11y.get_tree()
    assert focused.root.name == "zenity"


def test_max_depth_bounds_the_tree(a11y, desktop):
    root_only = a11y.get_tree(scope="all", max_depth=0)
    assert root_only.root.id == REGISTRY_ROOT
    assert not root_only.root.children
    apps = a11y.get_tree(scope="ALL", max_depth=1)
    names = [app.name for app in apps.root.children]
    assert "zenity" in names, names
    assert all(not app.children for app in apps.root.children)


def test_find_by_role_and_name(a11y):
    found = a11y.find_nodes(scope="all", role="Push Button", name="OK", name_match="exact")
    assert [(n.role, n.name) for n in found.matches] == [("push button", "OK")]
    assert found.truncated is False
    assert not found.matches[0].children

    both = a11y.find_nodes(scope="all", role="push button", name="^(OK|Cancel)$", name_match="regex")
    assert sorted(n.name for n in both.matches) == ["Cancel", "OK"]

    limited = a11y.find_nodes(scope="all", role="push button", name="^(OK|Cancel)$", name_match="regex", limit=1)
    assert len(limited.matches) == 1 and limited.truncated is True

    editable = a11y.find_nodes(scope="all", states=["editable", "FOCUSABLE"])
    assert [n.role for n in editable.matches] == ["text"]


def test_set_value_focus_and_invoke_reach_the_dialog(a11y, desktop):
    def node(role: str, **kwargs):
        return a11y.find_nodes(scope="all", role=role, **kwargs).matches[0]

    # The entry has the focus when the dialog opens: move it to Cancel and back.
    entry = node("text", states=["editable"])
    a11y.focus_node(node("push button", name="Cancel", name_match="exact").id)
    wait_for("Cancel to take the focus",
             lambda: "focused" in node("push button", name="Cancel", name_match="exact").states)
    assert "focused" not in node("text", states=["editable"]).states
    a11y.focus_node(entry.id)
    wait_for("the entry to take the focus back", lambda: "focused" in node("text", states=["editable"]).states)

    a11y.set_node_value(entry.id, "typed by toolboxd")
    ok = a11y.find_nodes(scope="all", role="push button", name="OK", name_match="exact").matches[0]
    a11y.invoke_node(ok.id)  # the first action: click

    # zenity prints the entry's text when OK is pressed, then exits 0.
    out, _ = desktop.zenity.communicate(timeout=30)
    assert desktop.zenity.returncode == 0
    assert out == "typed by toolboxd\n"

    # Its nodes are gone with it.
    wait_for("the dialog to leave the bus",
             lambda: not a11y.find_nodes(scope="all", role="push button", name="OK", name_match="exact").matches)


def test_unknown_nodes_are_404(a11y_daemon, a11y):
    with httpx.Client(base_url=a11y_daemon.url, timeout=60) as http:
        for node in [":1.99999:/org/a11y/atspi/accessible/1", "org.example.Gone:/org/a11y/atspi/accessible/1"]:
            for route, body in [("focus", {"id": node}), ("invoke", {"id": node}), ("value", {"id": node, "value": "x"})]:
                body = assert_envelope(http.post(f"/computeruse/a11y/node/{route}", json=body), 404, "NOT_FOUND")
                assert "accessibility node not found" in body["message"]
        body = assert_envelope(http.get("/computeruse/a11y/tree", params={"scope": "pid", "pid": 999999}), 404, "NOT_FOUND")
        assert "no accessible root" in body["message"]

    from daytona.common.errors import DaytonaNotFoundError

    with pytest.raises(DaytonaNotFoundError):
        a11y.focus_node(":1.99999:/org/a11y/atspi/accessible/1")


def test_bad_requests_are_400_and_reach_no_bus(start_daemon):
    # No bus is reachable here: a 400 proves the request was refused before any connection.
    d = start_daemon(env={"AT_SPI_BUS_ADDRESS": "unix:path=/nonexistent/toolboxd-a11y-bus"})
    with httpx.Client(base_url=d.url, timeout=60) as http:
        cases = [
            http.get("/computeruse/a11y/tree", params={"scope": "window"}),
            http.get("/computeruse/a11y/tree", params={"scope": "pid"}),
            http.get("/computeruse/a11y/tree", params={"scope": "pid", "pid": 0}),
            http.post("/computeruse/a11y/find", json={"name": "(", "nameMatch": "regex"}),
            http.post("/computeruse/a11y/find", json={"name": "x", "nameMatch": "fuzzy"}),
            http.post("/computeruse/a11y/find", json={"states": ["shiny"]}),
            http.post("/computeruse/a11y/find", json={"scope": "everything"}),
            http.post("/computeruse/a11y/node/focus", json={"id": "not-a-node"}),
            http.post("/computeruse/a11y/node/invoke", json={"id": ":1.5/no/colon"}),
            http.post("/computeruse/a11y/node/value", json={"id": ":1.5:/bad//path", "value": "x"}),
        ]
        for response in cases:
            body = assert_envelope(response, 400, "BAD_REQUEST")
            assert body["message"].startswith(("bad request: invalid accessibility", "bad request: action")), body
        assert "invalid accessibility scope" in cases[0].json()["message"]
        assert_envelope(http.get("/computeruse/a11y/tree", params={"maxDepth": "deep"}), 400, "BAD_REQUEST")
        assert_envelope(http.post("/computeruse/a11y/node/focus", json={}), 400, "INVALID_REQUEST_BODY")


@pytest.mark.parametrize("env", [
    {"AT_SPI_BUS_ADDRESS": "unix:path=/nonexistent/toolboxd-a11y-bus"},
    {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/toolboxd-session-bus", "DISPLAY": ":0.toolboxd-none"},
])
def test_no_accessibility_bus_is_503(start_daemon, env):
    from daytona.common.errors import DaytonaA11yUnavailableError

    d = start_daemon(env=env)
    with httpx.Client(base_url=d.url, timeout=60) as http:
        for response in [
            http.get("/computeruse/a11y/tree"),
            http.post("/computeruse/a11y/find", json={"role": "push button"}),
            http.post("/computeruse/a11y/node/focus", json={"id": ":1.2:/org/a11y/atspi/accessible/1"}),
        ]:
            body = assert_envelope(response, 503, "A11Y_UNAVAILABLE")
            assert body["message"].startswith("accessibility bus not reachable"), body
    with pytest.raises(DaytonaA11yUnavailableError) as raised:
        accessibility_for(d).get_tree(scope="all")
    assert "accessibility bus not reachable" in str(raised.value)


def test_the_bus_is_found_on_the_x_root_window(desktop, a11y, start_daemon):
    # A desktop session's launcher publishes the bus on the root window; a daemon that knows
    # only DISPLAY (its session bus unreachable) finds it there.
    d = start_daemon(env={"DISPLAY": desktop.display,
                          "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/toolboxd-session-bus"})
    tree = accessibility_for(d).get_tree(scope="all", max_depth=1)
    assert tree.root.id == REGISTRY_ROOT


def test_after_computeruse_start_the_desktop_session_is_accessible(start_daemon):
    # The stack's xfce4 session starts the AT-SPI launcher from its autostart entry; with no
    # session bus known to the daemon, the routes find the bus on the root window.
    from daytona.common.errors import DaytonaA11yUnavailableError
    from test_desktop_stack import computer_use, missing_x_stack, stack_env

    missing = missing_x_stack() or ", ".join(missing_programs())
    if missing or shutil.which("startxfce4") is None:
        reason = f"SKIPPED: no xfce4 desktop stack with AT-SPI ({missing or 'startxfce4 missing'})"
        print(reason)
        pytest.skip(reason)
    env = {**stack_env(), "DBUS_SESSION_BUS_ADDRESS": "", "AT_SPI_BUS_ADDRESS": ""}
    d = start_daemon(env=env)
    cu = computer_use(d)
    cu.start()
    try:
        def applications():
            try:
                tree = cu.accessibility.get_tree(scope="all", max_depth=1)
            except DaytonaA11yUnavailableError:
                return None  # the session has not started the launcher yet
            # The session manager is a GTK program of the session: its application node shows
            # the routes reached the session's bus.
            return "xfce4-session" in {app.name for app in tree.root.children or []}

        assert wait_for("the xfce4 session's applications on the accessibility bus", applications, timeout=60)
    finally:
        cu.stop()
