"""The filter: keep the files our grammar parses, and say why each other file went.

Every file gets exactly one reason, checked in this order (cheap checks first):

``not-elm``       not UTF-8, binary, not named ``.elm``, or it fails to parse and does not
                  even start like Elm (the ``.eml`` mail files and numeric config files
                  the user's search returned)
``too-large``     over ``max_bytes`` (huge Elm files are generated data tables)
``duplicate``     the same bytes as a file seen earlier in the stream (sha256)
``generated``     a "generated, do not edit" banner near the top, or a ``generated`` folder
``syntax-error``  looks like Elm but does not parse: the line, column and message say where
``kept``          parses

The duplicate check runs in this process, in input order, so which copy is kept does
not depend on ``jobs``; parsing runs on ``jobs`` processes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Iterable, Iterator

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.parser import parse_module

from .jsonl import AtomicJsonl, atomic_write_text, count_lines
from .parallel import ordered_map
from .progress import progress
from .records import FILES_NAME, KEPT_NAME, REJECTED_NAME, iter_records, line_count, resolve_input

REASONS = ("kept", "not-elm", "too-large", "duplicate", "generated", "syntax-error")
REPORT_NAME = "filter-report.json"

# Banners that code generators (elm-graphql, elm-spa, protoc-gen-elm, ...) put at the top.
_GENERATED = re.compile(
    r"(?i)(auto-?generated|do not (manually )?(edit|modify)|generated (by|with|from)\b"
    r"|this (file|module|code) (is|was|has been) (automatically )?generated|@generated)"
)
_GENERATED_HEAD = 1500  # characters: a banner is at the top, and a later mention is just prose

# How Elm files start once leading comments are skipped: a header, an import, or a
# declaration (annotation, definition, type, port). Mail headers ("From: ..."), numbers
# and other languages do not.
_ELM_START = re.compile(
    r"(port\s+module|effect\s+module|module|import)\s"
    r"|type\s"
    r"|port\s+[a-z]"
    r"|[a-z][\w']*(\s+[^\n=:]*)?\s*[=:]"
    r"|\{-\|"
)
_LEADING_TRIVIA = re.compile(r"(\s+|--[^\n]*|\{-(?!\|)[\s\S]*?-\})*")


@dataclass(frozen=True)
class FilterOptions:
    """What the filter rejects: ``max_bytes``, generated files (``drop_generated``);
    ``tree_sitter`` adds tree-sitter-elm's verdict as a column (a second opinion)."""

    max_bytes: int = 300_000
    drop_generated: bool = True
    tree_sitter: bool = False


def looks_like_elm(text: str) -> bool:
    """Whether a text starts the way Elm files do (after comments and blank lines).

    >>> looks_like_elm("module Main exposing (main)\\n"), looks_like_elm("From: a@b.c\\nTo: d\\n")
    (True, False)
    >>> looks_like_elm("0 1 2\\n3 4 5\\n")
    False
    """
    start = _LEADING_TRIVIA.match(text).end()
    return bool(_ELM_START.match(text, start))


def is_generated(text: str, path: str) -> bool:
    """A generator's banner in the first lines, or a folder named ``generated``."""
    if any(part.lower() in ("generated", ".generated") for part in path.split("/")[:-1]):
        return True
    return bool(_GENERATED.search(text, 0, _GENERATED_HEAD))


def _verdict(reason: str, line: int | None = None, column: int | None = None, message: str | None = None) -> dict:
    return {"reason": reason, "line": line, "column": column, "message": message}


def precheck(record: dict, options: FilterOptions, seen: set[bytes]) -> dict | None:
    """The checks that need no parse (run in order in the main process): a verdict, or
    None when the file should be parsed. Adds the file's hash to ``seen``."""
    if record.get("text") is None:
        return _verdict("not-elm", message=record.get("error") or "no text")
    if not record["path"].endswith(".elm"):
        return _verdict("not-elm", message="not an .elm file")
    if record["size"] > options.max_bytes:
        return _verdict("too-large", message=f"{record['size']:,} bytes is over {options.max_bytes:,}")
    digest = bytes.fromhex(record["sha256"])[:16]  # 128 bits: collisions are out of reach
    if digest in seen:
        return _verdict("duplicate", message=f"same content as an earlier file (sha256 {record['sha256'][:12]})")
    seen.add(digest)
    return None


@lru_cache(maxsize=1)
def _tree_sitter():
    # one per process: worker processes build their own on first use
    from elmgrammar.oracles import TreeSitterElm

    return TreeSitterElm()


