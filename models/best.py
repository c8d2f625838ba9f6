"""``best`` — the ``rvm`` matte and the ``isnet`` probability combined, for when time does not matter.

The two networks fail differently: ``rvm`` (a matting network trained on people, seeing the
photo at 512 px) keeps everyone in a crowd but leaves soft blobs on clutter; ``isnet`` (a
1024² salient-object network) draws sharp outlines but can drop people or keep objects.
Averaging the two probabilities keeps what both see and lets a confident network overrule
an unsure one. Where both agree on the side of 0.5, the pixel's label is the same either
way, so there the alpha is ``rvm``'s own matte (its soft hair and edge detail), not the
average; the cut-out (alpha ≥ 0.5) is the average's. Foreground colours are ``rvm``'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import OptionError, Prediction, ProgressFn, Segmenter, no_progress
from .isnet import ISNetSegmenter
from .rvm import RobustVideoMatting


def combine(rvm_alpha: np.ndarray, isnet_alpha: np.ndarray) -> np.ndarray:
    """Per pixel: ``rvm``'s alpha where both networks are on the same side of 0.5, else the mean of the two.

    Thresholding the result at 0.5 gives exactly the mean's mask (when both agree, the mean is on
    their side too), so this keeps the mean's accuracy and ``rvm``'s matte detail at agreed edges.
    """
    mean = 0.5 * (rvm_alpha + isnet_alpha)
    agree = (rvm_alpha >= 0.5) == (isnet_alpha >= 0.5)
    return np.where(agree, rvm_alpha, mean).astype(np.float32, copy=False)


class BestSegmenter(Segmenter):
    name = "best"
    title = "Best: rvm and isnet combined (slow, most accurate)"
    licence = "AGPL-3.0"  # the strictest of its parts: rvm GPL-3.0, isnet AGPL-3.0
    weight_files = ("rvm.pt", "isnet.pt")

    def __init__(self, weights_dir, device: str = "cpu"):
        super().__init__(weights_dir, device)
        self.rvm = RobustVideoMatting(weights_dir, device)
        self.isnet = ISNetSegmenter(weights_dir, device)

    def load(self) -> None:
        self.ensure_weights()
        self.rvm.load()
        self.isnet.load()

    def predict(self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress) -> Prediction:
        return self.merge(*self.parts(rgb, options, progress))

    def parts(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> tuple[Prediction, Prediction]:
        """The two networks' own predictions (``rvm``, ``isnet``); options per part as ``{"rvm": {...}}``."""
        options = options or {}
        unknown = set(options) - {"rvm", "isnet"}
        if unknown:
            raise OptionError(f"best does not know the option(s) {', '.join(sorted(unknown))}; "
                              "pass options for its parts as {'rvm': {...}, 'isnet': {...}}")
        for part in ("rvm", "isnet"):
            if not isinstance(options.get(part, {}), dict):
                raise OptionError(f"option '{part}' must be an object of {part}'s options")
        matte = self.rvm.predict(rgb, options.get("rvm"), lambda stage, f: progress(stage, 0.2 * f))
        salient = self.isnet.predict(rgb, options.get("isnet"), lambda stage, f: progress(stage, 0.2 + 0.8 * f))
        return matte, salient

    @staticmethod
    def merge(matte: Prediction, salient: Prediction) -> Prediction:
        """``best``'s prediction from ``rvm``'s and ``isnet``'s: combined alpha, ``rvm``'s foreground."""
        alpha = combine(matte.alpha, salient.alpha)
        return Prediction(alpha=alpha, foreground=matte.foreground, info={"rvm": matte.info, "isnet": salient.info})
