"""One judge's opinion of one Elm source text, and an on-disk cache of such opinions."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Verdict:
    """Whether ``judge`` found the text syntactically valid, and if not, where it stopped.

    ``line`` and ``column`` are 1-based, columns counted in characters (as the Elm
    compiler counts them). ``message`` is a short reason: for the compiler the report
    title (``"UNFINISHED LET"``); on a valid verdict it may name a non-syntax problem
    the judge also saw (``"TYPE MISMATCH"``), which does not make the text invalid.

    >>> Verdict("compiler", False, 3, 8, "UNFINISHED TUPLE").as_dict()["column"]
    8
    """

    judge: str
    valid: bool
    line: int | None = None
    column: int | None = None
    message: str | None = None

    def as_dict(self) -> dict:
        """The verdict as JSON-ready data: ``{"judge", "valid", "line", "column", "message"}``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Verdict":
        """The inverse of :meth:`as_dict` (unknown keys are ignored)."""
        return cls(
            judge=data["judge"],
            valid=bool(data["valid"]),
            line=data.get("line"),
            column=data.get("column"),
            message=data.get("message"),
        )


class VerdictCache:
    """Verdicts on disk, one small JSON file per text, keyed by the sha256 of the text.

    Files live at ``<folder>/<first two hex digits>/<sha256>.json`` and are written
    atomically, so several processes may share a cache. ``version`` is stored in each
    entry; entries written under another version are ignored (so a change in how a
    judge classifies its tool's output invalidates old verdicts).
    """

    def __init__(self, folder: os.PathLike | str, version: int = 1):
        self.folder = Path(folder)
        self.version = version

    @staticmethod
    def key(text: str) -> str:
        """The cache key of a text: sha256 of its UTF-8 bytes, in hex."""
        return hashlib.sha256(encode_source(text)).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Verdict | None:
        """The stored verdict for ``key``, or None."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("version") != self.version:
            return None
        return Verdict.from_dict(data)

    def put(self, key: str, verdict: Verdict) -> None:
        """Store ``verdict`` under ``key`` (atomic replace)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = dict(verdict.as_dict(), version=self.version)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def encode_source(text: str) -> bytes:
    """UTF-8 bytes of a source text; lone surrogates (from undecodable bytes) pass through.

    Text read with ``errors="surrogateescape"`` gets its original bytes back.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
