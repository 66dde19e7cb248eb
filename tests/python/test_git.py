"""The git area through the official daytona==0.226.1 SDK `Git` class, against the real daemon.

Remotes are real: bare repositories over file:// and a smart-HTTP server (`git http-backend`
as CGI behind a small threaded server in this file) that demands HTTP Basic auth. Effects are
checked with the git CLI, never through the daemon.
"""

from __future__ import annotations

import base64
import os
import pathlib
import shutil
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from conftest import assert_envelope, make_api_client

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="the git CLI checks the effects")

USER = "alice"
PASSWORD = "s3cret-pw"


# --- fixtures -------------------------------------------------------------------------------


class Env:
    """A daemon with a HOME of its own, the SDK `Git` on it, and the git CLI with that HOME."""

    def __init__(self, tmp: pathlib.Path, start_daemon):
        self.home = tmp / "home"
        self.home.mkdir()
        (self.home / ".gitconfig").write_text(
            "[user]\n\tname = Cli User\n\temail = cli@example.com\n"
            "[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n"
        )
        self.daemon = start_daemon(env={"HOME": str(self.home)})
        from daytona._sync.git import Git
        from daytona_toolbox_api_client import GitApi

        self.client = make_api_client(self.daemon)
        self.git = Git(GitApi(self.client))
        self.work = self.daemon.work

    def cli(self, cwd: pathlib.Path, *args: str) -> str:
        env = {**os.environ, "HOME": str(self.home), "GIT_CONFIG_NOSYSTEM": "1"}
        env.pop("GIT_DIR", None)
        out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
        assert out.returncode == 0, f"git {args}: {out.stderr}"
        return out.stdout.strip()

    def seed_bare(self, root: pathlib.Path, name: str) -> pathlib.Path:
        bare = root / name
        self.cli(root, "init", "-q", "--bare", "-b", "main", str(bare))
        seed = root / f"{name}-seed"
        seed.mkdir()
        self.cli(seed, "init", "-q", "-b", "main")
        (seed / "README.md").write_text("hello\n")
        self.cli(seed, "add", ".")
        self.cli(seed, "commit", "-q", "-m", "initial")
        self.cli(seed, "checkout", "-q", "-b", "dev")
        (seed / "dev.txt").write_text("dev\n")
        self.cli(seed, "add", ".")
        self.cli(seed, "commit", "-q", "-m", "dev work")
        self.cli(seed, "push", "-q", str(bare), "main", "dev")
        shutil.rmtree(seed)
        return bare

    def push_commit(self, url: str, branch: str, file: str, content: str, scratch: pathlib.Path) -> None:
        if scratch.exists():
            shutil.rmtree(scratch)
        self.cli(scratch.parent, "clone", "-q", "-b", branch, url, scratch.name)
        (scratch / file).write_text(content)
        self.cli(scratch, "commit", "-q", "-am", f"update {file}")
        self.cli(scratch, "push", "-q", "origin", branch)


@pytest.fixture
def env(tmp_path, start_daemon):
    e = Env(tmp_path, start_daemon)
    yield e
    e.client.close() if hasattr(e.client, "close") else None


class _GitCgi(BaseHTTPRequestHandler):
    """Smart HTTP through `git http-backend`, with Basic auth checked here."""

    root: pathlib.Path
    unauthorized = 0

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self):
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        body = self._body()
        if self.headers.get("Authorization") != expected:
            type(self).unauthorized += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        cgi_env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
            "REMOTE_USER": USER,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=cgi_env, capture_output=True).stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, payload = out.partition(sep)
        status, headers = 200, []
        for line in head.decode().splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _handle
    do_POST = _handle


