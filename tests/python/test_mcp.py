"""The MCP server, driven by the official MCP Python SDK client (`mcp` on PyPI).

The same exercise runs over streamable HTTP (`/mcp` on the daemon's port, with a bearer token)
and over stdio (`toolboxd mcp`, started by the SDK's stdio client): it lists the tools, calls
every one of them and checks what each did on disk, in git and in /proc rather than trusting
the answer.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import pathlib
import shutil
import socket
import subprocess
import time

import anyio
import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import BINARY

TOKEN = "mcp-secret-token"

CORE_TOOLS = {
    "run_command", "start_command", "read_command_output", "signal_command", "stop_command",
    "list_commands", "read_file", "write_file", "edit_file", "list_directory", "find_files",
    "search_files", "git_status", "git_diff", "git_log", "git_commit", "list_ports",
}
DESKTOP_TOOLS = {"screenshot", "click", "move_mouse", "type_text", "press_keys"}


@contextlib.asynccontextmanager
async def http_session(url: str, token: str):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, streamable_http_client(f"{url}/mcp", http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def stdio_session(work: pathlib.Path, data: pathlib.Path, env: dict | None = None):
    params = StdioServerParameters(
        command=BINARY,
        args=["mcp", "--work-dir", str(work), "--data-dir", str(data), "--log-level", "error"],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **(env or {})},
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def call(session: ClientSession, name: str, **arguments):
    result = await session.call_tool(name, arguments)
    assert not result.is_error, f"{name}({arguments}) failed: {text_of(result)}"
    return result


async def call_error(session: ClientSession, name: str, **arguments) -> dict:
    result = await session.call_tool(name, arguments)
    assert result.is_error, f"{name}({arguments}) should fail: {text_of(result)}"
    error = result.structured_content
    assert error["code"] and error["statusCode"] >= 400 and error["message"], error
    assert text_of(result).startswith(f"{error['code']} ({error['statusCode']})")
    return error


def pids_running(needle: str) -> list[int]:
    """Processes whose command line contains `needle`, read from /proc."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def eventually(check, what: str, deadline: float = 30.0):
    """Polls `check` until it returns something truthy; fails with `what` after the deadline."""
    end = time.monotonic() + deadline
    while True:
        value = await check() if callable(check) else check
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        await anyio.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def exercise_files(session: ClientSession, work: pathlib.Path):
    await call(session, "write_file", path="src/notes.txt", content="alpha\nbeta\ngamma\n")
    assert (work / "src" / "notes.txt").read_text() == "alpha\nbeta\ngamma\n"

    read = await call(session, "read_file", path="src/notes.txt", start_line=2, line_count=1)
    assert read.structured_content["content"] == "beta\n"
    assert read.structured_content["more"] is True
    assert "beta" in text_of(read)
    raw = await call(session, "read_file", path=str(work / "src" / "notes.txt"), byte_offset=6, byte_count=4)
    assert raw.structured_content["content"] == "beta"
    (work / "blob.bin").write_bytes(b"\x00\xff\x10")
    blob = await call(session, "read_file", path="blob.bin", byte_offset=0)
    assert blob.structured_content["encoding"] == "base64"
    assert base64.b64decode(blob.structured_content["content"]) == b"\x00\xff\x10"

    await call(session, "edit_file", path="src/notes.txt", old_text="beta", new_text="BETA")
    assert (work / "src" / "notes.txt").read_text() == "alpha\nBETA\ngamma\n"
    error = await call_error(session, "edit_file", path="src/notes.txt", old_text="delta", new_text="x")
    assert error["code"] == "BAD_REQUEST" and "not found" in error["message"]
    (work / "twice.txt").write_text("x = 1\nx = 1\n")
    error = await call_error(session, "edit_file", path="twice.txt", old_text="x = 1", new_text="x = 2")
    assert "2 times" in error["message"]
    assert (work / "twice.txt").read_text() == "x = 1\nx = 1\n", "a failed edit changed the file"
    await call(session, "edit_file", path="twice.txt", old_text="x = 1", new_text="x = 2", replace_all=True)
    assert (work / "twice.txt").read_text() == "x = 2\nx = 2\n"

    listing = await call(session, "list_directory", path=".", depth=2)
    paths = {e["path"]: e for e in listing.structured_content["entries"]}
    assert paths["src"]["isDir"] and paths["src/notes.txt"]["size"] == len("alpha\nBETA\ngamma\n")

    found = await call(session, "find_files", pattern="*.txt")
    assert set(found.structured_content["paths"]) == {"src/notes.txt", "twice.txt"}
    hits = await call(session, "search_files", text="BETA")
    assert [(m["file"], m["line"]) for m in hits.structured_content["matches"]] == [("src/notes.txt", 2)]

    missing = await call_error(session, "read_file", path="nope/missing.txt")
    assert missing["code"] == "FILE_NOT_FOUND" and missing["statusCode"] == 404
    bad_args = await call_error(session, "read_file", start_line=3)
    assert bad_args["code"] == "INVALID_REQUEST_BODY"

    resources = await session.list_resources()
    uris = {str(r.uri) for r in resources.resources}
    assert f"file://{work}/twice.txt" in uris, uris
    templates = await session.list_resource_templates()
    assert any(t.uri_template.startswith("file:///") for t in templates.resource_templates)
    content = await session.read_resource(f"file://{work}/src/notes.txt")
    assert content.contents[0].text == "alpha\nBETA\ngamma\n"


