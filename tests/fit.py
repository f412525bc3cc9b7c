"""A goodness-of-fit check shared by the tests of sampling by rejection."""

from __future__ import annotations

import torch


def assert_draws_fit(counts: torch.Tensor, probs: torch.Tensor) -> None:
    """A chi-square goodness-of-fit test at 0.1% of ``counts`` against ``probs``
    (tokens expected fewer than 5 times are pooled into one bin)."""
    expected = probs * counts.sum()
    big = expected >= 5
    observed = torch.cat([counts[big], counts[~big].sum().reshape(1)])
    expected = torch.cat([expected[big], expected[~big].sum().reshape(1)])
    observed, expected = observed[expected > 0], expected[expected > 0]
    dof = len(expected) - 1
    assert dof >= 1
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    # the 0.1% critical value, by the Wilson-Hilferty approximation (z = 3.09)
    critical = dof * (1 - 2 / (9 * dof) + 3.09 * (2 / (9 * dof)) ** 0.5) ** 3
    assert chi2 < critical, (chi2, dof, critical)
