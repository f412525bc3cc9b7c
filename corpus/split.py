"""The units step of the corpus: kept files in, one unit record per declaration out.

Reads ``kept.jsonl`` (the filter's output), cuts each file with
:func:`~elmgrammar.corpus.units.split_units` on ``jobs`` processes, and writes
``units.jsonl`` with the keys of :data:`~elmgrammar.corpus.units.UNIT_KEYS` and
``units-report.json`` with counts per kind and every dropped unit.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Iterator

from elmgrammar.errors import ElmSyntaxError

from .jsonl import AtomicJsonl, atomic_write_text, count_lines
from .parallel import ordered_map
from .progress import progress
from .records import KEPT_NAME, UNITS_NAME, iter_records, resolve_input
from .stats import StepClock, format_usage
from .units import KINDS, UnitOptions, split_units

REPORT_NAME = "units-report.json"


@dataclass
class UnitsReport:
    """Files and units seen, units per kind, and the units or files that were dropped."""

    files: int = 0
    units: int = 0
    lines: int = 0
    kinds: Counter = field(default_factory=Counter)
    comment_fallbacks: int = 0
    dropped: list[str] = field(default_factory=list)
    failed_files: list[str] = field(default_factory=list)
    usage: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {"files": self.files, "units": self.units, "lines": self.lines,
                "kinds": {k: self.kinds.get(k, 0) for k in KINDS},
                "comment_fallbacks": self.comment_fallbacks,
                "dropped": self.dropped, "failed_files": self.failed_files, "usage": self.usage}

    def format(self) -> str:
        """A readable summary."""
        kinds = ", ".join(f"{k} {self.kinds.get(k, 0)}" for k in KINDS)
        text = f"{self.units:,} units from {self.files:,} files ({kinds})"
        if self.dropped:
            text += f"\n{len(self.dropped)} units dropped (did not parse on their own):"
            text += "".join(f"\n  {d}" for d in self.dropped[:10])
        if self.failed_files:
            text += f"\n{len(self.failed_files)} files did not parse:" + "".join(f"\n  {f}" for f in self.failed_files[:10])
        if self.usage:
            text += "\n" + format_usage(self.usage)
        return text


def units_of_record(record: dict, options: UnitOptions) -> tuple[list[dict], list[str], int, str | None]:
    """The unit records of one file record, the dropped units, the number of comment
    fallbacks, and an error if the file does not parse. Runs in worker processes."""
    text = record.get("text")
    if not isinstance(text, str):
        return [], [], 0, f"{record.get('repo')}/{record.get('path')}: no text ({record.get('error') or 'not a kept file'})"
    try:
        result = split_units(text, options)
    except ElmSyntaxError as e:
        return [], [], 0, f"{record.get('repo')}/{record['path']}:{e}"
    units = [u.record(record.get("repo"), record["path"], record.get("licence")) for u in result.units]
    where = f"{record.get('repo')}/{record['path']}:"
    return units, [where + d for d in result.dropped], result.comment_fallbacks, None


def unit_stream(records: Iterable[dict], options: UnitOptions = UnitOptions(), jobs: int = 1,
                report: UnitsReport | None = None) -> Iterator[dict]:
    """Unit records of a stream of file records, in order; fills ``report`` as it goes."""
    report = report if report is not None else UnitsReport()
    for units, dropped, fallbacks, error in ordered_map(partial(units_of_record, options=options), records, jobs=jobs):
        report.files += 1
        report.units += len(units)
        report.lines += sum(u["end_line"] - u["start_line"] + 1 for u in units)
        report.kinds.update(u["kind"] for u in units)
        report.comment_fallbacks += fallbacks
        report.dropped.extend(dropped)
        if error:
            report.failed_files.append(error)
        yield from units


def run_units(inputs: list[str | Path], out_dir: str | Path, options: UnitOptions = UnitOptions(),
              jobs: int = 1, show_progress: bool = True) -> UnitsReport:
    """Cut the ``kept.jsonl`` of each input into ``out_dir/units.jsonl``; write the report."""
    clock = StepClock()
    paths = [resolve_input(p, KEPT_NAME) for p in inputs]
    out = Path(out_dir)
    report = UnitsReport()
    total = sum(count_lines(p) for p in paths)
    records = progress(iter_records(paths), total=total, desc="units", unit="file", enabled=show_progress)
    with AtomicJsonl(out / UNITS_NAME) as sink:
        sink.write_all(unit_stream(records, options, jobs, report))
    report.usage = clock.stop()
    atomic_write_text(out / REPORT_NAME, json.dumps(report.as_dict(), indent=2) + "\n")
    return report
