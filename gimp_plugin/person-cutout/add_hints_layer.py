# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Filters › Person Cutout › Add Hints Layer: the layer Refine Cut-out… reads the artist's strokes from.

A transparent layer named *Hints* above the photo layer, at its size and place, in Overlay mode so
white strokes lighten and black strokes darken the photo they lie on (both show on any photo, and the
photo shows through them), and the colours set to white and black (X swaps them). When the photo
already has a Hints layer it is shown and selected instead, so strokes accumulate between runs.
"""

from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402
from plugin_logic import hints as hint_logic  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from procedures import done, fail, layer_procedure, single_layer, undo_group  # noqa: E402
from refine_cutout import find_layers  # noqa: E402

PROCEDURE = "python-fu-person-cutout-hints-layer"
MENU_LABEL = _("Add _Hints Layer")
MENU_BLURB = _("A transparent layer named Hints above the layer, to paint refine hints on")
MENU_HELP = _("Adds a transparent layer named Hints above the layer (Overlay mode: strokes show on any photo) and sets "
              "the colours to white and black. Paint white on what is the person and black on what is not, then run "
              "Refine Cut-out…. An existing Hints layer is shown and selected instead.")
NOT_ONE_LAYER = {
    "count": _("Select exactly one layer to add a Hints layer above."),
    "group": _("Select a layer, not a layer group, to add a Hints layer above."),
}


def run(procedure, run_mode, image, drawables, config, data):
    selected, problem = single_layer(drawables, image)
    if selected is None:
        return fail(procedure, NOT_ONE_LAYER[problem])
    photo, existing = find_layers(image, selected)
    if photo is None:
        return fail(procedure, _("Select the photo layer to add a Hints layer above."))
    with undo_group(image):
        if existing is not None:  # one Hints layer per photo: shown again for more strokes
            layer = existing
            layer.set_visible(True)
        else:
            kind = Gimp.ImageType.RGBA_IMAGE if photo.is_rgb() else Gimp.ImageType.GRAYA_IMAGE
            layer = Gimp.Layer.new(image, hint_logic.HINTS_LAYER, photo.get_width(), photo.get_height(), kind,
                                   100.0, Gimp.LayerMode.OVERLAY)
            image.insert_layer(layer, photo.get_parent(), image.get_item_position(photo))
            offsets = photo.get_offsets()
            layer.set_offsets(offsets.offset_x, offsets.offset_y)
            layer.fill(Gimp.FillType.TRANSPARENT)
        image.set_selected_layers([layer])
    Gimp.context_set_foreground(Gegl.Color.new("white"))  # paint white for "person"; X swaps to black
    Gimp.context_set_background(Gegl.Color.new("black"))
    return done(procedure)


def create(plugin, name):
    return layer_procedure(plugin, name, run, MENU_LABEL, MENU_BLURB, MENU_HELP)