async def exercise_commands(session: ClientSession, work: pathlib.Path):
    (work / "sub").mkdir()
    ran = await call(session, "run_command", command="echo \"$GREETING\" > made.txt; pwd; exit 3",
                     cwd="sub", env={"GREETING": "hello from mcp"})
    assert ran.structured_content["exitCode"] == 3
    assert ran.structured_content["output"].strip() == str(work / "sub")
    assert (work / "sub" / "made.txt").read_text() == "hello from mcp\n"

    big = await call(session, "run_command", command="head -c 300000 /dev/zero | tr '\\0' a; echo; echo END")
    assert big.structured_content["truncated"] is True
    assert len(big.structured_content["output"]) < 70_000 and big.structured_content["output"].rstrip().endswith("END")

    marker = f"sleep 4{os.getpid() % 1000}.{time.monotonic_ns() % 1000:03d}"
    timed_out = await call_error(session, "run_command", command=f"{marker} & {marker}", timeout_secs=1)
    assert timed_out["code"] == "PROCESS_EXECUTION_TIMEOUT"
    await eventually(lambda: anyio.to_thread.run_sync(lambda: not pids_running(marker)),
                     "the timed-out command's processes are gone")

    marker = f"sleep 5{os.getpid() % 1000}.{time.monotonic_ns() % 1000:03d}"
    started = await call(session, "start_command", command=f"echo started; {marker}; echo after", cwd="sub")
    command_id = started.structured_content["id"]
    pids = await eventually(lambda: anyio.to_thread.run_sync(lambda: pids_running(marker)), "the background sleep runs")
    assert os.readlink(f"/proc/{pids[0]}/cwd") == str(work / "sub")
    output = await eventually(
        lambda: _output_containing(session, command_id, "started"), "the background command's output")
    assert output["running"] is True and output["exitCode"] is None
    listed = await call(session, "list_commands")
    assert command_id in [c["id"] for c in listed.structured_content["commands"]]

    await call(session, "signal_command", id=command_id, signal="KILL")
    await eventually(lambda: anyio.to_thread.run_sync(lambda: not pids_running(marker)), "the signalled sleep is gone")
    finished = await call(session, "read_command_output", id=command_id, wait_secs=30)
    assert finished.structured_content["running"] is False
    assert "after" in finished.structured_content["output"], "the shell went on after the signalled command"

    await call(session, "stop_command", id=command_id)
    gone = await call_error(session, "read_command_output", id=command_id)
    assert gone["code"] == "PROCESS_NOT_FOUND"

    port = free_port()
    server = await call(session, "start_command", command=f"exec python3 -m http.server {port} --bind 127.0.0.1")

    async def listed_port():
        ports = await call(session, "list_ports")
        return [p for p in ports.structured_content["ports"] if p["port"] == port]

    entry = await eventually(listed_port, f"port {port} listed")
    assert entry[0]["previewPath"] == f"/proxy/{port}/"
    await call(session, "stop_command", id=server.structured_content["id"])


