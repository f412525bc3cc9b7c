"""Reading and masking a batch of scores (logits) cheaply, on the CPU or a GPU.

On the CPU, PyTorch's row reductions over a 49,152-entry vocabulary cost far more
than NumPy's on the same memory (``torch.topk`` of 16 per row about 75 µs a row,
``argmax`` in NumPy about 6 µs), and each small indexing operation costs tens of
µs of dispatch: so a CPU tensor of floats is read and written through a NumPy
view of its memory. On a GPU the same jobs are a few batched kernels.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

# dtypes NumPy can view (not bfloat16)
_VIEWABLE = (torch.float32, torch.float64, torch.float16)


class Best(NamedTuple):
    """A row's best token: its id (the lowest among those with the best score, as
    ``argmax`` takes it), the score, and whether another token has the same score."""

    token_id: int
    score: float
    tied: bool


def numpy_view(scores: torch.Tensor) -> np.ndarray | None:
    """A writable NumPy view of ``scores``' memory, or None (a GPU tensor, bfloat16)."""
    if scores.device.type != "cpu" or scores.dtype not in _VIEWABLE or scores.requires_grad:
        return None
    return scores.numpy()


def best_per_row(scores: torch.Tensor, rows: Sequence[int], width: int) -> list[Best]:
    """The best token among the first ``width`` of each row in ``rows``. A row whose
    best score is NaN or -inf gets that score (the caller looks further)."""
    array = numpy_view(scores)
    if array is not None:
        found = []
        for r in rows:
            row = array[r, :width]
            token_id = int(row.argmax())
            score = row[token_id]
            found.append(Best(token_id, float(score), bool(np.count_nonzero(row == score) > 1)))
        return found
    sub = scores[torch.as_tensor(list(rows), device=scores.device), :width]
    values, ids = sub.max(dim=-1)
    tied = (sub == values[:, None]).sum(dim=-1) > 1
    # one transfer for the three (ids below 2**24 are exact as floats)
    table = torch.stack([ids.double(), values.double(), tied.double()], dim=1).tolist()
    return [Best(int(i), v, bool(t)) for i, v, t in table]


def keep_only(scores: torch.Tensor, keep: dict[int, list[int]]) -> None:
    """Set every score of the rows of ``keep`` to -inf but those of the ids it keeps,
    in place. A token kept alone gets a finite score (0) where it had -inf (an
    earlier processor masked it), so that sampling never meets a row of -inf. The
    kept scores are saved, the rows filled, the scores put back: three operations
    for all rows."""
    if not keep:
        return
    rows = sorted(keep)
    row_index = [r for r, ids in keep.items() for _ in ids]
    col_index = [t for ids in keep.values() for t in ids]
    alone = [len(ids) == 1 for ids in keep.values() for _ in ids]
    array = numpy_view(scores)
    if array is not None:
        values = array[row_index, col_index]
        values[np.isneginf(values) & np.array(alone)] = 0.0
        if rows == list(range(rows[0], rows[0] + len(rows))):
            scores[rows[0]:rows[0] + len(rows)].fill_(float("-inf"))  # adjacent rows: one fill, on torch's threads
        else:
            array[rows] = -np.inf
        array[row_index, col_index] = values
        return
    device = scores.device
    index = torch.tensor([row_index, col_index], device=device)
    values = scores[index[0], index[1]]
    values = torch.where(torch.tensor(alone, device=device) & torch.isneginf(values), torch.zeros_like(values), values)
    scores.index_fill_(0, torch.tensor(rows, device=device), float("-inf"))
    scores[index[0], index[1]] = values


class Candidates(NamedTuple):
    """A row's best tokens, for drawing from its distribution at a temperature:
    ``ids`` best first, ``values`` their logits at the temperature, ``cumulative``
    their probabilities in the whole distribution added up in that order, ``lse``
    the log-sum-exp of all the row's logits at the temperature (-inf: every score
    masked, nothing to draw)."""

    ids: list[int]
    values: list[float]
    cumulative: list[float]
    lse: float


def candidates(scores: torch.Tensor, rows: Sequence[int], width: int, depth: int,
               temperatures: Sequence[float]) -> list[Candidates]:
    """The ``depth`` best tokens among the first ``width`` of each row in ``rows``,
    with what drawing from the row's distribution at its temperature needs (see
    :class:`Candidates`)."""
    array = numpy_view(scores)
    if array is not None:
        return [_row_candidates(array[r, :width], depth, t) for r, t in zip(rows, temperatures)]
    index = torch.as_tensor(list(rows), device=scores.device)
    scale = torch.as_tensor(list(temperatures), device=scores.device, dtype=torch.float32)[:, None]
    logits = scores[index, :width].float() / scale
    top = torch.topk(logits, depth, dim=-1)
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)
    cumulative = torch.cumsum(torch.exp(top.values - lse), dim=-1)
    # one transfer for all rows (ids below 2**24 are exact as floats)
    fetched = torch.cat([lse, top.values, cumulative, top.indices.float()], dim=1).tolist()
    return [Candidates([int(i) for i in f[2 * depth + 1:]], f[1:depth + 1], f[depth + 1:2 * depth + 1], f[0])
            for f in fetched]


def _row_candidates(row: np.ndarray, depth: int, temperature: float) -> Candidates:
    """``candidates`` of one row, in NumPy: the best found among the scores within a
    gap of the best one, the gap widened (counting, which is cheap) until it holds
    ``depth`` of them: far cheaper than a partition of the whole row."""
    best = float(row.max())
    if not best > float("-inf"):
        return Candidates([], [], [], float("-inf"))
    gap = 4.0 * max(temperature, 1e-3)
    while np.count_nonzero(row >= best - gap) < depth and gap < 1e6:
        gap *= 4.0
    ids = np.flatnonzero(row >= best - gap)
    if len(ids) < depth:  # fewer finite scores than asked: the -inf ones after them
        ids = np.argpartition(row, -depth)[-depth:] if depth < len(row) else np.arange(len(row))
    elif len(ids) > depth:
        ids = ids[np.argpartition(row[ids], -depth)[-depth:]]
    ids = ids[np.lexsort((ids, -row[ids]))]  # best first, ties by id
    lse = best / temperature + float(np.log(np.exp((row - best) / temperature).sum()))
    values = row[ids].astype(np.float64) / temperature
    return Candidates(ids.tolist(), values.tolist(), np.cumsum(np.exp(values - lse)).tolist(), lse)
