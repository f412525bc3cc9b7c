"""Parsing speed: our parser against tree-sitter-elm, the Elm compiler and elm-format.

All judges parse the same files; the table gives wall time, lines per second and the
ratio to our parser (their lines/s over ours), side by side from one run. In-process
parsers (ours, tree-sitter) are timed best of ``repeat`` after a warm-up; the external
programs run once (a process per file, or the compiler's batches), as they are slow.

>>> rows = bench_parse(["src/Main.elm"], repeat=1, judges=("ours",))   # doctest: +SKIP
>>> rows[0]["lines_per_s"] > 0                                           # doctest: +SKIP
True
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence

from elmgrammar.errors import ElmSyntaxError
from elmgrammar.files import benchmark_files, elm_files, read_source
from elmgrammar.oracles import ElmCompiler, ElmFormat, TreeSitterElm, tools
from elmgrammar.parser import lark_parser, parse_module

BENCH_JUDGES: tuple[str, ...] = ("ours", "tree-sitter", "compiler-per-file", "compiler-batched", "elm-format")
DESCRIPTIONS = {
    "ours": "elmgrammar, in process",
    "tree-sitter": "tree-sitter-elm, in process",
    "compiler-per-file": "elm make, one process per file",
    "compiler-batched": "elm make, default batches (256 files per process)",
    "elm-format": "elm-format --stdin, one process per file",
}
IN_PROCESS = frozenset({"ours", "tree-sitter"})
CORPUS_LINES = 1_200_000
"""Lines in the user's scraped corpus, for the extrapolated time to parse it all."""

_WARMUP = "module Warm exposing (..)\n\nx : Int\nx =\n    let\n        y = 1\n    in\n    y + 1\n"


