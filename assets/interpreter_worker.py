# toolboxd interpreter worker: one long-lived Python process per interpreter context.
#
# Protocol (private between toolboxd and this file): toolboxd writes one JSON line per run,
# {"code": str, "envs": {str: str}}, on this process's stdin; the worker answers with JSON
# lines on its stdout, each with the five keys the execute websocket forwards verbatim:
# {"type": "stdout"|"stderr"|"error"|"control", "text", "name", "value", "traceback"}.
# Every run ends with exactly one control line whose text is "completed" or "interrupted".
#
# User code must not be able to corrupt that channel, so the protocol keeps private copies of
# fds 0 and 1; user code sees /dev/null as stdin and pipes as fds 1 and 2, which pump threads
# forward as stdout/stderr messages (output of child processes included). SIGINT (sent by
# toolboxd on timeout) becomes KeyboardInterrupt in the running code; outside a run it is
# ignored so a late interrupt cannot kill the context.

import codecs
import json
import os
import signal
import sys
import threading
import traceback

WORKER_FILE = sys._getframe().f_code.co_filename
SYNC = b"\x00\x1etoolboxd-sync\x1e\x00"
FLUSH_AT = 1024
MAX_FIELD = 64 * 1024

_proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
_proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
_proto_lock = threading.Lock()
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)


def emit(kind, text="", name="", value="", tb=""):
    # Bounded lines keep the daemon's line reader bounded (a message could be arbitrarily long).
    value = value if len(value) <= MAX_FIELD else value[:MAX_FIELD] + "…"
    tb = tb if len(tb) <= MAX_FIELD else "…" + tb[-MAX_FIELD:]
    line = json.dumps({"type": kind, "text": text, "name": name, "value": value, "traceback": tb})
    with _proto_lock:
        _proto_out.write(line.encode() + b"\n")


class Pump:
    """Forwards what is written to `fd` as messages of `kind`; SYNC marks the end of a run."""

    def __init__(self, fd, kind):
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self.fd = fd
        self.read_end = read_end
        self.kind = kind
        self.synced = threading.Event()
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        threading.Thread(target=self.run, daemon=True).start()

    def forward(self, data):
        text = self.decoder.decode(data)
        if text:
            emit(self.kind, text)

    def run(self):
        pending = b""
        while True:
            data = os.read(self.read_end, 65536)
            if not data:
                return
            pending += data
            while SYNC in pending:
                before, pending = pending.split(SYNC, 1)
                self.forward(before)
                text = self.decoder.decode(b"", final=True)
                if text:
                    emit(self.kind, text)
                self.decoder.reset()
                self.synced.set()
            keep = 0
            for k in range(len(SYNC) - 1, 0, -1):
                if pending.endswith(SYNC[:k]):
                    keep = k
                    break
            self.forward(pending[: len(pending) - keep])
            pending = pending[len(pending) - keep :]

    def sync(self):
        self.synced.clear()
        os.write(self.fd, SYNC)
        self.synced.wait(2)


class Stream:
    """sys.stdout/sys.stderr: writes reach the pipe at each newline or every FLUSH_AT chars."""

    def __init__(self, fd):
        self.fd = fd
        self.buffer_text = []
        self.size = 0
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.buffer_text.append(text)
        self.size += len(text)
        if "\n" in text or self.size >= FLUSH_AT:
            self.flush()
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self.buffer_text:
            data = "".join(self.buffer_text).encode("utf-8", "replace")
            self.buffer_text = []
            self.size = 0
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]

    def isatty(self):
        return False

    def fileno(self):
        return self.fd

    def readable(self):
        return False

    def writable(self):
        return True


def user_traceback(exc):
    """The traceback without this worker's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == WORKER_FILE:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def run(code, namespace):
    """Runs `code`; returns "completed" or "interrupted"."""
    try:
        compiled = compile(code, "<stdin>", "exec")
    except (SyntaxError, ValueError, OverflowError) as exc:
        emit("error", name=type(exc).__name__, value=str(exc),
             tb="".join(traceback.format_exception_only(type(exc), exc)))
        return "completed"
    try:
        exec(compiled, namespace)
    except SystemExit:
        pass
    except KeyboardInterrupt:
        return "interrupted"
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything
        emit("error", name=type(exc).__name__, value=str(exc), tb=user_traceback(exc))
    return "completed"


def main():
    out_pump = Pump(1, "stdout")
    err_pump = Pump(2, "stderr")
    sys.stdin = open(os.devnull)
    sys.stdout = Stream(1)
    sys.stderr = Stream(2)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            line = _proto_in.readline()
        except KeyboardInterrupt:
            continue
        if not line:
            return
        status = "completed"
        saved_env = None
        try:
            request = json.loads(line)
            envs = request.get("envs") or {}
            saved_env = {key: os.environ.get(key) for key in envs}
            os.environ.update({str(k): str(v) for k, v in envs.items()})
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                status = run(request.get("code", ""), namespace)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for key, value in (saved_env or {}).items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - user code may have replaced the stream
                    pass
            out_pump.sync()
            err_pump.sync()
            emit("control", status)


main()
