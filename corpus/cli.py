"""The ``elmgrammar corpus ...`` and ``elmgrammar units`` subcommands: thin shells over
the library. Heavy packages (requests, datasets, tokenizers) are imported only by the
command that needs them, so ``elmgrammar --help`` stays fast."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Callable

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.files import elm_files, read_source

from .errors import CorpusError
from .parallel import default_jobs
from .records import SKIPPED_DIRS
from .tokens import DEFAULT_MAX_TOKENS
from .units import UnitOptions, split_units

EXTRA_HINT = "pip install 'elmgrammar[corpus]'"

PIPELINE = """\
the pipeline, on the npm corpus:
  elmgrammar corpus npm elm-pages@3.1.3 elm-review@2.13.5 elm-test@0.19.1 --out work
  elmgrammar corpus filter work          # work/kept.jsonl, rejected.jsonl, filter-report.json
  elmgrammar corpus units work           # work/units.jsonl
  elmgrammar corpus dataset work                       # work/dataset/ (StarCoder2 token counts)
  elmgrammar corpus stats work           # files, lines, units, tokens, time and memory per step
or on an unpacked corpus with its manifest (repo, commit, licence, sha256 per file):
  elmgrammar corpus local corpus/ --manifest corpus/MANIFEST.jsonl --out work
"""


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the errors a user can cause into one clear line and exit status 2."""

    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (CorpusError, ValueError, OSError) as e:
            if isinstance(e, FileNotFoundError):
                raise  # the main program reports these
            print(f"elmgrammar: {e}", file=sys.stderr)
            return 2
        except ImportError as e:
            print(f"elmgrammar: {e.name or e} is needed for this command: {EXTRA_HINT}", file=sys.stderr)
            return 2

    return guarded


def _default_out(inputs: list[str]) -> Path:
    first = Path(inputs[0])
    return first if first.is_dir() else first.parent


def _unit_options(args: argparse.Namespace) -> UnitOptions:
    return UnitOptions(doc=not args.no_doc, comments=not args.no_comments, context=args.context,
                       verify=not getattr(args, "no_verify", False))


# -- commands ---------------------------------------------------------------------------------


def _cmd_scrape(args: argparse.Namespace) -> int:
    from .github import GitHubClient, RetryPolicy
    from .progress import say
    from .scrape import ScrapeOptions, Scraper

    token = os.environ.get("GITHUB_TOKEN") or None
    if token is None:
        say("elmgrammar: no GITHUB_TOKEN: unauthenticated requests are limited to 60 an hour")
    policy = RetryPolicy(attempts=args.attempts, backoff=args.backoff, timeout=args.timeout,
                         max_rate_wait=args.max_rate_wait)
    client = GitHubClient(args.base_url, token, policy, log=lambda m: say(f"elmgrammar: {m}"))
    options = ScrapeOptions(query=args.query, created_from=args.created_from, created_to=args.created_to,
                            max_repos=args.max_repos, max_file_bytes=args.max_file_bytes,
                            skip_dirs=SKIPPED_DIRS | frozenset(args.skip_dir))
    try:
        summary = Scraper(client, args.out, options, show_progress=not args.quiet).run()
    except KeyboardInterrupt:
        print(f"elmgrammar: interrupted; rerun the same command to resume from {args.out}", file=sys.stderr)
        return 130
    finally:
        client.close()
    print(summary.format())
    return 0


def _cmd_npm(args: argparse.Namespace) -> int:
    from .npm import run_npm

    count = run_npm(args.specs, args.out, show_progress=not args.quiet)
    print(f"{count} .elm files from {len(args.specs)} packages in {Path(args.out) / 'files.jsonl'}")
    return 0


def _cmd_local(args: argparse.Namespace) -> int:
    if args.manifest:
        return _local_manifest(args)
    from .local import run_local

    count = run_local(args.folders, args.out, repo=args.repo, repo_depth=args.repo_depth, licence=args.licence,
                      show_progress=not args.quiet)
    print(f"{count} .elm files in {Path(args.out) / 'files.jsonl'}")
    return 0


def _local_manifest(args: argparse.Namespace) -> int:
    from .manifest import run_manifest

    if len(args.folders) != 1 or args.repo or args.repo_depth or args.licence:
        raise ValueError("--manifest takes one FOLDER, and gives repo and licence itself "
                         "(no --repo, --repo-depth or --licence)")
    count, report = run_manifest(args.folders[0], args.manifest, args.out, show_progress=not args.quiet)
    print(report.format())
    print(f"{count} .elm files in {Path(args.out) / 'files.jsonl'}")
    return 0


