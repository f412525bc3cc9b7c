"""The grammar constraint for vLLM's Model Runner V2 (the GPU default from vLLM
0.33): the same masking as ``vllm.ElmLogitsProcessor``, behind V2's interface.

>>> from vllm import LLM                                                             # doctest: +SKIP
>>> llm = LLM(model="bigcode/starcoder2-3b",
...           logits_processors=["elmgrammar.decode.vllm_v2:ElmLogitsProcessorV2"])  # doctest: +SKIP

Requests opt in exactly as for the V1 class (``elm_extra_args``). V2 hands a
processor no token lists: a request is announced by its slot and sampling
parameters (``add_request``), and each step names the slot of every logits row
(``LogitsContext.idx_mapping_np``). The processor reads what it needs from the
runner's request state on the device: at each step, for its rows, the committed
length and the last few ids (one small transfer), and a request's whole history
only where it has not seen the request yet or its ids changed under it
(preemption, recomputation). Speculative decoding (several rows per request) is
refused when the processor is built.

Model Runner V2 needs a GPU and Triton: on vLLM's CPU build the class is tested
with CPU tensors in place of the runner's device buffers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from vllm.v1.worker.gpu.sample.logits_processor.interface import LogitsProcessor

from .vllm import _ElmMasking, _Request, elm_options

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig
    from vllm.v1.worker.gpu.sample.logits_processor.interface import LogitsContext, LogitsProcRequestState

# ids read at each step from the end of a request's history: the one new id, and a
# few before it to check that the history is the one the matcher followed
_WINDOW = 4


class ElmLogitsProcessorV2(_ElmMasking, LogitsProcessor):
    """Masks, for the requests that opt in, every token that would make the program
    unparseable: ``vllm.ElmLogitsProcessor``'s masking under Model Runner V2's
    interface (see the module docstring)."""

    def __init__(self, vllm_config: "VllmConfig", req_states: "LogitsProcRequestState") -> None:
        if getattr(vllm_config, "speculative_config", None) is not None:
            raise ValueError("elmgrammar's logits processor does not support speculative decoding "
                             "(it masks one row per request)")
        self._setup(vllm_config)
        self.req_states = req_states
        self._slots: dict[int, _Request] = {}  # request slot -> its request, once its history was read
        self._waiting: dict[int, "SamplingParams"] = {}  # slots added, their history not read yet

    @classmethod
    def validate_params(cls, sampling_params: "SamplingParams") -> None:
        """Refuse bad options (a ``ValueError``: the request fails with the reason)."""
        elm_options(sampling_params)

    def add_request(self, req_idx: int, sampling_params: "SamplingParams") -> bool:
        """A request enters slot ``req_idx`` (whatever was there is forgotten); True
        where it opts in. Its matcher is made at its first step, from its ids on the
        device."""
        self._slots.pop(req_idx, None)
        self._waiting.pop(req_idx, None)
        if elm_options(sampling_params) is None:
            return False
        self._waiting[req_idx] = sampling_params
        return True

    def apply(self, logits: torch.Tensor, ctx: "LogitsContext") -> torch.Tensor:
        """Mask the rows of the requests that opted in (in place)."""
        slots = ctx.idx_mapping_np.tolist()
        ours = [(r, slot) for r, slot in enumerate(slots) if slot in self._slots or slot in self._waiting]
        if not ours:
            return logits
        self._read_histories([slot for _, slot in ours])
        self.rows = {r: self._slots[slot] for r, slot in ours}
        return self._constrain(logits)

    def _read_histories(self, slots: list[int]) -> None:
        """Bring each request's output list up to its committed ids on the device:
        the last ``_WINDOW`` ids of every slot in one transfer, extending the list
        where they overlap it; the whole history where the slot is new or the
        overlap disagrees."""
        state = self.req_states
        device = state.all_token_ids.gpu.device
        index = torch.as_tensor(slots, device=device)
        total = state.total_len.gpu[index].to(torch.int64)
        positions = (total[:, None] - _WINDOW + torch.arange(_WINDOW, device=device)).clamp(min=0)
        window = state.all_token_ids.gpu[index[:, None], positions].to(torch.int64)
        for slot, (length, *tail) in zip(slots, torch.cat([total[:, None], window], dim=1).tolist()):
            prompt_len = int(state.prompt_len.np[slot])
            request = self._slots.get(slot)
            if request is None:
                ids = state.all_token_ids.gpu[slot, :length].tolist()
                request = self._request(self._waiting.pop(slot), ids[:prompt_len], ids[prompt_len:])
                self._slots[slot] = request
                continue
            output, produced = request.output, length - prompt_len
            start = produced - _WINDOW  # the output index of the window's first id
            if start >= 0 and start <= len(output) <= produced and output[start:] == tail[:len(output) - start]:
                output.extend(tail[len(output) - start:])
            else:
                output[:] = state.all_token_ids.gpu[slot, prompt_len:length].tolist()
