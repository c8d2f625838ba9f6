"""The options of one cut-out request: the pipeline's own, checked, apart from the segmenter's.

Options (a JSON object on the wire) read by the pipeline, declared in
:data:`cutout_common.vocabulary.PIPELINE_OPTIONS`; every other key goes to the segmenter (e.g. ``view``
for ``rvm``, ``person`` for ``people``):

* ``edges`` — ``off`` (default) | ``fast`` | ``best``: alpha matting in the edge band;
* ``foreground`` — bool, default true: return decontaminated colours when known;
* ``parts`` — bool, default false: return part masks (``parsing``);
* ``comic`` — a style name or ``{"style": name, ...parameters}``: comic layers; ``"soft_edges":
  false`` clips the layers to the mask instead of multiplying by it (for a client that masks them);
* ``background`` — ``black``, ``white`` or ``#rrggbb``: also return the cut-out composited
  over that colour (frame ``composite``), computed here so GIMP needs no pixel arithmetic;
* ``mask`` — ``segment`` (default) | ``alpha``: take the person's mask from the sent image's
  alpha channel instead of running a segmenter (GIMP's Comic Layers on a layer that already
  has a mask the artist refined by hand);
* ``hints`` — bool: a hints image comes with the photo (on the wire a GRAY8 frame after the pixels).
  The mask, segmented or given, is redone where the hints contradict it (:mod:`server.pipeline.refine`),
  before the edges and comic stages, so they work on the corrected mask; hint pixels stay hard (0 or 1)
  through the edges stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cutout_common import vocabulary
from cutout_common.options import OptionError, by_name, check_options
from cutout_common.vocabulary import PIPELINE_OPTIONS


@dataclass
class PipelineOptions:
    edges: str = "off"
    foreground: bool = True
    parts: bool = False
    comic: dict[str, Any] | None = None
    background: str | None = None
    mask: str = "segment"
    hints: bool = False
    segmenter_options: dict[str, Any] = field(default_factory=dict)


def parse_options(options: dict[str, Any] | None) -> PipelineOptions:
    """Split the pipeline's options (checked against :data:`PIPELINE_OPTIONS`) from the segmenter's.

    A wrong type or value raises :class:`OptionError`; the segmenter checks its own share later.
    """
    options = dict(options or {})
    ours = {name: options.pop(name) for name in by_name(PIPELINE_OPTIONS) if name in options}
    return PipelineOptions(**check_options(PIPELINE_OPTIONS, ours, "the pipeline"), segmenter_options=options)


def for_segmenter(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The segmenter's options with ``person`` under the name segmenter ``name`` declares for it (``maskrcnn``:
    ``selection``), so a client picks one person with the same option whichever segmenter runs."""
    own = vocabulary.person_option(name)
    if "person" not in options or own in (None, "person"):
        return options
    if own in options:
        raise OptionError(f"options 'person' and '{own}' both choose the person for segmenter '{name}': give one")
    renamed = dict(options)
    renamed[own] = renamed.pop("person")
    return renamed


def check_hints(rgb: np.ndarray, hints: np.ndarray | None, announced: bool) -> None:
    """A hints image of the photo's size in uint8, and one whenever the option ``hints`` says so: checked
    before any network runs."""
    if hints is None:
        if announced:
            raise OptionError("option 'hints' is true but no hints image came with the photo")
        return
    if hints.dtype != np.uint8 or hints.shape != rgb.shape[:2]:
        raise OptionError(
            f"the hints image must be one byte per pixel at the photo's size {rgb.shape[1]}×{rgb.shape[0]}, "
            f"got {hints.dtype} {'×'.join(str(n) for n in hints.shape[::-1])}"
        )


def given_mask(rgb: np.ndarray, given_alpha: np.ndarray | None) -> np.ndarray:
    """The mask the option ``mask: alpha`` takes from the sent image's alpha channel, as float32 in [0, 1]."""
    if given_alpha is None:
        raise OptionError("option 'mask': 'alpha' needs an image with an alpha channel (RGBA8 or GRAYA8)")
    if given_alpha.shape != rgb.shape[:2]:
        raise OptionError(f"the given mask is {given_alpha.shape[1]}×{given_alpha.shape[0]}, the photo "
                          f"{rgb.shape[1]}×{rgb.shape[0]}")
    return given_alpha.astype(np.float32) / 255.0
