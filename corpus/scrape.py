"""Source: Elm repositories on GitHub, found by search and downloaded file by file.

1. Search ``language:Elm`` repositories. The search API returns at most 1,000 results
   per query, so the ``created:`` date range is halved until each part has at most that
   many, and each part is paged through. Found repositories go to ``repos.jsonl``.
2. For each repository: its licence (SPDX id) and default branch, the commit at the
   branch's head, and the git tree of that commit. The ``.elm`` blobs outside skipped
   folders (``elm-stuff``, ``node_modules``, vendored code, build outputs) are
   downloaded by blob sha, checked against that sha, and appended to ``files.jsonl``
   with repository, path, commit, licence, size and sha256.

Resumable: ``files.jsonl`` and ``repos.jsonl`` are append-only and fsynced per record,
and ``scrape-state.json`` (replaced atomically) lists the finished date ranges and
repositories. A rerun after a crash, a kill or Ctrl-C skips finished ranges and
repositories, and in the repository it was in, the files already written: every file
ends up in ``files.jsonl`` exactly once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from .errors import GitHubError, NotFound, ScrapeError
from .github import GitHubClient
from .jsonl import AppendLog, atomic_write_text, read_jsonl
from .progress import bar, say
from .records import FILES_NAME, SKIPPED_DIRS, file_record, skipped

STATE_NAME = "scrape-state.json"
REPOS_NAME = "repos.jsonl"
ELM_FIRST_DAY = date(2012, 1, 1)  # Elm's first public release was in 2012


@dataclass(frozen=True)
class ScrapeOptions:
    """What to scrape: the search ``query``, the ``created:`` range to walk, at most
    ``max_repos`` repositories, files up to ``max_file_bytes`` (the tree gives sizes,
    so bigger ones are never downloaded), outside ``skip_dirs``. ``search_cap`` is the
    search API's result limit (1,000 on github.com)."""

    query: str = "language:Elm"
    created_from: date = ELM_FIRST_DAY
    created_to: date | None = None
    max_repos: int | None = None
    max_file_bytes: int = 1_000_000
    skip_dirs: frozenset[str] = SKIPPED_DIRS
    search_cap: int = 1000
    per_page: int = 100


