"""Fine-tuning causal language models on the Elm unit dataset.

``elmgrammar finetune --config FILE`` runs :func:`elmgrammar.finetune.train.train`;
:func:`default_model_path` is the small StarCoder2-architecture model shipped with the
package, for machines with neither the hub nor a GPU. Importing this package loads no
torch: the training modules do, when imported.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_model_path"]


def default_model_path() -> Path:
    """The folder of the embedded default model (safetensors weights and tokenizer).

    >>> from transformers import AutoModelForCausalLM, AutoTokenizer     # doctest: +SKIP
    >>> model = AutoModelForCausalLM.from_pretrained(default_model_path())   # doctest: +SKIP
    >>> tokenizer = AutoTokenizer.from_pretrained(default_model_path())      # doctest: +SKIP
    """
    path = Path(__file__).resolve().parent / "default_model"
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"the default model is missing from {path}: reinstall elmgrammar, or retrain it "
                                "as its MODEL_CARD.md says")
    return path
