"""Judge the same Elm texts with our parser and the three oracles, and compare.

The Elm compiler is the reference: for every other judge the report counts the
texts on which it agrees with the compiler (valid or not), gives the pairwise
agreement matrix, and lists every disagreement with the place each side names.

>>> report = crosscheck(["module M exposing (..)\\nx = (1,\\n"], judges=("ours", "tree-sitter"),
...                     progress=False)
>>> [v.valid for v in report.files[0].verdicts.values()]
[False, False]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ElmSyntaxError
from .files import elm_files, read_source
from .mutants import mutants
from .oracles import CompilerError, ElmCompiler, ElmFormat, ElmFormatError, TreeSitterElm, Verdict, tools
from .parser import MAX_BYTES, parse_module

JUDGES: tuple[str, ...] = ("ours", "compiler", "tree-sitter", "elm-format")
REFERENCE = "compiler"


@dataclass(frozen=True)
class Item:
    """One text to judge: a file, or a mutant of one (``mutant`` describes the edit).

    ``text`` is None when the file could not be read as UTF-8 Elm source; ``error``
    then says why, and ``raw`` holds the bytes (decoded with surrogateescape, so the
    external tools still see the file exactly) when there were any.
    """

    path: str
    text: str | None
    mutant: str | None = None
    error: ElmSyntaxError | None = None
    raw: str | None = None

    @property
    def name(self) -> str:
        """``path`` or ``path:mutant description``, as printed."""
        return self.path if self.mutant is None else f"{self.path}:{self.mutant}"


@dataclass
class FileVerdicts:
    """Every judge's verdict on one item; None where a judge's tool failed on it."""

    item: Item
    verdicts: dict[str, Verdict | None]

    def as_dict(self) -> dict:
        """JSON-ready: path, mutant, and per judge ``{valid, line, column, message}``."""
        return {
            "path": self.item.path,
            "mutant": self.item.mutant,
            "verdicts": {
                judge: None if v is None else {"valid": v.valid, "line": v.line, "column": v.column,
                                               "message": v.message}
                for judge, v in self.verdicts.items()
            },
        }


@dataclass(frozen=True)
class Disagreement:
    """A judge that found an item valid where the reference did not, or the reverse."""

    name: str
    judge: str
    verdict: Verdict
    reference: Verdict


@dataclass
class CrosscheckReport:
    """Verdicts per item, agreement with the reference judge, and the disagreements.

    ``agreement[judge] = (agreeing items, items both judged)``; ``matrix[a][b]`` is the
    percentage of items on which judges ``a`` and ``b`` agree; ``same_line[judge]`` =
    (items where both it and the reference say invalid at the same line, items both
    say invalid); ``error_lines[judge][kind]`` (kind "files" or "mutants") = (items
    whose first error is on the reference's line, within one line of it, items both
    say invalid).
    """

    judges: tuple[str, ...]
    reference: str
    files: list[FileVerdicts]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    agreement: dict[str, tuple[int, int]] = field(default_factory=dict)
    matrix: dict[str, dict[str, float | None]] = field(default_factory=dict)
    same_line: dict[str, tuple[int, int]] = field(default_factory=dict)
    error_lines: dict[str, dict[str, tuple[int, int, int]]] = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)

    @classmethod
    def build(cls, judges: Sequence[str], reference: str, files: list[FileVerdicts]) -> "CrosscheckReport":
        """Compute the tables from per-item verdicts."""
        report = cls(tuple(judges), reference, files)
        for judge in judges:
            verdicts = [f.verdicts[judge] for f in files]
            report.counts[judge] = {
                "valid": sum(1 for v in verdicts if v is not None and v.valid),
                "invalid": sum(1 for v in verdicts if v is not None and not v.valid),
                "failed": sum(1 for v in verdicts if v is None),
            }
        for a in judges:
            report.matrix[a] = {}
            for b in judges:
                agree, total = _agree(files, a, b)
                report.matrix[a][b] = 100.0 * agree / total if total else None
            report.agreement[a] = _agree(files, a, reference)
            both_invalid = [f for f in files if _invalid(f, a) and _invalid(f, reference)]
            report.same_line[a] = (
                sum(1 for f in both_invalid if f.verdicts[a].line == f.verdicts[reference].line),
                len(both_invalid),
            )
            report.error_lines[a] = {
                kind: _line_distances([f for f in both_invalid if (f.item.mutant is None) == (kind == "files")],
                                      a, reference)
                for kind in ("files", "mutants")
            }
        for f in files:
            ref = f.verdicts[reference]
            for judge in judges:
                v = f.verdicts[judge]
                if judge != reference and v is not None and ref is not None and v.valid != ref.valid:
                    report.disagreements.append(Disagreement(f.item.name, judge, v, ref))
        return report

    def summary(self) -> dict:
        """The tables as JSON-ready data (what ``--json`` prints last)."""
        return {
            "summary": True,
            "items": len(self.files),
            "files": len({f.item.path for f in self.files}),
            "mutants": sum(1 for f in self.files if f.item.mutant is not None),
            "judges": list(self.judges),
            "reference": self.reference,
            "counts": self.counts,
            "agreement": {j: {"agree": a, "total": t, "percent": _pct(a, t)}
                          for j, (a, t) in self.agreement.items()},
            "same_line": {j: {"same": a, "both_invalid": t} for j, (a, t) in self.same_line.items()},
            "error_lines": {j: {kind: {"same": s, "within_one": n, "both_invalid": t}
                                for kind, (s, n, t) in by_kind.items()}
                            for j, by_kind in self.error_lines.items() if j != self.reference},
            "matrix": self.matrix,
            "disagreements": len(self.disagreements),
        }

    def format_table(self) -> str:
        """The human-readable report: counts, agreement, matrix, then disagreements."""
        n_mutants = sum(1 for f in self.files if f.item.mutant is not None)
        n_files = len(self.files) - n_mutants
        lines = [f"judged {n_files} files" + (f" and {n_mutants} mutants" if n_mutants else "")
                 + f" with {', '.join(self.judges)}; reference: {self.reference}", ""]
        width = max(len(j) for j in self.judges) + 2
        head = f"agrees with {self.reference}"
        lines.append(f"{'judge':<{width}}{'valid':>7}{'invalid':>9}  {head:<26}same line when both invalid")
        for j in self.judges:
            c = self.counts[j]
            agree, total = self.agreement[j]
            same, both = self.same_line[j]
            agree_s = f"{_pct(agree, total):6.2f}% ({agree}/{total})"
            same_s = f"{_pct(same, both):6.2f}% ({same}/{both})"
            failed = f"  ({c['failed']} tool failures)" if c["failed"] else ""
            lines.append(f"{j:<{width}}{c['valid']:>7}{c['invalid']:>9}  {agree_s:<26}{same_s}{failed}")
        lines += ["", f"first error on the {self.reference}'s line, where both find the text invalid",
                  f"{'judge':<{width}}{'items':<9}{'same line':>22}{'within one line':>22}"]
        for j in self.judges:
            if j == self.reference:
                continue
            for kind, (same, near, both) in self.error_lines[j].items():
                if both:
                    same_s = f"{_pct(same, both):.2f}% ({same}/{both})"
                    near_s = f"{_pct(near, both):.2f}% ({near}/{both})"
                    lines.append(f"{j:<{width}}{kind:<9}{same_s:>22}{near_s:>22}")
        lines += ["", "pairwise agreement (%)", " " * width + "".join(f"{j:>13}" for j in self.judges)]
        for a in self.judges:
            cells = "".join(f"{'-' if p is None else f'{p:.2f}':>13}" for p in self.matrix[a].values())
            lines.append(f"{a:<{width}}{cells}")
        by_item: dict[str, list[Disagreement]] = {}
        for d in self.disagreements:
            by_item.setdefault(d.name, []).append(d)
        lines += ["", f"disagreements with {self.reference}: {len(self.disagreements)} "
                      f"(judge, item) pairs on {len(by_item)} items"]
        for name, ds in by_item.items():
            sides = [f"{d.judge}={format_verdict(d.verdict)}" for d in ds]
            sides.append(f"{self.reference}={format_verdict(ds[0].reference)}")
            lines.append(f"{name}: " + ", ".join(sides))
        return "\n".join(lines)


def format_verdict(v: Verdict | None) -> str:
    """``valid``, ``L:C message`` or ``invalid message`` (when the judge gave no place)."""
    if v is None:
        return "tool failure"
    if v.valid:
        return "valid"
    where = f"{v.line}:{v.column}" if v.line is not None else "invalid"
    return f"{where} {v.message or ''}".rstrip()


def _invalid(f: FileVerdicts, judge: str) -> bool:
    v = f.verdicts[judge]
    return v is not None and not v.valid


def _line_distances(files: list[FileVerdicts], judge: str, reference: str) -> tuple[int, int, int]:
    """(items whose error lines are equal, within one line, all items) of ``files``."""
    gaps = [abs(f.verdicts[judge].line - f.verdicts[reference].line) for f in files
            if f.verdicts[judge].line is not None and f.verdicts[reference].line is not None]
    return sum(1 for g in gaps if g == 0), sum(1 for g in gaps if g <= 1), len(files)


def _agree(files: list[FileVerdicts], a: str, b: str) -> tuple[int, int]:
    pairs = [(f.verdicts[a], f.verdicts[b]) for f in files]
    judged = [(x, y) for x, y in pairs if x is not None and y is not None]
    return sum(1 for x, y in judged if x.valid == y.valid), len(judged)


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


# ---- building the items --------------------------------------------------------------


def read_item(path: Path) -> Item:
    """A file as an item; unreadable or non-UTF-8 files keep their read error."""
    source = read_source(path)
    if source.error is None:
        return Item(str(path), source.text)
    raw = None
    try:
        if path.stat().st_size <= 4 * MAX_BYTES:  # read_source's own limit
            raw = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError:
        pass
    return Item(str(path), None, error=source.error, raw=raw)


def items_from_paths(paths: Iterable[str | os.PathLike], mutants_per_kind: int = 0) -> Iterator[Item]:
    """Every Elm file under ``paths`` and, if asked, ``mutants_per_kind`` mutants of
    each kind per readable file (:func:`elmgrammar.mutants.mutants`)."""
    for path in elm_files(paths):
        item = read_item(path)
        yield item
        if mutants_per_kind and item.text is not None:
            for m in mutants(item.text, per_kind=mutants_per_kind):
                yield Item(item.path, m.text, mutant=m.description)


def _as_item(x: str | os.PathLike | Item, index: int) -> Item:
    if isinstance(x, Item):
        return x
    if isinstance(x, str):
        return Item(f"<text {index + 1}>", x)
    return read_item(Path(x))


# ---- judging -------------------------------------------------------------------------


def judge_ours(texts: Sequence[str | None], errors: Sequence[ElmSyntaxError | None] = (),
               progress: bool = False) -> list[Verdict]:
    """Our parser's verdict on each text; a None text gets its read error."""
    from tqdm import tqdm

    errors = list(errors) or [None] * len(texts)
    out = []
    for text, error in tqdm(list(zip(texts, errors)), desc="ours", unit="file", disable=not progress):
        if text is None:
            error = error or ElmSyntaxError(1, 1, "not readable")
        else:
            try:
                parse_module(text)
            except ElmSyntaxError as e:
                error = e
        out.append(Verdict("ours", True) if error is None
                   else Verdict("ours", False, error.line, error.column, error.message))
    return out


