"""Screen recordings through the official SDK (`ComputerUse.recording`): ffmpeg records a real
Xvfb display whose colour changes, and the downloaded MP4 is checked with ffprobe (codec, size,
duration, and the colours of its first and last frames)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time

import httpx
import pytest

from conftest import Daemon, assert_envelope, make_api_client

WIDTH, HEIGHT = 320, 240
NEEDED = ("Xvfb", "xsetroot", "ffmpeg", "ffprobe")


@pytest.fixture
def xvfb():
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        print(f"SKIPPED: {', '.join(missing)} not installed")
        pytest.skip(f"{', '.join(missing)} not installed")
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it once it accepts clients.
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        print("SKIPPED: Xvfb could not start")
        pytest.skip("Xvfb could not start")
    display = f":{number}"
    yield display
    proc.terminate()
    proc.wait(timeout=10)


def paint(display: str, colour: str) -> None:
    subprocess.run(["xsetroot", "-display", display, "-solid", colour], check=True)


def recording_service(d: Daemon):
    from daytona._sync.computer_use import ComputerUse
    from daytona_toolbox_api_client import ComputerUseApi

    http = httpx.Client(headers=d.headers(), timeout=60)
    return ComputerUse(ComputerUseApi(make_api_client(d)), http_client=http).recording


def probe(path: pathlib.Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, f"ffprobe cannot read {path}: {out.stderr}"
    return json.loads(out.stdout)


def centre_pixel(path: pathlib.Path, *seek: str) -> tuple[int, int, int]:
    """RGB of the centre pixel of one frame (the first, or the one `seek` selects)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", *seek, "-i", str(path), "-frames:v", "1",
         "-vf", f"crop=2:2:{WIDTH // 2}:{HEIGHT // 2}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
    )
    assert out.returncode == 0 and len(out.stdout) == 12, out.stderr
    return tuple(out.stdout[:3])


def dominant(rgb: tuple[int, int, int]) -> str:
    return ("red", "green", "blue")[max(range(3), key=lambda i: rgb[i])]


def wait_for(predicate, what: str, within: float = 30):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def test_a_recording_of_a_changing_display_downloads_as_h264_of_its_size(xvfb, start_daemon, tmp_path):
    d = start_daemon(env={"DISPLAY": xvfb})
    recording = recording_service(d)
    paint(xvfb, "red")
    started = recording.start("colours")
    assert started.status == "recording"
    assert started.file_name.startswith(started.id + "_colours_") and started.file_name.endswith(".mp4")
    assert pathlib.Path(started.file_path).is_file()
    assert [r.id for r in recording.list().recordings] == [started.id]
    time.sleep(1.5)
    paint(xvfb, "lime")
    time.sleep(1)
    paint(xvfb, "blue")
    time.sleep(1.5)
    stopped = recording.stop(started.id)
    assert stopped.status == "completed"
    assert stopped.end_time and stopped.size_bytes == pathlib.Path(stopped.file_path).stat().st_size
    assert recording.get(started.id).status == "completed"

    local = tmp_path / "downloads" / "colours.mp4"
    recording.download(started.id, str(local))
    assert local.read_bytes() == pathlib.Path(stopped.file_path).read_bytes()
    info = probe(local)
    video = info["streams"][0]
    assert video["codec_name"] == "h264"
    assert (video["width"], video["height"]) == (WIDTH, HEIGHT)
    duration = float(info["format"]["duration"])
    print(f"recorded {duration:.2f}s, daemon says {stopped.duration_seconds:.2f}s, {stopped.size_bytes} bytes")
    # About the 4 s the display was recorded; generous, the machine may be loaded.
    assert 2.0 <= duration <= stopped.duration_seconds + 2.0
    assert abs(duration - stopped.duration_seconds) < 2.5
    assert dominant(centre_pixel(local)) == "red"
    assert dominant(centre_pixel(local, "-sseof", "-0.3")) == "blue"


def test_sigterm_mid_recording_finishes_a_playable_file_found_again_after_restart(xvfb, tmp_path):
    d = Daemon(tmp_path / "d", env={"DISPLAY": xvfb})
    try:
        started = recording_service(d).start()
        assert "_session_" in started.file_name
        paint(xvfb, "green")
        time.sleep(2)
        assert d.stop() == 0
    finally:
        d.stop()
    path = pathlib.Path(started.file_path)
    duration = float(probe(path)["format"]["duration"])
    assert duration > 0.5, duration
    # The ffmpeg died with nothing left behind, and the restarted daemon lists it as finished.
    again = Daemon(tmp_path / "d", env={"DISPLAY": xvfb})
    try:
        found = recording_service(again).get(started.id)
        assert found.status == "completed"
        assert found.size_bytes == path.stat().st_size
        assert [r.id for r in recording_service(again).list().recordings] == [started.id]
    finally:
        again.stop()


