"""Torch's companion packages (torchvision, torchaudio, torchcodec) that cannot load
beside the installed torch, found and removed.

vLLM's CPU build depends on them by name, and pip takes their registry builds, made
for a CUDA torch of another version: beside this project's CPU torch they fail to
import (``operator torchvision::nms does not exist``), and every library that probes
for them (transformers, vLLM) fails with them. Nothing here needs them: ``elmgrammar
setup`` removes the ones that do not import, and leaves working ones alone.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

COMPANIONS = ("torchvision", "torchaudio", "torchcodec")


def broken_companions() -> list[str]:
    """The installed companions that fail to import (each tried in a fresh
    interpreter: a failed import can leave torch's operator registry half-filled)."""
    broken = []
    for name in COMPANIONS:
        try:
            version(name)
        except PackageNotFoundError:
            continue
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, timeout=300)
        if probe.returncode != 0:
            broken.append(name)
    return broken


def remove_broken_companions() -> list[str]:
    """Uninstall (with this interpreter's pip) the companions that fail to import;
    returns their names. ``RuntimeError`` with pip's message if it cannot."""
    broken = broken_companions()
    if broken:
        done = subprocess.run([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *broken],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"could not uninstall {', '.join(broken)}: {done.stderr.strip() or done.stdout.strip()}")
    return broken
