"""The corpus tools' errors: one base class, so the command line can report any of them
as one clear line (and import nothing heavy to do so)."""

from __future__ import annotations


class CorpusError(RuntimeError):
    """Something a user can fix: a missing tool or tokenizer, a failed download, a
    folder that belongs to another scrape."""


class GitHubError(CorpusError):
    """A GitHub request that failed for good (after retries, or at once for a client error)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(GitHubError):
    """The repository or object is gone, empty, or blocked: skip it."""


class ScrapeError(CorpusError):
    """The scrape cannot go on (the folder holds a scrape for another query, say)."""


class NpmError(CorpusError):
    """npm is missing, or ``npm pack`` failed for a package."""


class TokenizerMissing(CorpusError):
    """No tokenizer was named, or the named one cannot be loaded."""
