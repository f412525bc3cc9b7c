"""The stopping rule of constrained generation: a sequence ends at the end of its
unit (its declaration is complete and the next top-level item begins), not at a
token budget or a blank line. The rule is the matcher's (``Matcher.unit_end``):
this criterion only asks the row matchers, which consume each new token once."""

from __future__ import annotations

import torch
from transformers import StoppingCriteria

from .masks import Masker
from .matcher import Matcher, unit_end_in
from .rows import Histories, RowTable
from .state import ElmParseState
from .vocab import vocab_from_tokenizer


class UnitStop(StoppingCriteria):
    """Ends a sequence once its program is complete and the model starts the next
    top-level item (a line at column 1), instead of cutting at a token budget or
    at a blank line (which elm-format puts inside ``let`` blocks).

    ``processor``: the ``ElmGrammarLogitsProcessor`` of the same call, whose row
    matchers this reads (none: unconstrained generation, followed by matchers of
    its own). ``stopped[row]`` is the length of the completion text to keep for
    that row.
    """

    def __init__(self, tokenizer, prompts: list[str] | str, mode: str = "declarations", processor=None) -> None:
        self.prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        self.mode = mode
        if processor is not None:
            self.rows = processor.rows
        else:
            # unconstrained text may leave the grammar: a row that does has no unit end
            masker = Masker(vocab_from_tokenizer(tokenizer))
            self.rows = RowTable([_tracking_matcher(masker, mode, p) for p in self.prompts])
        self.prompt_len: int | None = None
        self.stopped: dict[int, int] = {}
        self._histories = Histories()
        self._own = processor is None

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        rows, length = input_ids.shape
        if self.prompt_len is None:
            self.prompt_len = length - 1  # called once the first new token is there
        histories = self._histories(input_ids[:, self.prompt_len:])
        done = torch.zeros(rows, dtype=torch.bool, device=input_ids.device)
        keys = []
        for r, generated in enumerate(histories):
            keys.append(self.rows.key(r, rows, generated))
            if r not in self.stopped:
                cut = self.rows.get(r, rows, generated).matcher.unit_end
                if cut is not None:
                    self.stopped[r] = cut
            done[r] = r in self.stopped
        if self._own:
            self.rows.retain(keys)
        return done


def _tracking_matcher(masker: Masker, mode: str, prompt: str) -> Matcher:
    """A matcher that follows unconstrained text: any prompt (one no program starts
    with never ends a unit), only EOS once its unit has ended."""
    return Matcher(masker, mode, prompt, stop_at_unit_end=True, strict=False)


def unit_end(prompt: str, completion: str, mode: str = "declarations") -> int | None:
    """Where the unit ends in ``completion`` (the length of it to keep), or None:
    the end of its last line when a new top-level item begins after it and the
    text up to there is complete. The matcher's rule on a whole text at once.

    >>> unit_end("x =", " 1\\n\\ny = 2")
    2
    """
    if mode == "expression":
        return None
    text = prompt + completion
    return unit_end_in(text, len(prompt), 0, lambda end: ElmParseState(mode, prompt=text[:end]).is_complete())[0]