def _count_lines(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def _ours(texts: Sequence[str]) -> None:
    for text in texts:
        try:
            parse_module(text)
        except ElmSyntaxError:
            pass  # a rejected file costs its parse all the same


def _runner(judge: str, progress: bool) -> Callable[[Sequence[str]], None]:
    """A function that parses all texts with ``judge``, already warmed up.

    Warm-up matters: our LALR tables are built once per process (``lark_parser`` is
    cached), tree-sitter loads its language, and the first run of a binary pays for
    reading it from disk. None of that is parsing.
    """
    if judge == "ours":
        lark_parser()
        _ours([_WARMUP])
        return _ours
    if judge == "tree-sitter":
        ts = TreeSitterElm()
        ts.parse(_WARMUP)

        def tree_sitter_all(texts: Sequence[str]) -> None:
            for text in texts:
                ts.parse(text)

        return tree_sitter_all
    if judge in ("compiler-per-file", "compiler-batched"):
        # No verdict cache: every text must really be compiled.
        options = {"batch_size": 1} if judge == "compiler-per-file" else {}  # else the default batch
        with ElmCompiler(cache=False) as warm:
            warm.check(_WARMUP)

        def compile_all(texts: Sequence[str]) -> None:
            with ElmCompiler(cache=False, **options) as compiler:
                compiler.check_many(texts, progress=progress)

        return compile_all
    if judge == "elm-format":
        fmt = ElmFormat()
        fmt.check(_WARMUP)

        def format_all(texts: Sequence[str]) -> None:
            from tqdm import tqdm

            for text in tqdm(texts, desc="elm-format", unit="file", disable=not progress):
                fmt.check(text)

        return format_all
    raise ValueError(f"unknown judge {judge!r}; choose from {', '.join(BENCH_JUDGES)}")


def read_texts(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The readable Elm files under ``paths`` (unreadable ones are skipped, with a note)."""
    texts = []
    for path in elm_files(paths):
        source = read_source(path)
        if source.error is not None:
            print(f"elmgrammar: skipping {path}: {source.error}", file=sys.stderr)
            continue
        texts.append(source.text)
    return texts


def bench_parse(paths: Iterable[str | os.PathLike], repeat: int = 3, judges: Sequence[str] = BENCH_JUDGES,
                progress: bool = False) -> list[dict]:
    """Time each judge parsing all Elm files under ``paths``; one row per judge.

    A row: ``{"judge", "description", "files", "lines", "seconds", "lines_per_s",
    "vs_ours", "runs"}``; ``vs_ours`` is the judge's lines/s over ours (None when our
    parser is not among ``judges``). In-process judges: best of ``repeat`` runs;
    external programs: one run. Raises ``ToolMissing`` if an oracle's tool is missing.
    """
    texts = read_texts(paths)
    lines = sum(_count_lines(t) for t in texts)
    runners = {judge: _runner(judge, progress) for judge in judges}  # ToolMissing before any timing
    rows = []
    for judge, run in runners.items():
        runs = max(1, repeat) if judge in IN_PROCESS else 1
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            run(texts)
            best = min(best, time.perf_counter() - start)
        rows.append({
            "judge": judge,
            "description": DESCRIPTIONS[judge],
            "files": len(texts),
            "lines": lines,
            "seconds": best,
            "lines_per_s": lines / best if best > 0 else float("inf"),
            "runs": runs,
        })
    ours = next((r["lines_per_s"] for r in rows if r["judge"] == "ours"), None)
    for r in rows:
        r["vs_ours"] = r["lines_per_s"] / ours if ours else None
    return rows


def extrapolate(ours_lines_per_s: float, lines: int = CORPUS_LINES, cores: Sequence[int] = (1, 2)) -> dict[int, float]:
    """Seconds to parse ``lines`` with our parser on each number of cores.

    Files parse independently, so N worker processes take 1/N of one core's time
    (ideal scaling; process start-up and grammar building add about a second each).
    """
    return {n: lines / ours_lines_per_s / n for n in cores}


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table, then our speed and the corpus extrapolation."""
    out = [f"{'judge':<19}{'files':>7}{'lines':>9}{'seconds':>10}{'lines/s':>12}{'vs ours':>10}  runs  how"]
    for r in rows:
        vs = "" if r["vs_ours"] is None else f"{r['vs_ours']:.2f}x"
        out.append(f"{r['judge']:<19}{r['files']:>7}{r['lines']:>9}{r['seconds']:>10.3f}"
                   f"{r['lines_per_s']:>12,.0f}{vs:>10}  {r['runs']:>4}  {r['description']}")
    ours = next((r for r in rows if r["judge"] == "ours"), None)
    if ours is not None:
        out.append("")
        for r in rows:
            if r is not ours and r["vs_ours"]:
                ratio = r["vs_ours"]
                word = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
                out.append(f"{r['judge']} is {word} than our parser")
        out.append(f"our parser: {ours['lines_per_s']:,.0f} lines/s on one core")
        times = extrapolate(ours["lines_per_s"])
        out.append(f"the {CORPUS_LINES / 1e6:.1f} M-line corpus with our parser: "
                   + ", ".join(f"{s:,.1f} s on {n} core{'s' if n > 1 else ''}" for n, s in times.items())
                   + " (extrapolated, ideal scaling over processes)")
    return "\n".join(out)


# ---- the subcommand --------------------------------------------------------------------


def add_benchmarks(what) -> None:
    """Register ``elmgrammar bench parse|mask|generate|evaluate`` on the benchmarks' subparsers."""
    p = what.add_parser("parse", help="parsing speed: ours vs tree-sitter, the compiler and elm-format",
                        description="Parse the same Elm files with our parser, tree-sitter-elm, the Elm "
                                    "compiler (a process per file, and batched) and elm-format; print "
                                    "wall time, lines/s and the ratio to our parser.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="Elm files or directories")
    p.add_argument("--corpus", action="store_true", help="also use the real-file corpus of `elmgrammar setup`")
    p.add_argument("--repeat", type=int, default=3, metavar="N",
                   help="runs of the in-process parsers; the best counts (default 3)")
    p.add_argument("--judges", default=",".join(BENCH_JUDGES), metavar="LIST",
                   help=f"comma-separated (default: {','.join(BENCH_JUDGES)})")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(run=lambda args: _cmd_parse(args, p))

    m = what.add_parser("mask", help="constrained decoding: time per token of the full mask and the lazy path",
                        description="Teacher-force real Elm files through the grammar mask and print the time "
                                    "per token of the exact full mask and of the lazy path (median, p90, p99, "
                                    "max), and the per-tokenizer precomputation time.")
    m.add_argument("paths", nargs="*", metavar="PATH", help="Elm files or directories")
    m.add_argument("--corpus", action="store_true", help="also use the real-file corpus of `elmgrammar setup`")
    m.add_argument("--tokenizer", default="starcoder2", metavar="DIR",
                   help="tokenizer folder, or 'starcoder2' for the one shipped with the package (the default)")
    m.add_argument("--full-every", type=int, default=1, metavar="N", help="full mask every N positions (default 1)")
    m.add_argument("--baselines", default=None, metavar="LIST",
                   help="other engines timed on the same files with a context-free approximation of Elm, "
                        "comma-separated from llguidance,xgrammar, or 'none' (default: those installed)")
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    m.set_defaults(run=lambda args: _cmd_mask(args, m))

    x = what.add_parser("exact", help="constrained decoding: the exact mask vs every token judged one by one",
                        description="Draw random states from real Elm files and their mutants (a random token "
                                    "position; a mutant only as far as it stays viable) and compare, at each, "
                                    "the matcher's bitmask with the judgement of every vocabulary entry one by "
                                    "one. Prints the mismatches (there must be none) and the time of each side. "
                                    "One state judged one by one takes seconds with a 49k vocabulary.")
    x.add_argument("paths", nargs="*", metavar="PATH", help="Elm files or directories")
    x.add_argument("--corpus", action="store_true", help="also use the real-file corpus of `elmgrammar setup`")
    x.add_argument("--tokenizer", default="starcoder2", metavar="DIR",
                   help="tokenizer folder, or 'starcoder2' for the one shipped with the package (the default)")
    x.add_argument("--states", type=int, default=100, metavar="N", help="states to draw (default 100)")
    x.add_argument("--mutant-share", type=float, default=0.5, metavar="F",
                   help="share of states drawn from mutants (default 0.5)")
    x.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    x.add_argument("--json", action="store_true", help="print the result as JSON")
    x.set_defaults(run=lambda args: _cmd_exact(args, x))

    g = what.add_parser("generate", help="constrained decoding: tokens/s constrained vs unconstrained",
                        description="Generation with a random StarCoder2 (the architecture of --config, shrunk "
                                    "to --layers x --hidden unless --full-size), or with a trained model "
                                    "(--model), on the user's prompts, unconstrained and constrained side by "
                                    "side, per decoding and batch size. On a GPU: --full-size.")
    source = g.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="DIR", help="folder with config.json and the tokenizer, or 'starcoder2' "
                                                        "(StarCoder2-3b's, shipped with the package): a random model")
    source.add_argument("--model", metavar="DIR", help="a trained model folder (with its tokenizer), or 'default' "
                                                       "for the embedded default model")
    g.add_argument("--layers", type=int, default=2, help="layers of the shrunk model (default 2)")
    g.add_argument("--hidden", type=int, default=64, help="width of the shrunk model (default 64)")
    g.add_argument("--full-size", action="store_true", help="the config's own size (3b for StarCoder2-3b)")
    g.add_argument("--new-tokens", type=int, default=32, help="tokens generated per row (default 32)")
    g.add_argument("--batch-sizes", default="1,8", metavar="LIST", help="comma-separated (default 1,8)")
    g.add_argument("--decodings", default="greedy", metavar="LIST",
                   help="comma-separated from greedy (lazy path), top-k (50, temperature 0.8: drawn by the "
                        "processor), top-k-set (the same, from the 50 best allowed found lazily), top-k-full (the "
                        "full mask), top-p (0.95, "
                        "temperature 0.8: drawn by the processor), top-p-full (the full mask); default greedy")
    g.add_argument("--repeat", type=int, default=3, metavar="N", help="timed runs of each side, alternating, after a warm-up pair (the median counts; default 3)")
    g.add_argument("--device", default="auto", help="cuda, cpu or auto (default: cuda when there is one)")
    g.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                   help="default bfloat16 on a GPU, float32 on the CPU")
    g.add_argument("--engine", default="hf", metavar="LIST",
                   help="comma-separated from hf (model.generate, the default) and vllm (a vLLM engine with the "
                        "grammar's logits processor, --model only; decodings greedy, top-k, top-p): "
                        "'hf,vllm' prints both side by side")
    g.add_argument("--json", action="store_true", help="print each row as a line of JSON")
    g.set_defaults(run=_cmd_generate)

    e = what.add_parser("evaluate", help="evaluation: seconds per completion judged, per judge",
                        description="Judge the same completions with each judge of `elmgrammar evaluate` (our "
                                    "grammar, the compiler, tree-sitter, elm-format, the compile check in an Elm "
                                    "project, the measures) and print the time per completion. The completions "
                                    "are real bodies, cut-off bodies and mutants from Elm files, or --generations.")
    e.add_argument("paths", nargs="*", metavar="PATH", help="Elm files or directories to make completions from")
    e.add_argument("--corpus", action="store_true", help="also use the real-file corpus of `elmgrammar setup`")
    e.add_argument("--generations", metavar="FILE", help="judge these completions (JSON Lines or the user's text format)")
    e.add_argument("--count", type=int, default=150, metavar="N", help="completions to make (default 150)")
    e.add_argument("--judges", default="ours,compiler,tree-sitter,elm-format,project,measures", metavar="LIST",
                   help="comma-separated (default: all)")
    e.add_argument("--json", action="store_true", help="print the rows as JSON")
    e.set_defaults(run=lambda args: _cmd_evaluate(args, e))

    f = what.add_parser("fim", help="fill-in-the-middle: cost of the end check by suffix length",
                        description="Teacher-force true middles of spans cut from Elm files through a FIM matcher "
                                    "and time, at every position, whether the middle may end (the suffix judge) "
                                    "beside parsing the whole suffix, with the file's own suffix and with suffixes "
                                    "of 10 k and 100 k characters.")
    f.add_argument("paths", nargs="*", metavar="PATH", help="Elm files or directories")
    f.add_argument("--corpus", action="store_true", help="also use the real-file corpus of `elmgrammar setup`")
    f.add_argument("--tokenizer", default="starcoder2", metavar="DIR",
                   help="tokenizer folder, or 'starcoder2' for the one shipped with the package (the default)")
    f.add_argument("--spans", type=int, default=6, metavar="N", help="spans per suffix size (default 6)")
    f.add_argument("--json", action="store_true", help="print the rows as JSON")
    f.set_defaults(run=lambda args: _cmd_fim(args, f))


