"""elmgrammar: Elm 0.19 parsing on a real grammar, for code completion work.

>>> from elmgrammar import parse_module
>>> [d.name for d in parse_module("module A exposing (..)\\n\\nx = 1\\n").declarations]
['x']
"""

from .errors import ElmSyntaxError
from .parser import MODES, check, parse_declarations, parse_expression, parse_module
from .starcoder2 import starcoder2_path

__all__ = ["ElmSyntaxError", "MODES", "check", "parse_module", "parse_declarations", "parse_expression",
           "starcoder2_path"]
__version__ = "0.1.0"
