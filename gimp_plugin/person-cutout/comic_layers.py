# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Filters › Person Cutout › Comic Layers…: the person as editable comic layers in a masked group.

The server's ``layer:<Name>`` frames become ``Ink``, ``Tone`` and ``Flat colour`` (whichever the style
has, top first) in a group above the photo layer, masked by the person's mask, so an artist can
repaint any layer, hide it, or refine the mask, as with layers drawn by hand. The group carries a
parasite naming the photo layer (by tattoo), which is how *Place in Panel…* finds the comic layers of
a cut-out, and the full comic option it was made with, which is how Place in Panel… draws the layers
again at the page's resolution.
"""

from __future__ import annotations

import json

import gi

gi.require_version("Gimp", "3.0")
from dialogs import licence_notice, watch_segmenter  # noqa: E402
from gi.repository import Gimp  # noqa: E402
from gimp_layers import MASK_FORMAT, RGBA_FORMAT, layer_pixels, layer_with_mask_as_alpha, write_pixels  # noqa: E402
from plugin_logic import replies  # noqa: E402
from plugin_logic.comic_options import all_params, argument_name, full_option, style_choices, style_option  # noqa: E402
from plugin_logic.settings import endpoint_or_configured  # noqa: E402
from procedures import (  # noqa: E402
    FLAGS,
    add_server_arguments,
    cancelled,
    choice,
    done,
    fail,
    layer_procedure,
    show_dialog,
    single_layer,
)
from server_link import CutoutError, request  # noqa: E402

PROCEDURE = "python-fu-person-cutout-comic-layers"
COMIC_PARASITE = "person-cutout-comic"
MASK_SOURCES = [
    ("auto", "The layer's mask if it has one, else a fresh cut-out"),
    ("layer-mask", "The layer's mask"),
    ("fresh", "A fresh cut-out by the segmenter"),
]


def add_comic_group(image, photo, reply, option: dict):
    """The comic layers in a new group above ``photo``, masked by the reply's mask; returns the group.

    ``option`` is the request's ``comic`` option, recorded so the group can be drawn again.
    """
    style = option["style"]
    width, height = photo.get_width(), photo.get_height()
    frames = replies.comic_frames(reply, width, height)
    offsets = photo.get_offsets()
    group = Gimp.GroupLayer.new(image, f"Comic ({style})")
    image.insert_layer(group, photo.get_parent(), image.get_item_position(photo))
    for position, (name, rgba) in enumerate(frames):
        layer = Gimp.Layer.new(image, name, width, height, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, group, position)
        layer.set_offsets(offsets.offset_x, offsets.offset_y)
        write_pixels(layer, RGBA_FORMAT, rgba)
    mask = group.create_mask(Gimp.AddMaskType.WHITE)
    group.add_mask(mask)
    write_pixels(mask, MASK_FORMAT, reply.frames["mask"])
    tag = json.dumps({"photo": photo.get_tattoo(), "style": style, "comic": full_option(option)}).encode()
    group.attach_parasite(Gimp.Parasite.new(COMIC_PARASITE, Gimp.PARASITE_PERSISTENT, tag))
    return group

def comic_info(item) -> dict | None:
    """The parasite of a comic group made by :func:`add_comic_group`, or None."""
    parasite = item.get_parasite(COMIC_PARASITE)
    if parasite is None:
        return None
    try:
        return json.loads(bytes(parasite.get_data()).decode())
    except ValueError:
        return None

def replace_layers(group, reply, photo) -> None:
    """The group's layers redrawn: the reply's pixels at ``photo``'s size and place, names and order kept.

    The group's mask becomes the reply's mask (the person's, at that size).
    """
    width, height = photo.get_width(), photo.get_height()
    frames = dict(replies.comic_frames(reply, width, height))
    layers = group.get_children()
    extra = [x.get_name() for x in layers if x.get_name() not in frames]
    if extra:  # checked first: a group half redrawn would be worse than one only scaled
        raise ValueError(f"{group.get_name()} holds layers the style does not draw ({', '.join(extra)})")
    offsets = photo.get_offsets()
    for layer in layers:
        layer.resize(width, height, 0, 0)
        layer.set_offsets(offsets.offset_x, offsets.offset_y)
        write_pixels(layer, RGBA_FORMAT, frames[layer.get_name()])
    if group.get_mask() is not None:
        group.remove_mask(Gimp.MaskApplyMode.DISCARD)
    group.add_mask(group.create_mask(Gimp.AddMaskType.WHITE))
    write_pixels(group.get_mask(), MASK_FORMAT, reply.frames["mask"])


def run(procedure, run_mode, image, drawables, config, data):
    layer, problem = single_layer(drawables)
    if layer is None:
        return fail(procedure, f"{problem} to draw comic layers of")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        if not show_dialog(procedure, config, "Comic Layers", watch_segmenter(config)):
            return cancelled(procedure)
        licence_notice(None, config.get_property("segmenter"), config.get_property("endpoint"))

    style = config.get_property("style")
    source = config.get_property("mask-source")
    if source == "layer-mask" and layer.get_mask() is None:
        return fail(procedure, "the layer has no layer mask (choose a fresh cut-out, or add a mask)")
    use_mask = layer.get_mask() is not None and source != "fresh"
    options = {"comic": style_option(style, config.get_property), "foreground": False}
    Gimp.progress_init("Person Cutout: comic layers")
    try:
        if use_mask:  # the artist's own mask: the server renders within it and runs no segmenter
            pixels, wire_format = layer_with_mask_as_alpha(layer), "RGBA8"
            options["mask"] = "alpha"
        else:
            pixels, wire_format = layer_pixels(layer)
        reply = request("comic", layer, pixels, wire_format, config.get_property("segmenter"), options,
                        endpoint_or_configured(config.get_property("endpoint")),
                        float(config.get_property("timeout")), "Drawing comic layers…")
        replies.comic_frames(reply, layer.get_width(), layer.get_height())
    except (CutoutError, ValueError) as exc:
        return fail(procedure, str(exc))

    image.undo_group_start()
    try:
        add_comic_group(image, layer, reply, options["comic"])
    finally:
        image.undo_group_end()
    return done(procedure)


def add_style_arguments(procedure):
    """One argument per comic style parameter, with the server's own defaults, ranges and units."""
    for param in all_params():
        label = f"{param.label} ({param.unit})" if param.unit else param.label
        name = argument_name(param)
        if param.kind == "int":
            procedure.add_int_argument(name, label, param.help, param.minimum, param.maximum, param.default, FLAGS)
        else:
            procedure.add_double_argument(name, label, param.help, float(param.minimum), float(param.maximum),
                                          float(param.default), FLAGS)


def create(plugin, name):
    from cut_out_person import SEGMENTERS

    procedure = layer_procedure(
        plugin, name, run, "_Comic Layers…",
        "Editable comic layers (Ink, Tone, Flat colour) of the person in the layer",
        "Asks the Person Cutout server to draw the person in a comic style and adds the parts as separate "
        "layers in a group above the layer, masked by the person's mask: the layer's own mask if it has one, "
        "else a fresh cut-out. One undo step removes it.",
    )
    procedure.add_choice_argument("style", "St_yle", "Comic style", choice(style_choices()), "manga", FLAGS)
    procedure.add_choice_argument("mask-source", "_Mask", "Where the person's mask comes from",
                                  choice(MASK_SOURCES), "auto", FLAGS)
    procedure.add_choice_argument("segmenter", "Se_gmenter", "For a fresh cut-out", choice(SEGMENTERS), "default", FLAGS)
    add_style_arguments(procedure)
    add_server_arguments(procedure)
    return procedure
