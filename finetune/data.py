"""Reading the unit dataset and fingerprinting it.

The corpus step writes ``DIR/{train,validation,test}.jsonl`` (a ``text`` key per unit)
and ``DIR/hf`` (``DatasetDict.save_to_disk``). Any of these forms is accepted, and a
hub dataset name too. JSON Lines are read without the ``datasets`` package, so a bare
GPU machine can train from them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def _jsonl_texts(path: Path) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                record = json.loads(line)
                if "text" not in record:
                    raise ValueError(f"{path}:{n}: a unit record needs a 'text' key")
                texts.append(record["text"])
    return texts


def _from_disk(folder: Path, split: str) -> list[str]:
    from datasets import load_from_disk

    data = load_from_disk(str(folder))
    if hasattr(data, "keys"):
        if split not in data:
            raise ValueError(f"{folder} has no split {split!r} (it has {', '.join(data.keys())})")
        data = data[split]
    return list(data["text"])


def load_texts(dataset: str | Path, split: str) -> list[str]:
    """The unit texts of one split of ``dataset``, in the dataset's order.

    ``dataset`` may be: the corpus ``dataset`` folder (``SPLIT.jsonl`` files are read
    first, else ``hf/``), a ``save_to_disk`` folder, a ``.jsonl`` file (as the train
    split), or a hub dataset name with a ``text`` column.
    """
    path = Path(dataset)
    if path.is_file():
        if split != "train" and path.suffix == ".jsonl":
            raise ValueError(f"{path} is a single file: it holds only the train split, not {split!r}")
        return _jsonl_texts(path)
    if path.is_dir():
        if (path / f"{split}.jsonl").exists():
            return _jsonl_texts(path / f"{split}.jsonl")
        if (path / "hf").is_dir():
            return _from_disk(path / "hf", split)
        if (path / "dataset_dict.json").exists() or (path / "dataset_info.json").exists():
            return _from_disk(path, split)
        raise ValueError(f"{path}: no {split}.jsonl, hf/ or save_to_disk dataset in this folder")
    if str(dataset).startswith((".", "/", "~")) or not str(dataset):
        raise FileNotFoundError(f"dataset {str(dataset)!r} does not exist")
    from datasets import load_dataset

    return list(load_dataset(str(dataset), split=split)["text"])


def texts_digest(splits: dict[str, list[str]]) -> str:
    """A SHA-256 of the split names and texts, in order: equal iff the training data is.

    Each text is length-prefixed, so no two different datasets hash alike by moving a
    boundary.
    """
    h = hashlib.sha256()
    for name in sorted(splits):
        h.update(f"split {name} {len(splits[name])}\n".encode())
        for text in splits[name]:
            data = text.encode("utf-8")
            h.update(len(data).to_bytes(8, "little"))
            h.update(data)
    return h.hexdigest()
