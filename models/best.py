"""``best`` — the ``rvm`` matte and two views of ``isnet`` combined, for when time does not matter.

The networks fail differently: ``rvm`` (a matting network trained on people, seeing the
photo at 512 px) keeps everyone in a crowd but leaves soft blobs on clutter; ``isnet`` (a
1024² salient-object network) draws sharp outlines but can drop people or keep objects,
and which it does depends on how the photo is fitted into its square (squashed or
letterboxed). ``best`` averages three probabilities — ``rvm``, ``isnet`` letterboxed,
``isnet`` squashed — so each pixel goes with the majority, and a confident network can
overrule two unsure ones. Measured on persons-dev: over all 87 photos, ``rvm`` 0.912,
``isnet`` (squashed) 0.887, their mean 0.922; on the 60 photos with both views measured,
this three-way mean 0.927 against 0.926 (rvm + squashed), 0.925 (rvm + letterboxed),
0.917 ``rvm`` and 0.900 ``isnet`` alone (``tests/test_isnet.py`` prints the 87-photo figures).

Where all three are on the same side of 0.5 the pixel's label is the same either way, so
there the alpha is ``rvm``'s own matte (its soft hair and edge detail; mean absolute error
against the masks 0.0285 against the plain average's 0.0302), not the average; thresholded, the result is exactly the
average's mask. Foreground colours are ``rvm``'s. It costs one ``rvm`` and two ``isnet`` runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import OptionError, Prediction, ProgressFn, Segmenter, no_progress
from .isnet import ISNetSegmenter
from .rvm import RobustVideoMatting

#: the two ways ``isnet`` sees the photo; both are averaged in
ISNET_VIEWS = ("letterbox", "squash")


def combine(rvm_alpha: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """Per pixel: ``rvm``'s alpha where every probability is on its side of 0.5, else the mean of all.

    Thresholding the result at 0.5 gives exactly the mean's mask (when all agree, the mean is on
    their side too), so this keeps the mean's accuracy and ``rvm``'s matte detail where all agree.
    """
    mean = (rvm_alpha + sum(others)) / (1 + len(others))
    side = rvm_alpha >= 0.5
    agree = np.logical_and.reduce([(other >= 0.5) == side for other in others])
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
        return self.merge(self.parts(rgb, options, progress))

    def parts(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> dict[str, Prediction]:
        """The parts' own predictions: ``rvm`` and ``isnet/letterbox``, ``isnet/squash``.

        Options: ``{"rvm": {...}}`` is passed to ``rvm``; ``isnet``'s views are fixed here.
        """
        options = options or {}
        unknown = set(options) - {"rvm"}
        if unknown:
            raise OptionError(f"best does not know the option(s) {', '.join(sorted(unknown))}; "
                              "options for its matting part go in {'rvm': {...}}")
        if not isinstance(options.get("rvm", {}), dict):
            raise OptionError("option 'rvm' must be an object of rvm's options")
        found = {"rvm": self.rvm.predict(rgb, options.get("rvm"), lambda stage, f: progress(stage, 0.1 * f))}
        for i, view in enumerate(ISNET_VIEWS):
            start = 0.1 + 0.45 * i
            found[f"isnet/{view}"] = self.isnet.predict(
                rgb, {"view": view}, lambda stage, f, start=start: progress(stage, start + 0.45 * f)
            )
        return found

    @staticmethod
    def merge(parts: dict[str, Prediction]) -> Prediction:
        """``best``'s prediction from its parts' (see :meth:`parts`): combined alpha, ``rvm``'s foreground."""
        matte = parts["rvm"]
        alpha = combine(matte.alpha, *(parts[f"isnet/{view}"].alpha for view in ISNET_VIEWS))
        return Prediction(alpha=alpha, foreground=matte.foreground, info={k: p.info for k, p in parts.items()})