def _oracle(judge: str):
    # Constructing an oracle finds its binary, so a missing tool raises ToolMissing
    # here, before any judging starts.
    if judge == "compiler":
        return ElmCompiler()
    if judge == "tree-sitter":
        return TreeSitterElm()
    if judge == "elm-format":
        return ElmFormat()
    raise ValueError(f"unknown judge {judge!r}; choose from {', '.join(JUDGES)}")


def _judge_oracle(oracle, texts: list[str], progress: bool) -> list[Verdict | None]:
    """The oracle's verdicts; a tool failure on one text costs only that text."""
    try:
        return oracle.check_many(texts, progress=progress)
    except (CompilerError, ElmFormatError):
        pass
    out: list[Verdict | None] = []
    for text in texts:
        try:
            out.append(oracle.check(text))
        except (CompilerError, ElmFormatError) as e:
            print(f"elmgrammar: {type(oracle).__name__} failed on a text: {e}", file=sys.stderr)
            out.append(None)
    return out


def crosscheck(texts_or_paths: Iterable[str | os.PathLike | Item], judges: Sequence[str] = JUDGES,
               progress: bool = True) -> CrosscheckReport:
    """Judge every text with each of ``judges`` and compare them with the compiler.

    A ``str`` is Elm source text, a ``Path`` (any ``os.PathLike``) is a file to read,
    an :class:`Item` is a named text (e.g. a mutant). The reference is the compiler
    when it is among ``judges``, else the first judge. Raises ``ToolMissing`` when an
    oracle's tool is not installed (run ``elmgrammar setup``).
    """
    judges = tuple(judges)
    if not judges:
        raise ValueError("no judges given")
    unknown = [j for j in judges if j not in JUDGES]
    if unknown:
        raise ValueError(f"unknown judge(s) {', '.join(unknown)}; choose from {', '.join(JUDGES)}")
    oracles = {j: _oracle(j) for j in judges if j != "ours"}
    items = [_as_item(x, i) for i, x in enumerate(texts_or_paths)]
    results: dict[str, list[Verdict | None]] = {}
    try:
        for judge in judges:
            if judge == "ours":
                results[judge] = judge_ours([it.text for it in items], [it.error for it in items], progress)
                continue
            # The external tools see a non-UTF-8 file's bytes as they are.
            texts = [it.text if it.text is not None else it.raw for it in items]
            todo = [i for i, t in enumerate(texts) if t is not None]
            verdicts = _judge_oracle(oracles[judge], [texts[i] for i in todo], progress)
            column: list[Verdict | None] = [None] * len(items)
            for i, v in zip(todo, verdicts):
                column[i] = v
            results[judge] = column
    finally:
        if "compiler" in oracles:
            oracles["compiler"].close()
    files = [FileVerdicts(it, {j: results[j][i] for j in judges}) for i, it in enumerate(items)]
    reference = REFERENCE if REFERENCE in judges else judges[0]
    return CrosscheckReport.build(judges, reference, files)