def _cmd_fim(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .fim_bench import bench_fim_end, format_fim_end

    rows = bench_fim_end(args.tokenizer, _paths(args, parser), spans_per_size=args.spans)
    print(json.dumps(rows) if args.json else format_fim_end(rows))
    return 0


def _paths(args, parser) -> list:
    if not args.paths and not args.corpus:
        parser.error("give Elm files or directories, or --corpus")
    return benchmark_files(args.paths, args.corpus)


def _cmd_mask(args: argparse.Namespace, parser) -> int:
    from elmgrammar.decode.baselines import BASELINES, available
    from elmgrammar.decode.bench import bench_mask, format_mask

    if args.baselines is None:
        baselines = [name for name in BASELINES if available(name)]
    else:
        baselines = [b.strip() for b in args.baselines.split(",") if b.strip() and b.strip() != "none"]
        unknown = [b for b in baselines if b not in BASELINES]
        if unknown:
            parser.error(f"unknown baseline(s) {', '.join(unknown)}; choose from {','.join(BASELINES)} or none")
    result = bench_mask(args.tokenizer, _paths(args, parser), full_every=args.full_every, baselines=baselines)
    print(json.dumps(result) if args.json else format_mask(result))
    return 0


def _cmd_exact(args: argparse.Namespace, parser) -> int:
    from elmgrammar.decode.exactness import compare, draw_states, format_exactness
    from elmgrammar.decode.matcher import Matcher
    from elmgrammar.decode.models import load_tokenizer

    if args.states < 1 or not 0 <= args.mutant_share <= 1:
        parser.error("--states must be at least 1 and --mutant-share between 0 and 1")
    tokenizer = load_tokenizer(args.tokenizer)
    masker = Matcher.from_tokenizer(tokenizer, "module").masker
    states = draw_states(_paths(args, parser), tokenizer, args.states, args.seed, args.mutant_share, masker=masker)
    result = compare(masker, states)
    print(json.dumps(result.as_dict()) if args.json else format_exactness(result))
    return 1 if result.mismatches else 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from elmgrammar.decode.bench import DECODINGS, bench_generate, format_generate
    from elmgrammar.evaluate.prompts import seed_prompts

    try:
        sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"elmgrammar bench generate: --batch-sizes must be integers, got {args.batch_sizes!r}")
    decodings = [d.strip() for d in args.decodings.split(",") if d.strip()]
    unknown = [d for d in decodings if d not in DECODINGS]
    if unknown or not decodings or not sizes:
        raise SystemExit(f"elmgrammar bench generate: choose --decodings from {','.join(DECODINGS)} "
                         "and at least one batch size")
    engines = [e.strip() for e in args.engine.split(",") if e.strip()]
    if not engines or any(e not in ("hf", "vllm") for e in engines):
        raise SystemExit(f"elmgrammar bench generate: --engine takes hf, vllm or both, not {args.engine!r}")
    if "vllm" in engines:
        from elmgrammar.decode.vllm_bench import VLLM_DECODINGS

        if args.model is None:
            raise SystemExit("elmgrammar bench generate: --engine vllm needs --model (vLLM loads weights)")
        if any(d not in VLLM_DECODINGS for d in decodings):
            raise SystemExit(f"elmgrammar bench generate: --engine vllm takes --decodings from {','.join(VLLM_DECODINGS)}")
    layers, hidden = (None, None) if args.full_size else (args.layers, args.hidden)
    model = args.model
    if model == "default":
        from elmgrammar.evaluate.errors import EvaluateError
        from elmgrammar.evaluate.generate import default_model_path

        try:
            model = default_model_path(getattr(args, "default_model", None))
        except EvaluateError as e:
            raise SystemExit(f"elmgrammar bench generate: {e}") from None

    printed: list[dict] = []

    def show(row: dict) -> None:
        # each row as soon as it is measured: a long GPU run loses nothing if cut short
        print(json.dumps(row) if args.json else format_generate([row], header=not printed), flush=True)
        printed.append(row)

    from elmgrammar.decode.models import ModelError

    try:
        # Hugging Face first: a vLLM engine in this process binds torch's threads
        if "hf" in engines:
            bench_generate(args.config, seed_prompts(), new_tokens=args.new_tokens, batch_sizes=sizes,
                           layers=layers, hidden=hidden, repeat=args.repeat, device=args.device,
                           dtype=args.dtype, decodings=decodings, on_row=show, model_dir=model)
        if "vllm" in engines:
            _bench_vllm(args, model, sizes, decodings, show)
    except ModelError as e:
        raise SystemExit(f"elmgrammar bench generate: {e.as_option({'config_dir': '--config'})}") from None
    return 0


