"""The ``elmgrammar`` command: one subcommand per job, each a thin shell over the library."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from . import ast as A
from .errors import ElmLimitError, ElmSyntaxError, UsageError
from .files import elm_files, read_source
from .oracles.tools import ToolMissing
from .parser import MODES, check, parse_module


# The program is the composition root: the parts add their own subcommands with
# `add_subcommand(subparsers)` and their benchmarks with `add_benchmarks(subparsers)`,
# found by name here, so that the core imports none of them.
_SUBCOMMAND_MODULES = ("elmgrammar.crosscheck", "elmgrammar.corpus.cli", "elmgrammar.decode.cli",
                       "elmgrammar.evaluate.cli", "elmgrammar.finetune.cli")
_BENCHMARK_MODULES = ("elmgrammar.evaluate.bench", "elmgrammar.corpus.bench")


def _shipped_model() -> str | None:
    """The folder of the default model shipped in ``elmgrammar.finetune`` (None when this
    installation has none): what `evaluate` and `bench generate --model default` use."""
    try:
        return str(importlib.import_module("elmgrammar.finetune").default_model_path())
    except (ImportError, FileNotFoundError):
        return None


def check_paths(paths: list[str], mode: str = "module") -> list[dict]:
    """Parse every Elm file under ``paths`` as ``mode`` (see :func:`elmgrammar.check`);
    one result dict per file: ``{"path", "valid", "error": {"line", "column", "message"} | None}``."""
    results = []
    for path in elm_files(paths):
        source = read_source(path)
        error = source.error
        if error is None:
            error = next(iter(check(source.text, mode)), None)
        results.append({
            "path": str(path),
            "valid": error is None,
            # "limit" ("size", "nesting") only for input past the parser's limits: not a syntax error
            "error": None if error is None else {"line": error.line, "column": error.column, "message": error.message,
                                                 **({"limit": error.limit} if isinstance(error, ElmLimitError) else {})},
        })
    return results


def _cmd_check(args: argparse.Namespace) -> int:
    results = check_paths(args.paths, args.mode)
    if not results:
        print(f"elmgrammar check: no .elm files in {', '.join(args.paths)}", file=sys.stderr)
        return 2
    for r in results:
        if args.json:
            print(json.dumps(r))
        elif r["error"]:
            e = r["error"]
            # a size limit has no place in the file; past it, nothing was judged
            where = "" if e.get("limit") == "size" else f":{e['line']}:{e['column']}"
            print(f"{r['path']}{where}: {e['message']}")
    valid = sum(r["valid"] for r in results)
    limited = sum(bool(r["error"] and r["error"].get("limit")) for r in results)
    over = f", {limited} over a limit (not checked)" if limited else ""
    print(f"checked {len(results)} file{'' if len(results) == 1 else 's'}: {valid} valid, "
          f"{len(results) - valid - limited} invalid{over}")
    return 0 if valid == len(results) else 1


def _cmd_ast(args: argparse.Namespace) -> int:
    source = read_source(Path(args.file))
    try:
        if source.error:
            raise source.error
        module = parse_module(source.text)
    except ElmSyntaxError as e:
        print(f"{args.file}:{e}", file=sys.stderr)
        return 1
    try:
        out = json.dumps(A.to_dict(module)) if args.json else A.format_tree(module)
    except RecursionError:
        # legal but absurd code (thousands of chained `else if`) nests too deep to print
        print(f"{args.file}: the syntax tree is nested too deeply to print", file=sys.stderr)
        return 1
    print(out)
    return 0


def _cmd_setup(args: argparse.Namespace) -> int:
    from .oracles import tools

    folder = tools.install(args.folder, progress=True)
    print(f"installed the Elm compiler, elm-format and the real-file corpus into {folder}")
    from .companions import remove_broken_companions

    try:
        removed = remove_broken_companions()
    except RuntimeError as e:
        print(f"elmgrammar setup: {e}", file=sys.stderr)
        return 1
    if removed:
        print(f"removed {', '.join(removed)}: built for another torch, they failed to import beside this one "
              "(vLLM's CPU build pulls them in; nothing here needs them)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``elmgrammar`` program."""
    parser = argparse.ArgumentParser(
        prog="elmgrammar",
        description="Elm code completion on a real grammar: parse, check and compare Elm code.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="parse Elm files and report syntax errors",
                       description="Parse Elm files (directories are searched recursively) and report "
                                   "each syntax error as PATH:LINE:COLUMN: MESSAGE. Exit status 0 iff all are valid.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="Elm files or directories")
    p.add_argument("--json", action="store_true", help="one JSON line per file")
    p.add_argument("--mode", choices=MODES, default="module",
                   help="read each file as a module (the default; the header is optional), as top-level "
                        "declarations, or as one expression")
    p.set_defaults(run=_cmd_check)

    p = sub.add_parser("ast", help="print the syntax tree of an Elm file",
                       description="Parse one Elm file and print its syntax tree.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="the tree as JSON")
    p.set_defaults(run=_cmd_ast)

    p = sub.add_parser("setup", help="install the Elm tools the oracles and tests use (npm)",
                       description="Install, with npm, the Elm 0.19.1 compiler, elm-format 0.8.8 and the npm "
                                   "packages whose .elm sources are the real-file test corpus. Needs npm and "
                                   "the npm registry once; everything then works offline. Also removes torch's "
                                   "companions (torchvision, torchaudio, torchcodec) that fail to import beside "
                                   "the installed torch, as vLLM's CPU build leaves them.")
    p.add_argument("--folder", default=None,
                   help="where to install (default: $ELMGRAMMAR_TOOLS or ~/.cache/elmgrammar/npm)")
    p.set_defaults(run=_cmd_setup)

    bench = sub.add_parser("bench", help="benchmarks: parse, corpus, mask, generate, evaluate",
                           description="Benchmarks that print a table: parse (parsers side by side), corpus "
                                       "(filter + units), mask (constrained decoding per token), generate "
                                       "(tokens/s constrained vs unconstrained), evaluate (seconds per "
                                       "completion judged, per judge).")
    what = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    for module in _BENCHMARK_MODULES:
        importlib.import_module(module).add_benchmarks(what)
    for module in _SUBCOMMAND_MODULES:
        importlib.import_module(module).add_subcommand(sub)
    parser.set_defaults(default_model=_shipped_model())
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the program; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FileNotFoundError as e:
        # the system's own (errno set) names the file; ours say it in their message
        print(f"elmgrammar: {e.filename}: no such file or directory" if e.errno and e.filename else f"elmgrammar: {e}",
              file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"elmgrammar: {e.as_option()}", file=sys.stderr)
        return 2
    except ToolMissing as e:
        print(f"elmgrammar: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("elmgrammar: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
