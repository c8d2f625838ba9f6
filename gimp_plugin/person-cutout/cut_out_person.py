# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Filters › Person Cutout › Cut Out Person…: the layer's person as a layer mask, a new layer, on black, or the
image's selection.

Sends the selected layer to the server (server_link.py) and writes the answer back — a soft layer mask
on the layer, a new cut-out layer on transparent, the person on black, or a soft selection (which replaces the
image's selection, so GIMP's own tools — Quick Mask, Grow, Shrink, Feather, Copy — work on the person), and if
asked comic layers above it and body parts as channels — in one undo step, once the whole answer has arrived and
been checked, so an error or a cancel leaves the image as it was.
"""

from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
import comic_layers  # noqa: E402
import procedures  # noqa: E402
import segmenter_options  # noqa: E402
from dialogs import licence_consent, only_for, segmenter_note, watch_segmenter  # noqa: E402
from gi.repository import Gimp  # noqa: E402
from gimp_layers import MASK_FORMAT, RGB_FORMAT, RGBA_FORMAT, layer_pixels, read_pixels, write_pixels  # noqa: E402
from plugin_logic import persons, pixel_bytes, replies  # noqa: E402
from plugin_logic.comic_options import style_names  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from plugin_logic.settings import endpoint_or_configured  # noqa: E402
from server_link import CutoutError, request  # noqa: E402

PROCEDURE = "python-fu-person-cutout"
MENU_LABEL = _("_1. Cut Out Person…")
MENU_BLURB = _("Cut the person out of the layer with a deep segmenter")
MENU_HELP = _("Sends the layer to the Person Cutout server and adds a soft layer mask that keeps the person, "
              "or a new cut-out layer (transparent or on black), and optionally comic layers above it. "
              "One undo step removes it.")
#: the dialog's rows, in this order (GIMP's own run-mode, image and drawables are not shown)
DIALOG = ("segmenter", "segmenter-note", "output", "existing-mask", "edges", "comic", "person", "body-parts",
          *procedures.SERVER_ARGUMENTS)
OUTPUTS = [
    ("mask", _("Layer mask on this layer")),
    ("cutout-layer", _("New cut-out layer (transparent background)")),
    ("black-layer", _("New layer on black")),
    ("selection", _("Selection (soft)")),
]
EXISTING_MASK = [
    ("replace", _("Replace the existing mask")),
    ("intersect", _("Combine with it (intersect)")),
    ("new-layer", _("Keep it: put the result on a copy of the layer")),
]
COMIC = [("none", _("None"))] + style_names()
NOT_ONE_LAYER = {
    "count": _("Select exactly one layer to cut the person out of."),
    "group": _("Select a layer, not a layer group, to cut the person out of."),
}


def apply_mask(image, layer, mask, policy):
    """Put the mask on ``layer`` (or a copy of it), never dropping an existing mask silently."""
    target = layer
    existing = layer.get_mask()
    if existing is not None and policy == "new-layer":
        target = layer.copy()
        image.insert_layer(target, layer.get_parent(), image.get_item_position(layer))
        target.set_name(_("%s (cut out)") % layer.get_name())
        target.remove_mask(Gimp.MaskApplyMode.DISCARD)
    elif existing is not None and policy == "intersect":
        write_pixels(existing, MASK_FORMAT, pixel_bytes.darkest(read_pixels(existing, MASK_FORMAT), mask))
        return target
    elif existing is not None:
        layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    new_mask = target.create_mask(Gimp.AddMaskType.WHITE)
    target.add_mask(new_mask)
    write_pixels(new_mask, MASK_FORMAT, mask)
    return target


def add_cutout_layer(image, layer, reply, on_black):
    """A new layer above ``layer``: the person's colours (decontaminated when the server sent them)."""
    width, height = layer.get_width(), layer.get_height()
    colours = replies.checked_colours(reply, "composite" if on_black else "foreground", width, height)
    if colours is None:
        colours = read_pixels(layer, RGB_FORMAT)
    rgba = pixel_bytes.opaque(colours) if on_black else pixel_bytes.interleave(colours, reply.frames["mask"])
    name = _("Person on black") if on_black else _("Person cut-out")
    new = Gimp.Layer.new(image, name, width, height, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(new, layer.get_parent(), image.get_item_position(layer))
    offsets = layer.get_offsets()
    new.set_offsets(offsets.offset_x, offsets.offset_y)
    write_pixels(new, RGBA_FORMAT, rgba)
    if on_black:
        new.flatten()  # the server composited over black (the original platform's output): drop alpha
    return new


def select_person(image, layer, mask) -> None:
    """Make the soft ``mask`` (the layer's size) the image's selection, replacing it, as one undoable selection
    change: GIMP's *Mask to Selection* of a temporary layer at the layer's place, whose layer mask holds the
    server's values exactly (a layer mask and the selection are both masks to GIMP, stored alike). Call inside
    the caller's undo group."""
    width, height = layer.get_width(), layer.get_height()
    holder = Gimp.Layer.new(image, _("Person Cutout selection"), width, height, Gimp.ImageType.RGBA_IMAGE, 100.0,
                            Gimp.LayerMode.NORMAL)
    image.insert_layer(holder, layer.get_parent(), image.get_item_position(layer))
    offsets = layer.get_offsets()
    holder.set_offsets(offsets.offset_x, offsets.offset_y)
    holder_mask = holder.create_mask(Gimp.AddMaskType.WHITE)
    holder.add_mask(holder_mask)
    write_pixels(holder_mask, MASK_FORMAT, mask)
    image.select_item(Gimp.ChannelOps.REPLACE, holder_mask)
    image.remove_layer(holder)


def run(procedure, run_mode, image, drawables, config, data):
    layer, problem = procedures.selected_photo(image, drawables, NOT_ONE_LAYER)  # any part of a cut-out: its photo
    if layer is None:
        return procedures.fail(procedure, problem)
    if run_mode == Gimp.RunMode.INTERACTIVE:
        only = {"person": segmenter_options.PERSON_SEGMENTERS, "body-parts": segmenter_options.PARTS_SEGMENTERS}
        watch = watch_segmenter(config, only)

        def on_open(dialog):
            watch(dialog)
            only_for(dialog, config, "existing-mask", "output", ("mask",))  # the other outputs make a new layer

        if not procedures.show_dialog(procedure, config, _("Cut Out Person"), on_open, DIALOG,
                                      lambda dialog: segmenter_note(dialog, procedure, config)):
            return procedures.cancelled(procedure)
        if not licence_consent(None, config.get_property("segmenter")):  # before the job, never during it
            return procedures.cancelled(procedure)

    segmenter = config.get_property("segmenter")
    output = config.get_property("output")
    comic = config.get_property("comic")
    width, height = layer.get_width(), layer.get_height()
    parts = config.get_property("body-parts") and segmenter in segmenter_options.PARTS_SEGMENTERS
    try:  # the person's point comes from the selection or a path: a clear error before anything is sent
        options = segmenter_options.segmenter_options(
            segmenter, config.get_property("person"), config.get_property("body-parts"), image, layer)
    except CutoutError as exc:
        return procedures.fail(procedure, str(exc))
    Gimp.progress_init(_("Person Cutout"))
    try:
        options["edges"] = config.get_property("edges")
        if output == "black-layer":
            options["background"] = "black"
        if comic != "none":  # the comic group gets the person's mask: layers clipped, not multiplied by it
            options["comic"] = {"style": comic, "soft_edges": False}
        pixels, wire_format = layer_pixels(layer)
        stages = ("segment", "edges" if options["edges"] != "off" else "", "comic" if comic != "none" else "")
        reply = request("cutout", layer, pixels, wire_format, segmenter, options,
                        endpoint_or_configured(config.get_property("endpoint")), float(config.get_property("timeout")),
                        stages)
        if not replies.person_found(reply.frames["mask"]):  # an empty mask would hide the layer without a word
            return procedures.fail(procedure, replies.nobody_found(layer.get_name()))
        if comic != "none":
            replies.comic_frames(reply, width, height)
        part_masks = replies.part_frames(reply, width, height) if parts else []
    except (CutoutError, ValueError) as exc:
        return procedures.fail(procedure, str(exc))

    with procedures.undo_group(image):  # one undo step removes everything below
        if output == "mask":
            target = apply_mask(image, layer, reply.frames["mask"], config.get_property("existing-mask"))
        elif output == "selection":
            select_person(image, layer, reply.frames["mask"])
            target = layer
        else:
            target = add_cutout_layer(image, layer, reply, on_black=(output == "black-layer"))
            layer.set_visible(False)  # the photo would show around the cut-out as if nothing had happened
        if comic != "none":
            comic_layers.add_comic_group(image, target, reply, options["comic"],
                                         cut_out=output not in ("black-layer", "selection"))
        if part_masks:
            segmenter_options.add_part_channels(image, layer, part_masks)
    return procedures.done(procedure)


def create(plugin, name):
    procedure = procedures.layer_procedure(plugin, name, run, MENU_LABEL, MENU_BLURB, MENU_HELP)
    procedures.add_segmenter_choice(procedure, _("Which network finds the person"))
    procedures.add_choice(procedure, "output", _("O_utput"), _("What to create"), OUTPUTS, "mask")
    procedures.add_choice(procedure, "existing-mask", _("E_xisting mask"),
                          _("When the layer already has a mask"),
                          EXISTING_MASK, "replace")
    procedures.add_edges_choice(procedure)
    procedures.add_choice(procedure, "comic", _("Co_mic layers"),
                          _("Also add comic layers of the person (style defaults)"),
                          COMIC, "none")
    procedures.add_choice(procedure, "person", _("_Person"),
                          _("People first (the default) and Mask R-CNN: which of the people they find make the "
                            "cut-out (under the selection: the selection's centre, else the first path's first "
                            "anchor, picks one)"),
                          segmenter_options.PERSONS, persons.default())
    procedure.add_boolean_argument("body-parts", _("_Body parts as channels"), _("Human parsing only: add hair, face, "
                                   "clothes, arms, legs… as channels named by their labels"), False, procedures.FLAGS)
    procedures.add_server_arguments(procedure)
    return procedure
