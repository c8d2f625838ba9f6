"""Segmenters by name.

Each entry names a module and class, imported only when used, so listing the
segmenters (for ``hello``) never imports torch or reads weights. A new segmenter
is one module in ``models/`` plus one line here.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from .base import Segmenter
from .paths import weights_dir

#: name -> "module:Class", in the order the GIMP dialog lists them
SEGMENTERS: dict[str, str] = {
    "rvm": "models.rvm:RobustVideoMatting",
    "selfie": "models.selfie:SelfieSegmenter",
    "isnet": "models.isnet:ISNetSegmenter",
    "best": "models.best:BestSegmenter",
    "modnet": "models.modnet:ModNetSegmenter",
    "maskrcnn": "models.maskrcnn:MaskRCNNSegmenter",
    "deeplab": "models.deeplab:DeepLabSegmenter",
    "parsing": "models.parsing:ParsingSegmenter",
}

#: preference order for the default: the first whose weights are installed
DEFAULT_ORDER: tuple[str, ...] = ("rvm", "selfie")


class UnknownSegmenterError(KeyError):
    def __init__(self, name: str):
        self.segmenter = name
        super().__init__(f"unknown segmenter '{name}'; known: {', '.join(names())}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


def names() -> list[str]:
    """Registered names whose module exists in this checkout."""
    return [n for n in SEGMENTERS if _module_exists(n)]


def _module_exists(name: str) -> bool:
    module = SEGMENTERS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


def segmenter_class(name: str) -> type[Segmenter]:
    if name not in SEGMENTERS or not _module_exists(name):
        raise UnknownSegmenterError(name)
    module_name, class_name = SEGMENTERS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create(name: str, device: str = "cpu", weights: Path | None = None) -> Segmenter:
    """A segmenter instance (not yet loaded)."""
    return segmenter_class(name)(weights or weights_dir(), device)


def default_name(weights: Path | None = None) -> str:
    """The default in force: the first of DEFAULT_ORDER whose weights are installed."""
    for name in DEFAULT_ORDER:
        if name in names() and not create(name, "cpu", weights).missing_weights():
            return name
    return DEFAULT_ORDER[-1]
