"""A small GitHub REST client that waits out rate limits and retries what is transient.

- Rate limits: a 403 or 429 with ``Retry-After`` waits that long; one with
  ``X-RateLimit-Remaining: 0`` waits until ``X-RateLimit-Reset``; a response that uses
  the last request of the window makes the next request wait for the reset first.
- Transient faults: 5xx, timeouts, dropped connections, truncated bodies and 200s whose
  JSON does not parse are retried with exponential backoff and jitter.
- 404, 409 (empty repository), 410 and 451 raise :class:`NotFound`: the caller skips that
  repository or file. Other 4xx raise :class:`GitHubError` at once.

The token (``GITHUB_TOKEN``) goes only into the ``Authorization`` header. Every message
and error this module makes passes through :meth:`GitHubClient.redact`, so the token
cannot reach a log, a state file or an error message even if a server echoes it.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import requests

from .errors import GitHubError, NotFound

DEFAULT_BASE_URL = "https://api.github.com"
USER_AGENT = "elmgrammar-corpus (https://github.com/; Elm corpus builder)"
NOT_FOUND = frozenset({404, 409, 410, 451})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` per request for transient faults; the first backoff
    ``backoff`` seconds, doubling up to ``max_backoff``; ``timeout`` per request;
    rate-limit waits up to ``max_rate_wait`` seconds each (they use no attempt)."""

    attempts: int = 8
    backoff: float = 1.0
    max_backoff: float = 60.0
    timeout: float = 30.0
    max_rate_wait: float = 3700.0
    max_rate_waits: int = 50


class GitHubClient:
    """GET requests against the GitHub REST API (or GitHub Enterprise's ``/api/v3``).

    >>> client = GitHubClient(token=None)                                   # doctest: +SKIP
    >>> client.get_json("/repos/elm/core")["license"]["spdx_id"]            # doctest: +SKIP
    'BSD-3-Clause'
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, token: str | None = None,
                 policy: RetryPolicy = RetryPolicy(), log: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token or None
        self.policy = policy
        self._log = log
        self._sleep = sleep
        self._random = random.Random(seed)
        self._pause_until = 0.0
        self.requests = 0
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "X-GitHub-Api-Version": "2022-11-28"})
        if self._token:
            self.session.headers["Authorization"] = f"Bearer {self._token}"

    # -- secrets ------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with the token (if any) replaced by ``***``."""
        if self._token and self._token in text:
            text = text.replace(self._token, "***")
        return text

    def log(self, message: str) -> None:
        """Log a message, redacted."""
        self._log(self.redact(message))

    # -- requests -----------------------------------------------------------------

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` (relative to the base URL) and return its JSON."""
        return self._get(path, params, "application/vnd.github+json", as_json=True)

    def get_raw(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """GET ``path`` with the raw media type (a blob's or a file's bytes)."""
        return self._get(path, params, "application/vnd.github.raw", as_json=False)

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def _get(self, path: str, params: dict[str, Any] | None, accept: str, as_json: bool) -> Any:
        url = self.base_url + path
        attempt = 0
        rate_waits = 0
        while True:
            wait = self._pause_until - time.time()
            if wait > 0:
                self.log(f"rate limit used up; waiting {wait:.0f} s for the reset")
                self._sleep(wait)
            self.requests += 1
            problem: str
            try:
                response = self.session.get(url, params=params, headers={"Accept": accept},
                                            timeout=self.policy.timeout)
                body = response.content  # reads it all: a truncated body raises here
            except requests.RequestException as e:
                problem = f"{type(e).__name__}"
            else:
                self._note_quota(response)
                status = response.status_code
                if status == 200:
                    if not as_json:
                        return body
                    try:
                        return json.loads(body)
                    except ValueError:
                        problem = "invalid JSON in a 200 response"
                elif status in (403, 429) and self._rate_limited(response):
                    rate_waits += 1
                    if rate_waits > self.policy.max_rate_waits:
                        raise GitHubError(self.redact(f"GET {path}: still rate limited after {rate_waits - 1} waits"), status)
                    self._sleep(self._rate_wait(response))
                    continue
                elif status in NOT_FOUND:
                    raise NotFound(self.redact(f"GET {path}: {status} {_snippet(body)}"), status)
                elif status < 500 and status != 429:
                    raise GitHubError(self.redact(f"GET {path}: {status} {_snippet(body)}"), status)
                else:
                    problem = f"HTTP {status}"
            attempt += 1
            if attempt >= self.policy.attempts:
                raise GitHubError(self.redact(f"GET {path}: {problem}, gave up after {attempt} attempts"))
            delay = min(self.policy.max_backoff, self.policy.backoff * 2 ** (attempt - 1))
            delay *= 0.5 + self._random.random() / 2
            self.log(f"GET {path}: {problem}; retry {attempt}/{self.policy.attempts - 1} in {delay:.1f} s")
            self._sleep(delay)

    def _note_quota(self, response: requests.Response) -> None:
        """After the last request of a window, hold the next one until the reset."""
        if response.headers.get("X-RateLimit-Remaining") == "0" and response.status_code == 200:
            reset = _number(response.headers.get("X-RateLimit-Reset"))
            if reset:
                self._pause_until = min(reset + 1, time.time() + self.policy.max_rate_wait)

    @staticmethod
    def _rate_limited(response: requests.Response) -> bool:
        h = response.headers
        if "Retry-After" in h or h.get("X-RateLimit-Remaining") == "0":
            return True
        # secondary limits sometimes come without headers; their message says so
        return response.status_code == 429 or b"rate limit" in response.content[:2000].lower()

    def _rate_wait(self, response: requests.Response) -> float:
        h = response.headers
        retry_after = _number(h.get("Retry-After"))
        if retry_after is not None:
            wait = retry_after
            why = f"Retry-After {retry_after:.0f} s"
        else:
            reset = _number(h.get("X-RateLimit-Reset"))
            if reset is not None and h.get("X-RateLimit-Remaining") == "0":
                wait = reset - time.time() + 1
                why = "until X-RateLimit-Reset"
            else:
                wait = self.policy.max_backoff
                why = "secondary rate limit"
        wait = min(max(wait, 1.0), self.policy.max_rate_wait)
        self.log(f"rate limited ({response.status_code}, {why}); waiting {wait:.0f} s")
        return wait


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _snippet(body: bytes) -> str:
    """The start of an error body, for a message (the server's own words)."""
    try:
        message = json.loads(body).get("message")
        if isinstance(message, str):
            return message[:200]
    except (ValueError, AttributeError):
        pass
    return body[:200].decode("utf-8", "replace").strip()
