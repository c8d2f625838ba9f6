"""Segmenters by name: which class implements each name of :data:`cutout_common.vocabulary.SEGMENTERS`.

Each entry names a module and class, imported only when used, so listing the segmenters (for
``hello``) never imports torch or reads weights. A new segmenter is one module in ``models/``, one
line here and one entry in the vocabulary (its title and the networks it runs).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from cutout_common import vocabulary

from .base import Segmenter
from .paths import weights_dir

#: name -> "module:Class"; the names and their order are the vocabulary's
IMPLEMENTATIONS: dict[str, str] = {
    "people": "models.people:PeopleSegmenter",
    "rvm": "models.rvm:RobustVideoMatting",
    "selfie": "models.selfie:SelfieSegmenter",
    "isnet": "models.isnet:ISNetSegmenter",
    "best": "models.best:BestSegmenter",
    "modnet": "models.modnet:ModNetSegmenter",
    "maskrcnn": "models.maskrcnn:MaskRCNNSegmenter",
    "deeplab": "models.deeplab:DeepLabSegmenter",
    "parsing": "models.parsing:ParsingSegmenter",
}
assert list(IMPLEMENTATIONS) == list(vocabulary.SEGMENTERS), "the vocabulary and the registry name the same segmenters"

DEFAULT_ORDER = vocabulary.DEFAULT_ORDER


class UnknownSegmenterError(KeyError):
    def __init__(self, name: str):
        self.segmenter = name
        super().__init__(f"unknown segmenter {name[:40]!r}; known: {', '.join(names())}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


def names() -> list[str]:
    """Every segmenter's name, in the order dialogs list them."""
    return list(IMPLEMENTATIONS)


def segmenter_class(name: str) -> type[Segmenter]:
    if name not in IMPLEMENTATIONS:
        raise UnknownSegmenterError(name)
    module_name, class_name = IMPLEMENTATIONS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create(name: str, device: str = "cpu", weights: Path | None = None) -> Segmenter:
    """A segmenter instance (not yet loaded)."""
    return segmenter_class(name)(weights or weights_dir(), device)


def default_name(weights: Path | None = None) -> str:
    """The default in force: the first of DEFAULT_ORDER whose weights are installed."""
    for name in DEFAULT_ORDER:
        if not create(name, "cpu", weights).missing_weights():
            return name
    return DEFAULT_ORDER[-1]
