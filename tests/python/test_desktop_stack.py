"""The desktop stack (`/computeruse/start|stop|status|process-status|process/...`) through the
official daytona==0.226.1 SDK `ComputerUse`, against real Xvfb, xfce4, x11vnc and noVNC started
by the real daemon on a free display and free ports. Effects are checked on the X display
(`xdpyinfo`), on the VNC port (an RFB handshake, and a real VNC client's capture of the
screen), on noVNC's web page and in /proc."""

from __future__ import annotations

import base64
import io
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from daytona.common.errors import DaytonaError

from conftest import BINARY, make_api_client

NOVNC_LAUNCHER = pathlib.Path("/usr/share/novnc/utils/novnc_proxy")
# vncdotool's command-line client (tests/python/requirements.txt), beside this Python.
VNCDO = pathlib.Path(sys.executable).with_name("vncdo")
HELPER = pathlib.Path(BINARY).with_name("toolboxd-desktop")


def missing_x_stack() -> str | None:
    needs = {"Xvfb": "xvfb", "x11vnc": "x11vnc", "websockify": "websockify", "xdpyinfo": "x11-utils"}
    for binary, package in needs.items():
        if shutil.which(binary) is None:
            return f"{binary} is not installed (Debian package {package})"
    if not NOVNC_LAUNCHER.exists():
        return f"{NOVNC_LAUNCHER} is missing (Debian package novnc)"
    if shutil.which("startxfce4") is None and shutil.which("openbox") is None:
        return "neither startxfce4 (xfce4) nor openbox is installed"
    return None


SKIP_REASON = missing_x_stack()
needs_x_stack = pytest.mark.skipif(SKIP_REASON is not None, reason=f"SKIPPED: {SKIP_REASON}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_display() -> int:
    for n in range(40, 200):
        if not pathlib.Path(f"/tmp/.X11-unix/X{n}").exists() and not pathlib.Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


def stack_env() -> dict[str, str]:
    env = {
        "DISPLAY": f":{free_display()}",
        "VNC_PORT": str(free_port()),
        "NO_VNC_PORT": str(free_port()),
        "VNC_RESOLUTION": "1024x768",
    }
    # xfce4 is the contract's desktop; where only openbox is installed the test says so.
    if shutil.which("startxfce4") is None:
        print("NOTE: startxfce4 missing; the xfce4 program runs openbox (TOOLBOXD_XFCE4_COMMAND)")
        env["TOOLBOXD_XFCE4_COMMAND"] = "openbox"
    return env


def computer_use(d):
    from daytona._sync.computer_use import ComputerUse
    from daytona_toolbox_api_client import ComputerUseApi

    client = make_api_client(d)
    return ComputerUse(ComputerUseApi(client), http_client=httpx.Client(timeout=60))


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def proc_state(pid: int) -> str | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2]


def live_pids():
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit() and proc_state(int(entry.name)) not in (None, "Z"):
            yield int(entry.name)


def with_env_entry(entry: bytes, exclude: int) -> list[int]:
    """Live processes (zombies left out) whose environment holds `entry`, except `exclude`."""
    found = []
    for pid in live_pids():
        if pid == exclude:
            continue
        try:
            environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if entry in environ.split(b"\0"):
            found.append(pid)
    return found


def descendants(root: int) -> list[int]:
    parents = {}
    for pid in live_pids():
        try:
            stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        parents[pid] = int(stat[stat.rfind(")") + 2 :].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def xvfb_pid(display: str) -> int | None:
    for pid in live_pids():
        try:
            argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"Xvfb") and len(argv) > 1 and argv[1] == display.encode():
            return pid
    return None


def display_answers(display: str) -> bool:
    return subprocess.run(["xdpyinfo", "-display", display], capture_output=True).returncode == 0


def rfb_banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.recv(12)


def vnc_answers(port: int) -> bool:
    try:
        return rfb_banner(port).startswith(b"RFB 003.00")
    except OSError:
        return False


def port_refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


def assert_nothing_left(d, env):
    marker = with_env_entry(f"DISPLAY={env['DISPLAY']}".encode(), exclude=d.proc.pid)
    assert marker == [], f"stack processes left: {marker}"
    assert descendants(d.proc.pid) == [], "the daemon still has child processes"
    assert not display_answers(env["DISPLAY"])
    assert port_refuses(int(env["VNC_PORT"])) and port_refuses(int(env["NO_VNC_PORT"]))


