"""The stopping rule of constrained generation: a sequence ends at the end of its
unit (its declaration is complete and the next top-level item begins), not at a
token budget or a blank line."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import StoppingCriteria

from .state import ElmParseState


@dataclass
class UnitStop(StoppingCriteria):
    """Ends a sequence once its program is complete and the model starts the next
    top-level item (a line at column 1), instead of cutting at a token budget or
    at a blank line (which elm-format puts inside ``let`` blocks).

    ``stopped[row]`` is the length of the completion text to keep for that row.
    """

    tokenizer: object
    prompts: list[str]
    mode: str = "declarations"
    prompt_len: int | None = None
    stopped: dict[int, int] = field(default_factory=dict)
    _checked: dict[int, int] = field(default_factory=dict)  # newlines already looked at

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        rows, length = input_ids.shape
        if self.prompt_len is None:
            self.prompt_len = length - 1  # called once the first new token is there
        done = torch.zeros(rows, dtype=torch.bool, device=input_ids.device)
        for r in range(rows):
            if r not in self.stopped:
                text = self.tokenizer.decode(input_ids[r, self.prompt_len:], skip_special_tokens=True)
                prompt = self.prompts[r * len(self.prompts) // rows]
                cut, self._checked[r] = unit_end(prompt, text, self.mode, self._checked.get(r, 0))
                if cut is not None:
                    self.stopped[r] = cut
            done[r] = r in self.stopped
        return done


def unit_end(prompt: str, completion: str, mode: str = "declarations", start: int = 0) -> tuple[int | None, int]:
    """Where the unit ends in ``completion``: the offset of the end of its last line
    when a new top-level item begins after it and the text up to there is
    complete; else None. Also returns where to resume looking next time (newlines
    before it have been judged).

    >>> unit_end("x =", " 1\\n\\ny = 2")
    (2, 3)
    """
    if mode == "expression":
        return None, start
    while True:
        nl = completion.find("\n", start)
        if nl < 0:
            return None, start
        rest = completion[nl + 1:].lstrip("\n")
        if not rest or "{-|".startswith(rest):
            return None, start  # the next line has not begun, or may be a doc comment
        is_comment = rest.startswith(("--", "{-")) and not rest.startswith("{-|")
        if not rest[0].isspace() and not is_comment:
            head = prompt + completion[:nl]
            if ElmParseState(mode, prompt=head).is_complete():
                return len(completion[:nl].rstrip()), nl + 1
        start = nl + 1