def _bench_vllm(args: argparse.Namespace, model: str, sizes: list[int], decodings: list[str], show) -> None:
    """The vLLM rows of ``bench generate``: the engine in this process, a small cache."""
    import torch

    from elmgrammar.decode.vllm_env import prepare_vllm_environment

    # as many threads as torch has for Hugging Face, so that the two compare on the same threads
    prepare_vllm_environment(threads=torch.get_num_threads())
    from elmgrammar.decode.vllm_bench import bench_generate_vllm
    from elmgrammar.evaluate.prompts import seed_prompts

    bench_generate_vllm(model, seed_prompts(), new_tokens=args.new_tokens, batch_sizes=sizes, repeat=args.repeat,
                        decodings=decodings, on_row=show, dtype=args.dtype or "float32")


def _cmd_evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from elmgrammar.evaluate.bench_judges import BENCH_JUDGES as EVALUATE_JUDGES
    from elmgrammar.evaluate.bench_judges import bench_evaluate, completions_from_files, format_evaluate
    from elmgrammar.evaluate.errors import EvaluateError
    from elmgrammar.evaluate.generations import read_generations

    judges = [j.strip() for j in args.judges.split(",") if j.strip()]
    unknown = [j for j in judges if j not in EVALUATE_JUDGES]
    if unknown or not judges:
        parser.error(f"unknown judge(s) {', '.join(unknown) or '(none)'}; choose from {','.join(EVALUATE_JUDGES)}")
    if args.generations:
        try:
            generations = read_generations(args.generations)
        except EvaluateError as e:
            parser.error(str(e))
    else:
        generations = completions_from_files(_paths(args, parser), count=args.count)
        if not generations:
            parser.error("no value declarations found in the given files")
    rows = bench_evaluate(generations, judges)
    print(json.dumps(rows) if args.json else format_evaluate(rows))
    return 0


def _cmd_parse(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.paths and not args.corpus:
        parser.error("give Elm files or directories, or --corpus")
    judges = [j.strip() for j in args.judges.split(",") if j.strip()]
    unknown = [j for j in judges if j not in BENCH_JUDGES]
    if unknown or not judges:
        parser.error(f"unknown judge(s) {', '.join(unknown) or '(none)'}; choose from {','.join(BENCH_JUDGES)}")
    paths: list[str | os.PathLike] = list(args.paths)
    if args.corpus:
        paths += tools.real_elm_files()
    rows = bench_parse(paths, repeat=args.repeat, judges=judges, progress=True)
    if args.json:
        ours = next((r["lines_per_s"] for r in rows if r["judge"] == "ours"), None)
        print(json.dumps({
            "table": rows,
            "corpus_lines": CORPUS_LINES,
            "corpus_seconds_by_cores": None if ours is None else extrapolate(ours),
        }))
    else:
        print(format_table(rows))
    return 0
