"""The dataset's statistics: files, lines, units per kind, tokens per unit, licences.

Collected in one streaming pass; memory is bounded by the number of distinct files,
repositories and token lengths, not by the number of units.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .units import KINDS

SPLITS = ("train", "validation", "test")


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
                        "whitespace_duplicate": self.dropped_whitespace},
            "all": self.all.as_dict(),
            "splits": {s: self.splits[s].as_dict() for s in SPLITS},
            "licences": {k: {"units": v, "repos": len(self.licence_repos[k])}
                         for k, v in self.licence_units.most_common()},
            "tokenizer": self.tokenizer,
        }

    def format(self) -> str:
        """The report as a readable table."""
        d = self.as_dict()
        a = d["all"]
        rows = [
            f"units in: {self.units_in:,}; dropped: {self.dropped_licence:,} for their licence, "
            f"{self.dropped_exact:,} exact and {self.dropped_whitespace:,} whitespace-normalised duplicates",
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
        return "\n".join(rows)
