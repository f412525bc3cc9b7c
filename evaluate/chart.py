"""The PNG chart: valid / cut off / invalid per side, and the success rate per prompt.

Drawn with matplotlib's object API on an Agg canvas: no pyplot, so no global figure
state and no display is touched.
"""

from __future__ import annotations

from pathlib import Path

from .errors import EvaluateError

COLOURS = {"valid": "#2e7d32", "prefix": "#f9a825", "invalid": "#c62828"}
LABELS = {"valid": "complete and valid", "prefix": "cut off, valid prefix", "invalid": "invalid"}


def write_chart(summary: dict[str, dict], path: str | Path, title: str = "Elm completions") -> Path:
    """Draw the chart of :func:`report.summarize`'s ``summary`` into ``path`` (PNG).
    Raises :class:`EvaluateError` when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EvaluateError("the chart needs matplotlib: pip install matplotlib") from None
    sides = list(summary)
    prompts = sorted({row["prompt_index"] for s in summary.values() for row in s["per_prompt"]})
    figure = Figure(figsize=(11, 4.2), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, width_ratios=[1, 2.2])

    # Left: each side's completions as one stacked bar of percentages.
    bottoms = [0.0] * len(sides)
    for status in ("valid", "prefix", "invalid"):
        shares = [100.0 * summary[s][status] / max(1, summary[s]["completions"]) for s in sides]
        bars = left.bar(sides, shares, bottom=bottoms, color=COLOURS[status], label=LABELS[status], width=0.6)
        for bar, share, bottom in zip(bars, shares, bottoms):
            if share >= 6:
                left.text(bar.get_x() + bar.get_width() / 2, bottom + share / 2, f"{share:.0f}%", ha="center",
                          va="center", color="white", fontsize=9)
        bottoms = [b + s for b, s in zip(bottoms, shares)]
    left.set_ylim(0, 100)
    left.set_ylabel("% of completions")
    left.set_title("all prompts")
    left.legend(loc="lower center", bbox_to_anchor=(0.5, -0.32), ncol=1, fontsize=8, frameon=False)

    # Right: success rate per prompt, the sides next to each other.
    width = 0.8 / max(1, len(sides))
    greens = ["#9e9e9e", "#2e7d32", "#1565c0", "#6a1b9a"]
    for k, side in enumerate(sides):
        rates = {row["prompt_index"]: row["success_rate"] for row in summary[side]["per_prompt"]}
        xs = [i + (k - (len(sides) - 1) / 2) * width for i in range(len(prompts))]
        right.bar(xs, [rates.get(p, 0.0) for p in prompts], width=width, label=side, color=greens[k % len(greens)])
    right.set_xticks(range(len(prompts)), [str(p + 1) for p in prompts])
    right.set_xlabel("prompt")
    right.set_ylim(0, 100)
    right.set_ylabel("success rate (%)")
    right.set_title("complete and valid, per prompt")
    right.legend(fontsize=8, frameon=False)
    figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, format="png")
    return path
