# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Layers' pixels in and out of GEGL buffers, in the formats the wire protocol names, and the parasites the plug-in
records on items (JSON)."""

from __future__ import annotations

import json

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl  # noqa: E402
from plugin_logic import pixel_bytes  # noqa: E402

# babl formats of the pixels sent, by layer type: 8-bit, perceptual (gamma) values,
# whatever the image's precision — GIMP converts high bit depth on the way.
SEND_FORMATS = {
    (True, False): ("R'G'B' u8", "RGB8"),
    (True, True): ("R'G'B'A u8", "RGBA8"),
    (False, False): ("Y' u8", "GRAY8"),
    (False, True): ("Y'A u8", "GRAYA8"),
}
# the mask's babl format: linear "Y u8" keeps the server's 0…255 values exactly in 8-bit images
MASK_FORMAT = "Y u8"
RGB_FORMAT = "R'G'B' u8"
RGBA_FORMAT = "R'G'B'A u8"


def read_pixels(drawable, babl_format: str) -> bytes:
    width, height = drawable.get_width(), drawable.get_height()
    rect = Gegl.Rectangle.new(0, 0, width, height)
    return bytes(drawable.get_buffer().get(rect, 1.0, babl_format, Gegl.AbyssPolicy.CLAMP))


def write_pixels(drawable, babl_format: str, data: bytes) -> None:
    width, height = drawable.get_width(), drawable.get_height()
    buffer = drawable.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), babl_format, data)
    buffer.flush()
    drawable.update(0, 0, width, height)


def layer_pixels(layer) -> tuple[bytes, str]:
    """The layer's pixels as sent to the server, and their wire format."""
    babl_format, wire_format = SEND_FORMATS[(layer.is_rgb(), layer.has_alpha())]
    return read_pixels(layer, babl_format), wire_format


def layer_with_mask_as_alpha(layer) -> bytes:
    """RGBA8 pixels: the layer's colours with its layer mask (times its own alpha) as the alpha channel.

    Sent with the option ``mask: alpha`` so the server works on the person exactly as the artist
    masked them, without running a segmenter.
    """
    mask = read_pixels(layer.get_mask(), MASK_FORMAT)
    if layer.has_alpha():
        mask = pixel_bytes.darkest(mask, pixel_bytes.alpha_of(read_pixels(layer, RGBA_FORMAT)))
    return pixel_bytes.interleave(read_pixels(layer, RGB_FORMAT), mask)


def person_rgba(layer) -> bytes:
    """The layer with the person's mask as alpha: its layer mask if it has one, else its own alpha."""
    return layer_with_mask_as_alpha(layer) if layer.get_mask() is not None else read_pixels(layer, RGBA_FORMAT)


def read_parasite(item, name: str) -> dict | None:
    """The JSON object the plug-in recorded on ``item`` (a layer, group or image) as parasite ``name``; None
    when there is none or it cannot be read."""
    parasite = item.get_parasite(name)
    if parasite is None:
        return None
    try:
        data = json.loads(bytes(parasite.get_data()).decode())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
