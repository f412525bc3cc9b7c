"""Loading a model (a local folder or a hub name, with an optional PEFT adapter) and
its tokenizer for generation, with errors that say what is missing in one line.

torch, transformers and peft are imported here only, when a model is really loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

from elmgrammar.errors import UsageError

# A hub model id: "name" or "owner/name", no path syntax.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# the files Hugging Face tokenizers are saved as (one of them is enough)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


class ModelError(UsageError):
    """A model, adapter, tokenizer or device that cannot be used; the message names
    the option or folder and says why."""


def load_tokenizer(path: str | Path):
    """A tokenizer from a local folder (or a hub name where the hub is reachable);
    :class:`ModelError` when there is none."""
    local = Path(path).expanduser()
    if not local.exists() and not _HUB_ID.match(str(path)):
        raise ModelError(f"{path}: no such tokenizer folder")
    if local.is_dir() and not any((local / name).exists() for name in _TOKENIZER_FILES):
        raise ModelError(f"{path}: the folder has no tokenizer ({' or '.join(_TOKENIZER_FILES)})")
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise ModelError(f"loading a tokenizer needs transformers ({e.name} is missing)") from None
    try:
        return AutoTokenizer.from_pretrained(str(local) if local.exists() else str(path))
    except (OSError, ValueError) as e:
        where = "folder" if local.exists() else "hub name (is the model hub reachable from here?)"
        raise ModelError(f"{path}: cannot load a tokenizer from this {where}: {_first_line(e)}") from None


def load_model(model: str, *, adapter: str | None = None, tokenizer: str | None = None, device: str = "auto"):
    """``(model, tokenizer)`` ready for generation, in eval mode on ``device``
    ("auto": CUDA when there is one; on a GPU the checkpoint's dtype, on the CPU
    float32). ``tokenizer`` defaults to the model's own. :class:`ModelError` says
    what is missing, before minutes of loading where it can."""
    local = Path(model).expanduser()
    if adapter and not Path(adapter).expanduser().exists() and not _HUB_ID.match(adapter):
        raise ModelError(f"--adapter {adapter}: no such adapter folder")
    if not local.exists() and not _HUB_ID.match(model):
        raise ModelError(f"--model {model}: no such model folder")
    source = str(local) if local.exists() else model
    if local.exists() and not (local / "config.json").exists():
        raise ModelError(f"--model {model}: the folder has no config.json (not a Hugging Face model folder)")
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        raise ModelError(f"generating needs torch and transformers ({e.name} is missing): "
                         "pip install 'elmgrammar[evaluate]'") from None

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:  # before minutes of loading weights
        kind = torch.device(device).type
    except RuntimeError as e:
        raise ModelError(f"--device {device}: {_first_line(e)}") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"--device {device}: this torch sees no CUDA device")
    tok = load_tokenizer(tokenizer or source)
    # bf16/fp16 kernels are slow or missing on CPUs; on a GPU keep the checkpoint's dtype.
    dtype = torch.float32 if device == "cpu" else "auto"
    try:
        net = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError) as e:
        where = "folder" if local.exists() else "hub name (is the model hub reachable from here?)"
        raise ModelError(f"--model {model}: cannot load the model from this {where}: {_first_line(e)}") from None
    if adapter:
        net = _with_adapter(net, adapter)
    try:
        net = net.to(device)
    except (RuntimeError, AssertionError, ValueError) as e:  # torch's words for "no such device here"
        raise ModelError(f"--device {device}: {_first_line(e)}") from None
    return net.eval(), tok


def _with_adapter(model, adapter: str):
    try:
        from peft import PeftModel
    except ImportError:
        raise ModelError("--adapter needs the peft package: pip install peft") from None
    local = Path(adapter).expanduser()
    try:
        return PeftModel.from_pretrained(model, str(local) if local.exists() else adapter)
    except (OSError, ValueError) as e:
        raise ModelError(f"--adapter {adapter}: cannot load the adapter: {_first_line(e)}") from None


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