async def _output_containing(session, command_id, text):
    result = await call(session, "read_command_output", id=command_id)
    return result.structured_content if text in result.structured_content["output"] else None


async def exercise_git(session: ClientSession, work: pathlib.Path):
    repo = work / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "user.name", "Repo Owner"], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "user.email", "owner@example.com"], check=True)
    (repo / "a.txt").write_text("one\n")

    status = await call(session, "git_status", repo="repo")
    assert [f["name"] for f in status.structured_content["fileStatus"]] == ["a.txt"]
    diff = await call(session, "git_diff", repo="repo")
    assert "+one" in diff.structured_content["patch"]

    first = await call(session, "git_commit", repo="repo", message="first commit")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert first.structured_content["hash"] == head.stdout.strip()
    author = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%an <%ae> %s"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert author == "Repo Owner <owner@example.com> first commit"

    (repo / "a.txt").write_text("one\ntwo\n")
    unstaged = await call(session, "git_diff", repo="repo")
    assert "+two" in unstaged.structured_content["patch"]
    staged = await call(session, "git_diff", repo="repo", staged=True)
    assert staged.structured_content["filesChanged"] == 0
    await call(session, "git_commit", repo="repo", message="second", files=["a.txt"],
               author="Someone Else", email="else@example.com")
    log = await call(session, "git_log", repo="repo", max_count=5)
    assert [c["message"].strip() for c in log.structured_content["commits"]] == ["second", "first commit"]
    nothing = await call_error(session, "git_commit", repo="repo", message="empty")
    assert nothing["code"] == "CONFLICT"
    not_repo = await call_error(session, "git_status", repo="sub")
    assert not_repo["code"] == "GIT_REPO_NOT_FOUND"


HELPER = pathlib.Path(BINARY).with_name("toolboxd-desktop")
# The test display is larger than the screenshot tool's default box (1280x800), so the default
# screenshot is scaled: 1600x1000 at 0.8 is 1280x800.
SCREEN = (1600, 1000)


