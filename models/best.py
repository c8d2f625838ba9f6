"""``best`` — the ``rvm`` matte and ``isnet`` combined, for when time does not matter.

The networks fail differently: ``rvm`` (a matting network trained on people, seeing the
photo at 512 px) keeps everyone in a crowd but leaves soft blobs on clutter; ``isnet`` (a
1024² salient-object network) draws sharp outlines but can drop people or keep objects.
``best`` averages the two probabilities per pixel, so a confident network overrules an
unsure one; the mean scores above either network alone on persons-dev, and a third vote
(``isnet``'s squashed view) would let ``isnet`` outvote ``rvm`` (README, *Quality*;
``tests/test_isnet.py`` prints the figures).

Where both are on the same side of 0.5 the pixel's label is the same either way, so
there the alpha is ``rvm``'s own matte (its soft hair and edge detail), not the average;
thresholded, the result is exactly the average's mask. Foreground colours are ``rvm``'s, asked of it only
when the caller uses them (a layer mask does not: :meth:`models.base.Segmenter.predict_without_colours`).
It costs one ``rvm`` and one ``isnet`` run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cutout_common.options import Option, OptionError

from .base import ColourMatting, Prediction, ProgressFn, no_progress
from .isnet import ISNetSegmenter
from .registry import register
from .rvm import RobustVideoMatting

#: time does not matter here: ``rvm`` at its most accurate, small photos enlarged to a 512 view
#: (IoU 0.915, against 0.910 for the fast default)
RVM_DEFAULTS = {"enlarge": True, "view": 512}


def combine(rvm_alpha: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """Per pixel: ``rvm``'s alpha where every probability is on its side of 0.5, else the mean of all.

    Thresholding the result at 0.5 gives exactly the mean's mask (when all agree, the mean is on
    their side too), so this keeps the mean's accuracy and ``rvm``'s matte detail where all agree.
    """
    mean = (rvm_alpha + sum(others)) / (1 + len(others))
    side = rvm_alpha >= 0.5
    agree = np.logical_and.reduce([(other >= 0.5) == side for other in others])
    return np.where(agree, rvm_alpha, mean).astype(np.float32, copy=False)


@register("best")
class BestSegmenter(ColourMatting):
    weight_files = ("rvm.pt", "isnet.pt")
    options = (
        Option("rvm", "Matting options", "custom", {}, parse=lambda value: _object(value, "rvm"),
               type_help="an object of rvm's options", help="options for the matting part (over RVM_DEFAULTS)"),
    )

    def __init__(self, weights_dir, device: str = "cpu"):
        super().__init__(weights_dir, device)
        self.rvm = RobustVideoMatting(weights_dir, device)
        self.isnet = ISNetSegmenter(weights_dir, device)

    def load(self) -> None:
        self.ensure_weights()
        self.rvm.load()
        self.isnet.load()

    def predict_matte(
        self, rgb: np.ndarray, options: dict[str, Any] | None, progress: ProgressFn, colours: bool
    ) -> Prediction:
        return self.merge(self.parts(rgb, options, progress, colours))

    def parts(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress,
        colours: bool = True,
    ) -> dict[str, Prediction]:
        """The parts' own predictions: ``rvm`` (with its colours when ``colours``) and ``isnet``.

        Options: ``{"rvm": {...}}`` is passed to ``rvm`` (over :data:`RVM_DEFAULTS`); ``isnet`` runs with its defaults.
        """
        matting = self.check_options(options)["rvm"]
        return {
            "rvm": self.rvm.predict_matte(rgb, {**RVM_DEFAULTS, **matting}, lambda stage, f: progress(stage, 0.2 * f),
                                          colours),
            "isnet": self.isnet.predict(rgb, None, lambda stage, f: progress(stage, 0.2 + 0.8 * f)),
        }

    @staticmethod
    def merge(parts: dict[str, Prediction]) -> Prediction:
        """``best``'s prediction from its parts' (see :meth:`parts`): combined alpha, ``rvm``'s foreground."""
        matte = parts["rvm"]
        alpha = combine(matte.alpha, parts["isnet"].alpha)
        return Prediction(alpha=alpha, foreground=matte.foreground, info={k: p.info for k, p in parts.items()})


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OptionError(f"option '{name}' must be an object of {name}'s options")
    return value
