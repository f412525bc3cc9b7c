"""Shared fixtures: the three oracles and the real Elm files.

The npm tools (Elm compiler, elm-format, and the packages that ship real .elm code) are
installed by ``elmgrammar setup``; CI installs them, so a test that needs them fails,
never skips, when they are missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from elmgrammar.oracles import ElmCompiler, ElmFormat, ToolMissing, TreeSitterElm, tools
from elmgrammar.starcoder2 import default_tokenizer

SETUP_HINT = (
    "run `elmgrammar setup` (or `python -c 'from elmgrammar.oracles import tools; tools.install()'`) "
    f"to install the Elm tools into {tools.tools_dir()} (override with ${tools.ENV_VAR})"
)


def _need(make):
    try:
        return make()
    except ToolMissing as missing:
        pytest.fail(f"Elm tools missing: {missing}\n{SETUP_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def real_files() -> list[Path]:
    """The .elm files shipped by elm-pages, elm-review and elm-test (~150)."""
    files = _need(tools.real_elm_files)
    if not files:
        pytest.fail(f"no .elm files found in {tools.tools_dir()}\n{SETUP_HINT}", pytrace=False)
    return files


@pytest.fixture(scope="session")
def compiler() -> ElmCompiler:
    """The Elm 0.19.1 compiler oracle, with the default on-disk verdict cache."""
    judge = _need(ElmCompiler)
    yield judge
    judge.close()


@pytest.fixture(scope="session")
def treesitter() -> TreeSitterElm:
    """The tree-sitter-elm oracle."""
    return TreeSitterElm()


@pytest.fixture(scope="session")
def elmformat() -> ElmFormat:
    """The elm-format 0.8.8 oracle."""
    return _need(ElmFormat)


# The real StarCoder2 tokenizer (and the 3b architecture config, no weights), shipped
# with the package; $ELMGRAMMAR_TOKENIZER may point elsewhere.
TOKENIZER_DIR = Path(default_tokenizer())


@pytest.fixture(scope="session")
def tokenizer():
    """The StarCoder2 tokenizer (49,152 tokens), loaded from its folder."""
    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        pytest.fail(f"the StarCoder2 tokenizer is missing: expected {TOKENIZER_DIR}/tokenizer.json", pytrace=False)
    from elmgrammar.decode.models import load_tokenizer

    return load_tokenizer(TOKENIZER_DIR)


@pytest.fixture(scope="session")
def vocab(tokenizer):
    """The tokenizer's vocabulary as bytes."""
    from elmgrammar.decode.vocab import vocab_from_tokenizer

    return vocab_from_tokenizer(tokenizer)


@pytest.fixture(scope="session")
def tokenizer_dir(tokenizer) -> Path:
    """The folder of the StarCoder2 tokenizer (checked to exist)."""
    return TOKENIZER_DIR
