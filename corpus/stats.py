"""The pipeline's figures: the dataset's statistics, each step's time and memory, and
the table that sets them beside the user's corpus.

- :class:`DatasetStats`: files, lines, units per kind, tokens per unit, licences,
  collected in one streaming pass (memory bounded by the number of distinct files,
  repositories and token lengths, not by the number of units).
- :class:`StepClock`: the wall time and peak memory of a step; every step writes them
  as ``usage`` into its report.
- :func:`pipeline_table`: files, lines, units, tokens, time and memory of each step of
  a work folder, read from those reports, beside :data:`USER_CORPUS`.
"""

from __future__ import annotations

import json
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .units import KINDS

SPLITS = ("train", "validation", "test")

USER_CORPUS = {"files": 7_000, "lines": 1_200_000, "units": 91_528}
"""The user's scraped corpus as they described it: about 7,000 files and 1.2 M lines,
cut into 91,528 units (no token count was given)."""


def _peak_mib(who: int) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux reports KiB


class StepClock:
    """Wall and CPU time of a step from its creation to :meth:`stop`, and peak resident
    memory: of this process, and of the largest worker process it waited for.

    The peaks are the process's own (the kernel keeps no other): exact for a step run
    as its own command, an upper bound for a step run later in a longer process.
    """

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = self._cpu_s()

    @staticmethod
    def _cpu_s() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def stop(self) -> dict[str, float]:
        """``{"wall_s", "cpu_s", "peak_rss_mib", "peak_worker_rss_mib"}`` so far."""
        return {"wall_s": round(time.perf_counter() - self._wall, 2), "cpu_s": round(self._cpu_s() - self._cpu, 2),
                "peak_rss_mib": _peak_mib(resource.RUSAGE_SELF),
                "peak_worker_rss_mib": _peak_mib(resource.RUSAGE_CHILDREN)}


def _percentile(histogram: Counter, q: float) -> int:
    """The q-quantile (0..1) of values given as value -> count."""
    total = sum(histogram.values())
    if not total:
        return 0
    rank = q * (total - 1)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen > rank:
            return value
    return max(histogram)


@dataclass
class SplitStats:
    """Numbers for one split (or for all of them together)."""

    units: int = 0
    lines: int = 0
    tokens: int = 0
    kinds: Counter = field(default_factory=Counter)
    token_hist: Counter = field(default_factory=Counter)
    repos: set[str] = field(default_factory=set)
    files: set[tuple[str, str]] = field(default_factory=set)

    def add(self, unit: dict, tokens: int | None) -> None:
        """Count one unit (with its token count, if counted)."""
        self.units += 1
        self.lines += unit["end_line"] - unit["start_line"] + 1
        self.kinds[unit["kind"]] += 1
        self.repos.add(unit["repo"])
        self.files.add((unit["repo"], unit["path"]))
        if tokens is not None:
            self.tokens += tokens
            self.token_hist[tokens] += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        out: dict[str, Any] = {
            "repos": len(self.repos), "files": len(self.files), "units": self.units, "lines": self.lines,
            "kinds": {k: self.kinds.get(k, 0) for k in KINDS},
        }
        if self.token_hist:
            out["tokens"] = {
                "total": self.tokens, "mean": round(self.tokens / max(1, self.units), 1),
                "median": _percentile(self.token_hist, 0.5), "p90": _percentile(self.token_hist, 0.9),
                "p99": _percentile(self.token_hist, 0.99), "max": max(self.token_hist),
            }
        return out


