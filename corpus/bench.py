"""Benchmark of the corpus pipeline's grammar steps: filter + units on real files.

The files are first written to a ``files.jsonl`` (not timed), then the streaming
``run_filter`` and ``run_units`` run on them exactly as ``elmgrammar corpus filter`` and
``corpus units`` do, once with one process and once with ``jobs`` (when more than one),
so the table shows the speed-up side by side. Reported: files/s and lines/s of each
step and of both together, the peak resident memory of the main process and of the
largest worker, and the time the user's corpus (1.2 M lines) would take.

>>> result = bench_corpus(["src/"], jobs=2)      # doctest: +SKIP
>>> print_bench_corpus(result)                   # doctest: +SKIP
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from elmgrammar.files import benchmark_files, elm_files
from elmgrammar.parser import lark_parser, parse_module

from .filter import FilterOptions, run_filter
from .jsonl import AtomicJsonl
from .records import FILES_NAME, file_record
from .split import run_units
from .stats import USER_CORPUS
from .units import UnitOptions

USER_CORPUS_LINES = USER_CORPUS["lines"]
"""Lines in the user's scraped corpus (~7,000 files), for the extrapolation."""


def _peak_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def bench_corpus(paths: Sequence[str | Path], jobs: int = 1, unit_options: UnitOptions = UnitOptions(),
                 filter_options: FilterOptions = FilterOptions()) -> dict[str, Any]:
    """Time filter + units over the ``.elm`` files under ``paths`` with 1 and ``jobs``
    processes. Returns ``{"files", "lines", "bytes", "rows": [...], "units": {kind: n},
    "peak_rss_mib", "peak_worker_rss_mib", "user_corpus_lines"}``; each row has
    ``jobs``, the seconds, files/s and lines/s of each step and in all, and
    ``user_corpus_s`` (the extrapolated time for 1.2 M lines)."""
    files = list(elm_files(paths))
    if not files:
        raise FileNotFoundError("no .elm files under " + ", ".join(map(str, paths)))
    lark_parser()  # built once, before timing and before workers fork (they inherit it)
    parse_module("x = 1\n")
    baseline = _peak_mib(resource.RUSAGE_SELF)
    rows = []
    with tempfile.TemporaryDirectory(prefix="elmgrammar-bench-") as tmp:
        work = Path(tmp)
        size = 0
        with AtomicJsonl(work / FILES_NAME) as out:
            for path in files:
                data = path.read_bytes()
                size += len(data)
                out.write(file_record("local", path.parent.name, str(path), None, None, data))
        for j in sorted({1, max(1, jobs)}):
            t0 = time.perf_counter()
            report = run_filter([work], work / f"out{j}", filter_options, jobs=j, show_progress=False)
            t1 = time.perf_counter()
            units = run_units([work / f"out{j}"], work / f"out{j}", unit_options, jobs=j, show_progress=False)
            t2 = time.perf_counter()
            lines = report.lines
            rows.append({
                "jobs": j,
                "filter_s": t1 - t0, "units_s": t2 - t1, "total_s": t2 - t0,
                "filter_files_per_s": report.files / (t1 - t0), "filter_lines_per_s": lines / (t1 - t0),
                "units_files_per_s": report.counts["kept"] / (t2 - t1),
                "units_lines_per_s": report.lines_kept / (t2 - t1),
                "files_per_s": report.files / (t2 - t0), "lines_per_s": lines / (t2 - t0),
                "user_corpus_s": USER_CORPUS_LINES / (lines / (t2 - t0)),
            })
    return {
        "files": report.files, "lines": report.lines, "bytes": size,
        "kept": report.counts["kept"], "units": dict(units.kinds), "units_total": units.units,
        "dropped_units": len(units.dropped),
        "rows": rows,
        "baseline_rss_mib": baseline,
        "peak_rss_mib": _peak_mib(resource.RUSAGE_SELF),
        "peak_worker_rss_mib": _peak_mib(resource.RUSAGE_CHILDREN),
        "user_corpus_lines": USER_CORPUS_LINES,
    }


def print_bench_corpus(result: dict[str, Any], file: TextIO | None = None) -> None:
    """Print :func:`bench_corpus`'s result as a table, with the speed-up over one process."""
    out = file or sys.stdout
    print(f"corpus: {result['files']} files, {result['lines']:,} lines, {result['bytes'] / 1e6:.1f} MB; "
          f"{result['kept']} kept, {result['units_total']:,} units "
          f"({', '.join(f'{k} {v}' for k, v in sorted(result['units'].items()))})", file=out)
    header = (f"{'jobs':>4} {'filter s':>9} {'units s':>8} {'total s':>8} {'files/s':>8} {'lines/s':>9} "
              f"{'filter lines/s':>15} {'units lines/s':>14} {'speed-up':>9} {'1.2M lines':>11}")
    print(header, file=out)
    base = result["rows"][0]["lines_per_s"]
    for r in result["rows"]:
        print(f"{r['jobs']:>4} {r['filter_s']:>9.2f} {r['units_s']:>8.2f} {r['total_s']:>8.2f} "
              f"{r['files_per_s']:>8.1f} {r['lines_per_s']:>9,.0f} {r['filter_lines_per_s']:>15,.0f} "
              f"{r['units_lines_per_s']:>14,.0f} {r['lines_per_s'] / base:>8.2f}x {_duration(r['user_corpus_s']):>11}",
              file=out)
    print(f"peak memory: main process {result['peak_rss_mib']:.0f} MiB (after imports {result['baseline_rss_mib']:.0f} MiB), "
          f"largest worker {result['peak_worker_rss_mib']:.0f} MiB", file=out)
    print(f"the user's corpus ({result['user_corpus_lines']:,} lines) would take the time in the last column "
          f"(filter + units, linear in lines)", file=out)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def add_benchmarks(what) -> None:
    """Register ``elmgrammar bench corpus`` on the benchmarks' subparsers."""
    c = what.add_parser("corpus", help="corpus pipeline speed: filter + units, files/s, lines/s, memory",
                        description="Run the corpus filter and unit splitting on Elm files with one process and "
                                    "with --jobs, side by side: files/s, lines/s, peak memory, and the time for "
                                    "the user's 1.2 M-line corpus.")
    c.add_argument("paths", nargs="*", metavar="PATH", help="Elm files or directories")
    c.add_argument("--corpus", action="store_true", help="also use the real-file corpus of `elmgrammar setup`")
    c.add_argument("--jobs", type=int, default=2, metavar="N", help="processes for the parallel run (default 2)")
    c.set_defaults(run=lambda args: _cmd_corpus(args, c))


def _cmd_corpus(args, parser) -> int:
    if not args.paths and not args.corpus:
        parser.error("give Elm files or directories, or --corpus")
    print_bench_corpus(bench_corpus(benchmark_files(args.paths, args.corpus), jobs=args.jobs))
    return 0
