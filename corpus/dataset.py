"""The dataset step: units in, a Hugging Face ``DatasetDict`` and JSON Lines out.

1. Stream the units; keep only the allowed licences (``licences``, SPDX ids; none
   means all); drop exact duplicates and duplicates up to whitespace (first copy wins);
   count tokens with the tokenizer in batches and drop units over ``max_tokens``
   (``too-many-tokens``: a unit is one declaration, so it is dropped, not cut into
   pieces that would not parse; on real corpora these are data tables, SVG paths and
   generated test vectors). Survivors go to a temporary file while the units per
   repository are counted.
2. Assign whole repositories to train / validation / test (:func:`assign_splits`), so
   no repository is in two splits.
3. Stream the survivors again into ``train.jsonl``, ``validation.jsonl`` and
   ``test.jsonl`` (a ``text`` key, so ``load_dataset("json", data_files=...)`` reads
   them); then build the ``DatasetDict`` from those files and ``save_to_disk`` it
   under ``hf/``.
   ``stats.json`` holds :class:`~elmgrammar.corpus.stats.DatasetStats`.

Memory stays flat: hashes of the texts seen (16 bytes each) and per-repository counts
are all that is held.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from contextlib import ExitStack
from itertools import product
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .jsonl import AtomicJsonl, atomic_write_text, count_lines, read_jsonl
from .progress import progress
from .records import UNITS_NAME, iter_records, resolve_input
from .stats import SPLITS, DatasetStats, StepClock
from .tokens import DEFAULT_MAX_TOKENS, TokenCounter
from .units import UNIT_KEYS

HF_NAME = "hf"
STATS_NAME = "stats.json"
_BATCH = 256


@dataclass(frozen=True)
class DatasetOptions:
    """``licences``: SPDX ids to keep (None keeps all; a unit with no known licence is
    kept only then); ``fractions``: train / validation / test shares of the units;
    ``seed`` orders repositories before assignment; ``tokenizer``: a tokenizer.json or
    model folder, or ``starcoder2`` (None: ``$ELMGRAMMAR_TOKENIZER``, else the shipped StarCoder2
    tokenizer); ``count_tokens=False`` skips tokens
    (and so the cap); ``max_tokens``: units with more tokens are dropped (None: no cap)."""

    licences: frozenset[str] | None = None
    fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)
    seed: int = 0
    tokenizer: str | None = None
    count_tokens: bool = True
    max_tokens: int | None = DEFAULT_MAX_TOKENS


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def normalise_whitespace(text: str) -> str:
    """Runs of whitespace as one space: two units equal under this differ only in layout.

    >>> normalise_whitespace("f x =\\n    x  + 1\\n")
    'f x = x + 1'
    """
    return " ".join(text.split())


def deduplicate(units: Iterable[dict], stats: DatasetStats, licences: frozenset[str] | None) -> Iterator[dict]:
    """Units with an allowed licence that are not duplicates of an earlier one."""
    exact: set[bytes] = set()
    loose: set[bytes] = set()
    for unit in units:
        stats.units_in += 1
        if licences is not None and unit.get("licence") not in licences:
            stats.dropped_licence += 1
            continue
        e = _digest(unit["text"])
        if e in exact:
            stats.dropped_exact += 1
            continue
        exact.add(e)
        n = _digest(normalise_whitespace(unit["text"]))
        if n in loose:
            stats.dropped_whitespace += 1
            continue
        loose.add(n)
        yield unit


_EXHAUSTIVE_UP_TO = 8
"""Up to this many repositories, every assignment is tried (3**8 = 6,561)."""


def assign_splits(units_per_repo: dict[str, int], fractions: tuple[float, ...] = (0.9, 0.05, 0.05),
                  seed: int = 0) -> dict[str, str]:
    """Each repository's split, so that the splits' shares of units come close to
    ``fractions`` while no repository is divided.

    Repositories are taken in a seeded pseudo-random order. With few of them (a corpus
    of a handful of packages) every assignment that leaves no split with a share empty is
    tried and the closest to the shares wins; with more, each repository in turn goes
    to the split furthest below its share, which keeps every split a random mix.

    >>> sorted(assign_splits({"big": 80, "mid": 15, "small": 5}, (0.8, 0.15, 0.05)).items())
    [('big', 'train'), ('mid', 'validation'), ('small', 'test')]
    """
    total = sum(units_per_repo.values()) or 1
    targets = {s: f * total for s, f in zip(SPLITS, fractions)}
    live = [s for s in SPLITS if targets[s] > 0]
    order = sorted(units_per_repo, key=lambda r: hashlib.blake2b(f"{seed}\0{r}".encode(), digest_size=8).digest())
    if len(order) <= _EXHAUSTIVE_UP_TO:
        return _closest_assignment(order, units_per_repo, targets, live)
    filled = dict.fromkeys(SPLITS, 0)
    result = {}
    for repo in order:
        split = min(live, key=lambda s: (filled[s] / targets[s], SPLITS.index(s)))
        result[repo] = split
        filled[split] += units_per_repo[repo]
    return result


def _closest_assignment(order: list[str], sizes: dict[str, int], targets: dict[str, float],
                        live: list[str]) -> dict[str, str]:
    best, best_key = None, None
    for choice in product(live, repeat=len(order)):
        filled = dict.fromkeys(live, 0)
        for repo, split in zip(order, choice):
            filled[split] += sizes[repo]
        empty = sum(1 for s in live if filled[s] == 0)
        error = sum((filled[s] - targets[s]) ** 2 for s in live)
        key = (empty, error)  # first fill every split that can be filled, then fit the shares
        if best_key is None or key < best_key:
            best, best_key = choice, key
    return dict(zip(order, best or ()))


def _features():
    from datasets import Features, Value

    return Features({
        "text": Value("string"), "kind": Value("string"), "name": Value("string"), "repo": Value("string"),
        "path": Value("string"), "licence": Value("string"), "start_line": Value("int32"),
        "end_line": Value("int32"),
    })


def _rows(path: str) -> Iterator[dict]:
    for row in read_jsonl(path):
        yield {k: row.get(k) for k in UNIT_KEYS}


def build_dataset_dict(split_files: dict[str, Path], cache_dir: Path):
    """A ``DatasetDict`` read from the split JSON Lines files (written in Arrow batches,
    so memory does not grow with the data)."""
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()  # ours are enough
    features = _features()
    parts = {}
    for split, path in split_files.items():
        if count_lines(path) == 0:
            parts[split] = Dataset.from_dict({k: [] for k in features}, features=features)
        else:
            parts[split] = Dataset.from_generator(_rows, gen_kwargs={"path": str(path)}, features=features,
                                                  cache_dir=str(cache_dir))
    return DatasetDict(parts)


def run_dataset(inputs: list[str | Path], out_dir: str | Path, options: DatasetOptions = DatasetOptions(),
                show_progress: bool = True) -> DatasetStats:
    """Build the dataset from the ``units.jsonl`` of each input into ``out_dir``:
    ``train.jsonl``, ``validation.jsonl``, ``test.jsonl``, ``hf/`` (``save_to_disk``)
    and ``stats.json``. Returns the statistics."""
    paths = [resolve_input(p, UNITS_NAME) for p in inputs]
    clock = StepClock()
    counter = TokenCounter(options.tokenizer) if options.count_tokens else None  # fail before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cap = options.max_tokens if counter else None
    stats = DatasetStats(tokenizer=str(counter.path) if counter else None, max_tokens=cap)
    total = sum(count_lines(p) for p in paths)
    with tempfile.TemporaryDirectory(prefix=".dataset-", dir=out) as tmp:
        work = Path(tmp)
        # pass 1: licences, duplicates, tokens and the cap; units per repository
        per_repo: dict[str, int] = {}
        survivors = work / "units.jsonl"
        with AtomicJsonl(survivors) as sink:
            units = progress(iter_records(paths), total=total, desc="dataset: dedupe, tokens", unit="unit",
                             enabled=show_progress)
            for batch in _batches(deduplicate(units, stats, options.licences), _BATCH):
                counts = counter.count([u["text"] for u in batch]) if counter else [None] * len(batch)
                for unit, tokens in zip(batch, counts):
                    if cap is not None and tokens > cap:
                        stats.drop_too_long(tokens)
                        continue
                    per_repo[unit["repo"]] = per_repo.get(unit["repo"], 0) + 1
                    sink.write(dict(unit, tokens=tokens))
        split_of = assign_splits(per_repo, options.fractions, options.seed)
        # pass 2: the split files, with token counts
        split_files = {s: out / f"{s}.jsonl" for s in SPLITS}
        with ExitStack() as stack:
            writers = {s: stack.enter_context(AtomicJsonl(p)) for s, p in split_files.items()}
            units = progress(read_jsonl(survivors), total=sink.count, desc="dataset: split", unit="unit",
                             enabled=show_progress)
            for unit in units:
                split = split_of[unit["repo"]]
                writers[split].write({k: unit.get(k) for k in UNIT_KEYS})
                stats.add(split, unit, unit["tokens"])
        # the Hugging Face copy, built from the files just written
        dataset = build_dataset_dict(split_files, work / "cache")
        target = out / HF_NAME
        staging = work / HF_NAME
        empty = {s: 1 for s in SPLITS if len(dataset[s]) == 0}  # datasets cannot reload a 0-shard split
        dataset.save_to_disk(str(staging), num_shards=empty or None)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    stats.usage = clock.stop()
    atomic_write_text(out / STATS_NAME, json.dumps(stats.as_dict(), indent=2) + "\n")
    return stats


def _batches(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