@needs_x_stack
def test_start_status_supervision_restart_logs_and_stop(start_daemon):
    env = stack_env()
    d = start_daemon(env=env)
    cu = computer_use(d)
    display, vnc_port, novnc_port = env["DISPLAY"], int(env["VNC_PORT"]), int(env["NO_VNC_PORT"])

    started = cu.start()
    assert started.message == "Computer use processes started successfully"
    assert set(started.status) == {"xvfb", "xfce4", "x11vnc", "novnc"}
    for name, priority in [("xvfb", 100), ("xfce4", 200), ("x11vnc", 300), ("novnc", 400)]:
        status = started.status[name]
        assert status.running is True and status.auto_restart is True, name
        assert status.priority == priority and isinstance(status.pid, int), name
    assert cu.get_status().status == "active"
    assert httpx.get(f"{d.url}/computeruse/status").json() == {"status": "active"}

    # The display answers X clients at the configured resolution.
    info = subprocess.run(["xdpyinfo", "-display", display], capture_output=True, text=True, check=True).stdout
    assert "1024x768 pixels" in info
    # The VNC port speaks RFB; noVNC serves its client page.
    assert rfb_banner(vnc_port).startswith(b"RFB 003.00")
    page = httpx.get(f"http://127.0.0.1:{novnc_port}/vnc.html", timeout=10)
    assert page.status_code == 200 and "noVNC" in page.text

    # The pid the daemon reports is the Xvfb serving this display, found independently.
    xvfb = cu.get_process_status("xvfb")
    assert xvfb.process_name == "xvfb" and xvfb.running is True
    old_pid = xvfb.additional_properties["pid"]
    assert xvfb_pid(display) == old_pid
    assert xvfb.additional_properties["restarts"] == 0

    # Killing Xvfb behind the daemon's back: the supervisor brings a new one up.
    os.kill(old_pid, signal.SIGKILL)
    def restarted():
        s = cu.get_process_status("xvfb")
        new_pid = s.additional_properties["pid"]
        return s.running and new_pid not in (None, old_pid) and xvfb_pid(display) == new_pid and s
    again = wait_for(restarted, "xvfb to be restarted")
    assert again.additional_properties["restarts"] >= 1
    wait_for(lambda: display_answers(display), "the display to answer again")
    errors = cu.get_process_errors("xvfb")
    assert errors.process_name == "xvfb"
    assert "xvfb exited" in errors.errors and "restarting xvfb" in errors.errors, errors.errors
    # The rest of the stack recovers too (x11vnc and the session lost their display).
    wait_for(lambda: cu.get_status().status == "active", "the stack to be active again")
    wait_for(lambda: vnc_answers(vnc_port), "VNC to answer again")

    # x11vnc announces its port on stdout, which the logs endpoint returns.
    logs = cu.get_process_logs("x11vnc")
    assert logs.process_name == "x11vnc" and f"PORT={vnc_port}" in logs.logs, logs.logs

    # A manual restart replaces the process and answers once it listens again.
    before = cu.get_process_status("novnc").additional_properties["pid"]
    restarted_novnc = cu.restart_process("novnc")
    assert restarted_novnc.message == "Process novnc restarted successfully"
    assert restarted_novnc.process_name == "novnc"
    after = cu.get_process_status("novnc")
    assert after.running and after.additional_properties["pid"] != before
    assert httpx.get(f"http://127.0.0.1:{novnc_port}/vnc.html", timeout=10).status_code == 200

    stopped = cu.stop()
    assert stopped.message == "Computer use processes stopped successfully"
    assert all(s.running is False and s.pid is None for s in stopped.status.values())
    assert cu.get_status().status == "inactive"
    assert cu.get_process_status("xvfb").running is False
    assert_nothing_left(d, env)

    # Starting again after a stop works (stale lock files and sockets are no obstacle).
    assert cu.start().status["xvfb"].running
    assert display_answers(display)
    cu.stop()
    assert_nothing_left(d, env)


@needs_x_stack
def test_daemon_shutdown_stops_the_whole_stack(start_daemon):
    env = stack_env()
    d = start_daemon(env=env)
    cu = computer_use(d)
    cu.start()
    assert display_answers(env["DISPLAY"])
    session = with_env_entry(f"DISPLAY={env['DISPLAY']}".encode(), exclude=d.proc.pid)
    assert len(session) >= 4, session
    assert d.stop() == 0
    left = [pid for pid in session if proc_state(pid) not in (None, "Z")]
    assert left == [], f"left running after the daemon stopped: {left}"
    assert not display_answers(env["DISPLAY"])


@needs_x_stack
def test_a_program_that_dies_while_starting_fails_the_start_and_undoes_it(start_daemon):
    env = stack_env()
    env["TOOLBOXD_X11VNC_COMMAND"] = "sh -c 'echo vnc-broke-on-$DISPLAY >&2; exit 3'"
    d = start_daemon(env=env)
    cu = computer_use(d)
    with pytest.raises(DaytonaError) as failure:
        cu.start()
    message = str(failure.value)
    assert "x11vnc exited before it was ready" in message, message
    assert f"vnc-broke-on-{env['DISPLAY']}" in message, message
    # Xvfb and the session, started before x11vnc failed, were stopped again.
    assert cu.get_status().status == "inactive"
    assert_nothing_left(d, env)