def test_list_get_delete_and_their_errors(xvfb, start_daemon):
    from daytona.common.errors import (
        DaytonaBadRequestError,
        DaytonaNotFoundError,
        DaytonaRecordingStillActiveError,
    )

    d = start_daemon(env={"DISPLAY": xvfb})
    recording = recording_service(d)
    for bad in [".hidden", "a/b", "x" * 101, "semi;colon"]:
        with pytest.raises(DaytonaBadRequestError):
            recording.start(bad)
    assert recording.list().recordings == []
    assert not any((d.data / "recordings").glob("*.mp4")) if (d.data / "recordings").exists() else True

    active = recording.start("keep")
    with pytest.raises(DaytonaRecordingStillActiveError):
        recording.delete(active.id)
    assert pathlib.Path(active.file_path).is_file()
    recording.stop(active.id)
    assert recording.stop(active.id).status == "completed", "stopping twice returns it as it is"

    with httpx.Client(base_url=d.url, headers=d.headers()) as raw:
        ranged = raw.get(f"/computeruse/recordings/{active.id}/download", headers={"Range": "bytes=0-99"})
        assert ranged.status_code == 206 and len(ranged.content) == 100
        assert ranged.headers["content-type"] == "video/mp4"
        assert ranged.content == pathlib.Path(active.file_path).read_bytes()[:100]
        assert_envelope(raw.post("/computeruse/recordings/stop", json={}), 400, "INVALID_REQUEST_BODY")
        assert_envelope(raw.post("/computeruse/recordings/stop", json={"id": "nope"}), 404, "NOT_FOUND")
        assert_envelope(raw.get("/computeruse/recordings/nope"), 404, "NOT_FOUND")
        assert_envelope(raw.get("/computeruse/recordings/nope/download"), 404, "NOT_FOUND")
        assert_envelope(raw.delete("/computeruse/recordings/nope"), 404, "NOT_FOUND")
        # An unparseable body is no label, as in the reference.
        unlabelled = raw.post("/computeruse/recordings/start", content=b"not json")
        assert unlabelled.status_code == 201 and "_session_" in unlabelled.json()["fileName"]
        assert raw.post("/computeruse/recordings/stop", json={"id": unlabelled.json()["id"]}).status_code == 200

    recording.delete(active.id)
    assert not pathlib.Path(active.file_path).exists()
    assert not (d.data / "recording-meta" / f"{active.id}.json").exists()
    with pytest.raises(DaytonaNotFoundError):
        recording.get(active.id)
    assert len(recording.list().recordings) == 1


def test_a_recording_survives_its_client_hanging_up_and_a_dying_ffmpeg_marks_it_failed(xvfb, start_daemon):
    d = start_daemon(env={"DISPLAY": xvfb})
    with httpx.Client(base_url=d.url, headers=d.headers()) as raw:
        with pytest.raises(httpx.TimeoutException):
            raw.post("/computeruse/recordings/start", json={"label": "hangup"}, timeout=0.05)
        listed = wait_for(lambda: raw.get("/computeruse/recordings").json()["recordings"], "the recording")
    recording = recording_service(d)
    (started,) = listed
    assert wait_for(lambda: recording.get(started["id"]).status == "recording", "it recording")
    time.sleep(1)
    pids = ffmpeg_pids(started["fileName"])
    assert len(pids) == 1, pids
    os.kill(pids[0], 9)
    wait_for(lambda: recording.get(started["id"]).status == "failed", "the recording marked failed")
    assert recording.get(started["id"]).end_time


def ffmpeg_pids(file_name: str) -> list[int]:
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if proc.name.isdigit() and any(file_name.encode() in arg for arg in cmdline):
            pids.append(int(proc.name))
    return pids


def test_without_ffmpeg_start_is_the_contracts_error_and_changes_nothing(start_daemon, tmp_path):
    from daytona.common.errors import DaytonaRecordingFfmpegNotFoundError

    empty = tmp_path / "bin"
    empty.mkdir()
    d = start_daemon(env={"PATH": str(empty), "DISPLAY": ":99"})
    with httpx.Client(base_url=d.url, headers=d.headers()) as raw:
        body = assert_envelope(raw.post("/computeruse/recordings/start", json={}), 400, "RECORDING_FFMPEG_NOT_FOUND")
        assert body["message"] == "FFmpeg must be installed and available in PATH to use screen recording"
    with pytest.raises(DaytonaRecordingFfmpegNotFoundError):
        recording_service(d).start("x")
    assert recording_service(d).list().recordings == []
    assert not (d.data / "recordings").exists() or not any((d.data / "recordings").iterdir())


def test_without_an_x_server_start_is_a_503_and_changes_nothing(start_daemon, tmp_path):
    if shutil.which("ffmpeg") is None:
        print("SKIPPED: ffmpeg not installed")
        pytest.skip("ffmpeg not installed")
    d = start_daemon(env={"DISPLAY": ":4242"})
    with httpx.Client(base_url=d.url, headers=d.headers()) as raw:
        response = raw.post("/computeruse/recordings/start", json={"label": "nothing"}, timeout=60)
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["source"] == "DAYTONA_DAEMON" and "code" not in body
        assert ":4242" in body["message"]
        assert raw.get("/computeruse/recordings").json() == {"recordings": []}
    recordings = d.data / "recordings"
    assert not recordings.exists() or not any(recordings.iterdir())
    assert not any((d.data / "recording-meta").iterdir())


def test_a_daemon_started_after_a_crash_stops_the_ffmpeg_left_recording(xvfb, tmp_path):
    d = Daemon(tmp_path / "d", env={"DISPLAY": xvfb})
    try:
        started = recording_service(d).start("crash")
        time.sleep(1)
        d.proc.kill()
        d.proc.wait()
        (orphan,) = ffmpeg_pids(started.file_name)
    finally:
        d.stop()
    again = Daemon(tmp_path / "d", env={"DISPLAY": xvfb})
    try:
        wait_for(lambda: not ffmpeg_pids(started.file_name), "the left-over ffmpeg gone")
        found = recording_service(again).get(started.id)
        assert found.status == "failed" and found.end_time
    finally:
        again.stop()
    print(f"left-over ffmpeg {orphan} was stopped")
