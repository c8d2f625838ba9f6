# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Refine Cut-out…'s decisions that need no GIMP: which layer is the photo and which the hints, and the
hints frame from the Hints layer's pixels (and the selection).

The wire's hints frame is GRAY8: 255 "this is the person", 0 "this is not", anything else no hint.
On the Hints layer the artist paints white or black; transparent pixels, the soft rims of a brush
(less than half opaque) and other colours are no hint. Pixel work is done with ``bytes.translate``
and big-integer bitwise operations (C speed; GIMP's Python has no numpy): each pixel becomes a
2-bit class, 1 white, 2 black, 0 none, and the channels' classes are ANDed.
"""

from __future__ import annotations

from cutout_common.protocol import HINT_NONE, HINT_NOT_PERSON, HINT_PERSON

from .pixel_bytes import on_canvas

#: the name of the layer the artist paints hints on (GIMP numbers copies "Hints #1", …)
HINTS_LAYER = "Hints"
#: the wire's hint values
PERSON, NOT_PERSON, NO_HINT = HINT_PERSON, HINT_NOT_PERSON, HINT_NONE
#: a channel at least this bright counts as white, at most ``DARK`` as black (antialiased rims are neither)
LIGHT, DARK = 192, 63
#: a Hints pixel at least this opaque is a hint
OPAQUE = 128

WHITE, BLACK = 1, 2
_CHANNEL_CLASS = bytes(WHITE if v >= LIGHT else BLACK if v <= DARK else 0 for v in range(256))
_OPAQUE_CLASS = bytes(WHITE | BLACK if v >= OPAQUE else 0 for v in range(256))
_SELECTED_CLASS = bytes(WHITE if v >= 128 else 0 for v in range(256))
#: class → wire value; black wins where a black stroke meets the selection's white
_TO_WIRE = bytes([NO_HINT, PERSON, NOT_PERSON, NOT_PERSON] + [NO_HINT] * 252)


def is_hints_layer(name: str) -> bool:
    return name == HINTS_LAYER or name.startswith(HINTS_LAYER + " #")


def pick_photo(names: list[str], selected: int) -> int | None:
    """Among sibling layers (top first), the photo to refine: the selected one, or the first layer below it
    that is not a Hints layer when the artist left the Hints layer selected after painting. None if none."""
    if not is_hints_layer(names[selected]):
        return selected
    return next((i for i in range(selected + 1, len(names)) if not is_hints_layer(names[i])), None)


def pick_hints(names: list[str], photo: int) -> int | None:
    """The Hints layer for the photo at ``photo`` among its siblings (top first): the nearest above it, else
    the nearest below it; None when there is none."""
    above = [i for i in range(photo - 1, -1, -1) if is_hints_layer(names[i])]
    below = [i for i in range(photo + 1, len(names)) if is_hints_layer(names[i])]
    return (above or below or [None])[0]


def classes_from_rgba(rgba: bytes) -> bytes:
    """One class byte per RGBA8 pixel: WHITE, BLACK or 0 (no hint)."""
    count = len(rgba) // 4
    if len(rgba) != 4 * count:
        raise ValueError(f"{len(rgba)} bytes are not RGBA8 pixels")
    combined = -1
    for channel in range(3):
        combined &= int.from_bytes(rgba[channel::4].translate(_CHANNEL_CLASS), "little")
    combined &= int.from_bytes(rgba[3::4].translate(_OPAQUE_CLASS), "little")
    return combined.to_bytes(count, "little")


def hints_frame(
    photo_size: tuple[int, int],
    painted: tuple[bytes, tuple[int, int], tuple[int, int]] | None = None,
    selection: tuple[bytes, tuple[int, int], tuple[int, int]] | None = None,
) -> bytes:
    """The GRAY8 hints frame for a photo layer of ``photo_size`` (width, height).

    ``painted``: the Hints layer as (RGBA8 bytes, (width, height), its offset from the photo layer's);
    ``selection``: a keep hint as (GRAY8 bytes, (width, height), offset from the photo layer), usually
    the image's selection mask at the negated offsets of the photo layer. Parts outside the photo are
    dropped; where a black stroke and the selection meet, the stroke wins.
    """
    width, height = photo_size
    classes = bytes(width * height)
    if painted is not None:
        rgba, (w, h), offset = painted
        classes = on_canvas(classes_from_rgba(rgba), w, h, offset, photo_size)
    if selection is not None:
        grey, (w, h), offset = selection
        if len(grey) != w * h:
            raise ValueError(f"a selection of {len(grey)} bytes is not {w}×{h}")
        kept = on_canvas(grey.translate(_SELECTED_CLASS), w, h, offset, photo_size)
        classes = (int.from_bytes(classes, "little") | int.from_bytes(kept, "little")).to_bytes(len(classes), "little")
    return classes.translate(_TO_WIRE)


def count_hints(frame: bytes) -> tuple[int, int]:
    """(person pixels, not-person pixels) of a hints frame."""
    return frame.count(PERSON), frame.count(NOT_PERSON)
