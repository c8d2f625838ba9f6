"""The cut-out as a picture: over transparency or a solid colour, and the colours a request may name."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import ImageColor


def composite(
    rgb: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None = None, background: str = "transparent"
) -> np.ndarray:
    """The cut-out as an image: RGBA on transparent, or RGB over a solid colour.

    Uses the decontaminated ``foreground`` colours where alpha is soft, so no halo
    of the old background shows on black (the original platform's output). Worked in place on one float
    copy of the colours, with OpenCV's rounding to bytes: 0.3 s at 12 MP on 2 cores where numpy's temporaries took
    up to 3 s with no report between (a cancel waited for it); the same bytes but for a last-bit rounding in
    about one pixel in 10⁵.
    """
    colours = rgb.astype(np.float32) * np.float32(1 / 255) if foreground is None else foreground.astype(np.float32)
    a = np.ascontiguousarray(alpha, dtype=np.float32)
    if background == "transparent":
        out = cv2.merge([*cv2.split(colours), a])
    else:
        fill = np.asarray(parse_colour(background), dtype=np.float32) / np.float32(255)
        out = colours  # a copy made above: colours · a + fill · (1 − a), as fill + a · (colours − fill)
        out -= fill
        out *= a[..., None]
        out += fill
    np.clip(out, 0.0, 1.0, out=out)
    return cv2.convertScaleAbs(out, alpha=255.0)  # rounds half to even and saturates, as np.rint and a clip did


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour as Pillow reads it (``black``, ``white``, ``#rrggbb``, …); ``ValueError`` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"a colour is a name or #rrggbb, not {text!r}")
    return ImageColor.getrgb(text)[:3]
