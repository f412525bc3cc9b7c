"""External judges of whether an Elm source text is syntactically valid.

- :class:`ElmCompiler`: the Elm 0.19.1 compiler's parser, the ground truth.
- :class:`TreeSitterElm`: tree-sitter-elm, the editors' grammar, a cross-check.
- :class:`ElmFormat`: elm-format 0.8.8, a lenient third opinion.
- :func:`elm_make`: one ``elm make`` run over many modules (the oracle's, and the
  evaluation's compile check inside a user's project).

All return a :class:`Verdict`. The compiler and elm-format come from npm into the tools
folder (``elmgrammar setup`` / :func:`tools.install`), which also holds the real Elm
files used as a test corpus (:func:`tools.real_elm_files`).

>>> from elmgrammar.oracles import ElmCompiler                        # doctest: +SKIP
>>> ElmCompiler().check("module Main exposing (..)\\nmain = 1\\n").valid  # doctest: +SKIP
True
"""

from . import tools
from .compiler import ElmCompiler
from .elmformat import ElmFormat, ElmFormatError
from .elmmake import CompilerError, CompilerTimeout, elm_make
from .tools import ToolMissing
from .treesitter import TreeSitterElm
from .verdict import Verdict, VerdictCache

__all__ = [
    "CompilerError",
    "CompilerTimeout",
    "ElmCompiler",
    "ElmFormat",
    "ElmFormatError",
    "ToolMissing",
    "elm_make",
    "TreeSitterElm",
    "Verdict",
    "VerdictCache",
    "tools",
]