# ---- the subcommand --------------------------------------------------------------------


def _parse_judges(value: str) -> tuple[str, ...]:
    judges = tuple(j.strip() for j in value.split(",") if j.strip())
    unknown = [j for j in judges if j not in JUDGES]
    if unknown or not judges:
        raise argparse.ArgumentTypeError(f"unknown judge(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {','.join(JUDGES)}")
    return judges


def add_subcommand(sub) -> None:
    """Register ``elmgrammar crosscheck`` on the CLI's subparsers."""
    p = sub.add_parser(
        "crosscheck", help="judge Elm files with our parser, the compiler, tree-sitter and elm-format",
        description="Judge Elm files (and, with --mutants, edited copies of them) with our parser and the "
                    "Elm compiler, tree-sitter-elm and elm-format; print how often each agrees with the "
                    "compiler, how often its first error is on the compiler's line (exactly and within one "
                    "line; files and mutants apart), and every disagreement. Exit status 0.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="Elm files or directories")
    p.add_argument("--corpus", action="store_true", help="also judge the real-file corpus of `elmgrammar setup`")
    p.add_argument("--judges", type=_parse_judges, default=JUDGES, metavar="LIST",
                   help=f"comma-separated judges (default: {','.join(JUDGES)})")
    p.add_argument("--mutants", type=int, default=0, metavar="N", help="add N mutants of each kind per file")
    p.add_argument("--json", action="store_true", help="one JSON line per item, then a summary line")
    p.set_defaults(run=lambda args: _cmd_crosscheck(args, p))


def _cmd_crosscheck(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.paths and not args.corpus:
        parser.error("give Elm files or directories, or --corpus")
    if args.mutants < 0:
        parser.error("--mutants must be 0 or more")
    paths: list[str | os.PathLike] = list(args.paths)
    if args.corpus:
        paths += tools.real_elm_files()
    items = list(items_from_paths(paths, args.mutants))
    report = crosscheck(items, judges=args.judges, progress=True)
    if args.json:
        for f in report.files:
            print(json.dumps(f.as_dict()))
        print(json.dumps(report.summary()))
    else:
        print(report.format_table())
    return 0
