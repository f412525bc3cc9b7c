"""Loading a model (a local folder or a hub name, with an optional PEFT adapter) and
its tokenizer for generation, with errors that say what is missing in one line.

torch, transformers and peft are imported here only, when a model is really loaded.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from elmgrammar.starcoder2 import resolve_tokenizer

from .settings import option_name

from elmgrammar.errors import UsageError

# A hub model id: "name" or "owner/name", no path syntax.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# the files Hugging Face tokenizers are saved as (one of them is enough)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
# How long to wait for the hub before giving up on it: transformers' own retries would
# spend about a minute on an unreachable hub before saying so.
HUB_TIMEOUT_S = 3.0


class ModelError(UsageError):
    """A model, adapter, tokenizer or device that cannot be used. The message names
    the argument and its value and says why (``adapter 'elm-lora/': no such adapter
    folder``); :meth:`as_option` says it in the command line's words."""

    def __init__(self, reason: str, argument: str | None = None, value: object = None) -> None:
        self.reason, self.argument, self.value = reason, argument, value
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.argument is None:
            return self.reason
        return f"{self.argument} {str(self.value)!r}: {self.reason}"

    def as_option(self, options: dict[str, str] | None = None) -> str:
        """The message naming the command line's option (``--adapter elm-lora/: ...``);
        ``options`` maps an argument to its option where the names differ."""
        if self.argument is None:
            return self.reason
        return f"{option_name(self.argument, options)} {self.value}: {self.reason}"


def load_tokenizer(path: str | Path, *, argument: str = "tokenizer"):
    """A tokenizer from a local folder, ``starcoder2`` (the StarCoder2 tokenizer shipped
    with the package) or a hub name where the hub is reachable; :class:`ModelError`
    naming ``argument`` when there is none."""
    path = resolve_tokenizer(path)
    local = Path(path).expanduser()
    if not local.exists() and not _HUB_ID.match(str(path)):
        raise ModelError("no such tokenizer folder", argument, path)
    if local.is_dir() and not any((local / name).exists() for name in _TOKENIZER_FILES):
        raise ModelError(f"the folder has no tokenizer ({' or '.join(_TOKENIZER_FILES)})", argument, path)
    hub = {} if local.exists() else _hub_options(str(path), argument)
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise ModelError(f"loading a tokenizer needs transformers ({e.name} is missing)") from None
    try:
        return AutoTokenizer.from_pretrained(str(local) if local.exists() else str(path), **hub)
    except (OSError, ValueError) as e:
        raise ModelError(_cannot_load("a tokenizer", local.exists(), hub, e), argument, path) from None