@pytest.fixture
def http_remote(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    handler = type("Handler", (_GitCgi,), {"root": root, "unauthorized": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.handler = handler
    server.root = root
    server.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def errors():
    from daytona.common import errors as e

    return e


# --- local repositories ---------------------------------------------------------------------


def test_local_workflow_through_the_sdk(env):
    git, work = env.git, env.work
    repo = work / "r"
    git.init("r")
    assert env.cli(repo, "symbolic-ref", "HEAD") == "refs/heads/main"
    git.init("t", initial_branch="trunk")
    assert env.cli(work / "t", "symbolic-ref", "HEAD") == "refs/heads/trunk"
    git.init("b.git", bare=True)
    assert env.cli(work / "b.git", "rev-parse", "--is-bare-repository") == "true"

    status = git.status("r")
    assert status.current_branch == "main" and status.file_status == []
    assert git.branches("r").branches == [] and git.branches("r").current == "main"

    (repo / "a.txt").write_text("a\n")
    (repo / "b.txt").write_text("b\n")
    status = git.status("r")
    by_name = {f.name: f for f in status.file_status}
    assert by_name["a.txt"].staging == "Untracked" and by_name["a.txt"].worktree == "Untracked"
    git.add("r", ["a.txt"])
    assert env.cli(repo, "diff", "--cached", "--name-only") == "a.txt"
    git.add("r", ["."])
    assert env.cli(repo, "diff", "--cached", "--name-only").split() == ["a.txt", "b.txt"]
    by_name = {f.name: f for f in git.status("r").file_status}
    assert by_name["b.txt"].staging == "Added"

    commit = git.commit("r", "first\n", "Ann", "ann@example.com")
    assert len(commit.sha) == 40 and env.cli(repo, "rev-parse", "HEAD") == commit.sha
    assert env.cli(repo, "log", "-1", "--format=%an <%ae>") == "Ann <ann@example.com>"
    empty = git.commit("r", "empty", "Ann", "ann@example.com", allow_empty=True)
    assert env.cli(repo, "rev-parse", "HEAD~1") == commit.sha and env.cli(repo, "rev-parse", "HEAD") == empty.sha

    git.create_branch("r", "feature")
    assert env.cli(repo, "branch", "--show-current") == "feature"
    listing = git.branches("r")
    assert sorted(listing.branches) == ["feature", "main"] and listing.current == "feature"
    git.checkout_branch("r", "main")
    assert env.cli(repo, "branch", "--show-current") == "main"
    git.delete_branch("r", "feature")
    assert env.cli(repo, "branch", "--list", "feature") == ""

    # reset and restore
    (repo / "a.txt").write_text("changed\n")
    git.add("r", ["a.txt"])
    git.reset("r")
    assert env.cli(repo, "diff", "--cached", "--name-only") == ""
    git.restore("r", ["a.txt"])
    assert (repo / "a.txt").read_text() == "a\n"
    (repo / "a.txt").write_text("staged\n")
    git.add("r", ["a.txt"])
    git.restore("r", ["a.txt"], staged=True)
    assert env.cli(repo, "status", "--porcelain") == "M a.txt"
    git.restore("r", ["a.txt"], source=commit.sha, worktree=True)
    assert (repo / "a.txt").read_text() == "a\n"
    git.reset("r", mode="hard", target="HEAD~1")
    assert env.cli(repo, "rev-parse", "HEAD") == commit.sha

    # detached HEAD
    git.checkout_branch("r", commit.sha)
    status = git.status("r")
    assert status.current_branch == "HEAD" and status.detached is True
    git.checkout_branch("r", "main")


def test_config_user_and_remotes(env):
    git = env.git
    git.init("r")
    repo = env.work / "r"
    git.set_config("core.editor", "nano")
    assert env.cli(env.work, "config", "--global", "core.editor") == "nano"
    assert git.get_config("core.editor") == "nano"
    assert git.get_config("core.nothing") is None
    git.configure_user("Repo User", "repo@example.com", scope="local", path="r")
    assert env.cli(repo, "config", "--local", "user.name") == "Repo User"
    assert git.get_config("user.email", scope="local", path="r") == "repo@example.com"
    assert env.cli(env.work, "config", "--global", "user.name") == "Cli User"

    git.remote_add("r", "origin", "https://example.com/a.git")
    assert env.cli(repo, "remote", "get-url", "origin") == "https://example.com/a.git"
    with pytest.raises(errors().DaytonaConflictError):
        git.remote_add("r", "origin", "https://example.com/b.git")
    git.remote_add("r", "origin", f"https://bob:{PASSWORD}@example.com/b.git", overwrite=True)
    assert git.remote_get("r", "origin") == "https://bob@example.com/b.git"
    assert [(r.name, r.url) for r in git.remotes("r").remotes] == [("origin", "https://bob@example.com/b.git")]
    assert git.remote_get("r", "nope") is None


# --- remotes --------------------------------------------------------------------------------


def test_file_remote_clone_pull_push(env, tmp_path):
    git = env.git
    origin = env.seed_bare(tmp_path, "origin.git")
    url = f"file://{origin}"
    git.clone(url, "c")
    c = env.work / "c"
    assert (c / "README.md").read_text() == "hello\n"
    status = git.status("c")
    assert status.branch_published is True and status.upstream == "origin/main"

    git.clone(url, "d", branch="dev")
    assert env.cli(env.work / "d", "branch", "--show-current") == "dev"
    main_hash = env.cli(origin, "rev-parse", "main")
    git.clone(url, "e", commit_id=main_hash)
    assert env.cli(env.work / "e", "rev-parse", "HEAD") == main_hash

    # pull follows the upstream of the checked-out branch
    git.checkout_branch("c", "dev")
    env.push_commit(url, "dev", "dev.txt", "dev v2\n", tmp_path / "scratch")
    env.push_commit(url, "main", "README.md", "main v2\n", tmp_path / "scratch")
    git.pull("c")
    assert (c / "dev.txt").read_text() == "dev v2\n"
    assert (c / "README.md").read_text() == "hello\n"

    (c / "new.txt").write_text("n\n")
    git.add("c", ["new.txt"])
    git.commit("c", "new", "N", "n@x")
    assert git.status("c").ahead == 1
    git.push("c")
    assert env.cli(origin, "show", "dev:new.txt") == "n"
    git.create_branch("c", "topic")
    git.push("c", branch="topic", set_upstream=True)
    assert env.cli(c, "rev-parse", "--abbrev-ref", "topic@{upstream}") == "origin/topic"
    git.checkout_branch("c", "main")
    git.pull("c", remote="origin", branch="main")
    assert (c / "README.md").read_text() == "main v2\n"


def test_http_remote_with_basic_auth(env, http_remote, tmp_path):
    git = env.git
    e = errors()
    bare = env.seed_bare(http_remote.root, "repo.git")
    url = f"{http_remote.base}/repo.git"

    with pytest.raises(e.DaytonaGitAuthFailedError) as info:
        git.clone(url, "anon")
    assert "authentication" in str(info.value)
    before = http_remote.handler.unauthorized
    with pytest.raises(e.DaytonaGitAuthFailedError) as info:
        git.clone(url, "wrong", username=USER, password="wrong-pw")
    assert "wrong-pw" not in str(info.value)
    assert http_remote.handler.unauthorized - before <= 3
    assert not (env.work / "wrong").exists()

    git.clone(url, "c", username=USER, password=PASSWORD)
    c = env.work / "c"
    git.clone(url, "shallow", username=USER, password=PASSWORD, branch="dev", depth=1)
    assert env.cli(env.work / "shallow", "rev-list", "--count", "HEAD") == "1"
    assert env.cli(env.work / "shallow", "rev-parse", "--is-shallow-repository") == "true"
    assert (c / "README.md").read_text() == "hello\n"
    (c / "http.txt").write_text("over http\n")
    git.add("c", ["http.txt"])
    git.commit("c", "http", "H", "h@x")
    with pytest.raises(e.DaytonaGitAuthFailedError):
        git.push("c", username=USER, password="nope")
    git.push("c", username=USER, password=PASSWORD)
    assert env.cli(bare, "show", "main:http.txt") == "over http"

    env.push_commit(f"file://{bare}", "main", "README.md", "v2\n", tmp_path / "scratch")
    with pytest.raises(e.DaytonaGitAuthFailedError):
        git.pull("c", username=USER, password="nope")
    git.pull("c", username=USER, password=PASSWORD)
    assert (c / "README.md").read_text() == "v2\n"

    # Stored credentials: private file, used by later operations without credentials.
    git.dangerously_authenticate(USER, PASSWORD, host=f"127.0.0.1:{http_remote.server_address[1]}", protocol="http")
    store = env.daemon.data / "git-credentials"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    git.clone(url, "stored")
    assert (env.work / "stored" / "README.md").read_text() == "v2\n"


# --- errors ---------------------------------------------------------------------------------


def test_bad_inputs_raise_the_typed_errors(env, tmp_path):
    git = env.git
    e = errors()
    (env.work / "plain").mkdir()
    with pytest.raises(e.DaytonaGitRepoNotFoundError):
        git.status("plain")
    with pytest.raises(e.DaytonaGitRepoNotFoundError):
        git.branches("missing")
    git.init("r")
    (env.work / "r" / "f.txt").write_text("base\n")
    git.add("r", ["f.txt"])
    git.commit("r", "base", "A", "a@x")
    with pytest.raises(e.DaytonaGitBranchNotFoundError) as info:
        git.checkout_branch("r", "no-such-branch")
    assert "no-such-branch" in str(info.value)
    git.create_branch("r", "other")
    with pytest.raises(e.DaytonaGitBranchExistsError):
        git.create_branch("r", "other")
    with pytest.raises(e.DaytonaBadRequestError):
        git.clone("not a url", "x")
    with pytest.raises(e.DaytonaGitRepoNotFoundError):
        git.clone("file:///nonexistent/repo.git", "x")
    with pytest.raises(e.DaytonaGitTransportFailedError) as info:
        git.clone(f"http://bob:{PASSWORD}@127.0.0.1:1/r.git", "x")
    assert PASSWORD not in str(info.value)

    # A change that checkout would overwrite.
    (env.work / "r" / "f.txt").write_text("on other\n")
    git.add("r", ["f.txt"])
    git.commit("r", "other", "A", "a@x")
    (env.work / "r" / "f.txt").write_text("precious\n")
    with pytest.raises(e.DaytonaGitDirtyWorktreeError):
        git.checkout_branch("r", "main")
    assert (env.work / "r" / "f.txt").read_text() == "precious\n"

    # Diverged branches: push and pull are refused.
    origin = env.seed_bare(tmp_path, "origin.git")
    git.clone(f"file://{origin}", "c")
    env.push_commit(f"file://{origin}", "main", "README.md", "theirs\n", tmp_path / "scratch")
    (env.work / "c" / "README.md").write_text("ours\n")
    git.add("c", ["README.md"])
    git.commit("c", "ours", "A", "a@x")
    with pytest.raises(e.DaytonaGitPushRejectedError):
        git.push("c")
    with pytest.raises(e.DaytonaConflictError):
        git.pull("c")

    with pytest.raises(e.DaytonaBadRequestError):
        git.set_config("a.b", "c", scope="local")
    with pytest.raises(e.DaytonaBadRequestError):
        git.reset("r", mode="sideways")


def test_raw_error_envelopes(env):
    with httpx.Client(base_url=env.daemon.url) as http:
        r = http.post("/git/clone", json={"path": "x"})
        body = assert_envelope(r, 400, "INVALID_REQUEST_BODY")
        assert "GitCloneRequest.URL" in body["message"]
        assert_envelope(http.get("/git/status", params={"path": "nowhere"}), 404, "GIT_REPO_NOT_FOUND")
        assert_envelope(http.post("/git/credentials", json={"username": "a\n", "password": "p"}), 400, "BAD_REQUEST")
        r = http.request("DELETE", "/git/branches", json={"path": "nowhere", "name": "x"})
        assert_envelope(r, 404, "GIT_REPO_NOT_FOUND")
