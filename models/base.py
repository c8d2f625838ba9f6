"""The one interface every segmenter implements.

A segmenter turns an RGB photo (``H×W×3`` uint8 numpy array) into a soft person
probability (``H×W`` float32 in [0, 1]) at the photo's own size. Some networks
give more: foreground colours freed from the background (matting networks) or
named part masks (human parsing). They return those in :class:`Prediction` so
the server can send them as extra named frames.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

#: ``progress(stage, fraction)`` — fraction in [0, 1] of the segmenter's own work.
ProgressFn = Callable[[str, float], None]


def no_progress(stage: str, fraction: float) -> None:
    """Progress sink for callers that do not care."""


class WeightsMissingError(RuntimeError):
    """Raised when a segmenter's weight files are not installed.

    The message names the install command, because the server never downloads
    during a request, and names the files relative to the weights folder: it goes
    to remote clients, who have no business knowing the server's paths.
    """

    def __init__(self, segmenter: str, missing: list[Path], weights_dir: Path | None = None):
        self.segmenter = segmenter
        self.missing = missing
        names = ", ".join(_relative(p, weights_dir) for p in missing)
        super().__init__(
            f"weights for segmenter '{segmenter}' are not installed ({names}); "
            f"run: python install.py --models {segmenter}"
        )


def _relative(path: Path, folder: Path | None) -> str:
    try:
        return Path(path).relative_to(folder).as_posix() if folder is not None else Path(path).name
    except ValueError:
        return Path(path).name


class OptionError(ValueError):
    """An option given to a segmenter has the wrong type or value."""


@dataclass
class Prediction:
    """What a segmenter returns, always at the input photo's size.

    ``alpha``: person probability or alpha matte, float32 in [0, 1].
    ``foreground``: optional H×W×3 float32 colours in [0, 1] of the person with the
    old background removed (meaningful where alpha > 0).
    ``parts``: optional named part masks (float32 in [0, 1]), e.g. ``{"Hair": ...}``.
    ``info``: small JSON-able facts for the reply (instances found, view size...).
    """

    alpha: np.ndarray
    foreground: np.ndarray | None = None
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class Segmenter(abc.ABC):
    """Base class: subclasses set the class attributes and implement two methods.

    Construction is cheap; :meth:`load` reads weights and moves the network to a
    device, so the server can list segmenters without loading any of them.
    """

    #: registry name, e.g. ``"selfie"``
    name: ClassVar[str]
    #: one line for ``hello`` and the GIMP dialog
    title: ClassVar[str]
    #: licence of the weights (SPDX where one exists)
    licence: ClassVar[str]
    #: weight files (relative to the weights directory) that :meth:`load` needs
    weight_files: ClassVar[tuple[str, ...]] = ()

    def __init__(self, weights_dir: Path, device: str = "cpu"):
        self.weights_dir = Path(weights_dir)
        self.device = device

    def missing_weights(self) -> list[Path]:
        """Weight files that are not on disk (empty when ready)."""
        paths = [self.weights_dir / f for f in self.weight_files]
        return [p for p in paths if not p.is_file()]

    def ensure_weights(self) -> None:
        missing = self.missing_weights()
        if missing:
            raise WeightsMissingError(self.name, missing, self.weights_dir)

    @abc.abstractmethod
    def load(self) -> None:
        """Read the weights and prepare the network on ``self.device``."""

    @abc.abstractmethod
    def predict(
        self,
        rgb: np.ndarray,
        options: dict[str, Any] | None = None,
        progress: ProgressFn = no_progress,
    ) -> Prediction:
        """Segment one photo (``H×W×3`` uint8 RGB)."""
