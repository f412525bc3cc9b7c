"""``decode/scores.py``: its NumPy path (a CPU tensor of floats) against its torch
path (taken by a GPU tensor, here by a bfloat16 one, which NumPy cannot view), on
scores that both dtypes hold exactly, ties and masked entries included."""

from __future__ import annotations

import math

import pytest
import torch

from elmgrammar.decode.scores import best_per_row, candidates, keep_only, numpy_view


def _scores(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    scores = torch.round(torch.randn(6, 500, generator=generator) * 4) / 2  # halves: exact in bfloat16, tied often
    scores[1, :] = float("-inf")            # every entry masked
    scores[2, 100:] = float("-inf")         # fewer finite entries than asked for
    scores[3, 7] = scores[3, 9] = 20.0      # a tie for best
    scores[4, 11] = 20.0                    # one best
    return scores


def test_both_paths_are_taken():
    assert numpy_view(_scores()) is not None and numpy_view(_scores().bfloat16()) is None


def test_best_per_row_is_argmax_with_its_ties():
    scores = _scores()
    rows = [0, 2, 3, 4, 5]
    fast, slow = best_per_row(scores, rows, 480), best_per_row(scores.bfloat16(), rows, 480)
    assert fast == slow
    for r, best in zip(rows, fast):
        row = scores[r, :480]
        assert best.token_id == int(torch.argmax(row)) and best.score == float(row.max())
        assert best.tied == (int((row == row.max()).sum()) > 1)
    assert fast[2].tied and fast[2].token_id == 7 and not fast[3].tied


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_keep_only_keeps_the_ids_and_makes_a_lone_masked_one_finite(dtype):
    scores = _scores().to(dtype)
    before = scores.clone()
    keep = {0: [3, 4], 2: [150], 5: [8]}  # row 2's id 150 was masked: kept alone, made finite
    keep_only(scores, keep)
    for r in range(6):
        if r not in keep:
            assert torch.equal(scores[r], before[r])
            continue
        finite = torch.isfinite(scores[r]).nonzero().flatten().tolist()
        assert finite == sorted(keep[r])
    assert scores[0, 3] == before[0, 3] and scores[2, 150] == 0


@pytest.mark.parametrize("depth", [4, 64, 128])  # 128: more than row 2 has finite
def test_candidates_are_the_best_with_their_probabilities(depth):
    scores = _scores()
    rows, temperatures = [0, 1, 2, 3, 5], [0.7, 0.7, 1.0, 0.5, 1.3]
    fast = candidates(scores, rows, 500, depth, temperatures)
    slow = candidates(scores.bfloat16(), rows, 500, depth, temperatures)
    for r, t, a, b in zip(rows, temperatures, fast, slow):
        if r == 1:
            assert a.lse == b.lse == float("-inf")
            continue
        scaled = scores[r].double() / t
        lse = float(torch.logsumexp(scaled, dim=0))
        assert a.lse == pytest.approx(lse, abs=1e-4) and b.lse == pytest.approx(lse, abs=1e-4)
        best = sorted(scaled.tolist(), reverse=True)[:depth]
        assert a.values == pytest.approx(best, abs=1e-6) and b.values == pytest.approx(best, abs=1e-6)
        assert [float(scaled[i]) for i in a.ids] == pytest.approx(a.values, abs=1e-6)
        assert len(set(a.ids)) == depth
        assert a.cumulative[-1] == pytest.approx(sum(math.exp(v - lse) for v in best), abs=1e-5)
        assert all(x <= y for x, y in zip(a.cumulative, a.cumulative[1:]))
