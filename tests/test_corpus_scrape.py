"""The GitHub scraper against a real HTTP server on 127.0.0.1 that answers like the GitHub
REST API (search, repository, branch, trees, blobs) from a fixture built here, with faults
injected: rate limits with a reset time or Retry-After, 502, a response slower than the
client's timeout, a truncated body, invalid JSON, a deleted repository, an empty one.

What a user relies on: every .elm file ends up in files.jsonl exactly once, with its
repository, path, commit, licence, size and sha256, even when the scraper is killed
mid-run and started again; the token never appears in any output."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from elmgrammar.cli import main
from elmgrammar.corpus.github import GitHubClient, RetryPolicy
from elmgrammar.corpus.scrape import ScrapeOptions, Scraper

TOKEN = "ghp_TESTTOKEN0123456789abcdefSECRET"


def git_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    name: str
    created: date
    stars: int
    licence: str | None
    branch: str
    files: dict[str, bytes]
    commit: str = ""
    truncated_tree: bool = False  # the recursive tree answer is cut: the scraper must walk subtrees
    state: str = "ok"  # "ok", "gone" (404), "empty" (409 on its tree)

    def __post_init__(self):
        self.commit = hashlib.sha1(self.name.encode()).hexdigest()


def make_repos(count: int = 12, files_per_repo: int = 5) -> list[Repo]:
    licences = ["MIT", "BSD-3-Clause", None, "Apache-2.0"]
    repos = []
    for i in range(count):
        files = {}
        for j in range(files_per_repo):
            files[f"src/Mod{j}.elm"] = f"module Mod{j} exposing (..)\n\n-- repo {i}\nv{j} : Int\nv{j} =\n    {i * 100 + j}\n".encode()
        files["src/Deep/Nested/Inner.elm"] = f"module Deep.Nested.Inner exposing (x)\n\nx = {i}\n".encode()
        files["elm-stuff/0.19.1/Cached.elm"] = b"module Cached exposing (..)\n\nc = 1\n"
        files["node_modules/pkg/Vendor.elm"] = b"module Vendor exposing (..)\n\nv = 1\n"
        files["README.md"] = b"# not elm\n"
        repos.append(Repo(f"owner{i % 4}/repo-{i}", date(2015, 1, 1) + timedelta(days=150 * i), stars=100 - i,
                          licence=licences[i % 4], branch="main" if i % 2 else "master", files=files,
                          truncated_tree=(i == 3)))
    repos.append(Repo("owner9/gone", date(2016, 6, 1), 5, "MIT", "main", {}, state="gone"))
    repos.append(Repo("owner9/empty", date(2017, 6, 1), 4, None, "main", {}, state="empty"))
    return repos


def expected_files(repos: list[Repo]) -> dict[tuple[str, str], bytes]:
    return {(r.name, p): data for r in repos if r.state == "ok" for p, data in r.files.items()
            if p.endswith(".elm") and not p.startswith(("elm-stuff/", "node_modules/"))}


@dataclass
class FakeGitHub:
    """The fixture's state: repositories, faults to inject (each used once), request log."""

    repos: list[Repo]
    search_cap: int = 5
    faults: list[tuple[str, str]] = field(default_factory=list)  # (path prefix, fault)
    blob_delay: float = 0.0
    # blobs past the first `gate_after` wait until `gate` is set (at most 30 s)
    gate: threading.Event | None = None
    gate_after: int = 0
    blobs_served: int = 0
    requests: list[str] = field(default_factory=list)
    unauthorised: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, path: str) -> str | None:
        with self.lock:
            for i, (prefix, fault) in enumerate(self.faults):
                if path.startswith(prefix):
                    del self.faults[i]
                    return fault
        return None

    def by_name(self, name: str) -> Repo | None:
        return next((r for r in self.repos if r.name == name), None)


