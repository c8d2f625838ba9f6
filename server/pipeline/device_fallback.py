"""Running a segmenter on an accelerator that may run out of memory: the photo is done on the CPU instead.

torch reports it as a ``RuntimeError`` saying "out of memory" (``torch.OutOfMemoryError`` on CUDA, a plain
one from MPS), loading the network or running it; on the CPU the error stands.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.base import Prediction, ProgressFn, Segmenter
from server.pipeline.model_cache import ModelCache


def predict_with_fallback(
    rgb: np.ndarray, name: str, options: dict[str, Any], models: ModelCache, progress: ProgressFn,
    colours: bool = True,
) -> tuple[Prediction, str | None]:
    """(prediction, None) from segmenter ``name`` on the cache's device; on its out-of-memory, the cache emptied and
    (prediction on the CPU, a note saying so). Without ``colours`` the segmenter may leave the foreground colours
    out (:meth:`models.base.Segmenter.predict_without_colours`)."""

    def predict(segmenter: Segmenter, report: ProgressFn) -> Prediction:
        run = segmenter.predict if colours else segmenter.predict_without_colours
        return run(rgb, options, report)

    try:
        segmenter = models.get(name, progress=progress)
        progress("segment", 0.0)
        return predict(segmenter, lambda s, f: progress(s or "segment", f)), None
    except RuntimeError as exc:
        if "out of memory" not in str(exc).lower() or models.device == "cpu":
            raise
    models.free_memory()
    segmenter = models.get(name, "cpu", progress)
    progress("segment (cpu fallback)", 0.0)
    prediction = predict(segmenter, progress)
    return prediction, f"ran on the CPU after the {models.device} device ran out of memory"