@dataclass
class DatasetStats:
    """Everything the dataset step reports."""

    units_in: int = 0
    dropped_licence: int = 0
    dropped_exact: int = 0
    dropped_whitespace: int = 0
    splits: dict[str, SplitStats] = field(default_factory=lambda: {s: SplitStats() for s in SPLITS})
    all: SplitStats = field(default_factory=SplitStats)
    licence_units: Counter = field(default_factory=Counter)
    licence_repos: dict[str, set[str]] = field(default_factory=dict)
    tokenizer: str | None = None
    max_tokens: int | None = None
    dropped_too_long: int = 0
    dropped_too_long_tokens: int = 0
    usage: dict[str, float] | None = None

    def drop_too_long(self, tokens: int) -> None:
        """Count a unit dropped for holding more than ``max_tokens`` tokens."""
        self.dropped_too_long += 1
        self.dropped_too_long_tokens += tokens

    def add(self, split: str, unit: dict, tokens: int | None) -> None:
        """Count one unit kept in ``split``."""
        self.splits[split].add(unit, tokens)
        self.all.add(unit, tokens)
        licence = unit.get("licence") or "unknown"
        self.licence_units[licence] += 1
        self.licence_repos.setdefault(licence, set()).add(unit["repo"])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready statistics."""
        return {
            "units_in": self.units_in,
            "dropped": {"licence": self.dropped_licence, "exact_duplicate": self.dropped_exact,
                        "whitespace_duplicate": self.dropped_whitespace, "too_many_tokens": self.dropped_too_long},
            "max_tokens": self.max_tokens,
            "dropped_too_many_tokens_tokens": self.dropped_too_long_tokens,
            "all": self.all.as_dict(),
            "splits": {s: self.splits[s].as_dict() for s in SPLITS},
            "licences": {k: {"units": v, "repos": len(self.licence_repos[k])}
                         for k, v in self.licence_units.most_common()},
            "tokenizer": self.tokenizer,
            "usage": self.usage,
        }

    def format(self) -> str:
        """The report as a readable table."""
        d = self.as_dict()
        a = d["all"]
        rows = [
            f"units in: {self.units_in:,}; dropped: {self.dropped_licence:,} for their licence, "
            f"{self.dropped_exact:,} exact and {self.dropped_whitespace:,} whitespace-normalised duplicates"
            + (f", {self.dropped_too_long:,} too-many-tokens (over {self.max_tokens:,} tokens; "
               f"{self.dropped_too_long_tokens:,} tokens in all)" if self.max_tokens is not None else ""),
            f"kept: {a['units']:,} units from {a['files']:,} files in {a['repos']:,} repositories, {a['lines']:,} lines",
            "",
            f"{'split':<11} {'repos':>6} {'files':>6} {'units':>7} {'lines':>8} {'tokens':>10}",
        ]
        for name in SPLITS + ("all",):
            s = d["all"] if name == "all" else d["splits"][name]
            tokens = s.get("tokens", {}).get("total", "-")
            rows.append(f"{name:<11} {s['repos']:>6} {s['files']:>6} {s['units']:>7} {s['lines']:>8} {tokens:>10}")
        rows += ["", "units per kind: " + ", ".join(f"{k} {v:,}" for k, v in a["kinds"].items())]
        if "tokens" in a:
            t = a["tokens"]
            rows.append(f"tokens per unit ({self.tokenizer}): mean {t['mean']}, median {t['median']}, "
                        f"p90 {t['p90']}, p99 {t['p99']}, max {t['max']}")
        rows.append("licences: " + ", ".join(f"{k} ({v['units']:,} units, {v['repos']} repos)"
                                             for k, v in d["licences"].items()))
        if self.usage:
            rows.append(format_usage(self.usage))
        return "\n".join(rows)


def format_usage(usage: dict[str, float] | None) -> str:
    """One line for a step's report: its time and peak memory ("" when not measured)."""
    if not usage:
        return ""
    workers = f", largest worker {usage['peak_worker_rss_mib']:,.0f} MiB" if usage.get("peak_worker_rss_mib") else ""
    return (f"time: {usage['wall_s']:,.1f} s wall, {usage['cpu_s']:,.1f} s CPU; "
            f"peak memory {usage['peak_rss_mib']:,.0f} MiB{workers}")


