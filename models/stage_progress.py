"""Progress from inside a network's forward pass, so that a cancel is heard between its stages.

The server cancels a job by raising from the progress callback (:mod:`server.transport`), and a user's cancel must
stop the work within a second. A network whose one forward pass takes seconds on a CPU (ISNet: about 2.5 s for a
1024² view on 2 cores) would otherwise hear it only after the whole pass. PyTorch's forward hooks
(``register_forward_hook``) call back after each named stage without touching the network's code or its state
dict, and are removed when the pass ends, finished or raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from torch import nn

from .base import ProgressFn


@contextlib.contextmanager
def progress_between_stages(
    stages: Sequence[nn.Module], progress: ProgressFn, stage: str, start: float, end: float
) -> Iterator[None]:
    """While inside, each of ``stages`` reports ``stage`` when its forward returns, the fractions spread evenly from
    ``start`` to ``end`` in the order given; what the callback raises ends the pass there."""
    def reporter(fraction: float) -> Callable[..., None]:
        def report(_module: nn.Module, _inputs: Any, _output: Any) -> None:
            progress(stage, fraction)  # and None: a forward hook that returns a value replaces the stage's output

        return report

    handles = []
    try:
        for done, module in enumerate(stages, start=1):
            handles.append(module.register_forward_hook(reporter(start + (end - start) * done / len(stages))))
        yield
    finally:
        for handle in handles:
            handle.remove()