def test_a_missing_program_is_a_503_naming_its_debian_package(start_daemon):
    d = start_daemon(env={"TOOLBOXD_XVFB_COMMAND": "/nonexistent/bin/Xvfb $DISPLAY", "DISPLAY": f":{free_display()}"})
    cu = computer_use(d)
    with pytest.raises(DaytonaError) as failure:
        cu.start()
    assert "xvfb is not installed" in str(failure.value)
    assert "Debian package xvfb" in str(failure.value)

    response = httpx.post(f"{d.url}/computeruse/start")
    assert response.status_code == 503
    body = response.json()
    assert body["source"] == "DAYTONA_DAEMON" and body["statusCode"] == 503 and "code" not in body
    assert body["message"].startswith("failed to start computer use: xvfb is not installed")
    assert "/nonexistent/bin/Xvfb" in body["message"]
    # Nothing was started.
    assert cu.get_status().status == "inactive"
    assert descendants(d.proc.pid) == []


def test_unknown_process_names_are_400s(daemon):
    for method, path in [
        ("GET", "/computeruse/process/firefox/status"),
        ("POST", "/computeruse/process/firefox/restart"),
        ("GET", "/computeruse/process/firefox/logs"),
        ("GET", "/computeruse/process/firefox/errors"),
    ]:
        response = httpx.request(method, f"{daemon.url}{path}")
        assert response.status_code == 400, path
        body = response.json()
        assert body["code"] == "BAD_REQUEST" and "unknown process \"firefox\"" in body["message"], body


def test_status_of_a_stack_never_started(daemon):
    cu = computer_use(daemon)
    assert cu.get_status().status == "inactive"
    status = cu.get_process_status("novnc")
    assert status.running is False and status.additional_properties["pid"] is None
    assert cu.get_process_logs("novnc").logs == ""
    stopped = cu.stop()
    assert stopped.status["xvfb"].running is False


def window_geometry(display: str, title: str) -> dict[str, int] | None:
    """The absolute geometry of the visible window titled `title`, once it is mapped."""
    env = {**os.environ, "DISPLAY": display}
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"],
                           env=env, capture_output=True, text=True).stdout.split()
    if not found:
        return None
    subprocess.run(["xdotool", "windowactivate", "--sync", found[0]], env=env, capture_output=True, timeout=20)
    info = subprocess.run(["xwininfo", "-id", found[0]], env=env, capture_output=True, text=True).stdout
    grab = lambda label: int(re.search(rf"{label}:\s+(-?\d+)", info).group(1))  # noqa: E731
    return {"x": grab("Absolute upper-left X"), "y": grab("Absolute upper-left Y"),
            "width": grab("Width"), "height": grab("Height")}


@needs_x_stack
def test_a_vnc_client_and_the_screenshot_api_see_the_same_red_window(start_daemon, tmp_path):
    missing = [what for what, there in [(str(VNCDO), VNCDO.exists()), ("xterm", shutil.which("xterm")),
                                        ("xdotool", shutil.which("xdotool")), (str(HELPER), HELPER.is_file())]
               if not there]
    if missing:
        reason = f"SKIPPED: {', '.join(missing)} missing (tests/run.sh installs them; cargo build --workspace)"
        print(reason)
        pytest.skip(reason)
    from PIL import Image

    env = stack_env()
    d = start_daemon(env=env)
    cu = computer_use(d)
    cu.start()
    title = "toolboxd-vnc-red"
    painter = subprocess.Popen(
        ["xterm", "-T", title, "-geometry", "30x8+40+80", "-bg", "red", "-fg", "red", "-cr", "red", "-e", "sleep", "600"],
        env={**os.environ, "DISPLAY": env["DISPLAY"]}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        g = wait_for(lambda: window_geometry(env["DISPLAY"], title), "the red xterm to be mapped")
        centre = (g["x"] + g["width"] // 2, g["y"] + g["height"] // 2)
        outside = (g["x"] + g["width"] + 60, g["y"] + g["height"] + 60)
        cu.mouse.move(1000, 740)  # keep the pointer out of the picture

        # A real VNC client: RFB handshake, framebuffer request, the screen written as a PNG.
        capture = tmp_path / "vnc.png"
        subprocess.run([str(VNCDO), "-s", f"127.0.0.1::{env['VNC_PORT']}", "capture", str(capture)],
                       check=True, capture_output=True, timeout=120)
        seen = Image.open(capture).convert("RGB")
        assert seen.size == (1024, 768), "the VNC framebuffer is VNC_RESOLUTION"
        assert seen.getpixel(centre) == (255, 0, 0), (centre, seen.getpixel(centre))
        assert seen.getpixel(outside) != (255, 0, 0)

        # The daemon's own screenshot of the stack's display shows the same.
        shot = cu.screenshot.take_full_screen()
        taken = Image.open(io.BytesIO(base64.b64decode(shot.screenshot))).convert("RGB")
        assert taken.size == (1024, 768)
        assert taken.getpixel(centre) == (255, 0, 0) and taken.getpixel(outside) != (255, 0, 0)
    finally:
        painter.terminate()
        painter.wait(timeout=10)
        cu.stop()
    assert cu.get_status().status == "inactive"
