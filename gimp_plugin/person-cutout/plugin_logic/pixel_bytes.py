# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Pixel work on raw bytes, in C-speed builtins (slicing, ``bytes.translate``, ``map``): GIMP's Python has no numpy."""

from __future__ import annotations


def interleave(colours: bytes, alpha: bytes) -> bytes:
    """RGB8 colours and a GRAY8 alpha of the same pixel count as one RGBA8 buffer."""
    if len(colours) != 3 * len(alpha):
        raise ValueError(f"{len(colours)} bytes of RGB do not match {len(alpha)} bytes of alpha")
    rgba = bytearray(len(alpha) * 4)
    for channel in range(3):
        rgba[channel::4] = colours[channel::3]
    rgba[3::4] = alpha
    return bytes(rgba)


def opaque(colours: bytes) -> bytes:
    """RGB8 colours as RGBA8, fully opaque."""
    return interleave(colours, b"\xff" * (len(colours) // 3))


def alpha_of(rgba: bytes) -> bytes:
    return rgba[3::4]


def darkest(first: bytes, second: bytes) -> bytes:
    """The per-pixel minimum of two GRAY8 masks: a fuzzy intersection."""
    if len(first) != len(second):
        raise ValueError(f"masks of {len(first)} and {len(second)} bytes cannot be combined")
    return bytes(map(min, first, second))


_DECIDE = bytes(0 if value < 128 else 255 for value in range(256))


def decided(mask: bytes) -> bytes:
    """A GRAY8 mask decided as print needs it: 255 where it is at least half (128), 0 elsewhere.

    The same cut the server's comic renderer makes (``soft_edges`` false), so a group masked by it
    shows its layers' black ink as black or not at all, never as grey at a soft edge.
    """
    return mask.translate(_DECIDE)


def on_canvas(plane: bytes, width: int, height: int, offset: tuple[int, int], canvas: tuple[int, int]) -> bytes:
    """A ``width``×``height`` GRAY8 plane placed at ``offset`` on a zeroed canvas (clipped to it).

    Part masks come back at the layer's size; image channels are image-sized.
    """
    canvas_width, canvas_height = canvas
    ox, oy = offset
    x0, x1 = max(0, ox), min(canvas_width, ox + width)  # the layer's columns and rows on the canvas
    y0, y1 = max(0, oy), min(canvas_height, oy + height)
    out = bytearray(canvas_width * canvas_height)
    if x0 < x1:
        for y in range(y0, y1):
            source = (y - oy) * width - ox
            out[y * canvas_width + x0:y * canvas_width + x1] = plane[source + x0:source + x1]
    return bytes(out)
