"""The README's library snippets run as written, on a fresh clone: each ```python block is
run on its own (no name carried over from another), with the embedded default model and
the shipped tokenizer, in an empty working directory."""

from __future__ import annotations

import contextlib
import io
import re
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
def test_a_readme_snippet_runs_as_written(number, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = compile(BLOCKS[number], f"README.md python block {number + 1}", "exec")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {"__name__": "__readme__"})
    printed = out.getvalue()
    # the values the README's comments show are the ones printed
    for comment in re.findall(r"print\(.*\)[ \t]+# (.+)$", BLOCKS[number], re.M):
        shown = comment.removesuffix("...").strip()
        assert shown in printed, f"README block {number + 1}: {shown!r} is not what it prints:\n{printed}"
