"""Segmenters without a network, for measuring and testing the machinery around the real ones.

* :class:`Everyone` keeps every pixel: what a request costs besides the network (``bench transport``);
* :class:`Brightness` answers luma / 255, the luma rounded to a whole level: an exactly predictable mask,
  so a test can check every byte that went through the server and back against a luma it computes
  another way (the test suite builds slow and failing ones on it).

Neither is registered: a caller passes them to the server or the model cache through a factory.
"""

from __future__ import annotations

import numpy as np

from models.base import Prediction, ProgressFn, Segmenter, no_progress

#: Rec. 601 luma weights (0.299, 0.587, 0.114) in 16-bit fixed point
LUMA_FIXED = np.array([19595, 38470, 7471], np.uint32)


class StandIn(Segmenter):
    """Nothing to load, no options but the ones a subclass declares."""

    def load(self, progress: ProgressFn = no_progress) -> None:
        pass


class Everyone(StandIn):
    name = "everyone"
    title = "stand-in: every pixel is the person"
    licence = "GPL-3.0-or-later"

    def predict(self, rgb: np.ndarray, options: dict | None = None, progress: ProgressFn = no_progress) -> Prediction:
        return Prediction(alpha=np.ones(rgb.shape[:2], np.float32))


class Brightness(StandIn):
    name = "brightness"
    title = "stand-in: brightness as the mask"
    licence = "GPL-3.0-or-later"

    def predict(self, rgb: np.ndarray, options: dict | None = None, progress: ProgressFn = no_progress) -> Prediction:
        progress("segment", 0.5)
        return Prediction(alpha=brightness(rgb))


def brightness(rgb: np.ndarray) -> np.ndarray:
    """luma / 255 of an RGB uint8 photo, float32: Rec. 601 luma rounded to a whole level (0…255), so the mask's
    8-bit form is exactly that level."""
    luma = (rgb.astype(np.uint32) @ LUMA_FIXED + (1 << 15)) >> 16
    return luma.astype(np.float32) / 255.0