def _cmd_filter(args: argparse.Namespace) -> int:
    from .filter import FilterOptions, run_filter

    options = FilterOptions(max_bytes=args.max_bytes, drop_generated=not args.keep_generated,
                            tree_sitter=args.tree_sitter)
    out = Path(args.out) if args.out else _default_out(args.inputs)
    report = run_filter(args.inputs, out, options, jobs=args.jobs, show_progress=not args.quiet)
    print(json.dumps(report.as_dict()) if args.json else report.format())
    return 0


def _cmd_corpus_units(args: argparse.Namespace) -> int:
    from .split import run_units

    out = Path(args.out) if args.out else _default_out(args.inputs)
    report = run_units(args.inputs, out, _unit_options(args), jobs=args.jobs, show_progress=not args.quiet)
    print(json.dumps(report.as_dict()) if args.json else report.format())
    return 0 if not report.dropped and not report.failed_files else 1


def _licences(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    return frozenset(x.strip() for x in text.split(",") if x.strip())


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--split {text!r}: three numbers, such as 90,5,5") from None
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0 or parts[0] <= 0:
        raise argparse.ArgumentTypeError(f"--split {text!r}: three shares (train > 0), such as 90,5,5")
    total = sum(parts)
    return (parts[0] / total, parts[1] / total, parts[2] / total)


def _cmd_dataset(args: argparse.Namespace) -> int:
    from .dataset import DatasetOptions, run_dataset

    if args.max_tokens is not None and args.max_tokens < 0:
        raise ValueError(f"--max-tokens {args.max_tokens}: a number of tokens, or 0 for no cap")
    if args.no_tokens and args.max_tokens is not None:
        raise ValueError("--max-tokens needs token counts: leave out --no-tokens")
    cap = DEFAULT_MAX_TOKENS if args.max_tokens is None else (args.max_tokens or None)
    options = DatasetOptions(licences=_licences(args.licenses), fractions=args.split, seed=args.seed,
                             tokenizer=args.tokenizer, count_tokens=not args.no_tokens, max_tokens=cap)
    out = Path(args.out) if args.out else _default_out(args.inputs) / "dataset"
    stats = run_dataset(args.inputs, out, options, show_progress=not args.quiet)
    print(json.dumps(stats.as_dict()) if args.json else stats.format())
    if not args.json:
        print(f"\nwritten: {out}/{{train,validation,test}}.jsonl, {out}/hf (load_from_disk), {out}/stats.json")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from .stats import format_pipeline, pipeline_figures

    figures = pipeline_figures(args.work, args.dataset)
    print(json.dumps(figures) if args.json else format_pipeline(figures))
    return 0


def _cmd_units(args: argparse.Namespace) -> int:
    """``elmgrammar units``: the units of Elm files, as JSON lines or a readable list."""
    options = _unit_options(args)
    status = 0
    for path in elm_files(args.paths):
        source = read_source(path)
        try:
            if source.error:
                raise source.error
            result = split_units(source.text, options)
        except ElmSyntaxError as e:
            print(f"{path}:{e.line}:{e.column}: {e.message}", file=sys.stderr)
            status = 1
            continue
        for unit in result.units:
            if args.json:
                print(json.dumps(unit.record(None, str(path), None), ensure_ascii=False))
            else:
                print(f"{path}:{unit.start_line}-{unit.end_line}: {unit.kind} {unit.name}")
        for dropped in result.dropped:
            print(f"{path}:{dropped}", file=sys.stderr)
            status = 1
    return status


# -- argument parsers ---------------------------------------------------------------------------


def _add_unit_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-doc", action="store_true", help="leave out the {-| -} doc comment before each declaration")
    p.add_argument("--no-comments", action="store_true",
                   help="remove -- and {- -} comments inside declarations (the unit still parses: it is checked)")
    p.add_argument("--context", action="store_true",
                   help="put the module header and imports before each unit (start/end lines stay the declaration's)")


def _add_common(p: argparse.ArgumentParser, jobs: bool = False) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    if jobs:
        p.add_argument("--jobs", "-j", type=int, default=default_jobs(),
                       help="processes for parsing (default: the CPUs available, %(default)s here)")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2016-05-31") from None


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``corpus`` (with its steps) and ``units`` on the ``elmgrammar`` program."""
    p = subparsers.add_parser(
        "units", help="split Elm files into code units (one per top-level declaration)",
        description="Split Elm files into code units, one per top-level declaration (a value or function with "
                    "its type annotation, a custom type, a type alias, a port, an infix declaration), cut from "
                    "the syntax tree. Each unit is checked to parse on its own. Errors go to stderr as "
                    "PATH:LINE:COLUMN: MESSAGE; the exit status is 0 iff every file parsed.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="Elm files or folders (searched recursively)")
    p.add_argument("--json", action="store_true",
                   help="one JSON line per unit: text, kind, name, repo, path, licence, start_line, end_line")
    _add_unit_flags(p)
    p.set_defaults(run=_cmd_units)

    corpus = subparsers.add_parser(
        "corpus", help="build a training corpus: scrape, filter, split into units, make a dataset",
        description="Build a corpus of Elm code units for fine-tuning. Each step reads the previous step's "
                    "folder and writes JSON Lines files into it.",
        epilog=PIPELINE, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = corpus.add_subparsers(dest="step", required=True, metavar="STEP")

    p = steps.add_parser(
        "scrape", help="download Elm repositories from GitHub (resumable)",
        description="Search GitHub for Elm repositories (walking creation-date ranges past the search API's "
                    "1,000-result cap), list each one's files with the git trees API and download its .elm "
                    "files into OUT/files.jsonl with repository, path, commit, licence, size and sha256. The "
                    "token comes from $GITHUB_TOKEN and is never written anywhere. Interrupted runs resume "
                    "where they stopped: run the same command again.")
    p.add_argument("--out", required=True, help="output folder (files.jsonl, repos.jsonl, scrape-state.json)")
    p.add_argument("--query", default="language:Elm", help="search qualifiers (default: %(default)s)")
    p.add_argument("--from", dest="created_from", type=_date, default=date(2012, 1, 1),
                   help="earliest creation date to search (default: %(default)s)")
    p.add_argument("--to", dest="created_to", type=_date, default=None, help="latest creation date (default: today)")
    p.add_argument("--max-repos", type=int, default=None, help="stop after this many repositories")
    p.add_argument("--max-file-bytes", type=int, default=1_000_000, help="skip larger files (default: %(default)s)")
    p.add_argument("--skip-dir", action="append", default=[], metavar="NAME",
                   help=f"also skip folders with this name (always skipped: {', '.join(sorted(SKIPPED_DIRS))})")
    p.add_argument("--base-url", default="https://api.github.com",
                   help="API root; for GitHub Enterprise https://HOST/api/v3 (default: %(default)s)")
    p.add_argument("--attempts", type=int, default=8, help="tries per request for 5xx, timeouts, bad bodies")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds, doubling (max 60)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    p.add_argument("--max-rate-wait", type=float, default=3700.0, help="longest wait for a rate-limit reset, s")
    _add_common(p)
    p.set_defaults(run=_guarded(_cmd_scrape))

    p = steps.add_parser(
        "npm", help="take the .elm files shipped in npm packages",
        description="npm pack each package (name, name@version, folder or tarball; no scripts run) into a "
                    "temporary folder and read its .elm files, without extracting, into OUT/files.jsonl. "
                    "The package name is the repository, its version the commit, its package.json licence "
                    "the licence.")
    p.add_argument("specs", nargs="+", metavar="PACKAGE", help="npm package specs, e.g. elm-review@2.13.5")
    p.add_argument("--out", required=True, help="output folder")
    _add_common(p)
    p.set_defaults(run=_guarded(_cmd_npm))

    p = steps.add_parser(
        "local", help="take the .elm files under local folders",
        description="Read the .elm files under each folder (skipping elm-stuff, node_modules, vendored code "
                    "and build outputs) into OUT/files.jsonl.")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--repo", default=None, help="repository name to record (default: the folder's name)")
    p.add_argument("--repo-depth", type=int, default=0,
                   help="the first N folders of each path name its repository (2 for owner/name/...)")
    p.add_argument("--licence", "--license", dest="licence", default=None,
                   help="SPDX licence to record (default: the license field of elm.json or package.json)")
    p.add_argument("--manifest", default=None, metavar="MANIFEST.jsonl",
                   help="take exactly the files this manifest lists (one JSON line per file: repo, commit, path, "
                        "licence, sha256), from FOLDER/OWNER__REPO/PATH, with its repo, commit and licence; a file "
                        "missing or whose sha256 differs is reported and left out")
    _add_common(p)
    p.set_defaults(run=_guarded(_cmd_local))

    p = steps.add_parser(
        "filter", help="keep the files the grammar parses; a reason for every other",
        description="Parse every file of INPUT/files.jsonl with the grammar. Kept files go to kept.jsonl; "
                    "each rejection goes to rejected.jsonl with its reason: not-elm, too-large, duplicate, "
                    "generated, or syntax-error with line and column. filter-report.json counts reasons.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="folders holding files.jsonl, or .jsonl files")
    p.add_argument("--out", default=None, help="output folder (default: the first input folder)")
    p.add_argument("--max-bytes", type=int, default=300_000, help="larger files are too-large (default: %(default)s)")
    p.add_argument("--keep-generated", action="store_true", help="keep files that say they are generated")
    p.add_argument("--tree-sitter", action="store_true", help="add tree-sitter-elm's verdict as a column")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_common(p, jobs=True)
    p.set_defaults(run=_guarded(_cmd_filter))

    p = steps.add_parser(
        "units", help="split kept files into code units",
        description="Cut each file of INPUT/kept.jsonl into units (one per top-level declaration, from the "
                    "syntax tree) and write INPUT/units.jsonl: text, kind, name, repo, path, licence, "
                    "start_line, end_line. Every unit is checked to parse on its own; exit status 1 if any "
                    "was dropped for failing that, or if a file did not parse.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="folders holding kept.jsonl, or .jsonl files")
    p.add_argument("--out", default=None, help="output folder (default: the first input folder)")
    p.add_argument("--no-verify", action="store_true", help="do not re-parse each unit (faster; not advised)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_unit_flags(p)
    _add_common(p, jobs=True)
    p.set_defaults(run=_guarded(_cmd_corpus_units))

    p = steps.add_parser(
        "dataset", help="make the train/validation/test dataset and its statistics",
        description="From INPUT/units.jsonl: keep the licences asked for, drop exact and whitespace-normalised "
                    "duplicates, split by repository (no repository in two splits), and write "
                    "OUT/{train,validation,test}.jsonl (a text key, for load_dataset('json', ...)), OUT/hf "
                    "(DatasetDict.save_to_disk) and OUT/stats.json (files, lines, units per kind, tokens per "
                    "unit, licences).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="folders holding units.jsonl, or .jsonl files")
    p.add_argument("--out", default=None, help="output folder (default: INPUT/dataset)")
    p.add_argument("--licenses", "--licences", dest="licenses", default=None, metavar="SPDX,...",
                   help="keep only units under these licences, e.g. MIT,BSD-3-Clause,Apache-2.0 (default: all)")
    p.add_argument("--split", type=_fractions, default=(0.9, 0.05, 0.05), metavar="TRAIN,VAL,TEST",
                   help="shares of the units per split (default: 90,5,5)")
    p.add_argument("--seed", type=int, default=0, help="orders repositories before they are assigned to splits")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer.json or a model folder holding one, for token counts (default: "
                        "$ELMGRAMMAR_TOKENIZER, else 'starcoder2': the StarCoder2 tokenizer shipped with the package)")
    p.add_argument("--no-tokens", action="store_true", help="no token counts (no tokenizer needed, no token cap)")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help=f"drop units of more than N tokens, counted as too-many-tokens (default: {DEFAULT_MAX_TOKENS}; "
                        "0: no cap)")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    _add_common(p)
    p.set_defaults(run=_guarded(_cmd_dataset))

    p = steps.add_parser(
        "stats", help="the pipeline's table: files, lines, units, tokens, time and memory of each step",
        description="Read the reports the steps wrote into WORK (ingest-report.json, filter-report.json, "
                    "units-report.json) and the dataset's stats.json, and print one row per step (files, lines, "
                    "units, tokens, wall and CPU seconds, peak memory) beside the user's corpus (~7,000 files, "
                    "1.2 M lines, 91,528 units), with what each step dropped and why.")
    p.add_argument("work", metavar="WORK", help="the work folder of the pipeline")
    p.add_argument("--dataset", default=None, help="the dataset folder (default: WORK/dataset)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(run=_guarded(_cmd_stats))
