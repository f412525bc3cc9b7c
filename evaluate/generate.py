"""Making the completions: the model (a local folder or a hub name, with an optional
PEFT adapter), the sampling settings, and both sides of the comparison from the same
seeds.

torch, transformers and peft are imported here only, when a model is really needed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import EvaluateError
from .generations import Generation
from .prompts import PromptItem

# A hub model id: "name" or "owner/name", no path syntax.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class Sampling:
    """How completions are drawn. ``do_sample=False`` is greedy search (one completion
    per prompt makes sense then)."""

    do_sample: bool = True
    temperature: float = 0.8
    top_k: int | None = 50
    top_p: float | None = None
    max_new_tokens: int = 128

    def generate_kwargs(self) -> dict:
        """Keyword arguments for ``model.generate``."""
        kwargs: dict = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            kwargs["temperature"] = self.temperature
            if self.top_k is not None:
                kwargs["top_k"] = self.top_k
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        return kwargs

    def as_dict(self) -> dict:
        """JSON-ready data."""
        return asdict(self)


def default_model_path() -> str:
    """The embedded default model's folder (``elmgrammar.finetune.default_model_path()``);
    :class:`EvaluateError` when it is not installed."""
    hint = "pass --model DIR or a hub name"
    try:
        from elmgrammar.finetune import default_model_path as finetune_default
    except ImportError:
        raise EvaluateError(f"no model: this installation has no embedded default model; {hint}") from None
    try:
        path = finetune_default()
    except (OSError, RuntimeError, LookupError) as e:
        raise EvaluateError(f"no model: {e}; or {hint}") from None
    if not Path(path).exists():
        raise EvaluateError(f"no model: the default model folder {path} does not exist; {hint}")
    return str(path)


def load_model(model: str, *, adapter: str | None = None, tokenizer: str | None = None, device: str = "auto"):
    """``(model, tokenizer)`` ready for generation, in eval mode on ``device``
    ("auto": CUDA when there is one). :class:`EvaluateError` says what is missing."""
    local = Path(model).expanduser()
    if adapter and not Path(adapter).expanduser().exists() and not _HUB_ID.match(adapter):
        raise EvaluateError(f"--adapter {adapter}: no such adapter folder")  # before minutes of loading
    if not local.exists() and not _HUB_ID.match(model):
        raise EvaluateError(f"--model {model}: no such model folder")
    source = str(local) if local.exists() else model
    if local.exists() and not (local / "config.json").exists():
        raise EvaluateError(f"--model {model}: the folder has no config.json (not a Hugging Face model folder)")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise EvaluateError(f"generating needs torch and transformers ({e.name} is missing): "
                            "pip install 'elmgrammar[evaluate]', or judge given completions with --generations") from None

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    # bf16/fp16 kernels are slow or missing on CPUs; on a GPU keep the checkpoint's dtype.
    dtype = torch.float32 if device == "cpu" else "auto"
    try:
        tok = AutoTokenizer.from_pretrained(str(Path(tokenizer).expanduser()) if tokenizer else source)
        net = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError) as e:
        where = "folder" if local.exists() else "hub name (is the model hub reachable from here?)"
        raise EvaluateError(f"--model {model}: cannot load the model from this {where}: {_first_line(e)}") from None
    if adapter:
        net = _with_adapter(net, adapter)
    try:
        net = net.to(device)
    except (RuntimeError, AssertionError, ValueError) as e:  # torch's words for "no such device here"
        raise EvaluateError(f"--device {device}: {_first_line(e)}") from None
    return net.eval(), tok


def _with_adapter(model, adapter: str):
    try:
        from peft import PeftModel
    except ImportError:
        raise EvaluateError("--adapter needs the peft package: pip install peft") from None
    try:
        return PeftModel.from_pretrained(model, str(Path(adapter).expanduser()) if Path(adapter).expanduser().exists()
                                         else adapter)
    except (OSError, ValueError) as e:
        raise EvaluateError(f"--adapter {adapter}: cannot load the adapter: {_first_line(e)}") from None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


@dataclass
class SideTiming:
    """Wall time and new tokens of one side's generation."""

    seconds: float = 0.0
    new_tokens: int = 0

    def as_dict(self) -> dict:
        """JSON-ready data, with tokens per second."""
        return {"seconds": round(self.seconds, 3), "new_tokens": self.new_tokens,
                "tokens_per_s": round(self.new_tokens / self.seconds, 1) if self.seconds else None}


def generate_side(model, tokenizer, items: Sequence[PromptItem], *, constrained: bool, per_prompt: int,
                  sampling: Sampling, seed: int = 0, mode: str = "declarations", batch_size: int = 4,
                  progress: bool = True) -> tuple[list[Generation], SideTiming]:
    """``per_prompt`` completions of every prompt, constrained by the grammar or not.

    Prompts go ``batch_size`` at a time; each batch is seeded with ``seed`` plus the
    index of its first prompt, so both sides of a comparison draw from the same random
    streams and a prompt's completions do not depend on which side ran first.
    """
    import torch
    from tqdm import tqdm

    from elmgrammar.decode.complete import complete

    side = "constrained" if constrained else "unconstrained"
    out: list[Generation] = []
    timing = SideTiming()
    kwargs = sampling.generate_kwargs()
    bar = tqdm(total=len(items) * per_prompt, desc=f"generate ({side})", unit="completion", disable=not progress)
    try:
        for start in range(0, len(items), max(1, batch_size)):
            batch = list(items[start:start + batch_size])
            torch.manual_seed(seed + start)
            began = time.perf_counter()
            results = complete(model, tokenizer, [i.prompt for i in batch], mode=mode, constrained=constrained,
                               num_return_sequences=per_prompt, **kwargs)
            timing.seconds += time.perf_counter() - began
            for r, result in enumerate(results):
                index = start + r // per_prompt
                timing.new_tokens += result.new_tokens
                out.append(Generation(result.prompt, result.text, side, index, r % per_prompt, result.new_tokens,
                                      result.stop_reason, items[index].reference))
            bar.update(len(results))
    finally:
        bar.close()
    return out, timing
