"""``best`` — the default's cut-out with a second network's vote on what the subjects carry, for when time does
not matter.

The default (:mod:`models.people`) joins MODNet's matte of the subjects' crop to ``rvm``'s
(:mod:`models.whole_subject`). MODNet sees a portrait; ISNet (a 1024² salient-object network) sees the thing the
photo is of, and the two fail differently: MODNet takes a bench or a shadow with the person, ISNet drops a thin
arm or keeps a bright sign. ``best`` joins the *mean* of their two mattes instead of MODNet's alone — trusted,
joined and kept to the subjects by the same rules — so what they carry comes in where the two networks agree on
it. Measured with ``eval`` (README, *Quality*), against the default: persons-dev IoU 0.924 → 0.932 (F1 0.958 →
0.963); ccp-dev, drawn by people, 0.960 → 0.961, less outside the person (2.82 → 2.58 %) but fewer of the bags'
pixels kept (0.955 → 0.919: where ISNet misses a bag MODNet is sure of, the mean is no longer confident). ISNet adds
about 3 s a photo on 2 CPU cores.

Everything else is the default's: the subjects, the crops, the turned looks, the decided alpha, the options
(``person`` included), the people ``instances`` lists, the crops hints re-run. (``best`` was once the per-pixel
mean of ``rvm`` and ISNet over the whole photo: it kept passers-by and left a helmet held to the chest grey, and
the default outgrew it.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import Prediction, ProgressFn, no_progress, progress_within
from .isnet import ISNetSegmenter
from .modnet import ModNetSegmenter
from .people import PeopleSegmenter
from .registry import register


class TwoVotes:
    """MODNet and ISNet on the same crop: the mean of their mattes, as :meth:`PeopleSegmenter.join_what_they_carry`
    asks its ``objects`` network for one."""

    def __init__(self, weights_dir: Path, device: str):
        self.modnet = ModNetSegmenter(weights_dir, device)
        self.isnet = ISNetSegmenter(weights_dir, device)

    def load(self, progress: ProgressFn = no_progress) -> None:
        self.modnet.load(progress_within(progress, 0.0, 0.2))
        self.isnet.load(progress_within(progress, 0.2, 1.0))

    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        modnet = self.modnet.predict(rgb, None, progress_within(progress, 0.0, 0.1)).alpha
        # a report between the two networks: a cancel is read there, not only after ISNet's seconds
        isnet = self.isnet.predict(rgb, None, progress_within(progress, 0.1, 1.0)).alpha
        modnet += isnet  # in place: the crop can be most of a 24 MP photo
        modnet *= 0.5
        return Prediction(alpha=modnet, info={"votes": ["modnet", "isnet"]})


@register("best")
class BestSegmenter(PeopleSegmenter):
    weight_files = (*PeopleSegmenter.weight_files, "isnet.pt")

    def __init__(self, weights_dir: Path, device: str = "cpu"):
        super().__init__(weights_dir, device)
        self.objects = TwoVotes(weights_dir, device)
