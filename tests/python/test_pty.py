"""Terminals and interpreter contexts through the official daytona==0.226.1 SDK.

Everything goes through `sdk_process` (PtyHandle over create-connect / connect) and
`sdk_code_interpreter` against the real toolboxd binary; effects are checked with the OS
(`/proc`, files on disk) where the daemon's own answer is not enough.
"""

from __future__ import annotations

import re
import time

import pytest

from conftest import Daemon, assert_envelope


@pytest.fixture
def daemon(tmp_path):
    """The shared fixture with an empty HOME: terminals run login shells, and the host's dotfiles
    (slow, or taking locks a killed shell would leave behind) must not leak into the tests."""
    home = tmp_path / "home"
    home.mkdir()
    d = Daemon(tmp_path, env={"HOME": str(home)})
    yield d
    d.stop()


def read_until(handle, needle: bytes, timeout: float = 10.0) -> bytes:
    """Collects PTY output until `needle` appears (the SDK leaves the socket open on timeout)."""
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{needle!r} not seen in {out[-2000:]!r}"
        for data in handle._handle_events(time.monotonic() + min(remaining, 0.5)):
            out += data
            if needle in out:
                break
    return out


def read_regex(handle, pattern: bytes, timeout: float = 10.0):
    out = b""
    deadline = time.monotonic() + timeout
    while True:
        match = re.search(pattern, out)
        if match:
            return match
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{pattern!r} not seen in {out[-2000:]!r}"
        for data in handle._handle_events(time.monotonic() + min(remaining, 0.5)):
            out += data
            break


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


# ---------------------------------------------------------------------------------------- PTY