def x_stack_missing() -> str | None:
    for tool in ("Xvfb", "openbox", "xterm", "xdotool", "xprop"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (tests/run.sh installs it)"
    if not HELPER.is_file():
        return f"{HELPER} is not built (cargo build --workspace)"
    return None


@contextlib.contextmanager
def x_display():
    """A private Xvfb with openbox; yields its DISPLAY."""
    number = next(n for n in range(300, 400) if not os.path.exists(f"/tmp/.X11-unix/X{n}")
                  and not os.path.exists(f"/tmp/.X{n}-lock"))
    display = f":{number}"
    env = {**os.environ, "DISPLAY": display}
    procs = [subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-noreset",
                               "-nolisten", "tcp"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        anyio.run(eventually, lambda: anyio.to_thread.run_sync(
            lambda: subprocess.run(["xprop", "-root"], env=env, capture_output=True).returncode == 0), "Xvfb answers")
        procs.append(subprocess.Popen(["openbox", "--sm-disable"], env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        anyio.run(eventually, lambda: anyio.to_thread.run_sync(lambda: "_NET_SUPPORTING_WM_CHECK(WINDOW)" in subprocess.run(
            ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env, capture_output=True, text=True).stdout), "openbox runs")
        yield display, env, procs
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def mouse_location(env) -> tuple[int, int]:
    out = subprocess.run(["xdotool", "getmouselocation", "--shell"], env=env, capture_output=True, text=True).stdout
    fields = dict(line.split("=", 1) for line in out.split())
    return int(fields["X"]), int(fields["Y"])


def decoded(result):
    from PIL import Image

    block = next(b for b in result.content if b.type == "image")
    return block.mime_type, Image.open(io.BytesIO(base64.b64decode(block.data)))


async def exercise_desktop(session: ClientSession, env: dict, procs: list, tmp: pathlib.Path):
    listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert DESKTOP_TOOLS <= set(listed), DESKTOP_TOOLS - set(listed)
    assert listed["click"].input_schema["required"] == ["x", "y"]

    # Default: the whole screen, scaled to fit 1280x800, with the factor stated for the model.
    shot = await call(session, "screenshot")
    mime, image = decoded(shot)
    assert mime == "image/png" and image.format == "PNG" and image.size == (1280, 800), image.size
    assert shot.structured_content["scale"] == pytest.approx(0.8) and "0.8" in text_of(shot)
    half = await call(session, "screenshot", scale=0.5, format="jpeg", quality=60)
    mime, image = decoded(half)
    assert mime == "image/jpeg" and image.format == "JPEG" and image.size == (SCREEN[0] // 2, SCREEN[1] // 2)
    part = await call(session, "screenshot", region={"x": 10, "y": 20, "width": 300, "height": 200})
    assert decoded(part)[1].size == (300, 200)

    moved = await call(session, "move_mouse", x=123, y=456)
    assert (moved.structured_content["x"], moved.structured_content["y"]) == (123, 456) == mouse_location(env)

    # Clicking an xterm focuses it; typed text, a chord and a named key reach its shell.
    target = tmp / "typed.txt"
    procs.append(subprocess.Popen(["xterm", "-T", "mcp-typing", "-geometry", "80x10+200+200", "-e", "bash", "--norc",
                                   "--noprofile"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL))
    window = await eventually(lambda: anyio.to_thread.run_sync(lambda: subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", "^mcp-typing$"], env=env, capture_output=True,
        text=True).stdout.split()), "the xterm is mapped")
    clicked = await call(session, "click", x=400, y=250)
    assert clicked.structured_content == {"x": 400, "y": 250, "button": "left", "clicks": 1}
    assert mouse_location(env) == (400, 250)
    await eventually(lambda: anyio.to_thread.run_sync(lambda: subprocess.run(
        ["xdotool", "getwindowfocus"], env=env, capture_output=True, text=True).stdout.strip() == window[0]),
        "the clicked xterm has the focus")
    await call(session, "type_text", text=f"echo wrong > {target}")
    await call(session, "press_keys", keys="ctrl+u")
    await call(session, "type_text", text=f"echo 'typed over MCP' > {target}")
    await call(session, "press_keys", keys="enter")
    written = await eventually(lambda: anyio.to_thread.run_sync(lambda: target.exists() and target.read_text()),
                               "the typed command wrote its file")
    assert written == "typed over MCP\n"

    # Bad input is a tool error with the daemon's code, and nothing moved.
    bad = await call_error(session, "press_keys", keys="ctrl+")
    assert bad["code"] == "BAD_REQUEST" and bad["statusCode"] == 400 and "empty" in bad["message"]
    bad = await call_error(session, "click", x=5, y=5, clicks=0)
    assert bad["code"] == "BAD_REQUEST" and "clicks" in bad["message"]
    assert mouse_location(env) == (400, 250)


@pytest.mark.skipif(x_stack_missing() is not None, reason=f"SKIPPED: {x_stack_missing()}")
def test_desktop_tools_under_xvfb_over_http_and_stdio(start_daemon, tmp_path):
    with x_display() as (display, env, procs):
        daemon = start_daemon(token=TOKEN, env={"DISPLAY": display})

        async def over_http():
            async with http_session(daemon.url, TOKEN) as session:
                await exercise_desktop(session, env, procs, tmp_path)

        anyio.run(over_http)

        work, data = tmp_path / "work", tmp_path / "data"
        work.mkdir()

        async def over_stdio():
            async with stdio_session(work, data, env={"DISPLAY": display}) as session:
                shot = await call(session, "screenshot", scale=0.25)
                assert decoded(shot)[1].size == (SCREEN[0] // 4, SCREEN[1] // 4)
                await call(session, "move_mouse", x=77, y=88)
                assert mouse_location(env) == (77, 88)

        anyio.run(over_stdio)


def test_desktop_tools_without_a_display_are_clear_tool_errors(start_daemon):
    if not HELPER.is_file():
        reason = f"SKIPPED: {HELPER} is not built (cargo build --workspace)"
        print(reason)
        pytest.skip(reason)
    unused = next(n for n in range(400, 500) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    daemon = start_daemon(token=TOKEN, env={"DISPLAY": f":{unused}"})

    async def main():
        async with http_session(daemon.url, TOKEN) as session:
            for name, arguments in [("screenshot", {}), ("click", {"x": 1, "y": 1}), ("type_text", {"text": "x"})]:
                error = await call_error(session, name, **arguments)
                assert error["statusCode"] == 503 and error["code"] == "SERVICE_UNAVAILABLE", error
                assert f"no X server answers at DISPLAY=:{unused}" in error["message"], error

    anyio.run(main)


async def exercise(session: ClientSession, work: pathlib.Path):
    listed = await session.list_tools()
    names = {tool.name for tool in listed.tools}
    assert CORE_TOOLS <= names, CORE_TOOLS - names
    for tool in listed.tools:
        assert len(tool.description) > 40, tool.name
        assert tool.input_schema["type"] == "object", tool.name
    schema = next(t for t in listed.tools if t.name == "edit_file").input_schema
    assert set(schema["required"]) == {"path", "old_text", "new_text"}
    assert "exact" in schema["properties"]["old_text"]["description"]

    await exercise_files(session, work)
    await exercise_commands(session, work)
    await exercise_git(session, work)
    # The desktop tools are offered exactly when the desktop helper is installed.
    assert (DESKTOP_TOOLS <= names) == HELPER.is_file(), names


def test_mcp_over_streamable_http(start_daemon):
    daemon = start_daemon(token=TOKEN)

    async def main():
        async with http_session(daemon.url, TOKEN) as session:
            await exercise(session, daemon.work)

    anyio.run(main)


def test_mcp_over_stdio(tmp_path):
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    marker = f"sleep 6{os.getpid() % 1000}.{time.monotonic_ns() % 1000:03d}"

    async def main():
        async with stdio_session(work, data) as session:
            await exercise(session, work)
            await call(session, "start_command", command=marker)
            await eventually(lambda: anyio.to_thread.run_sync(lambda: pids_running(marker)), "the background sleep runs")

    anyio.run(main)
    # The client closed stdin and the server exited: what it started went with it.
    anyio.run(eventually, lambda: anyio.to_thread.run_sync(lambda: not pids_running(marker)),
              "the background sleep died with the stdio server")
    assert not any(data.glob("mcp-*")), "the per-process data dir was left behind"


def test_a_wrong_token_is_refused(start_daemon):
    daemon = start_daemon(token=TOKEN)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": "Bearer wrong"}
    response = httpx.post(f"{daemon.url}/mcp", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    response = httpx.post(f"{daemon.url}/mcp", json=body, headers={"Accept": headers["Accept"]})
    assert response.status_code == 401

    async def main():
        async with http_session(daemon.url, "wrong") as session:
            await session.list_tools()

    # The SDK gets the 401 on its first request and gives up: the session never opens.
    with pytest.raises(BaseException) as failure:
        anyio.run(main)
    assert "error" in repr(failure.value).lower(), repr(failure.value)