def tree_entries(repo: Repo) -> tuple[list[dict], dict[str, list[dict]]]:
    """The recursive listing, and each folder's own listing by its (fake) tree sha."""
    dirs: dict[str, list[dict]] = {"": []}
    flat = []
    for path, data in sorted(repo.files.items()):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in dirs:
                dirs[folder] = []
                sha = hashlib.sha1(f"{repo.name}:{folder}".encode()).hexdigest()
                parent = "/".join(parts[:depth - 1])
                dirs[parent].append({"path": parts[depth - 1], "type": "tree", "sha": sha, "mode": "040000"})
                flat.append({"path": folder, "type": "tree", "sha": sha, "mode": "040000"})
        entry = {"type": "blob", "sha": git_sha(data), "size": len(data), "mode": "100644"}
        dirs["/".join(parts[:-1])].append(dict(entry, path=parts[-1]))
        flat.append(dict(entry, path=path))
    by_sha = {repo.commit: dirs[""]}
    for folder, entries in dirs.items():
        if folder:
            by_sha[hashlib.sha1(f"{repo.name}:{folder}".encode()).hexdigest()] = entries
    return flat, by_sha


def make_handler(gh: FakeGitHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args):  # quiet
            pass

        def send(self, status: int, body: bytes | dict | list, headers: dict | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else "application/octet-stream")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            path = unquote(url.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            gh.requests.append(path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                gh.unauthorised += 1
                return self.send(401, {"message": "Bad credentials"})
            try:
                fault = gh.take_fault(path)
                if fault and self.inject(fault):
                    return
                self.route(path, query)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to answer

        def inject(self, fault: str) -> bool:
            if fault == "rate-limit-reset":
                self.send(403, {"message": "API rate limit exceeded"},
                          {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 1)})
            elif fault == "retry-after":
                self.send(429, {"message": "You have exceeded a secondary rate limit"}, {"Retry-After": "1"})
            elif fault == "502":
                self.send(502, b"<html>Bad gateway</html>")
            elif fault == "slow":
                time.sleep(1.2)  # longer than the client's timeout
                return False  # then answer normally (the client has hung up)
            elif fault == "invalid-json":
                self.send(200, b'{"commit": {"sha": ')
            elif fault == "truncated":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"module Half exp")
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            return True

        def route(self, path: str, query: dict) -> None:
            parts = path.strip("/").split("/")
            if parts == ["search", "repositories"]:
                return self.search(query)
            if len(parts) < 3 or parts[0] != "repos":
                return self.send(404, {"message": "Not Found"})
            repo = gh.by_name(f"{parts[1]}/{parts[2]}")
            if repo is None or repo.state == "gone":
                # a server that echoes the request's credentials in its error: must be redacted
                return self.send(404, {"message": f"Not Found (request had {self.headers.get('Authorization')})"})
            rest = parts[3:]
            if not rest:
                lic = {"key": repo.licence.lower(), "spdx_id": repo.licence} if repo.licence else None
                return self.send(200, {"full_name": repo.name, "default_branch": repo.branch, "license": lic})
            if rest[0] == "branches" and len(rest) == 2 and rest[1] == repo.branch:
                return self.send(200, {"name": repo.branch, "commit": {"sha": repo.commit}})
            if rest[:2] == ["git", "trees"] and len(rest) == 3:
                if repo.state == "empty":
                    return self.send(409, {"message": "Git Repository is empty."})
                flat, by_sha = tree_entries(repo)
                if query.get("recursive") and rest[2] == repo.commit:
                    if repo.truncated_tree:
                        return self.send(200, {"sha": repo.commit, "tree": flat[:2], "truncated": True})
                    return self.send(200, {"sha": repo.commit, "tree": flat, "truncated": False})
                if rest[2] in by_sha:
                    return self.send(200, {"sha": rest[2], "tree": by_sha[rest[2]], "truncated": False})
            if rest[:2] == ["git", "blobs"] and len(rest) == 3:
                if "raw" not in (self.headers.get("Accept") or ""):
                    return self.send(415, {"message": "ask for the raw media type"})
                for data in repo.files.values():
                    if git_sha(data) == rest[2]:
                        with gh.lock:
                            gh.blobs_served += 1
                            gated = gh.gate is not None and gh.blobs_served > gh.gate_after
                        if gated:
                            gh.gate.wait(30)
                        if gh.blob_delay:
                            time.sleep(gh.blob_delay)
                        return self.send(200, data)
            return self.send(404, {"message": "Not Found"})

        def search(self, query: dict) -> None:
            q = query.get("q", "")
            assert "language:Elm" in q
            lo, hi = date(1970, 1, 1), date(2100, 1, 1)
            for term in q.split():
                if term.startswith("created:"):
                    a, b = term[len("created:"):].split("..")
                    lo, hi = date.fromisoformat(a), date.fromisoformat(b)
            found = sorted((r for r in gh.repos if lo <= r.created <= hi), key=lambda r: -r.stars)
            per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
            if (page - 1) * per_page >= gh.search_cap:
                return self.send(422, {"message": "Only the first results are available"})
            visible = found[:gh.search_cap]
            items = [{"full_name": r.name, "created_at": r.created.isoformat() + "T00:00:00Z",
                      "stargazers_count": r.stars,
                      "license": {"spdx_id": r.licence} if r.licence else None}
                     for r in visible[(page - 1) * per_page: page * per_page]]
            self.send(200, {"total_count": len(found), "incomplete_results": False, "items": items})

    return Handler


