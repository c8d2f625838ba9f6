# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Where a cut-out goes in a comic panel: the person's box, and the scale and offset that fit it."""

from __future__ import annotations


def person_bounds(mask: bytes | None, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), in photo pixels, of where the mask is 50 % and more (the whole photo without one).

    Pure byte operations (GIMP's Python has no numpy): each row is thresholded by a translate
    table and its first and last person pixel found with ``strip``.
    """
    if mask is None:
        return 0, 0, width, height
    binary = mask.translate(bytes(0 if v < 128 else 1 for v in range(256)))
    x0, y0, x1, y1 = width, height, -1, -1
    for y in range(height):
        row = binary[y * width:(y + 1) * width]
        left = len(row) - len(row.lstrip(b"\0"))
        if left == width:
            continue
        right = len(row.rstrip(b"\0"))
        x0, x1 = min(x0, left), max(x1, right)
        y0 = min(y0, y)
        y1 = y + 1
    if x1 < 0:
        return 0, 0, width, height  # nobody found: place the whole photo
    return x0, y0, x1, y1


def whole_photo(mask: bytes | None) -> bool:
    """Whether the whole photo is the "person": no mask at all, or one that keeps every pixel (a photo without
    a cut-out, or with an opaque alpha channel), so its background goes into the panel too."""
    return mask is None or not mask.translate(None, bytes(range(128, 256)))


def placement(bounds, layer_size, panel: dict, fit: str) -> tuple[float, int, int]:
    """(scale, x, y): how the layer is scaled and where its top-left goes on the page.

    ``whole``: the person's box fits inside the panel; ``fill``: it covers the panel's width
    or height, whichever is larger. Centred across; a person cut off by the photo's bottom
    edge (a bust, a half figure) stands on the panel's bottom edge instead of floating.
    """
    x0, y0, x1, y1 = bounds
    bw, bh = x1 - x0, y1 - y0
    ratios = panel["width"] / bw, panel["height"] / bh
    scale = min(ratios) if fit == "whole" else max(ratios)
    x = panel["x"] + (panel["width"] - bw * scale) / 2 - x0 * scale
    cut_at_bottom = y1 >= layer_size[1]
    if cut_at_bottom:
        y = panel["y"] + panel["height"] - y1 * scale
    else:
        y = panel["y"] + (panel["height"] - bh * scale) / 2 - y0 * scale
    return scale, int(round(x)), int(round(y))
