"""Pictures for the README, made by the project's own code (``python -m server comic-demo``, ``refine-demo``)."""

from __future__ import annotations

import numpy as np


def over_checkerboard(rgb: np.ndarray, alpha: np.ndarray, square: int = 16) -> np.ndarray:
    """A cut-out as an image viewer shows transparency: ``rgb`` (H×W×3) by ``alpha`` (H×W, 0–1) over light grey
    and white squares. Every README picture of a cut-out uses it, so they all look alike."""
    rows, cols = np.indices(alpha.shape)
    checker = np.where(((rows // square + cols // square) % 2) == 0, 255.0, 204.0)[..., None]
    weight = alpha[..., None].astype(np.float64)
    return np.rint(rgb * weight + checker * (1.0 - weight)).astype(np.uint8)
