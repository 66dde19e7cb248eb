"""Processes through the official SDK (`daytona==0.226.1` `Process`): execute, code-run,
sessions with sync/async commands, logs (plain and streamed over the websocket with separate
stdout/stderr callbacks), input, delete. Effects are checked with files and /proc."""

from __future__ import annotations

import asyncio
import base64
import os
import pathlib
import time

import httpx
import pytest
from daytona.common.errors import (
    DaytonaBadRequestError,
    DaytonaCommandAlreadyCompletedError,
    DaytonaConflictError,
    DaytonaProcessExecutionTimeoutError,
    DaytonaProcessNotFoundError,
    DaytonaSessionEndedError,
)
from daytona.common.process import CodeRunParams, SessionExecuteRequest

from conftest import assert_envelope


def proc_alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_until(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


# ---- execute ----


def test_exec_returns_exit_code_and_combined_output(sdk_process, daemon):
    r = sdk_process.exec("echo out; echo err >&2; touch made-here; exit 7")
    assert r.exit_code == 7
    assert "out\n" in r.result and "err\n" in r.result
    assert r.artifacts.stdout == r.result
    assert (daemon.work / "made-here").exists(), "runs in the work dir by default"


def test_exec_cwd_and_env(sdk_process, daemon):
    (daemon.work / "sub").mkdir()
    r = sdk_process.exec('pwd; printf "%s" "$GREETING"', cwd="sub", env={"GREETING": "hello there"})
    assert r.result == f"{daemon.work / 'sub'}\nhello there"


def test_exec_bad_cwd_is_exit_minus_one_with_a_clear_message(sdk_process):
    r = sdk_process.exec("true", cwd="/definitely/not/here")
    assert r.exit_code == -1
    assert "/definitely/not/here" in r.result and "does not exist" in r.result


def test_exec_signal_death_is_minus_one(sdk_process):
    assert sdk_process.exec("kill -KILL $$").exit_code == -1


def test_exec_timeout_kills_the_whole_tree(sdk_process, daemon):
    marker = daemon.work / "pids"
    with pytest.raises(DaytonaProcessExecutionTimeoutError):
        sdk_process.exec(f"sleep 300 & echo $! > {marker}; setsid sleep 301 & echo $! >> {marker}; wait", timeout=1)
    pids = [int(p) for p in marker.read_text().split()]
    assert len(pids) == 2
    assert wait_until(lambda: not any(proc_alive(p) for p in pids)), "no survivors after a timeout"


def test_update_env_reaches_exec(sdk_process, http_client, daemon):
    resp = http_client.post(f"{daemon.url}/env", json={"set": {"FROM_ENV_API": "yes-it-does"}})
    assert resp.status_code == 200
    assert sdk_process.exec("echo $FROM_ENV_API").result.strip() == "yes-it-does"


def test_exec_bad_inputs_are_contract_400s(http_client, daemon):
    assert_envelope(http_client.post(f"{daemon.url}/process/execute", json={"command": "   "}), 400, "BAD_REQUEST")
    assert_envelope(http_client.post(f"{daemon.url}/process/execute", json={}), 400, "INVALID_REQUEST_BODY")
    assert_envelope(
        http_client.post(f"{daemon.url}/process/execute", json={"command": "true", "timeout": -1}),
        400,
        "INVALID_REQUEST_BODY",
    )
    body = assert_envelope(
        http_client.post(f"{daemon.url}/process/execute", json={"command": "true", "envs": {"1BAD": "x"}}),
        400,
        "BAD_REQUEST",
    )
    assert body["message"] == "bad request: invalid environment variable name: '1BAD'"


def test_exec_large_output_is_truncated_head_and_tail(start_daemon):
    d = start_daemon(env={"TOOLBOXD_EXEC_OUTPUT_LIMIT": "1000"})
    r = httpx.post(
        f"{d.url}/process/execute",
        json={"command": "echo HEAD; head -c 100000 /dev/zero | tr '\\0' x; echo; echo TAIL"},
        timeout=30,
    )
    body = r.json()
    assert body["exitCode"] == 0
    assert body["result"].startswith("HEAD\n") and body["result"].endswith("TAIL\n")
    assert "output truncated" in body["result"]
    assert len(body["result"]) < 1200


# ---- code-run ----


def test_code_run_python_argv_env_and_exit(sdk_process):
    r = sdk_process.code_run(
        "import os, sys\nprint(sys.argv[1:], os.environ['K'])\nsys.exit(3)",
        params=CodeRunParams(argv=["a", "b"], env={"K": "v"}),
    )
    assert r.exit_code == 3
    assert r.result == "['a', 'b'] v\n"


def test_code_run_timeout(sdk_process):
    from daytona_toolbox_api_client.exceptions import ApiException

    # The SDK does not map code_run errors; the generated client raises with the envelope.
    with pytest.raises(ApiException) as err:
        sdk_process.code_run("import time\ntime.sleep(30)", timeout=1)
    assert err.value.status == 408 and "PROCESS_EXECUTION_TIMEOUT" in err.value.body


def test_code_run_javascript_and_typescript(api_client, http_client):
    from daytona._sync.process import Process
    from daytona_toolbox_api_client import ProcessApi

    js = Process("javascript", ProcessApi(api_client), http_client=http_client)
    r = js.code_run("console.log(process.argv.slice(2).join(','))", params=CodeRunParams(argv=["x", "y"]))
    assert (r.exit_code, r.result) == (0, "x,y\n")
    ts = Process("typescript", ProcessApi(api_client), http_client=http_client)
    r = ts.code_run("const n: number = 6 * 7;\nconsole.log(`n=${n}`)")
    assert (r.exit_code, r.result) == (0, "n=42\n"), r.result


def test_code_run_unknown_language_is_400(http_client, daemon):
    r = http_client.post(f"{daemon.url}/process/code-run", json={"code": "x", "language": "cobol"})
    assert assert_envelope(r, 400, "BAD_REQUEST")["message"] == "bad request: unsupported language: cobol"


def test_code_run_charts_line_and_bar(sdk_process):
    from daytona.common.charts import BarChart, ChartType, LineChart

    code = """
import matplotlib.pyplot as plt
plt.figure()
plt.plot([0, 1, 2], [0, 1, 4], label='squares')
plt.title('Line'); plt.xlabel('x'); plt.ylabel('y')
plt.show()
plt.figure()
plt.bar(['apples', 'pears'], [3, 4.5], label='fruit')
plt.title('Bars')
plt.show()
print('after charts')
"""
    r = sdk_process.code_run(code)
    assert r.exit_code == 0, r.result
    assert r.result == "after charts\n", "marker lines are removed from the result"
    charts = r.artifacts.charts
    assert [c.type for c in charts] == [ChartType.LINE, ChartType.BAR]
    line, bar = charts
    assert isinstance(line, LineChart) and line.title == "Line" and line.x_label == "x"
    assert line.elements[0].points == [[0.0, 0.0], [1.0, 1.0], [2.0, 4.0]]
    assert isinstance(bar, BarChart) and bar.title == "Bars"
    assert [(e.label, e.value) for e in bar.elements] == [("apples", "3.0"), ("pears", "4.5")]
    assert base64.b64decode(line.png).startswith(b"\x89PNG")


def test_code_run_user_exception_shows_user_frames(sdk_process):
    r = sdk_process.code_run("import matplotlib\ndef f():\n    raise ValueError('boom')\nf()")
    assert r.exit_code == 1
    assert "ValueError: boom" in r.result
    assert "matplotlib_charts" not in r.result


# ---- sessions ----


def test_session_state_persists_and_sync_exec(sdk_process, daemon):
    sdk_process.create_session("s")
    sub = daemon.work / "deep"
    sub.mkdir()
    r = sdk_process.execute_session_command("s", SessionExecuteRequest(command="cd deep && export X=42"))
    assert r.exit_code == 0
    r = sdk_process.execute_session_command("s", SessionExecuteRequest(command="pwd; echo $X; echo oops >&2; false"))
    assert r.exit_code == 1
    assert r.stdout == f"{sub}\n42\n"
    assert r.stderr == "oops\n"
    assert "\x01\x01\x01" in r.output, "output keeps the stream markers"
    session = sdk_process.get_session("s")
    assert session.session_id == "s"
    assert [c.exit_code for c in session.commands] == [0, 1]
    assert sdk_process.get_session_command("s", r.cmd_id).exit_code == 1
    assert "s" in [s.session_id for s in sdk_process.list_sessions()]


def test_async_command_streams_separate_stdout_and_stderr(sdk_process):
    sdk_process.create_session("a")
    r = sdk_process.execute_session_command(
        "a",
        SessionExecuteRequest(
            command="for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done",
            run_async=True,
        ),
    )
    assert r.cmd_id and r.exit_code is None
    out, err = [], []
    asyncio.run(sdk_process.get_session_command_logs_async("a", r.cmd_id, out.append, err.append))
    assert "".join(out) == "out1\nout2\nout3\n"
    assert "".join(err) == "err1\nerr2\nerr3\n"
    assert sdk_process.get_session_command("a", r.cmd_id).exit_code == 0
    logs = sdk_process.get_session_command_logs("a", r.cmd_id)
    assert logs.stdout == "out1\nout2\nout3\n" and logs.stderr == "err1\nerr2\nerr3\n"


def test_logs_can_be_read_again_after_a_disconnect(sdk_process, daemon):
    sdk_process.create_session("again")
    r = sdk_process.execute_session_command("again", SessionExecuteRequest(command="seq 1 2000", run_async=True))
    assert wait_until(lambda: sdk_process.get_session_command("again", r.cmd_id).exit_code == 0)
    for _ in range(2):
        out = []
        asyncio.run(sdk_process.get_session_command_logs_async("again", r.cmd_id, out.append, lambda _: None))
        assert "".join(out) == "".join(f"{i}\n" for i in range(1, 2001))
    log = next((daemon.data / "sessions" / "again" / r.cmd_id).glob("output.log"))
    assert log.read_bytes().startswith(b"\x01\x01\x011\n")


def test_send_input_to_a_running_command(sdk_process):
    sdk_process.create_session("in")
    r = sdk_process.execute_session_command(
        "in", SessionExecuteRequest(command='read name; echo "hello $name"', run_async=True)
    )
    sdk_process.send_session_command_input("in", r.cmd_id, "world")
    assert wait_until(lambda: sdk_process.get_session_command("in", r.cmd_id).exit_code == 0)
    logs = sdk_process.get_session_command_logs("in", r.cmd_id)
    assert logs.stdout == "world\nhello world\n", "input is echoed as a stdout line"
    with pytest.raises(DaytonaCommandAlreadyCompletedError):
        sdk_process.send_session_command_input("in", r.cmd_id, "late")


def test_background_job_does_not_block_and_delete_kills_the_tree(sdk_process, daemon):
    sdk_process.create_session("bg")
    pidfile = daemon.work / "bg.pid"
    started = time.monotonic()
    r = sdk_process.execute_session_command(
        "bg", SessionExecuteRequest(command=f"sleep 100 & echo $! > {pidfile}; setsid sleep 101 & echo $! >> {pidfile}")
    )
    assert r.exit_code == 0
    assert time.monotonic() - started < 5
    pids = [int(p) for p in pidfile.read_text().split()]
    assert all(proc_alive(p) for p in pids)
    sdk_process.delete_session("bg")
    assert wait_until(lambda: not any(proc_alive(p) for p in pids)), "delete kills the whole tree"
    assert not (daemon.data / "sessions" / "bg").exists()
    with pytest.raises(DaytonaProcessNotFoundError):
        sdk_process.get_session("bg")


def test_exit_ends_the_session_without_hanging(sdk_process):
    sdk_process.create_session("ex")
    r = sdk_process.execute_session_command("ex", SessionExecuteRequest(command="echo bye; exit 5"), timeout=20)
    assert r.exit_code == 5 and r.stdout == "bye\n"
    with pytest.raises(DaytonaSessionEndedError):
        sdk_process.execute_session_command("ex", SessionExecuteRequest(command="echo again"), timeout=20)


def test_session_errors(sdk_process, http_client, daemon):
    with pytest.raises(DaytonaProcessNotFoundError):
        sdk_process.get_session("nope")
    with pytest.raises(DaytonaProcessNotFoundError):
        sdk_process.execute_session_command("nope", SessionExecuteRequest(command="true"))
    sdk_process.create_session("dup")
    with pytest.raises(DaytonaConflictError):
        sdk_process.create_session("dup")
    with pytest.raises(DaytonaProcessNotFoundError):
        sdk_process.get_session_command("dup", "no-such-command")
    with pytest.raises(DaytonaBadRequestError):
        sdk_process.create_session("entrypoint")
    base = f"{daemon.url}/process/session"
    assert_envelope(http_client.post(f"{base}/dup/exec", json={"command": " "}), 400, "BAD_REQUEST")
    assert_envelope(http_client.post(f"{base}/dup/exec", json={}), 400, "INVALID_REQUEST_BODY")
    assert_envelope(http_client.post(base, json={"sessionId": ".."}), 400, "BAD_REQUEST")
    assert_envelope(http_client.get(f"{base}/entrypoint"), 404, "PROCESS_NOT_FOUND")


def test_legacy_clients_get_combined_text_logs(sdk_process, daemon):
    sdk_process.create_session("old")
    r = sdk_process.execute_session_command("old", SessionExecuteRequest(command="echo a; echo b >&2"))
    text = httpx.get(f"{daemon.url}/process/session/old/command/{r.cmd_id}/logs")
    assert text.headers["content-type"].startswith("text/plain")
    assert sorted(text.text.splitlines()) == ["a", "b"]


def test_entrypoint_session_and_logs(start_daemon, tmp_path):
    from daytona._sync.process import Process
    from daytona_toolbox_api_client import ApiClient, Configuration, ProcessApi

    d = start_daemon(args=("--", "sh", "-c", "echo started; echo warn >&2; echo $0 done", "it's"))
    client = ApiClient(Configuration(host=d.url))
    client.set_default_header("X-Daytona-SDK-Version", "0.226.1")
    with httpx.Client(headers={"X-Daytona-SDK-Version": "0.226.1"}) as http:
        p = Process("python", ProcessApi(client), http_client=http)
        assert wait_until(lambda: p.get_entrypoint_session().commands[0].exit_code == 0)
        out, err = [], []
        asyncio.run(p.get_entrypoint_logs_async(out.append, err.append))
        assert "".join(out) == "started\nit's done\n" and "".join(err) == "warn\n"
        logs = p.get_entrypoint_logs()
        assert logs.stdout == "started\nit's done\n"
        assert "entrypoint" not in [s.session_id for s in p.list_sessions()]
        assert p.exec("echo still serving").result == "still serving\n"


def test_code_run_charts_scatter_pie_box_and_composite(sdk_process):
    from daytona.common.charts import ChartType

    code = """
import matplotlib.pyplot as plt
plt.figure(); plt.scatter([1, 2], [3, 4], label='pts'); plt.show()
plt.figure(); plt.pie([1, 3], labels=['small', 'big']); plt.show()
plt.figure(); plt.boxplot([[1, 2, 3, 4, 100]]); plt.show()
fig, (a, b) = plt.subplots(1, 2); a.plot([1, 2]); b.bar(['x'], [1]); fig.suptitle('Both'); plt.show()
"""
    r = sdk_process.code_run(code)
    assert r.exit_code == 0, r.result
    scatter, pie, box, composite = r.artifacts.charts
    assert scatter.type == ChartType.SCATTER and scatter.elements[0].points == [[1.0, 3.0], [2.0, 4.0]]
    assert pie.type == ChartType.PIE and [(e.label, e.angle) for e in pie.elements] == [("small", 90.0), ("big", 270.0)]
    assert box.type == ChartType.BOX_AND_WHISKER
    assert (box.elements[0].median, box.elements[0].outliers) == (3.0, [100.0])
    assert composite.type == ChartType.COMPOSITE_CHART and composite.title == "Both"
    assert [e.type for e in composite.elements] == ["line", "bar"]