def judge(record: dict, options: FilterOptions) -> dict:
    """The verdict on a file that passed :func:`precheck`: generated, syntax error,
    not Elm, or kept. Runs in worker processes."""
    text, path = record["text"], record["path"]
    if options.drop_generated and is_generated(text, path):
        verdict = _verdict("generated", message="generated code (banner or folder)")
    else:
        try:
            parse_module(text)
            verdict = _verdict("kept")
        except ElmSyntaxError as e:
            reason = "syntax-error" if looks_like_elm(text) else "not-elm"
            verdict = _verdict(reason, e.line, e.column, e.message)
        except RecursionError:  # the parser guards nesting; this is a last line of defence
            verdict = _verdict("syntax-error", 1, 1, "nested too deeply")
    if options.tree_sitter and verdict["reason"] in ("kept", "syntax-error"):
        ts = _tree_sitter().check(text)
        verdict["tree_sitter"] = {"valid": ts.valid, "line": ts.line, "column": ts.column}
    return verdict


@dataclass
class FilterReport:
    """Counts per reason, lines in and kept, and a few examples of each rejection."""

    counts: Counter = field(default_factory=Counter)
    files: int = 0
    lines: int = 0
    lines_kept: int = 0
    bytes_kept: int = 0
    tree_sitter_disagrees: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, record: dict, verdict: dict) -> None:
        """Count one file's verdict."""
        reason = verdict["reason"]
        self.files += 1
        self.counts[reason] += 1
        lines = line_count(record["text"]) if record.get("text") else 0
        self.lines += lines
        if reason == "kept":
            self.lines_kept += lines
            self.bytes_kept += record["size"]
        else:
            where = f"{record['repo']}/{record['path']}"
            if verdict.get("line"):
                where += f":{verdict['line']}:{verdict['column']}"
            samples = self.examples.setdefault(reason, [])
            if len(samples) < 5:
                samples.append(f"{where}: {verdict['message']}")
        ts = verdict.get("tree_sitter")
        if ts is not None and ts["valid"] != (reason == "kept"):
            self.tree_sitter_disagrees += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {
            "files": self.files, "lines": self.lines, "lines_kept": self.lines_kept, "bytes_kept": self.bytes_kept,
            "counts": {r: self.counts.get(r, 0) for r in REASONS},
            "tree_sitter_disagrees": self.tree_sitter_disagrees, "examples": self.examples,
        }

    def format(self) -> str:
        """A readable table: one row per reason."""
        rows = [f"{'reason':<14} {'files':>7}"]
        for reason in REASONS:
            rows.append(f"{reason:<14} {self.counts.get(reason, 0):>7}")
        rows.append(f"{'total':<14} {self.files:>7}   ({self.lines:,} lines in, {self.lines_kept:,} kept)")
        if self.tree_sitter_disagrees:
            rows.append(f"tree-sitter disagrees on {self.tree_sitter_disagrees} files")
        for reason, samples in self.examples.items():
            rows.append(f"{reason}, for example:")
            rows.extend(f"  {s}" for s in samples)
        return "\n".join(rows)


def filter_records(records: Iterable[dict], options: FilterOptions = FilterOptions(),
                   jobs: int = 1) -> Iterator[tuple[dict, dict]]:
    """``(record, verdict)`` for each file record, in input order, streaming.

    >>> rec = {"path": "A.elm", "size": 6, "sha256": "00" * 32, "text": "x = 1\\n", "repo": "r"}
    >>> [v["reason"] for _, v in filter_records([rec, dict(rec)])]
    ['kept', 'duplicate']
    """
    seen: set[bytes] = set()
    # Records that need a parse go to the workers; those decided here ride along
    # (as None work) so the output keeps the input order.
    staged = ((record, precheck(record, options, seen)) for record in records)
    work = partial(_judge_staged, options=options)
    yield from ordered_map(work, staged, jobs=jobs)


def _judge_staged(item: tuple[dict, dict | None], options: FilterOptions) -> tuple[dict, dict]:
    record, verdict = item
    return record, verdict if verdict is not None else judge(record, options)


def run_filter(inputs: list[str | Path], out_dir: str | Path, options: FilterOptions = FilterOptions(),
               jobs: int = 1, show_progress: bool = True) -> FilterReport:
    """Filter the ``files.jsonl`` of each input (folder or file) into ``out_dir``:
    ``kept.jsonl`` (records with their ``lines``), ``rejected.jsonl`` (records without
    text, with reason, line, column, message) and ``filter-report.json``."""
    paths = [resolve_input(p, FILES_NAME) for p in inputs]
    out = Path(out_dir)
    total = sum(count_lines(p) for p in paths)
    report = FilterReport()
    with AtomicJsonl(out / KEPT_NAME) as kept, AtomicJsonl(out / REJECTED_NAME) as rejected:
        stream = filter_records(iter_records(paths), options, jobs)
        for record, verdict in progress(stream, total=total, desc="filter", unit="file", enabled=show_progress):
            report.add(record, verdict)
            if verdict["reason"] == "kept":
                row = dict(record, lines=line_count(record["text"]))
                row.pop("error", None)
                if "tree_sitter" in verdict:
                    row["tree_sitter"] = verdict["tree_sitter"]
                kept.write(row)
            else:
                row = {k: v for k, v in record.items() if k != "text"}
                row.update(verdict)
                rejected.write(row)
    atomic_write_text(out / REPORT_NAME, json.dumps(report.as_dict(), indent=2) + "\n")
    return report