@pytest.fixture
def github():
    """A fake GitHub on 127.0.0.1 (port chosen by the OS), stopped after the test."""
    gh = FakeGitHub(make_repos())
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(gh))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gh.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield gh
    server.shutdown()
    server.server_close()


def read_files(folder: Path) -> list[dict]:
    path = folder / "files.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_complete(folder: Path, repos: list[Repo]) -> None:
    records = read_files(folder)
    keys = [(r["repo"], r["path"]) for r in records]
    assert len(keys) == len(set(keys)), "a file was written twice"
    want = expected_files(repos)
    assert set(keys) == set(want)
    by_name = {r.name: r for r in repos}
    for r in records:
        data = want[(r["repo"], r["path"])]
        assert r["text"].encode() == data
        assert r["sha256"] == hashlib.sha256(data).hexdigest() and r["size"] == len(data)
        assert r["commit"] == by_name[r["repo"]].commit
        assert r["licence"] == by_name[r["repo"]].licence
        assert r["source"] == "github"


def test_scrape_survives_every_fault_and_finds_every_file_once(github, tmp_path):
    github.faults = [
        ("/search/repositories", "rate-limit-reset"),
        ("/repos/owner1/repo-1", "retry-after"),
        ("/repos/owner2/repo-2/git/trees", "502"),
        ("/repos/owner0/repo-4/git/blobs", "slow"),
        ("/repos/owner1/repo-5/git/blobs", "truncated"),
        ("/repos/owner2/repo-6/branches", "invalid-json"),
        ("/repos/owner3/repo-7/git/blobs", "502"),
    ]
    logs: list[str] = []
    client = GitHubClient(github.url, TOKEN, RetryPolicy(attempts=5, backoff=0.05, timeout=0.5), log=logs.append)
    # a search cap of 5 with 14 repositories forces the date range to be split
    options = ScrapeOptions(search_cap=5, per_page=2, created_to=date(2021, 1, 1))
    summary = Scraper(client, tmp_path, options, show_progress=False).run()

    assert github.faults == [], "every fault was met"
    assert_complete(tmp_path, github.repos)
    assert summary.repos_found == 14 and summary.repos_done == 12 and summary.repos_failed == 2
    state = json.loads((tmp_path / "scrape-state.json").read_text())
    assert set(state["repos_failed"]) == {"owner9/gone", "owner9/empty"}
    assert any("rate limited" in m for m in logs) and any("502" in m for m in logs)
    assert any("ReadTimeout" in m for m in logs), logs
    # folders that are not code were never listed for download, let alone fetched
    assert not any("elm-stuff" in r or "node_modules" in r for r in github.requests)
    assert github.unauthorised == 0
    # the deleted repository's error echoed the token; what we kept of it is redacted
    for path in tmp_path.iterdir():
        assert TOKEN not in path.read_text(), path
    assert "***" in state["repos_failed"]["owner9/gone"]
    assert all(TOKEN not in m for m in logs)

    # a second run has nothing left to do: no blob is fetched again
    blobs_before = sum("/git/blobs/" in r for r in github.requests)
    again = Scraper(GitHubClient(github.url, TOKEN, RetryPolicy(backoff=0.05, timeout=0.5)), tmp_path,
                    options, show_progress=False).run()
    assert again.files_written == 0 and again.files_total == len(expected_files(github.repos))
    assert sum("/git/blobs/" in r for r in github.requests) == blobs_before