def _read_report(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise ValueError(f"{path}: not a JSON report (rerun the step that writes it)") from None


def pipeline_figures(work: str | Path, dataset: str | Path | None = None) -> dict[str, Any]:
    """Each step's files, lines, units, tokens and usage, read from the reports in a work
    folder (``ingest-report.json``, ``filter-report.json``, ``units-report.json``) and
    the dataset folder's ``stats.json`` (default ``WORK/dataset``); steps not run yet
    are left out. Raises ``FileNotFoundError`` when no report is there at all."""
    work = Path(work)
    data = Path(dataset) if dataset is not None else work / "dataset"
    steps: dict[str, dict[str, Any]] = {}
    ingest = _read_report(work / "ingest-report.json")
    if ingest:
        steps["ingest"] = {"files": ingest["files"], "lines": ingest["lines"], "usage": ingest.get("usage")}
    filtered = _read_report(work / "filter-report.json")
    if filtered:
        steps["filter"] = {"files": filtered["counts"]["kept"], "lines": filtered["lines_kept"],
                           "usage": filtered.get("usage"), "rejected": {
                               r: n for r, n in filtered["counts"].items() if r != "kept" and n},
                           "generated_rules": filtered.get("generated_rules", {}),
                           "compiler": filtered.get("compiler", {})}
    units = _read_report(work / "units-report.json")
    if units:
        steps["units"] = {"files": units["files"], "lines": units.get("lines"), "units": units["units"],
                          "usage": units.get("usage"), "dropped": len(units["dropped"])}
    stats = _read_report(data / "stats.json")
    if stats:
        a = stats["all"]
        steps["dataset"] = {"files": a["files"], "lines": a["lines"], "units": a["units"],
                            "tokens": a.get("tokens", {}).get("total"), "usage": stats.get("usage"),
                            "dropped": {k: n for k, n in stats["dropped"].items() if n},
                            "max_tokens": stats.get("max_tokens"),
                            "splits": {s: stats["splits"][s] for s in SPLITS}}
    if not steps:
        raise FileNotFoundError(f"{work}: no step reports (ingest-report.json, filter-report.json, "
                                f"units-report.json, dataset/stats.json): run the pipeline into it first")
    return {"steps": steps, "user": USER_CORPUS}


def _cell(value: Any, width: int, digits: int = 0) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:>{width},.{digits}f}" if isinstance(value, float) else f"{value:>{width},}"


def format_pipeline(figures: dict[str, Any]) -> str:
    """The pipeline's table: one row per step, and the user's corpus beside it."""
    head = (f"{'step':<15} {'files':>7} {'lines':>10} {'units':>8} {'tokens':>11} "
            f"{'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'workers MiB':>12}")
    rows = [head, "-" * len(head)]
    total_wall = 0.0
    for name, step in figures["steps"].items():
        usage = step.get("usage") or {}
        total_wall += usage.get("wall_s", 0.0)
        rows.append(f"{name:<15} {_cell(step.get('files'), 7)} {_cell(step.get('lines'), 10)} "
                    f"{_cell(step.get('units'), 8)} {_cell(step.get('tokens'), 11)} "
                    f"{_cell(usage.get('wall_s'), 8, 1)} {_cell(usage.get('cpu_s'), 8, 1)} "
                    f"{_cell(usage.get('peak_rss_mib'), 9)} {_cell(usage.get('peak_worker_rss_mib') or None, 12)}")
    user = figures["user"]
    rows.append(f"{'the user (~)':<15} {_cell(user['files'], 7)} {_cell(user['lines'], 10)} "
                f"{_cell(user['units'], 8)} {_cell(None, 11)}")
    rows.append(f"all steps: {total_wall:,.1f} s wall; peak memory is each step's own process "
                "(workers: the largest worker process)")
    steps = figures["steps"]
    if "filter" in steps:
        f = steps["filter"]
        rules = ", ".join(f"{rule} {v['files']:,} files / {v['lines']:,} lines"
                          for rule, v in f["generated_rules"].items() if v["files"])
        rows.append("filter rejected: " + (", ".join(f"{r} {n:,}" for r, n in f["rejected"].items()) or "none")
                    + (f" (generated: {rules})" if rules else ""))
        if f["compiler"].get("checked"):
            rows.append(f"filter beside the compiler's verdicts in the manifest: {f['compiler']['checked']:,} files "
                        f"judged by both, {len(f['compiler']['disagrees'])} disagree")
    if "units" in steps and steps["units"]["dropped"]:
        rows.append(f"units dropped (did not parse on their own): {steps['units']['dropped']:,}")
    if "dataset" in steps:
        d = steps["dataset"]
        cap = f" (cap {d['max_tokens']:,} tokens)" if d.get("max_tokens") else ""
        rows.append("dataset dropped: " + (", ".join(f"{r} {n:,}" for r, n in d["dropped"].items()) or "none") + cap)
        rows.append("splits: " + ", ".join(
            f"{s} {v['repos']} repos / {v['units']:,} units / {v.get('tokens', {}).get('total', 0):,} tokens"
            for s, v in d["splits"].items()))
    return "\n".join(rows)
