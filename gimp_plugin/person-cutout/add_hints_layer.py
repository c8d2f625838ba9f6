# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Filters › Person Cutout › Add Hints Layer: the layer Refine Cut-out… reads the artist's strokes from.

A transparent layer named *Hints* above the photo layer, at its size and place, in Normal mode with an
outline effect: each stroke shows as painted — white or black — ringed by a thin magenta line, so a
white stroke on a white shirt, a black one on black hair and either over the part the mask hides
(GIMP's checkerboard) all read at a glance. (In Overlay mode, as it was, a stroke over a masked-away
region or a black one on black showed nothing.) The outline is a non-destructive filter: the layer's
pixels stay the white and black the artist painted, which is what Refine Cut-out… reads. The colours
are set to white and black (X swaps them), and GIMP's message says what to do next. When the photo
already has a Hints layer it is shown and selected instead, so strokes accumulate between runs.
"""

from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402
from plugin_logic import hints as hint_logic  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from procedures import done, fail, layer_procedure, selected_photo, undo_group  # noqa: E402
from refine_cutout import hints_layer_of  # noqa: E402

PROCEDURE = "python-fu-person-cutout-hints-layer"
MENU_LABEL = _("_2. Add Hints Layer")
MENU_BLURB = _("A transparent layer named Hints above the layer, to paint refine hints on")
MENU_HELP = _("Adds a transparent layer named Hints above the layer (each stroke outlined, so it shows on any part of "
              "the photo) and sets the colours to white and black. Paint white on what is the person and black on "
              "what is not, then run Refine Cut-out…. An existing Hints layer is shown and selected instead.")
NOT_ONE_LAYER = {
    "count": _("Select exactly one layer to add a Hints layer above."),
    "group": _("Select a layer, not a layer group, to add a Hints layer above."),
}
#: the ring around every stroke: a colour that is neither of the hints' and stands out on photos
OUTLINE_COLOUR = "#ff00ff"
OUTLINE_PX = 2


def next_step() -> str:
    """What the artist does with the new layer: GIMP's message after Add Hints Layer."""
    return _("A layer named “Hints” is ready above the photo, with white and black as the colours (X swaps them). "
             "Paint white on what is the person and black on what is not — one dot in the middle of a mistake is "
             "enough — then choose Filters › Person Cutout › Refine Cut-out…. To see the whole photo while you "
             "paint, Ctrl-click the photo's mask thumbnail in the Layers dialog (and again to see the cut-out).")


def outline(layer) -> None:
    """A thin ring around each stroke (GEGL's drop shadow, grown and unshifted) as a non-destructive filter."""
    effect = Gimp.DrawableFilter.new(layer, "gegl:dropshadow", _("Hint outline"))
    config = effect.get_config()
    for name, value in {"x": 0.0, "y": 0.0, "radius": 0.0, "grow-radius": OUTLINE_PX, "opacity": 2.0}.items():
        config.set_property(name, value)
    config.set_property("color", Gegl.Color.new(OUTLINE_COLOUR))
    effect.update()
    layer.append_filter(effect)


def run(procedure, run_mode, image, drawables, config, data):
    photo, problem = selected_photo(image, drawables, NOT_ONE_LAYER)  # any part of a cut-out means its photo
    if photo is None:
        return fail(procedure, problem)
    existing = hints_layer_of(image, photo)
    with undo_group(image):
        if existing is not None:  # one Hints layer per photo: shown again for more strokes
            layer = existing
            layer.set_visible(True)
        else:
            kind = Gimp.ImageType.RGBA_IMAGE if photo.is_rgb() else Gimp.ImageType.GRAYA_IMAGE
            layer = Gimp.Layer.new(image, hint_logic.HINTS_LAYER, photo.get_width(), photo.get_height(), kind,
                                   100.0, Gimp.LayerMode.NORMAL)
            image.insert_layer(layer, photo.get_parent(), image.get_item_position(photo))
            offsets = photo.get_offsets()
            layer.set_offsets(offsets.offset_x, offsets.offset_y)
            layer.fill(Gimp.FillType.TRANSPARENT)
            outline(layer)
        image.set_selected_layers([layer])
    Gimp.context_set_foreground(Gegl.Color.new("white"))  # paint white for "person"; X swaps to black
    Gimp.context_set_background(Gegl.Color.new("black"))
    if existing is None and run_mode == Gimp.RunMode.INTERACTIVE:
        Gimp.message(next_step())
    return done(procedure)


def create(plugin, name):
    return layer_procedure(plugin, name, run, MENU_LABEL, MENU_BLURB, MENU_HELP)