class _DefaultConfigNoise(logging.Filter):
    """Drops transformers' warning about token ids of a config made with the class's
    own defaults (StarCoder2's default BOS/EOS 50256 lie outside its default
    vocabulary of 49,152): transformers builds one to log every config it loads,
    and the warning says nothing of the model loaded."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("(between 0 and 49151), got 50256" in message and "must be `None` or an integer" in message)


logging.getLogger("transformers.configuration_utils").addFilter(_DefaultConfigNoise())


def load_model(model: str, *, adapter: str | None = None, tokenizer: str | None = None, device: str = "auto"):
    """``(model, tokenizer)`` ready for generation, in eval mode on ``device``
    ("auto": CUDA when there is one; on a GPU the checkpoint's dtype, on the CPU
    float32). ``model`` is a local folder or a hub name; ``tokenizer`` defaults to the
    model's own (``starcoder2`` names the shipped one). :class:`ModelError` names the
    argument and says what is missing, before minutes of loading where it can; a hub
    name with no hub reachable fails in seconds (the local hub cache is still used).

    >>> from elmgrammar.finetune import default_model_path        # doctest: +SKIP
    >>> model, tokenizer = load_model(default_model_path())       # doctest: +SKIP
    """
    local = Path(model).expanduser()
    if adapter and not Path(adapter).expanduser().exists() and not _HUB_ID.match(adapter):
        raise ModelError("no such adapter folder", "adapter", adapter)
    if not local.exists() and not _HUB_ID.match(model):
        raise ModelError("no such model folder", "model", model)
    source = str(local) if local.exists() else model
    if local.exists() and not (local / "config.json").exists():
        raise ModelError("the folder has no config.json (not a Hugging Face model folder)", "model", model)
    # before torch is imported: seconds on a loaded machine
    hub = {} if local.exists() else _hub_options(model, "model")
    adapter_hub = {} if not adapter or Path(adapter).expanduser().exists() else _hub_options(adapter, "adapter")
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
        raise ModelError(_first_line(e), "device", device) from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelError("this torch sees no CUDA device", "device", device)
    tok = load_tokenizer(tokenizer or source, argument="tokenizer" if tokenizer else "model")
    # bf16/fp16 kernels are slow or missing on CPUs; on a GPU keep the checkpoint's dtype.
    dtype = torch.float32 if device == "cpu" else "auto"
    try:
        net = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **hub)
    except (OSError, ValueError) as e:
        raise ModelError(_cannot_load("the model", local.exists(), hub, e), "model", model) from None
    if adapter:
        net = _with_adapter(net, adapter, adapter_hub)
    try:
        net = net.to(device)
    except (RuntimeError, AssertionError, ValueError) as e:  # torch's words for "no such device here"
        raise ModelError(_first_line(e), "device", device) from None
    return net.eval(), tok


def _with_adapter(model, adapter: str, hub: dict):
    try:
        from peft import PeftModel
    except ImportError:
        raise ModelError("an adapter needs the peft package: pip install peft", "adapter", adapter) from None
    local = Path(adapter).expanduser()
    try:
        return PeftModel.from_pretrained(model, str(local) if local.exists() else adapter, **hub)
    except (OSError, ValueError) as e:
        raise ModelError(_cannot_load("the adapter", local.exists(), hub, e), "adapter", adapter) from None


def _hub_options(name: str, argument: str) -> dict:
    """``from_pretrained`` options for a hub name. When the hub is offline by choice
    (``HF_HUB_OFFLINE``) or cannot be reached, only the local hub cache is used, and a
    name not in it fails at once (before torch is even imported) instead of after a
    minute of retries."""
    from huggingface_hub import constants

    offline = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else None
    unreachable = offline or hub_unreachable(constants.ENDPOINT)
    if unreachable is None:
        return {}
    # the hub cache's documented layout: HF_HUB_CACHE/models--owner--name/snapshots/
    cached = Path(constants.HF_HUB_CACHE) / f"models--{name.replace('/', '--')}" / "snapshots"
    if cached.is_dir() and any(cached.iterdir()):
        return {"local_files_only": True}
    why = offline or f"{urlparse(constants.ENDPOINT).hostname}: {unreachable}"
    raise ModelError(f"not a local folder, and not in the local hub cache; the model hub cannot be reached ({why})",
                     argument, name)


@lru_cache(maxsize=4)
def hub_unreachable(endpoint: str, timeout: float = HUB_TIMEOUT_S) -> str | None:
    """Why the model hub at ``endpoint`` cannot be reached from here, or None when one
    request to it (through huggingface_hub's own HTTP session: its proxies and
    certificates) gets any answer within ``timeout`` seconds. Asked once per process."""
    from huggingface_hub.utils import get_session

    outcome: list[str | None] = []

    def ask() -> None:
        try:
            get_session().head(endpoint, timeout=timeout)
            outcome.append(None)
        except Exception as e:  # any transport error of the session's HTTP library means "not reachable"
            outcome.append(_first_line(e))

    # in a thread: a name lookup has no timeout of its own and can hang for long
    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"no answer in {timeout:g} s"


def _cannot_load(what: str, local: bool, hub: dict, error: Exception) -> str:
    if local:
        return f"cannot load {what} from this folder: {_first_line(error)}"
    if hub.get("local_files_only"):
        return f"cannot load {what} from the local hub cache (the hub cannot be reached): {_first_line(error)}"
    return f"cannot load {what} from the model hub: {_first_line(error)}"


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
