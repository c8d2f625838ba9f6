"""Segmenters by name: the class behind each declaration of :data:`cutout_common.vocabulary.SEGMENTERS`, and
which one a request runs.

Each implementation registers itself with :func:`register` (as torchvision's ``register_model``); the
declaration names its module, which is imported only when the segmenter is created, so listing the
segmenters never imports torch or reads weights. A new segmenter is one module in ``models/`` and one
declaration in the vocabulary.

:func:`resolve` is the one rule for "which segmenter runs": the one named, else the first of the default
order whose weights are installed. ``hello``'s default, the pipeline, refine, ``instances``, the cutters
and the CLI all ask it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from cutout_common import vocabulary

from .base import Segmenter
from .paths import weights_dir

SegmenterClass = TypeVar("SegmenterClass", bound=type[Segmenter])

#: name -> the class registered for it; filled as the declared modules are imported
_registered: dict[str, type[Segmenter]] = {}


class UnknownSegmenterError(KeyError):
    def __init__(self, name: str, known: Sequence[str] | None = None):
        self.segmenter = name
        super().__init__(f"unknown segmenter {name[:40]!r}; known: {', '.join(names() if known is None else known)}")

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


def register(name: str) -> Callable[[SegmenterClass], SegmenterClass]:
    """Class decorator: the class implements the declared segmenter ``name`` (and takes it as its ``name``), in the
    module the declaration names."""
    info = vocabulary.SEGMENTERS.get(name)
    if info is None:
        raise LookupError(f"segmenter {name!r} is registered but the vocabulary does not declare it")

    def add(cls: SegmenterClass) -> SegmenterClass:
        if cls.__module__ != info.module:
            raise LookupError(f"segmenter {name!r} is declared in {info.module}, registered in {cls.__module__}")
        cls.name = name
        _registered[name] = cls
        return cls

    return add


def names() -> list[str]:
    """Every segmenter's name, in the order dialogs list them."""
    return list(vocabulary.SEGMENTERS)


def segmenter_class(name: str) -> type[Segmenter]:
    info = vocabulary.SEGMENTERS.get(name)
    if info is None:
        raise UnknownSegmenterError(name)
    if name not in _registered:
        importlib.import_module(info.module)
    if name not in _registered:
        raise LookupError(f"{info.module} registers no segmenter {name!r}")
    return _registered[name]


def create(name: str, device: str = "cpu", weights: Path | None = None) -> Segmenter:
    """A segmenter instance (not yet loaded)."""
    return segmenter_class(name)(weights or weights_dir(), device)


def is_installed(name: str, weights: Path | None = None) -> bool:
    """Whether segmenter ``name``'s weights are all in ``weights`` (default: the installed folder)."""
    return not create(name, "cpu", weights).missing_weights()


def resolve(
    name: str | None,
    known: Sequence[str] | None = None,
    installed: Callable[[str], bool] | None = None,
    weights: Path | None = None,
) -> str:
    """The segmenter a request for ``name`` runs: ``name`` itself when given (one of ``known``, default: every
    declared name), else the first of the default order whose weights are ``installed`` (default: in ``weights``,
    the installed folder unless given); when none is, the first of that order, so its error names what to install."""
    known = names() if known is None else list(known)
    if name is not None:
        if name not in known:
            raise UnknownSegmenterError(name, known)
        return name
    if not known:
        raise LookupError("no segmenter is known")
    check = installed or (lambda candidate: is_installed(candidate, weights))

    def runs(candidate: str) -> bool:
        try:
            return check(candidate)
        except (ImportError, LookupError, OSError):  # a broken optional module: that one cannot run
            return False

    order = vocabulary.default_order(known)
    return next((candidate for candidate in order if runs(candidate)), order[0])
