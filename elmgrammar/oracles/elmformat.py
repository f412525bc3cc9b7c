"""elm-format 0.8.8 as a third opinion on Elm syntax.

``elm-format --stdin --elm-version=0.19`` formats the text or exits 1 with
``Unable to parse file <STDIN>:LINE:COL ...``. Its parser is more lenient than the
compiler's (it still knows Elm 0.18 syntax and accepts some continuation lines at
column 1), so it is never the reference for invalid code.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from . import tools
from .verdict import Verdict, encode_source

JUDGE = "elm-format"

_WHERE = re.compile(r"<STDIN>:(\d+):(\d+)")


class ElmFormatError(RuntimeError):
    """elm-format failed in a way that says nothing about the text (timeout, crash)."""


class ElmFormat:
    """Judge texts by whether elm-format can parse them.

    >>> ElmFormat().check("module M exposing (..)\\nx = (1,\\n")   # doctest: +SKIP
    Verdict(judge='elm-format', valid=False, line=3, column=1, message='Unable to parse file')
    """

    def __init__(self, tools_folder: str | os.PathLike | None = None, *, timeout: float = 30.0):
        self.binary = tools.elm_format_binary(tools_folder)
        self.timeout = timeout

    def check(self, text: str) -> Verdict:
        """Valid iff ``elm-format --stdin --elm-version=0.19`` exits 0 on the text."""
        cmd = [str(self.binary), "--stdin", "--elm-version=0.19"]
        try:
            done = subprocess.run(cmd, input=encode_source(text), capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise ElmFormatError(f"elm-format did not finish within {self.timeout:.0f} s") from None
        if done.returncode == 0:
            return Verdict(JUDGE, True)
        output = (done.stderr + done.stdout).decode("utf-8", "replace").strip()
        if done.returncode != 1 or "Unable to parse" not in output:
            raise ElmFormatError(f"elm-format exited {done.returncode}: {output[:500]}")
        where = _WHERE.search(output)
        if where is None:
            return Verdict(JUDGE, False, message="Unable to parse file")
        return Verdict(JUDGE, False, int(where.group(1)), int(where.group(2)), "Unable to parse file")

    def check_many(self, texts: Sequence[str], progress: bool = False, workers: int | None = None) -> list[Verdict]:
        """:meth:`check` on each text, in order, running ``workers`` processes at once."""
        workers = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(self.check, texts)
            if progress:
                from tqdm import tqdm

                results = tqdm(results, total=len(texts), desc="elm-format", unit="file")
            return list(results)
