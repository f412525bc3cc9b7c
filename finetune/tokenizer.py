"""The run's tokenizer: the base model's, a named one, or a byte-level BPE trained on the data."""

from __future__ import annotations

from pathlib import Path

from elmgrammar.starcoder2 import resolve_tokenizer

from .config import ConfigError, FinetuneConfig


def local_or_hub(name: str) -> str:
    """An absolute path for a local folder or file (so an adapter's base stays findable
    from anywhere), else the hub name unchanged."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def load_tokenizer(config: FinetuneConfig, output_dir: Path, train_texts: list[str]):
    """The run's tokenizer: trained on ``train_texts`` when ``train_tokenizer`` asks (and
    saved at once, so a resumed run reuses it), else loaded from ``tokenizer`` or ``model``."""
    from transformers import AutoTokenizer

    if config.train_tokenizer:
        from accelerate import PartialState

        from .bpe import train_byte_level_bpe

        with PartialState().main_process_first():
            saved = output_dir / "tokenizer.json"
            if config.resume and saved.exists():
                tokenizer = AutoTokenizer.from_pretrained(str(output_dir))
                if len(tokenizer) != config.train_tokenizer:
                    raise ConfigError(f"{output_dir} holds a {len(tokenizer)}-token tokenizer from an earlier run, "
                                      f"not {config.train_tokenizer}: use another output_dir")
            else:
                from .model import read_model_config

                positions = read_model_config(local_or_hub(config.model), config.model_overrides).get(
                    "max_position_embeddings", 4096)
                tokenizer = train_byte_level_bpe(train_texts, config.train_tokenizer, model_max_length=positions)
                if PartialState().is_main_process:
                    tokenizer.save_pretrained(str(output_dir))
    else:
        # "starcoder2": the StarCoder2 tokenizer shipped with the package
        source = str(resolve_tokenizer(config.tokenizer)) if config.tokenizer else config.model
        if config.method == "scratch" and config.tokenizer is None and Path(source).is_file():
            raise ConfigError("method scratch from a config.json file needs a tokenizer (or train_tokenizer)")
        tokenizer = AutoTokenizer.from_pretrained(local_or_hub(source))
    if tokenizer.pad_token_id is None:
        # padding is masked by position (attention 0, label -100), so EOS can stand in for it
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
