# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Options only some segmenters take in Cut Out Person… (issues 4 and 15).

* ``people`` (the default) and ``maskrcnn`` find each person: *Person* picks all of them, the largest,
  or the one under the image's selection — the centre of the selection's bounds, or, with no
  selection, the first anchor of the image's first path — sent in the layer's own pixels as the
  option ``person`` (``selection`` for ``maskrcnn``, whose option predates it).
* ``parsing`` labels body parts: *Body parts as channels* asks for the 19 LIP part masks
  (frames ``part:<Label>``) and adds each as an image channel named by its label, so
  *Channel to Selection* turns hair, face or clothes into a selection in one click.

Both are ignored (and greyed out in the dialog) for the other segmenters, which find every person
and have no parts. Standard library and GIMP only.
"""

from __future__ import annotations

import colorsys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402
from gimp_layers import MASK_FORMAT  # noqa: E402
from plugin_logic import persons  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from plugin_logic.pixel_bytes import on_canvas  # noqa: E402
from server_link import CutoutError  # noqa: E402

#: the Person choices: the server's (its first the default), then the person under the selection (plugin_logic.persons)
PERSONS = persons.choices()
#: the segmenters *Person* applies to, and the name of their option for it ("default": the server's
#: default segmenter, people first unless its detector is not installed)
PERSON_OPTION = {"default": "person", "people": "person", "maskrcnn": "selection"}
PERSON_SEGMENTERS = tuple(PERSON_OPTION)
PARTS_SEGMENTERS = ("parsing",)


def selection_point(image, layer) -> list[float]:
    """The point that picks a person, in ``layer``'s pixels: the selection's centre, else a path's first anchor.

    Raises CutoutError when the image has neither, or the point lies outside the layer.
    """
    _found, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    if non_empty:
        x, y, source = (x1 + x2) / 2.0, (y1 + y2) / 2.0, _("the selection's centre")
    else:
        anchor = first_path_anchor(image)
        if anchor is None:
            raise CutoutError(_("Person: “under the selection” needs a selection (or a path) on the person to cut "
                                "out; select a part of them, or choose another Person"))
        (x, y), source = anchor, _("the first anchor of the path")
    offsets = layer.get_offsets()
    x, y = x - offsets.offset_x, y - offsets.offset_y
    if not (0 <= x < layer.get_width() and 0 <= y < layer.get_height()):
        raise CutoutError(_("Person: %(source)s (%(x)g, %(y)g in the layer) is outside the layer “%(layer)s” "
                            "(%(width)d×%(height)d)") % {"source": source, "x": x, "y": y, "layer": layer.get_name(),
                                                         "width": layer.get_width(), "height": layer.get_height()})
    return [x, y]


def first_path_anchor(image) -> tuple[float, float] | None:
    """The first anchor of the first stroke of the image's first (top) path, in image pixels."""
    for path in image.get_paths():
        for stroke in path.get_strokes():
            _kind, points, _closed = path.stroke_get_points(stroke)
            if len(points) >= 4:  # Bézier strokes: (control, anchor, control) per anchor, x and y each
                return (points[2], points[3]) if len(points) >= 6 else (points[0], points[1])
        return None
    return None


def segmenter_options(segmenter: str, person: str, parts: bool, image, layer) -> dict:
    """The options these choices add to the request (none for segmenters they do not apply to)."""
    options: dict = {}
    if segmenter in PERSON_OPTION and not (segmenter == "default" and person == persons.default()):
        # the server's default needs no word, so a server whose default segmenter has no people still works
        options[PERSON_OPTION[segmenter]] = (selection_point(image, layer) if person == persons.UNDER_SELECTION
                                             else person)
    if segmenter in PARTS_SEGMENTERS and parts:
        options["parts"] = True
    return options


def add_part_channels(image, layer, parts: list[tuple[str, bytes]]) -> list:
    """One hidden image channel per part, named by its label, top of the Channels list in the server's order.

    Channels are image-sized: each layer-sized mask is placed at the layer's offsets (clipped to the
    canvas), zero elsewhere. Call inside the caller's undo group.
    """
    width, height = image.get_width(), image.get_height()
    offsets = layer.get_offsets()
    channels = []
    for position, (label, data) in enumerate(parts):
        plane = on_canvas(data, layer.get_width(), layer.get_height(), (offsets.offset_x, offsets.offset_y),
                          (width, height))
        r, g, b = colorsys.hsv_to_rgb(position / max(len(parts), 1), 0.8, 0.9)
        colour = Gegl.Color.new(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
        channel = Gimp.Channel.new(image, label, width, height, 50.0, colour)
        image.insert_channel(channel, None, position)
        channel.set_visible(False)  # a tint per part would hide the photo; the artist shows the one they need
        buffer = channel.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, width, height), MASK_FORMAT, plane)
        buffer.flush()
        channel.update(0, 0, width, height)
        channels.append(channel)
    return channels
