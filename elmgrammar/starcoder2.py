"""The StarCoder2 tokenizer shipped with the package (with the 3b architecture's
``config.json``, no weights), and the name ``starcoder2`` that stands for it.

The masks, the corpus's token counts and the benchmarks need the real StarCoder2
vocabulary; shipping it lets them run on a fresh clone with no model hub. Light: no
tokenizer library is imported here.

>>> (starcoder2_path() / "tokenizer.json").is_file()
True
>>> resolve_tokenizer("starcoder2") == starcoder2_path()
True
>>> resolve_tokenizer("./my-model")
'./my-model'
"""

from __future__ import annotations

import os
from pathlib import Path

NAME = "starcoder2"
"""The name that stands for the shipped folder wherever a tokenizer is asked for."""

ENV_VAR = "ELMGRAMMAR_TOKENIZER"
"""Names another tokenizer (a folder, a ``tokenizer.json`` or ``starcoder2``) as the default."""


def starcoder2_path() -> Path:
    """The folder of the shipped StarCoder2 tokenizer (``tokenizer.json``,
    ``tokenizer_config.json``, ``config.json``): ``AutoTokenizer.from_pretrained``
    and ``AutoConfig.from_pretrained`` load it.

    >>> from transformers import AutoTokenizer                      # doctest: +SKIP
    >>> AutoTokenizer.from_pretrained(starcoder2_path()).vocab_size  # doctest: +SKIP
    49152
    """
    path = Path(__file__).resolve().parent / "data" / NAME
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(f"the shipped StarCoder2 tokenizer is missing from {path}: reinstall elmgrammar")
    return path


def resolve_tokenizer(name: str | os.PathLike) -> str | os.PathLike:
    """``starcoder2`` becomes the shipped folder; any other name or path is returned as
    it is (a folder named ``starcoder2`` in the working directory is ``./starcoder2``)."""
    return starcoder2_path() if str(name) == NAME else name


def default_tokenizer() -> str | os.PathLike:
    """The tokenizer used when none is named: ``$ELMGRAMMAR_TOKENIZER`` if set (resolved
    as :func:`resolve_tokenizer` does), else the shipped StarCoder2 one."""
    return resolve_tokenizer(os.environ.get(ENV_VAR) or NAME)