def test_create_pty_runs_a_shell_that_takes_input_and_reports_its_exit_code(sdk_process, daemon):
    from daytona.common.pty import PtySize

    handle = sdk_process.create_pty_session("t1", cwd=str(daemon.work), envs={"GREETING": "hi there"},
                                            pty_size=PtySize(cols=100, rows=30))
    try:
        handle.send_input("echo \"[$GREETING] $(pwd) $TERM\"\n")
        out = read_until(handle, f"[hi there] {daemon.work} xterm-256color".encode())
        assert out
        handle.send_input("stty size\n")
        read_until(handle, b"30 100")
        info = sdk_process.get_pty_session_info("t1")
        assert (info.cols, info.rows, info.active, info.lazy_start) == (100, 30, True, False)
        assert info.envs["GREETING"] == "hi there"
        handle.send_input("exit 3\n")
        result = handle.wait(timeout=10)
        assert result.exit_code == 3
        assert result.error == "non-zero exit"
    finally:
        handle.disconnect()
    deadline = time.monotonic() + 5
    while any(s.id == "t1" for s in sdk_process.list_pty_sessions()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(s.id == "t1" for s in sdk_process.list_pty_sessions()), "an exited terminal leaves the registry"


def test_clean_exit_is_code_zero(sdk_process):
    handle = sdk_process.create_pty_session("t0")
    try:
        handle.send_input("exit\n")
        result = handle.wait(timeout=10)
        assert result.exit_code == 0
        assert result.error is None
    finally:
        handle.disconnect()


def test_resize_changes_what_the_program_sees(sdk_process):
    from daytona.common.pty import PtySize

    handle = sdk_process.create_pty_session("rs")
    try:
        handle.send_input("stty size\n")
        read_until(handle, b"24 80")
        info = handle.resize(PtySize(cols=132, rows=43))
        assert (info.cols, info.rows) == (132, 43)
        handle.send_input("stty size\n")
        read_until(handle, b"43 132")
    finally:
        handle.kill()
        handle.disconnect()


def test_two_clients_share_one_terminal_and_a_late_client_sees_recent_output(sdk_process):
    first = sdk_process.create_pty_session("shared")
    try:
        first.send_input("echo before-$((6*7))\n")
        read_until(first, b"before-42")
        second = sdk_process.connect_pty_session("shared")
        try:
            # The ring replays what the first client already saw.
            read_until(second, b"before-42")
            second.send_input("echo from-second-$((2+3))\n")
            read_until(first, b"from-second-5")
            read_until(second, b"from-second-5")
        finally:
            second.disconnect()
        first.send_input("echo still-here\n")
        read_until(first, b"still-here")
    finally:
        first.kill()
        first.disconnect()


def test_kill_removes_the_whole_process_tree(sdk_process):
    handle = sdk_process.create_pty_session("k")
    try:
        handle.send_input("sleep 1000 & sleep 1001 & echo PIDS=$$:$!:END\n")
        match = read_regex(handle, rb"PIDS=(\d+):(\d+):END")
        shell_pid, job_pid = int(match[1]), int(match[2])
        assert alive(shell_pid) and alive(job_pid)
        handle.kill()
        result = handle.wait(timeout=10)
        assert result.exit_code == 137
        assert result.error == "SIGKILL"
    finally:
        handle.disconnect()
    deadline = time.monotonic() + 5
    while (alive(shell_pid) or alive(job_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(shell_pid), "shell survived delete"
    assert not alive(job_pid), "background job survived delete"


def test_lazy_terminal_starts_on_first_connect(sdk_process, api_client):
    from daytona_toolbox_api_client import ProcessApi, PtyCreateRequest

    api = ProcessApi(api_client)
    created = api.create_pty_session(PtyCreateRequest(id="lazy", lazy_start=True, cols=90, rows=20))
    assert created.session_id == "lazy"
    info = sdk_process.get_pty_session_info("lazy")
    assert info.active is False and info.lazy_start is True
    handle = sdk_process.connect_pty_session("lazy")
    try:
        handle.send_input("stty size\n")
        read_until(handle, b"20 90")
        assert sdk_process.get_pty_session_info("lazy").active is True
    finally:
        handle.kill()
        handle.disconnect()


def test_bad_inputs_are_contract_errors(sdk_process, http_client, daemon):
    from daytona.common.errors import DaytonaConflictError, DaytonaError, DaytonaNotFoundError
    from daytona.common.pty import PtySize

    with pytest.raises(DaytonaNotFoundError):
        sdk_process.get_pty_session_info("nope")
    with pytest.raises(DaytonaNotFoundError):
        sdk_process.kill_pty_session("nope")
    assert_envelope(http_client.get(f"{daemon.url}/process/pty/nope"), 404, "PROCESS_NOT_FOUND")
    assert_envelope(http_client.post(f"{daemon.url}/process/pty/nope/resize", json={"cols": 10, "rows": 10}),
                    404, "PROCESS_NOT_FOUND")
    assert_envelope(http_client.post(f"{daemon.url}/process/pty", json={"cols": 10}), 400, "INVALID_REQUEST_BODY")
    assert_envelope(http_client.post(f"{daemon.url}/process/pty", json={"id": "big", "cols": 1001}), 400, "BAD_REQUEST")
    assert_envelope(http_client.post(f"{daemon.url}/process/pty", content=b"{not json"), 400, "INVALID_REQUEST_BODY")

    handle = sdk_process.create_pty_session("dup")
    try:
        with pytest.raises(DaytonaConflictError):
            sdk_process.create_pty_session("dup")
        assert_envelope(http_client.post(f"{daemon.url}/process/pty", json={"id": "dup"}), 409, "CONFLICT")
        assert_envelope(http_client.post(f"{daemon.url}/process/pty/dup/resize", json={"cols": 0, "rows": 5}),
                        400, "BAD_REQUEST")
        assert_envelope(http_client.post(f"{daemon.url}/process/pty/dup/resize", json={"cols": 2000, "rows": 5}),
                        400, "BAD_REQUEST")
        with pytest.raises(DaytonaError):
            handle.resize(PtySize(cols=5000, rows=10))  # the client model refuses it too
    finally:
        handle.kill()
        handle.disconnect()

    with pytest.raises(DaytonaError) as err:
        sdk_process.connect_pty_session("nope")
    assert "Failed to connect to PTY session" in str(err.value)


# -------------------------------------------------------------------------------- interpreter


def test_default_context_keeps_state_between_runs(sdk_code_interpreter):
    first = sdk_code_interpreter.run_code("counter = 41\nprint('set')")
    assert first.stdout == "set\n" and first.error is None
    second = sdk_code_interpreter.run_code("counter += 1\nprint(counter)")
    assert second.stdout == "42\n"


def test_contexts_are_isolated_and_have_their_own_cwd(sdk_code_interpreter, daemon):
    sub = daemon.work / "sub"
    sub.mkdir()
    ctx = sdk_code_interpreter.create_context(cwd=str(sub))
    try:
        assert ctx.language == "python" and ctx.active and ctx.cwd == str(sub)
        assert any(c.id == ctx.id for c in sdk_code_interpreter.list_contexts())
        assert all(c.id != "default" for c in sdk_code_interpreter.list_contexts())
        sdk_code_interpreter.run_code("secret = 'ctx-only'\nopen('made-here.txt', 'w').write('x')", context=ctx)
        assert (sub / "made-here.txt").read_text() == "x"
        assert sdk_code_interpreter.run_code("print(secret)", context=ctx).stdout == "ctx-only\n"
        other = sdk_code_interpreter.run_code("print(secret)")
        assert other.error is not None and other.error.name == "NameError"
    finally:
        sdk_code_interpreter.delete_context(ctx)
    assert all(c.id != ctx.id for c in sdk_code_interpreter.list_contexts())


def test_errors_carry_name_value_and_traceback(sdk_code_interpreter):
    seen = []
    result = sdk_code_interpreter.run_code(
        "def inner():\n    raise ValueError('bad value')\nprint('before')\ninner()\n", on_error=seen.append)
    assert result.stdout == "before\n"
    assert result.error.name == "ValueError"
    assert result.error.value == "bad value"
    assert 'File "<stdin>", line 4' in result.error.traceback
    assert 'line 2, in inner' in result.error.traceback
    assert "toolboxd" not in result.error.traceback and "worker" not in result.error.traceback
    assert seen and seen[0].name == "ValueError"
    syntax = sdk_code_interpreter.run_code("def broken(:\n")
    assert syntax.error.name == "SyntaxError"
    # The context survives errors.
    assert sdk_code_interpreter.run_code("print('alive')").stdout == "alive\n"


def test_stderr_and_envs_are_per_run(sdk_code_interpreter):
    result = sdk_code_interpreter.run_code(
        "import os, sys\nprint(os.environ['RUN_ONLY'])\nsys.stderr.write('oops\\n')", envs={"RUN_ONLY": "yes"})
    assert result.stdout == "yes\n" and result.stderr == "oops\n"
    after = sdk_code_interpreter.run_code("import os\nprint(os.environ.get('RUN_ONLY'))")
    assert after.stdout == "None\n"


def test_output_is_streamed_as_produced(sdk_code_interpreter):
    stamps = []
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.4)\n"
    result = sdk_code_interpreter.run_code(code, on_stdout=lambda m: stamps.append((time.monotonic(), m.output)))
    assert result.stdout == "0\n1\n2\n"
    assert len(stamps) == 3, stamps
    assert stamps[2][0] - stamps[0][0] > 0.6, "chunks arrived together: output was not streamed"


def test_timeout_interrupts_without_losing_the_context(sdk_code_interpreter):
    from daytona.common.errors import DaytonaTimeoutError

    ctx = sdk_code_interpreter.create_context()
    try:
        sdk_code_interpreter.run_code("kept = 'still here'", context=ctx)
        started = time.monotonic()
        with pytest.raises(DaytonaTimeoutError):
            sdk_code_interpreter.run_code("import time\nwhile True:\n    time.sleep(0.1)\n", context=ctx, timeout=1)
        assert time.monotonic() - started < 10
        assert sdk_code_interpreter.run_code("print(kept)", context=ctx).stdout == "still here\n"
    finally:
        sdk_code_interpreter.delete_context(ctx)


def test_interpreter_bad_inputs(sdk_code_interpreter, http_client, daemon):
    from daytona.common.errors import DaytonaError, DaytonaNotFoundError

    assert_envelope(http_client.post(f"{daemon.url}/process/interpreter/context", json={"language": "ruby"}),
                    400, "BAD_REQUEST")
    assert_envelope(http_client.post(f"{daemon.url}/process/interpreter/context", content=b"[1"),
                    400, "INVALID_REQUEST_BODY")
    assert_envelope(http_client.delete(f"{daemon.url}/process/interpreter/context/default"), 400, "BAD_REQUEST")
    assert_envelope(http_client.delete(f"{daemon.url}/process/interpreter/context/nope"), 404, "PROCESS_NOT_FOUND")
    from daytona_toolbox_api_client import InterpreterContext

    ghost = InterpreterContext(id="nope", cwd="/", created_at="x", active=True, language="python")
    with pytest.raises(DaytonaNotFoundError):
        sdk_code_interpreter.delete_context(ghost)
    with pytest.raises(DaytonaError) as err:
        sdk_code_interpreter.run_code("print(1)", context=ghost)
    assert "context not found" in str(err.value) and "1008" in str(err.value)


def test_deleting_a_context_stops_its_worker(sdk_code_interpreter):
    ctx = sdk_code_interpreter.create_context()
    pid = int(sdk_code_interpreter.run_code("import os\nprint(os.getpid())", context=ctx).stdout)
    assert alive(pid)
    sdk_code_interpreter.delete_context(ctx)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
