"""The cut-out as a picture: over transparency or a solid colour, and the colours a request may name."""

from __future__ import annotations

import numpy as np
from PIL import ImageColor


def composite(
    rgb: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None = None, background: str = "transparent"
) -> np.ndarray:
    """The cut-out as an image: RGBA on transparent, or RGB over a solid colour.

    Uses the decontaminated ``foreground`` colours where alpha is soft, so no halo
    of the old background shows on black (the original platform's output).
    """
    colours = rgb.astype(np.float32) / 255.0 if foreground is None else foreground.astype(np.float32)
    a = alpha.astype(np.float32)[..., None]
    if background == "transparent":
        rgba = np.concatenate([colours, a], axis=2)
        return np.clip(np.rint(rgba * 255.0), 0, 255).astype(np.uint8)
    fill = np.asarray(parse_colour(background), dtype=np.float32) / 255.0
    out = colours * a + fill * (1.0 - a)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour as Pillow reads it (``black``, ``white``, ``#rrggbb``, …); ``ValueError`` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"a colour is a name or #rrggbb, not {text!r}")
    return ImageColor.getrgb(text)[:3]
