"""Mouse, keyboard, screenshots, displays and windows through the official SDK's `ComputerUse`,
against a real X server: the tests start their own `Xvfb -noreset` with openbox, point the
daemon's DISPLAY at it, and check every effect with X's own tools (xdotool, xwininfo, xev), on
disk (a shell in an xterm) or in the pixels of the screenshot.

Tests that need X skip, saying why, when Xvfb, openbox, xterm or xdotool are missing
(tests/run.sh installs them). The 503 tests need no X server and always run.
"""

from __future__ import annotations

import base64
import io
import os
import pathlib
import re
import shutil
import subprocess
import time

import httpx
import pytest

from conftest import BINARY, Daemon, make_api_client

HELPER = pathlib.Path(BINARY).with_name("toolboxd-desktop")
SCREEN = (1280, 800)
X_TOOLS = ("Xvfb", "openbox", "xterm", "xdotool", "xwininfo", "xev")


def wait_for(what: str, check, timeout: float = 20.0):
    """Polls `check` until it returns something truthy; fails naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


class XServer:
    """An Xvfb display with openbox as its window manager."""

    def __init__(self, tmp: pathlib.Path):
        self.number = next(n for n in range(90, 200) if not os.path.exists(f"/tmp/.X11-unix/X{n}")
                           and not os.path.exists(f"/tmp/.X{n}-lock"))
        self.display = f":{self.number}"
        self.env = {**os.environ, "DISPLAY": self.display}
        self.procs: list[subprocess.Popen] = []
        self.spawn(["Xvfb", self.display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-noreset",
                    "-nolisten", "tcp"], with_display=False)
        wait_for("Xvfb to accept connections", lambda: self.run_ok(["xwininfo", "-root"]))
        self.spawn(["openbox", "--sm-disable"])
        wait_for("openbox to manage the screen",
                 lambda: "_NET_SUPPORTING_WM_CHECK(WINDOW)" in self.out(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"]))
        self.tmp = tmp

    def spawn(self, argv: list[str], with_display: bool = True, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=self.env if with_display else os.environ, stdin=subprocess.DEVNULL,
                                stdout=kwargs.pop("stdout", subprocess.DEVNULL), stderr=subprocess.DEVNULL, **kwargs)
        self.procs.append(proc)
        return proc

    def out(self, argv: list[str]) -> str:
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=20)
        return result.stdout

    def run_ok(self, argv: list[str]) -> bool:
        return subprocess.run(argv, env=self.env, capture_output=True, timeout=20).returncode == 0

    def xterm(self, title: str, geometry: str, *args: str) -> int:
        """Starts an xterm titled `title` and returns its X window id once it is mapped."""
        self.spawn(["xterm", "-T", title, "-geometry", geometry, *args])
        ids = wait_for(f"window {title!r}", lambda: self.out(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"]).split())
        return int(ids[0])

    def geometry(self, window: int) -> dict[str, int]:
        text = self.out(["xwininfo", "-id", str(window)])
        grab = lambda label: int(re.search(rf"{label}:\s+(-?\d+)", text).group(1))  # noqa: E731
        return {"x": grab("Absolute upper-left X"), "y": grab("Absolute upper-left Y"),
                "width": grab("Width"), "height": grab("Height")}

    def close(self):
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def xserver(tmp_path_factory):
    missing = [tool for tool in X_TOOLS if shutil.which(tool) is None]
    if missing:
        reason = f"SKIPPED: no X test stack ({', '.join(missing)} not installed; tests/run.sh installs them)"
        print(reason)
        pytest.skip(reason)
    if not HELPER.is_file():
        reason = f"SKIPPED: {HELPER} is not built (cargo build --workspace)"
        print(reason)
        pytest.skip(reason)
    server = XServer(tmp_path_factory.mktemp("x"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def desktop_daemon(xserver, tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("daemon"), env={"DISPLAY": xserver.display})
    yield d
    d.stop()


def computer_use_for(d: Daemon):
    from daytona._sync.computer_use import ComputerUse
    from daytona_toolbox_api_client import ComputerUseApi

    return ComputerUse(ComputerUseApi(make_api_client(d)), http_client=httpx.Client())


@pytest.fixture
def cu(desktop_daemon):
    return computer_use_for(desktop_daemon)


def decode(response):
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(response.screenshot)))


def mouse_location(xserver) -> tuple[int, int]:
    fields = dict(line.split("=", 1) for line in xserver.out(["xdotool", "getmouselocation", "--shell"]).split())
    return int(fields["X"]), int(fields["Y"])


def test_move_puts_the_pointer_where_xdotool_finds_it(cu, xserver):
    moved = cu.mouse.move(321, 234)
    assert (moved.x, moved.y) == (321, 234)
    assert mouse_location(xserver) == (321, 234)
    here = cu.mouse.get_position()
    assert (here.x, here.y) == (321, 234)

    # Off-screen targets are clamped by the X server; the answer says where the pointer went.
    moved = cu.mouse.move(SCREEN[0] + 500, 10)
    assert (moved.x, moved.y) == (SCREEN[0] - 1, 10) == mouse_location(xserver)


def test_typed_text_keys_and_a_hotkey_reach_a_focused_xterm(cu, xserver, tmp_path):
    window = xserver.xterm("toolboxd-typing", "100x10+20+20", "-e", "bash", "--norc", "--noprofile")
    g = xserver.geometry(window)
    cu.mouse.click(g["x"] + g["width"] // 2, g["y"] + g["height"] // 2)
    wait_for("the xterm to get the focus", lambda: xserver.out(["xdotool", "getwindowfocus"]).strip() == str(window))

    # Shifted characters, digits and punctuation come out as typed; "\n" is Enter.
    target = tmp_path / "typed.txt"
    text = "Up&Down:{x}|~<>?@#$^*()_+ 123 \"q\" 'a,b.c/d;e=f[g]h\\i`j-k'"
    escaped = text.replace("'", "'\"'\"'")
    cu.keyboard.type(f"printf '%s\\n' '{escaped}' > {target}\n")
    assert wait_for("the typed command to write its file", lambda: target.exists() and target.read_text()) == text + "\n"

    # ctrl+u (a hotkey) erases the half-typed line, so only the second command runs; a named
    # key (press "enter") submits it.
    hotkey = tmp_path / "hotkey.txt"
    cu.keyboard.type(f"echo wrong > {hotkey}")
    cu.keyboard.hotkey("ctrl+u")
    cu.keyboard.type(f"echo right > {hotkey}", delay=5)
    cu.keyboard.press("Return")
    assert wait_for("the hotkey test file", lambda: hotkey.exists() and hotkey.read_text()) == "right\n"

    # keyboard.down/up hold a modifier across other calls: shift held while typing "a" gives "A".
    held = tmp_path / "held.txt"
    cu.keyboard.type("echo ")
    cu.keyboard.down("shift")
    try:
        cu.keyboard.press("a")
    finally:
        cu.keyboard.up("shift")
    cu.keyboard.type(f" > {held}\n")
    assert wait_for("the held-shift file", lambda: held.exists() and held.read_text()) == "A\n"


def test_a_red_window_is_red_in_the_screenshot_where_it_is(cu, xserver):
    window = xserver.xterm("toolboxd-red", "30x8+400+300", "-bg", "red", "-fg", "red", "-cr", "red",
                           "-e", "sleep", "600")
    g = xserver.geometry(window)
    cu.mouse.move(5, 5)  # keep the pointer out of the picture

    shot = decode(cu.screenshot.take_full_screen())
    assert shot.format == "PNG" and shot.size == SCREEN
    rgb = shot.convert("RGB")
    centre = (g["x"] + g["width"] // 2, g["y"] + g["height"] // 2)
    assert rgb.getpixel(centre) == (255, 0, 0)
    assert rgb.getpixel((g["x"] + 3, g["y"] + 3)) == (255, 0, 0)
    assert rgb.getpixel((g["x"] - 40, g["y"] + g["height"] + 40)) != (255, 0, 0)

    from daytona.common.computer_use import ScreenshotRegion

    # A region over the window is red all over.
    region = ScreenshotRegion(x=g["x"] + 2, y=g["y"] + 2, width=g["width"] - 4, height=g["height"] - 4)
    part = decode(cu.screenshot.take_region(region)).convert("RGB")
    assert part.size == (g["width"] - 4, g["height"] - 4)
    assert part.getcolors() == [(part.width * part.height, (255, 0, 0))]


def test_region_and_scale_give_the_asked_dimensions(cu):
    from daytona.common.computer_use import ScreenshotOptions, ScreenshotRegion

    region = ScreenshotRegion(x=10, y=20, width=300, height=200)
    assert decode(cu.screenshot.take_region(region)).size == (300, 200)
    small = cu.screenshot.take_compressed_region(region, ScreenshotOptions(scale=0.5))
    assert decode(small).size == (150, 100)
    assert small.size_bytes == len(base64.b64decode(small.screenshot))
    quarter = decode(cu.screenshot.take_compressed(ScreenshotOptions(scale=0.25)))
    assert quarter.size == (SCREEN[0] // 4, SCREEN[1] // 4)


def test_jpeg_at_low_quality_is_smaller_than_at_high(cu, xserver):
    from daytona.common.computer_use import ScreenshotOptions

    # Something with detail on the screen, so quality matters.
    xserver.xterm("toolboxd-detail", "120x40+0+0", "-e", "bash", "-c", "seq 1 5000 | column -c 110; sleep 600")
    low = cu.screenshot.take_compressed(ScreenshotOptions(fmt="jpeg", quality=10))
    high = cu.screenshot.take_compressed(ScreenshotOptions(fmt="jpeg", quality=95))
    assert base64.b64decode(low.screenshot)[:2] == b"\xff\xd8"
    assert decode(low).format == "JPEG" and decode(low).size == SCREEN
    assert low.size_bytes < high.size_bytes


def test_show_cursor_draws_the_pointer_and_reports_where_it_is(cu):
    cu.mouse.move(640, 400)
    shot = cu.screenshot.take_full_screen(show_cursor=True)
    assert (shot.cursor_position.x, shot.cursor_position.y) == (640, 400)
    rgb = decode(shot).convert("RGB")
    assert rgb.getpixel((640, 400)) == (255, 0, 0)
    assert rgb.getpixel((650, 400)) == (255, 255, 255)
    assert cu.screenshot.take_full_screen(show_cursor=False).cursor_position is None


def test_display_info_is_the_x_screen(cu):
    displays = cu.display.get_info().displays
    assert len(displays) == 1
    d = displays[0]
    assert (d.x, d.y, d.width, d.height, d.is_active) == (0, 0, SCREEN[0], SCREEN[1], True)


def test_window_list_has_titles_real_geometry_and_the_active_window(cu, xserver):
    window = xserver.xterm("toolboxd-listed", "40x12+600+150", "-e", "sleep", "600")
    xserver.run_ok(["xdotool", "windowactivate", "--sync", str(window)])
    g = xserver.geometry(window)
    windows = cu.display.get_windows().windows
    listed = [w for w in windows if w.title == "toolboxd-listed"]
    assert len(listed) == 1, [w.title for w in windows]
    w = listed[0]
    assert w.id == window
    assert (w.x, w.y, w.width, w.height) == (g["x"], g["y"], g["width"], g["height"])
    assert w.is_active is True
    assert [other.title for other in windows if other.is_active] == ["toolboxd-listed"]


class Xev:
    """xev on its own window, reporting button events as (type, button, state)."""

    def __init__(self, xserver, title: str, geometry: str):
        self.proc = xserver.spawn(["xev", "-name", title, "-geometry", geometry, "-event", "button"],
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        ids = wait_for(f"window {title!r}", lambda: xserver.out(["xdotool", "search", "--onlyvisible", "--name", f"^{title}$"]).split())
        self.window = int(ids[0])
        self.geometry = xserver.geometry(self.window)
        self.lines: list[str] = []

    def events(self, count: int) -> list[tuple[str, int, int]]:
        """Reads until `count` button events arrived; each is (press|release, button, state)."""
        found: list[tuple[str, int, int]] = []
        deadline = time.monotonic() + 20
        kind = None
        while len(found) < count:
            assert time.monotonic() < deadline, f"only {found} arrived"
            line = self.proc.stdout.readline()
            if line.startswith("ButtonPress"):
                kind = "press"
            elif line.startswith("ButtonRelease"):
                kind = "release"
            match = re.search(r"state (0x[0-9a-f]+), button (\d+)", line)
            if match and kind:
                found.append((kind, int(match.group(2)), int(match.group(1), 16)))
                kind = None
        return found


def test_clicks_buttons_modifiers_scroll_and_drag_arrive_as_x_events(cu, xserver):
    xev = Xev(xserver, "toolboxd-xev", "300x300+700+400")
    x, y = xev.geometry["x"] + 150, xev.geometry["y"] + 150
    SHIFT, CTRL, BUTTON1 = 0x1, 0x4, 0x100

    cu.mouse.click(x, y, "right", clicks=3)
    assert [e[:2] for e in xev.events(6)] == [("press", 3), ("release", 3)] * 3

    cu.mouse.click(x, y, double=True, modifiers=["control"])
    events = xev.events(4)
    assert [e[:2] for e in events] == [("press", 1), ("release", 1)] * 2
    assert all(state & CTRL for _, _, state in events)

    assert cu.mouse.scroll(x, y, "down", 2) is True
    assert [e[:2] for e in xev.events(4)] == [("press", 5), ("release", 5)] * 2
    assert cu.mouse.scroll(x, y, "left", 1, modifiers=["shift"]) is True
    events = xev.events(2)
    assert [e[:2] for e in events] == [("press", 6), ("release", 6)] and events[0][2] & SHIFT

    down = cu.mouse.down(x - 50, y - 50, "middle")
    assert (down.x, down.y) == (x - 50, y - 50)
    up = cu.mouse.up(x + 40, y + 40, "middle")
    assert (up.x, up.y) == (x + 40, y + 40) == mouse_location(xserver)
    assert [e[:2] for e in xev.events(2)] == [("press", 2), ("release", 2)]

    end = cu.mouse.drag(x - 100, y - 100, x + 100, y + 100)
    assert (end.x, end.y) == (x + 100, y + 100) == mouse_location(xserver)
    events = xev.events(2)
    assert [e[:2] for e in events] == [("press", 1), ("release", 1)]
    assert events[1][2] & BUTTON1, "the release comes with button 1 still held, at the end point"


def test_bad_input_is_a_400_naming_the_problem_and_changes_nothing(desktop_daemon, cu, xserver):
    from daytona.common.errors import DaytonaError

    cu.mouse.move(100, 100)
    with httpx.Client(base_url=desktop_daemon.url, timeout=30) as http:
        for path, body, words in [
            ("/computeruse/keyboard/key", {"key": "!"}, "shift"),
            ("/computeruse/keyboard/key", {"key": "bogus"}, "bogus"),
            ("/computeruse/keyboard/key", {"key": "a", "modifiers": ["lctrl"]}, "side-specific"),
            ("/computeruse/keyboard/hotkey", {"keys": "ctrl+"}, "empty"),
            ("/computeruse/keyboard/type", {"text": "a\tb"}, "tab"),
            ("/computeruse/keyboard/down", {"key": "num+"}, "num_plus"),
            ("/computeruse/mouse/click", {"x": 5, "y": 5, "clicks": 0}, "clicks"),
            ("/computeruse/mouse/click", {"x": 5, "y": 5, "button": "fourth"}, "button"),
            ("/computeruse/mouse/drag", {"startX": 5, "startY": 5, "endX": 9, "endY": 9, "button": "x"}, "button"),
            ("/computeruse/mouse/scroll", {"x": 5, "y": 5, "direction": "down", "amount": -1}, "negative"),
            ("/computeruse/mouse/scroll", {"x": 5, "y": 5, "direction": "sideways"}, "direction"),
        ]:
            response = http.post(path, json=body)
            assert response.status_code == 400, (path, body, response.text)
            envelope = response.json()
            assert envelope["code"] == "BAD_REQUEST" and envelope["source"] == "DAYTONA_DAEMON", envelope
            assert words in envelope["message"], (path, envelope["message"])
        for query, words in [
            ("/computeruse/screenshot/region?y=1&width=5&height=5", "missing required query parameter: x"),
            ("/computeruse/screenshot/region?x=1&y=1&width=0&height=5", "width: must be greater than zero"),
            ("/computeruse/screenshot/compressed?quality=0", "quality: must be between 1 and 100"),
            ("/computeruse/screenshot/compressed?scale=2", "scale: must be between 0.1 and 1.0"),
            ("/computeruse/screenshot/region?x=1200&y=1&width=500&height=5", "beyond"),
        ]:
            response = http.get(query)
            assert response.status_code == 400, (query, response.text)
            assert words in response.json()["message"], (query, response.json())
    assert mouse_location(xserver) == (100, 100), "a refused request moved nothing"
    with pytest.raises(DaytonaError) as raised:
        cu.mouse.click(1, 1, clicks=11)
    assert "clicks" in str(raised.value)


def test_a_killed_helper_is_started_again(desktop_daemon, cu, xserver):
    cu.mouse.move(50, 60)
    helpers = [p for p in pathlib.Path("/proc").iterdir() if p.name.isdigit() and helper_of(p, desktop_daemon.proc.pid)]
    assert len(helpers) == 1
    os.kill(int(helpers[0].name), 9)
    wait_for("the helper to be gone", lambda: not helpers[0].exists() or "Z" in (helpers[0] / "stat").read_text().split()[2])
    # The request that finds it dead may fail; the next one is served by a new helper.
    for _ in range(3):
        try:
            moved = cu.mouse.move(70, 80)
            break
        except Exception:  # noqa: BLE001 - the dying helper's answer
            continue
    assert (moved.x, moved.y) == (70, 80) == mouse_location(xserver)


def helper_of(proc: pathlib.Path, daemon_pid: int) -> bool:
    try:
        stat = (proc / "stat").read_text()
        return "(toolboxd-deskto" in stat and int(stat.rsplit(")", 1)[1].split()[1]) == daemon_pid
    except (OSError, ValueError, IndexError):
        return False


def test_without_the_helper_every_route_is_a_503_saying_so(start_daemon, tmp_path):
    d = start_daemon(args=("--desktop-helper", str(tmp_path / "missing-helper")))
    with httpx.Client(base_url=d.url, timeout=30) as http:
        for method, path, body in [
            ("GET", "/computeruse/mouse/position", None),
            ("POST", "/computeruse/mouse/move", {"x": 1, "y": 1}),
            ("POST", "/computeruse/keyboard/type", {"text": "x"}),
            ("GET", "/computeruse/screenshot", None),
            ("GET", "/computeruse/display/windows", None),
        ]:
            response = http.request(method, path, json=body)
            assert response.status_code == 503, (path, response.text)
            envelope = response.json()
            assert envelope["source"] == "DAYTONA_DAEMON" and "code" not in envelope
            assert "toolboxd-desktop" in envelope["message"] and "missing-helper" in envelope["message"]


def test_without_an_x_server_every_route_is_a_503_naming_the_display(start_daemon):
    if not HELPER.is_file():
        pytest.skip(f"SKIPPED: {HELPER} is not built (cargo build --workspace)")
    unused = next(n for n in range(400, 500) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    d = start_daemon(env={"DISPLAY": f":{unused}"})
    cu = computer_use_for(d)
    from daytona.common.errors import DaytonaError

    with pytest.raises(DaytonaError) as raised:
        cu.mouse.get_position()
    assert f":{unused}" in str(raised.value)
    with httpx.Client(base_url=d.url, timeout=30) as http:
        response = http.get("/computeruse/screenshot")
        assert response.status_code == 503
        assert f"no X server answers at DISPLAY=:{unused}" in response.json()["message"]
