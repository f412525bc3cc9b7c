"""The README's library snippets run as written, on a fresh clone: each ```python block is
run on its own, in a Python process of its own (no name, import or engine carried over from
another block or from another test: the vLLM block imports vLLM, which changes how later
models load in the same process), with the embedded default model and the shipped
tokenizer, in an empty working directory."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README.read_text(encoding="utf-8"), re.S | re.M)


def test_the_readme_has_library_snippets():
    assert len(BLOCKS) >= 2
    # what the newcomer saw fail: a snippet that used a name it did not define, a
    # generate call with no token budget (the generation config stops it at 20 tokens)
    assert all("generate(**inputs" not in b or "inputs =" in b for b in BLOCKS)
    assert all("max_new_tokens" in call for b in BLOCKS for call in re.findall(r"\.generate\([^)]*\)", b, re.S))


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_a_readme_snippet_runs_as_written(number, tmp_path):
    script = tmp_path / f"readme_block_{number + 1}.py"
    script.write_text(BLOCKS[number], encoding="utf-8")
    done = subprocess.run([sys.executable, script.name], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"README block {number + 1} failed:\n{done.stderr[-4000:]}"
    printed = done.stdout
    # the values the README's comments show are the ones printed
    for comment in re.findall(r"print\(.*\)[ \t]+# (.+)$", BLOCKS[number], re.M):
        shown = comment.removesuffix("...").strip()
        assert shown in printed, f"README block {number + 1}: {shown!r} is not what it prints:\n{printed}"
