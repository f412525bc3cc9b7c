"""Training tokens per second, in the logs and on the progress bar."""

from __future__ import annotations

import time

from transformers import Trainer
from transformers.trainer_callback import ProgressCallback


class ThroughputTrainer(Trainer):
    """A ``Trainer`` whose training logs carry ``tokens_per_second``: non-padding input
    tokens (summed over all processes) per second of wall time since the previous log.

    The Trainer counts the tokens itself (``include_num_input_tokens_seen``), so the
    figure is right under ``accelerate launch`` as well.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._mark: tuple[float, int] | None = None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add ``tokens_per_second`` to training logs, then log as usual."""
        now, seen = time.perf_counter(), self.state.num_input_tokens_seen
        if "loss" in logs and self._mark is not None and now > self._mark[0]:
            rate = (seen - self._mark[1]) / (now - self._mark[0])
            logs["tokens_per_second"] = round(rate, 1)
            for callback in self.callback_handler.callbacks:
                bar = getattr(callback, "training_bar", None) if isinstance(callback, ProgressCallback) else None
                if bar is not None:
                    bar.set_postfix(loss=f"{logs['loss']:.3f}", tok_s=f"{rate:,.0f}", refresh=False)
        # every log restarts the interval, so time spent evaluating is never counted
        self._mark = (now, seen)
        super().log(logs, start_time)

    def training_step(self, *args, **kwargs):
        # the first mark is taken at the first step, so model loading is not counted
        if self._mark is None:
            self._mark = (time.perf_counter(), self.state.num_input_tokens_seen)
        return super().training_step(*args, **kwargs)
