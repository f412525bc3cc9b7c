"""Finding the checkpoint to resume from, and the run's manifest (``training.json``).

The Trainer writes ``trainer_state.json`` last when it saves a checkpoint, so a folder
without a readable one was cut short by a kill and is passed over.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

MANIFEST = "training.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(output_dir: str | Path) -> list[Path]:
    """The complete checkpoints under ``output_dir``, oldest step first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _CHECKPOINT.match(child.name)
        if not match or not child.is_dir():
            continue
        try:
            json.loads((child / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue  # killed while saving
        found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = checkpoints(output_dir)
    return found[-1] if found else None


def read_manifest(output_dir: str | Path) -> dict[str, Any] | None:
    """The manifest of an earlier run in ``output_dir``, if any."""
    try:
        return json.loads((Path(output_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def write_manifest(output_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``training.json`` atomically (a kill never leaves half a file)."""
    path = Path(output_dir) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return path