def _scrape_cmd(url: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "elmgrammar.cli", "corpus", "scrape", "--out", str(out), "--base-url", url,
            "--backoff", "0.05", "--timeout", "5", "--to", "2021-01-01", "--quiet"]


def _env() -> dict:
    return dict(os.environ, GITHUB_TOKEN=TOKEN)


def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen, limit: float = 30.0) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"scraper ended early: {proc.communicate()}")
        time.sleep(0.02)
    pytest.fail(f"{path} never reached {count} lines")


def test_killed_and_restarted_scrape_loses_and_repeats_nothing(github, tmp_path):
    github.blob_delay = 0.03  # slow enough to be caught mid-run
    github.search_cap = 1000  # as on github.com, which the command line assumes
    github.faults = [("/repos/owner2/repo-10/git/blobs", "502"), ("/search/repositories", "502")]
    files = tmp_path / "files.jsonl"

    # 1. Ctrl-C: a clean stop with a hint (the blobs past the 12th wait for it, so the
    # run cannot end before it however slow this machine is)
    github.gate, github.gate_after = threading.Event(), 12
    # Ctrl-C as in a terminal: a test run started in the background of a shell
    # without job control ignores SIGINT, and a child would inherit that
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        first = subprocess.Popen(_scrape_cmd(github.url, tmp_path), env=_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, inherited)
    _wait_for_lines(files, 8, first)
    first.send_signal(signal.SIGINT)
    github.gate.set()
    out, err = first.communicate(timeout=30)
    assert first.returncode == 130 and "rerun the same command to resume" in err, (first.returncode, out, err[-3000:])
    # 2. SIGKILL: no chance to clean up, possibly in the middle of a write
    second = subprocess.Popen(_scrape_cmd(github.url, tmp_path), env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    _wait_for_lines(files, 30, second)
    second.kill()
    out2, err2 = second.communicate(timeout=30)
    partial = read_files(tmp_path)
    assert 0 < len(partial) < len(expected_files(github.repos))
    # 3. run to the end
    third = subprocess.run(_scrape_cmd(github.url, tmp_path), env=_env(), capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr

    assert_complete(tmp_path, github.repos)
    for text in (out, err, out2, err2, third.stdout, third.stderr):
        assert TOKEN not in text
    for path in tmp_path.iterdir():
        assert TOKEN not in path.read_text()
    # each blob was fetched about once: at most the one in flight at each stop is fetched again
    blobs = [r for r in github.requests if "/git/blobs/" in r]
    assert len(blobs) <= len(expected_files(github.repos)) + 3


def test_scrape_cli_reports_bad_credentials_without_the_token(github, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN + "-wrong")
    code = main(["corpus", "scrape", "--out", str(tmp_path), "--base-url", github.url, "--quiet", "--backoff", "0.01"])
    err = capsys.readouterr().err
    assert code == 2
    assert "401" in err and "Bad credentials" in err and TOKEN not in err
    assert "Traceback" not in err