@dataclass
class ScrapeSummary:
    """What a run did and what the folder now holds."""

    repos_found: int = 0
    repos_done: int = 0
    repos_failed: int = 0
    files_written: int = 0
    files_total: int = 0
    files_failed: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)

    def format(self) -> str:
        """One readable paragraph."""
        return (f"{self.repos_found} repositories found, {self.repos_done} done, {self.repos_failed} skipped; "
                f"{self.files_written} files downloaded in this run, {self.files_total} in all"
                f" ({self.files_failed} could not be fetched); {self.requests} API requests")


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob with these bytes (what the tree API lists).

    >>> git_blob_sha(b"")
    'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Scraper:
    """One resumable scrape into ``out_dir`` (see the module docstring).

    >>> Scraper(GitHubClient(token=os.environ["GITHUB_TOKEN"]), "work/github").run()   # doctest: +SKIP
    """

    def __init__(self, client: GitHubClient, out_dir: str | Path, options: ScrapeOptions = ScrapeOptions(),
                 show_progress: bool = True) -> None:
        self.client = client
        self.out = Path(out_dir)
        self.options = options
        self.show_progress = show_progress
        self.out.mkdir(parents=True, exist_ok=True)
        self.state_path = self.out / STATE_NAME
        self.state = self._load_state()

    # -- state ----------------------------------------------------------------------

    def _load_state(self) -> dict:
        fresh = {"version": 1, "query": self.options.query, "search_done": False, "ranges_done": [],
                 "repos_done": [], "repos_failed": {}, "files_failed": []}
        if not self.state_path.exists():
            return fresh
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ScrapeError(f"{self.state_path}: not valid JSON ({e}); remove it to start over") from None
        if state.get("query") != self.options.query:
            raise ScrapeError(f"{self.out} holds a scrape for query {state.get('query')!r}, not "
                              f"{self.options.query!r}: use another output folder")
        return {**fresh, **state}

    def _save_state(self) -> None:
        atomic_write_text(self.state_path, json.dumps(self.state, indent=1) + "\n")

    # -- the run ----------------------------------------------------------------------

    def run(self) -> ScrapeSummary:
        """Search (unless done), then download every repository not yet done."""
        summary = ScrapeSummary()
        try:
            repos = self._discover()
            summary.repos_found = len(repos)
            self._download(repos, summary)
        finally:
            summary.requests = self.client.requests
            summary.repos_done = len(self.state["repos_done"])
            summary.repos_failed = len(self.state["repos_failed"])
            summary.files_failed = len(self.state["files_failed"])
            if (self.out / FILES_NAME).exists():
                summary.files_total = sum(1 for _ in read_jsonl(self.out / FILES_NAME))
        return summary

    # -- 1. search ---------------------------------------------------------------------

    def _known_repos(self) -> list[dict]:
        path = self.out / REPOS_NAME
        if not path.exists():
            return []
        seen: dict[str, dict] = {}
        for repo in read_jsonl(path):
            seen.setdefault(repo["full_name"], repo)
        return list(seen.values())

    def _discover(self) -> list[dict]:
        repos = self._known_repos()
        limit = self.options.max_repos
        if self.state["search_done"] or (limit is not None and len(repos) >= limit):
            return repos[:limit] if limit is not None else repos
        names = {r["full_name"] for r in repos}
        done = {tuple(r) for r in self.state["ranges_done"]}
        first = self.options.created_from
        last = self.options.created_to or date.today()
        stack = [(first, last)]
        progress = bar(desc="search", unit="repo", enabled=self.show_progress)
        progress.update(len(repos))
        with AppendLog(self.out / REPOS_NAME) as log:
            while stack:
                lo, hi = stack.pop()
                key = (lo.isoformat(), hi.isoformat())
                if key in done:
                    continue
                found = self._search_range(lo, hi, stack)
                if found is None:
                    continue  # split into halves, now on the stack
                for item in found:
                    if item["full_name"] not in names:
                        names.add(item["full_name"])
                        repos.append(item)
                        log.write(item)
                        progress.update(1)
                self.state["ranges_done"].append(list(key))
                self._save_state()
                if limit is not None and len(repos) >= limit:
                    progress.close()
                    return repos[:limit]
        progress.close()
        self.state["search_done"] = True
        self._save_state()
        return repos

    def _search_range(self, lo: date, hi: date, stack: list) -> list[dict] | None:
        """The repositories created in [lo, hi], or None after pushing its two halves
        when there are more than the search API would return."""
        query = f"{self.options.query} created:{lo.isoformat()}..{hi.isoformat()}"
        per_page = self.options.per_page
        params = {"q": query, "sort": "stars", "order": "desc", "per_page": per_page}
        page = self.client.get_json("/search/repositories", dict(params, page=1))
        total = int(page.get("total_count", 0))
        cap = self.options.search_cap
        if total > cap and lo < hi:
            mid = lo + timedelta(days=(hi - lo).days // 2)
            stack.append((mid + timedelta(days=1), hi))
            stack.append((lo, mid))  # popped first: oldest first
            return None
        if total > cap:
            say(f"more than {cap} repositories created on {lo}: taking the first {cap}")
        items = list(page.get("items", []))
        pages = -(-min(total, cap) // per_page)
        for number in range(2, pages + 1):
            items += self.client.get_json("/search/repositories", dict(params, page=number)).get("items", [])
        return [_repo_summary(item) for item in items]

    # -- 2. download ----------------------------------------------------------------------

    def _download(self, repos: list[dict], summary: ScrapeSummary) -> None:
        finished = set(self.state["repos_done"]) | set(self.state["repos_failed"])
        todo = [r for r in repos if r["full_name"] not in finished]
        written = self._paths_written({r["full_name"] for r in todo})
        progress = bar(total=len(repos), desc="repositories", unit="repo", enabled=self.show_progress)
        progress.update(len(repos) - len(todo))
        with AppendLog(self.out / FILES_NAME) as files:
            for repo in todo:
                name = repo["full_name"]
                try:
                    count = self._download_repo(name, written.get(name, set()), files, summary)
                except NotFound as e:
                    self.state["repos_failed"][name] = str(e)
                    summary.failures.append(str(e))
                    say(f"skipping {name}: {e}")
                except GitHubError as e:
                    if e.status != 403:
                        raise
                    self.state["repos_failed"][name] = str(e)  # blocked or forbidden: skip it
                    summary.failures.append(str(e))
                    say(f"skipping {name}: {e}")
                else:
                    self.state["repos_done"].append(name)
                    progress.set_postfix(files=summary.files_written, last=f"{name} ({count})", refresh=False)
                self._save_state()
                progress.update(1)
        progress.close()

    def _paths_written(self, names: set[str]) -> dict[str, set[str]]:
        """Paths already in files.jsonl for the given (unfinished) repositories: only the
        repository a crash interrupted has any, so this stays small."""
        path = self.out / FILES_NAME
        written: dict[str, set[str]] = {}
        if path.exists():
            for record in read_jsonl(path):
                if record["repo"] in names:
                    written.setdefault(record["repo"], set()).add(record["path"])
        return written

    def _download_repo(self, name: str, done: set[str], files: AppendLog, summary: ScrapeSummary) -> int:
        base = f"/repos/{quote(name)}"
        meta = self.client.get_json(base)
        licence = (meta.get("license") or {}).get("spdx_id")
        branch = meta.get("default_branch") or "main"
        commit = self.client.get_json(f"{base}/branches/{quote(branch, safe='')}")["commit"]["sha"]
        count = 0
        for path, sha, size in self._elm_blobs(base, commit):
            if path in done:
                continue
            if size is not None and size > self.options.max_file_bytes:
                continue
            try:
                data = self.client.get_raw(f"{base}/git/blobs/{sha}")
            except NotFound as e:
                self.state["files_failed"].append(f"{name}/{path}: {e}")
                continue
            if git_blob_sha(data) != sha:
                # what arrived is not what the tree names: a corrupted transfer that
                # still looked complete. Fetch it once more, then give up on the file.
                data = self.client.get_raw(f"{base}/git/blobs/{sha}")
                if git_blob_sha(data) != sha:
                    self.state["files_failed"].append(f"{name}/{path}: content does not match blob {sha}")
                    continue
            files.write(file_record("github", name, path, commit, licence, data))
            done.add(path)
            count += 1
            summary.files_written += 1
        return count

    def _elm_blobs(self, base: str, commit: str) -> Iterator[tuple[str, str, int | None]]:
        """``(path, blob sha, size)`` of the ``.elm`` files in the commit's tree, sorted."""
        tree = self.client.get_json(f"{base}/git/trees/{commit}", {"recursive": "1"})
        if tree.get("truncated"):
            entries = list(self._walk_tree(base, tree["sha"], ""))  # too big for one answer
        else:
            entries = [(e["path"], e) for e in tree.get("tree", [])]
        found = []
        for path, entry in entries:
            if entry.get("type") == "blob" and path.endswith(".elm") and not skipped(path, self.options.skip_dirs):
                found.append((path, entry["sha"], entry.get("size")))
        return iter(sorted(found))

    def _walk_tree(self, base: str, sha: str, prefix: str) -> Iterator[tuple[str, dict]]:
        """Entries of a tree one level at a time, not entering skipped folders."""
        tree = self.client.get_json(f"{base}/git/trees/{sha}")
        for entry in tree.get("tree", []):
            path = prefix + entry["path"]
            if entry.get("type") == "tree":
                if entry["path"] not in self.options.skip_dirs:
                    yield from self._walk_tree(base, entry["sha"], path + "/")
            else:
                yield path, entry


def _repo_summary(item: dict) -> dict:
    """What repos.jsonl keeps of a search result."""
    return {"full_name": item["full_name"], "created_at": item.get("created_at"),
            "stars": item.get("stargazers_count"),
            "licence": (item.get("license") or {}).get("spdx_id")}
