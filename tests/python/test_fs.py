"""The filesystem area through the official SDK (daytona 0.226.1 `FileSystem`) and raw HTTP,
with every effect checked on disk through the OS (os.stat, hashlib, os.readlink)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import threading
import time

import httpx
import pytest
from daytona.common.errors import (
    DaytonaBadRequestError,
    DaytonaConflictError,
    DaytonaError,
    DaytonaFileNotFoundError,
)
from daytona.common.filesystem import FileDownloadRequest, FileUpload

from conftest import assert_envelope


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_upload_and_download_text_binary_and_50mb(sdk_fs, daemon, tmp_path):
    text = "héllo wörld\nline 2\n".encode()
    binary = bytes(range(256)) * 4099
    big = os.urandom(50 * 1024 * 1024)
    local_big = tmp_path / "big.bin"
    local_big.write_bytes(big)

    sdk_fs.upload_file(text, "docs/readme.txt")
    sdk_fs.upload_file(binary, str(daemon.work / "bin" / "blob.bin"))
    sdk_fs.upload_file(str(local_big), "big/50mb.bin")

    assert (daemon.work / "docs/readme.txt").read_bytes() == text
    assert sha((daemon.work / "bin/blob.bin").read_bytes()) == sha(binary)
    assert sha((daemon.work / "big/50mb.bin").read_bytes()) == sha(big)

    assert sdk_fs.download_file("docs/readme.txt") == text
    assert sha(sdk_fs.download_file(str(daemon.work / "bin" / "blob.bin"))) == sha(binary)
    local_copy = tmp_path / "copy.bin"
    sdk_fs.download_file("big/50mb.bin", str(local_copy))
    assert sha(local_copy.read_bytes()) == sha(big)

    streamed = b"".join(sdk_fs.download_file_stream("bin/blob.bin"))
    assert sha(streamed) == sha(binary)


def test_upload_files_with_unicode_and_space_names_then_bulk_download_with_a_missing_file(sdk_fs, daemon):
    files = {
        "sp ace/file one.txt": b"one",
        "ünï/cödé ✓.txt": "ünïcode body".encode(),
        "empty.txt": b"",
    }
    sdk_fs.upload_files([FileUpload(source=data, destination=dest) for dest, data in files.items()])
    for dest, data in files.items():
        assert (daemon.work / dest).read_bytes() == data

    requests = [FileDownloadRequest(source=dest) for dest in files] + [FileDownloadRequest(source="missing/nope.txt")]
    results = {r.source: r for r in sdk_fs.download_files(requests)}
    for dest, data in files.items():
        assert results[dest].error is None, results[dest]
        assert results[dest].result == data
    missing = results["missing/nope.txt"]
    assert missing.result is None
    assert "file not found" in missing.error
    assert missing.error_details.code == "FILE_NOT_FOUND"
    assert missing.error_details.status_code == 404

    with pytest.raises(DaytonaError):
        sdk_fs.download_file("missing/nope.txt")


def test_upload_file_stream_replaces_atomically(sdk_fs, daemon):
    target = daemon.work / "stream.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    payload = os.urandom(3 * 1024 * 1024 + 7)
    sdk_fs.upload_file_stream(payload, "stream.bin")
    assert sha(target.read_bytes()) == sha(payload)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert not [n for n in os.listdir(daemon.work) if n.startswith(".toolboxd-upload-")]


def test_list_files_and_get_file_info_match_os_stat(sdk_fs, daemon):
    (daemon.work / "d/sub").mkdir(parents=True)
    (daemon.work / "d/a.txt").write_text("hello")
    os.chmod(daemon.work / "d/a.txt", 0o604)
    os.symlink("a.txt", daemon.work / "d/link")

    info = sdk_fs.get_file_info("d/link")
    st = os.stat(daemon.work / "d/a.txt")
    assert info.name == "link"
    assert info.size == 5
    assert info.is_dir is False
    assert info.mode == "-rw----r--"
    assert info.permissions == "0604"
    assert info.owner == str(st.st_uid)
    assert info.group == str(st.st_gid)
    assert info.modified_at.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(st.st_mtime))))

    listed = sdk_fs.list_files("d")
    assert [f.name for f in listed] == ["a.txt", "link", "sub"]
    assert listed[2].is_dir and listed[2].mode.startswith("d")
    deep = sdk_fs.list_files(str(daemon.work / "d"), depth=2)
    assert [f.path for f in deep] == [str(daemon.work / "d" / n) for n in ("a.txt", "link", "sub")]

    with pytest.raises(DaytonaFileNotFoundError):
        sdk_fs.get_file_info("nope")
    with pytest.raises(DaytonaBadRequestError):
        sdk_fs.list_files("d/a.txt")


def test_create_folder_move_delete_with_effects_on_disk(sdk_fs, daemon):
    sdk_fs.create_folder("x/y/z", "0700")
    assert stat.S_IMODE(os.stat(daemon.work / "x/y/z").st_mode) == 0o700

    (daemon.work / "src.txt").write_text("move me")
    (daemon.work / "taken.txt").write_text("keep")
    with pytest.raises(DaytonaConflictError):
        sdk_fs.move_files("src.txt", "taken.txt")
    assert (daemon.work / "taken.txt").read_text() == "keep"
    with pytest.raises(DaytonaFileNotFoundError):
        sdk_fs.move_files("src.txt", "no/parent/here.txt")
    sdk_fs.move_files("src.txt", "x/y/moved.txt")
    assert not (daemon.work / "src.txt").exists()
    assert (daemon.work / "x/y/moved.txt").read_text() == "move me"

    with pytest.raises(DaytonaBadRequestError):
        sdk_fs.delete_file("x")
    assert (daemon.work / "x").is_dir()
    sdk_fs.delete_file("x/y/moved.txt")
    assert not (daemon.work / "x/y/moved.txt").exists()
    sdk_fs.delete_file("x", recursive=True)
    assert not (daemon.work / "x").exists()
    with pytest.raises(DaytonaFileNotFoundError):
        sdk_fs.delete_file("x")


def test_set_file_permissions_seen_by_os_stat(sdk_fs, daemon):
    path = daemon.work / "perm.txt"
    path.write_text("x")
    sdk_fs.set_file_permissions("perm.txt", mode="1751")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751
    if os.geteuid() == 0:
        sdk_fs.set_file_permissions(str(path), owner="nobody", group="0")
        import pwd

        st = os.stat(path)
        assert st.st_uid == pwd.getpwnam("nobody").pw_uid
        assert st.st_gid == 0
        sdk_fs.set_file_permissions(str(path), owner="0")
        assert os.stat(path).st_uid == 0
    with pytest.raises(DaytonaBadRequestError):
        sdk_fs.set_file_permissions("perm.txt", owner="no-such-user-zz")
    with pytest.raises(DaytonaFileNotFoundError):
        sdk_fs.set_file_permissions("nope.txt", mode="644")


def test_find_search_and_replace(sdk_fs, daemon):
    (daemon.work / "p/src").mkdir(parents=True)
    (daemon.work / "p/src/main.py").write_text("print('needle')\nother\n")
    (daemon.work / "p/notes.md").write_text("Needle\nneedle here\r\n")
    (daemon.work / "p/blob.bin").write_bytes(b"needle\x00\x01")
    os.symlink(daemon.work / "p", daemon.work / "plink")

    matches = sdk_fs.find_files("p", "needle")
    assert [(m.file, m.line, m.content) for m in matches] == [
        ("p/notes.md", 2, "needle here"),
        ("p/src/main.py", 1, "print('needle')"),
    ]
    assert sdk_fs.find_files("plink", "needle") == []
    assert sdk_fs.find_files("missing", "needle") == []

    assert sdk_fs.search_files("p", "*.py").files == ["p/src/main.py"]
    # Go has no `!` negation: `[!x]` is the set {!, x}.
    assert sdk_fs.search_files("p", "[!x]*").files == []
    assert sdk_fs.search_files("p", "[!n]otes.md").files == ["p/notes.md"]
    assert sdk_fs.search_files("p", "[^x]rc").files == ["p/src"]
    assert sdk_fs.search_files("nowhere", "*").files == []

    results = sdk_fs.replace_in_files(["p/notes.md", "p/missing.md"], "needle", "pin")
    assert results[0].success is True and results[0].error is None
    assert results[1].success is False and "no such file or directory" in results[1].error
    assert (daemon.work / "p/notes.md").read_bytes() == b"Needle\npin here\r\n"


def test_bad_inputs_are_enveloped_4xx(http_client, daemon):
    url = daemon.url
    assert_envelope(http_client.get(f"{url}/files/info"), 400, "BAD_REQUEST")
    assert_envelope(http_client.get(f"{url}/files/info?path=%FF"), 400, "BAD_REQUEST")
    (daemon.work / "dir").mkdir()
    assert_envelope(http_client.get(f"{url}/files/download", params={"path": "dir"}), 400, "BAD_REQUEST")
    assert_envelope(http_client.delete(f"{url}/files"), 400, "BAD_REQUEST")
    assert_envelope(http_client.post(f"{url}/files/folder", params={"path": "q", "mode": "0o755"}), 400, "BAD_REQUEST")
    assert_envelope(http_client.post(f"{url}/files/bulk-download", json={"paths": []}), 400, "BAD_REQUEST")
    assert_envelope(http_client.post(f"{url}/files/bulk-download", content=b"{oops"), 400, "INVALID_REQUEST_BODY")
    assert_envelope(http_client.get(f"{url}/files/find", params={"path": "."}), 400, "BAD_REQUEST")
    assert_envelope(
        http_client.post(f"{url}/files/replace", json={"files": [], "pattern": "", "newValue": ""}),
        400,
        "INVALID_REQUEST_BODY",
    )
    # Malformed multipart: a part that never ends.
    broken = http_client.post(
        f"{url}/files/bulk-upload",
        content=b'--B\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\nx',
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert broken.status_code == 400
    assert broken.json()["errors"][0].startswith("reading part:")
    not_multipart = http_client.post(f"{url}/files/bulk-upload", content=b"x", headers={"Content-Type": "text/plain"})
    assert not_multipart.status_code == 400
    assert not_multipart.json()["errors"] == ["invalid multipart form"]
    # A directory where the file should go.
    dir_target = http_client.post(f"{url}/files/upload-v2", params={"path": "dir"}, content=b"x")
    assert_envelope(dir_target, 400, "BAD_REQUEST")
    assert (daemon.work / "dir").is_dir()


def test_generated_client_upload_v2_and_download(api_client, daemon):
    from daytona_toolbox_api_client import FileSystemApi

    api = FileSystemApi(api_client)
    uploaded = api.upload_file(path="gen/x.bin", file=("x.bin", b"\x00generated\xff"))
    assert (uploaded.name, uploaded.path, uploaded.type) == ("x.bin", "gen/x.bin", "file")
    assert (daemon.work / "gen/x.bin").read_bytes() == b"\x00generated\xff"
    assert bytes(api.download_file(path="gen/x.bin")) == b"\x00generated\xff"


def test_disconnect_mid_upload_leaves_the_old_file(daemon):
    target = daemon.work / "keep.txt"
    target.write_bytes(b"precious")
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    boundary = "XB"
    head = (
        f"POST /files/bulk-upload HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 50000000\r\n\r\n"
    ).encode()
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files[0].path"\r\n\r\nkeep.txt\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files[0].file"; filename="keep.txt"\r\n\r\n'
    ).encode() + os.urandom(1024 * 1024)
    with socket.create_connection((host, int(port))) as s:
        s.sendall(head + body)
        deadline = time.time() + 10
        while not [n for n in os.listdir(daemon.work) if n.startswith(".toolboxd-upload-")]:
            assert time.time() < deadline, "upload never started"
            time.sleep(0.01)
    deadline = time.time() + 10
    while [n for n in os.listdir(daemon.work) if n.startswith(".toolboxd-upload-")]:
        assert time.time() < deadline, "temp file left behind"
        time.sleep(0.05)
    assert target.read_bytes() == b"precious"


def test_watch_reports_real_changes(daemon):
    import websocket

    watched = daemon.work / "w"
    watched.mkdir()
    ws_url = daemon.url.replace("http://", "ws://") + "/files/watch?path=w&recursive=true"
    headers = [f"{k}: {v}" for k, v in daemon.headers().items()]
    ws = websocket.create_connection(ws_url, header=headers, timeout=10)
    try:
        time.sleep(0.1)
        (watched / "f.txt").write_text("1")
        seen = []
        deadline = time.time() + 10
        while not any(e["type"] == "create" and e["path"] == str(watched / "f.txt") for e in seen):
            assert time.time() < deadline, seen
            seen.append(json.loads(ws.recv()))
        assert seen[-1]["isDir"] is False
        os.remove(watched / "f.txt")
        while not any(e["type"] == "remove" for e in seen):
            assert time.time() < deadline, seen
            seen.append(json.loads(ws.recv()))
    finally:
        ws.close()


def test_archive_is_a_tar_of_the_directory(http_client, daemon, tmp_path):
    import tarfile

    (daemon.work / "pkg/inner").mkdir(parents=True)
    (daemon.work / "pkg/inner/a.txt").write_text("archived")
    with http_client.stream("GET", f"{daemon.url}/files/archive", params={"path": "pkg"}) as resp:
        assert resp.status_code == 200
        out = tmp_path / "pkg.tar"
        with open(out, "wb") as f:
            for chunk in resp.iter_bytes():
                f.write(chunk)
    with tarfile.open(out) as tar:
        assert tar.extractfile("pkg/inner/a.txt").read() == b"archived"


@pytest.mark.parametrize("name", ["spaced name.txt", "ünïcödé.txt", "quote\"d.txt"])
def test_unicode_space_and_quote_names_round_trip_via_sdk(sdk_fs, daemon, name):
    sdk_fs.upload_file(name.encode(), f"names/{name}")
    assert (daemon.work / "names" / name).read_bytes() == name.encode()
    assert sdk_fs.download_file(f"names/{name}") == name.encode()
    assert [f.name for f in sdk_fs.list_files("names")] == [name]


def test_file_contents_cannot_break_the_bulk_download(sdk_fs, daemon):
    # The delimiter line the reference daemon used for every response, inside a file.
    tricky = b"head\r\n--DAYTONA-FILE-BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ntail\r\n"
    (daemon.work / "tricky.bin").write_bytes(tricky)
    (daemon.work / "plain.txt").write_bytes(b"plain")
    assert sdk_fs.download_file("tricky.bin") == tricky
    results = {
        r.source: r
        for r in sdk_fs.download_files([FileDownloadRequest(source="tricky.bin"), FileDownloadRequest(source="plain.txt")])
    }
    assert results["tricky.bin"].error is None and results["tricky.bin"].result == tricky
    assert results["plain.txt"].result == b"plain"
    assert b"".join(sdk_fs.download_file_stream("tricky.bin")) == tricky


def test_deleting_dot_paths_through_the_sdk_changes_nothing(sdk_fs, daemon, tmp_path):
    (daemon.work / "sub").mkdir()
    (daemon.work / "sub/keep.txt").write_text("keep")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("precious")
    os.symlink(outside, daemon.work / "link")
    for path in (".", "sub/.", "sub/..", "link/."):
        with pytest.raises(DaytonaError):
            sdk_fs.delete_file(path, recursive=True)
    for path in ("link/", "link//"):
        with pytest.raises(DaytonaBadRequestError):
            sdk_fs.delete_file(path, recursive=True)
    assert (daemon.work / "sub/keep.txt").read_text() == "keep"
    assert (outside / "precious.txt").read_text() == "precious"
    assert os.path.islink(daemon.work / "link")
    sdk_fs.delete_file("link", recursive=True)
    assert not os.path.lexists(daemon.work / "link")
    assert (outside / "precious.txt").read_text() == "precious"
