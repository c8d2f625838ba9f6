# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Filters › Person Cutout › Draw Comic Layers…: the person as editable comic layers in a masked group.

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
import procedures  # noqa: E402
from dialogs import NOTE, licence_consent, only_for, segmenter_note, shown_for, watch_segmenter  # noqa: E402
from gi.repository import Gimp  # noqa: E402
from gimp_layers import (  # noqa: E402
    MASK_FORMAT,
    RGBA_FORMAT,
    layer_pixels,
    layer_with_mask_as_alpha,
    read_parasite,
    write_pixels,
)
from plugin_logic import pixel_bytes, replies  # noqa: E402
from plugin_logic.comic_options import (  # noqa: E402
    all_params,
    argument_name,
    full_option,
    param_label,
    style_choices,
    style_option,
    styles_with,
)
from plugin_logic.cutouts import COMIC_PARASITE  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from plugin_logic.settings import endpoint_or_configured  # noqa: E402
from server_link import CutoutError, request  # noqa: E402

PROCEDURE = "python-fu-person-cutout-comic-layers"
MENU_LABEL = _("_4. Draw Comic Layers…")
MENU_BLURB = _("Editable comic layers (Ink, Tone, Flat colour) of the person in the layer")
MENU_HELP = _("Asks the Person Cutout server to draw the person in a comic style and adds the parts as separate "
              "layers in a group above the layer, masked by the person's mask: the layer's own mask if it has one, "
              "else a fresh cut-out. One undo step removes it.")
MASK_SOURCES = [
    ("auto", _("The layer's mask if it has one, else a fresh cut-out")),
    ("layer-mask", _("The layer's mask")),
    ("fresh", _("A fresh cut-out by the segmenter")),
]
NOT_ONE_LAYER = {
    "count": _("Select exactly one layer to draw comic layers of."),
    "group": _("Select the photo layer (or its mask, its Hints layer or a comic group drawn from it), not a layer "
               "group, to draw comic layers of."),
}


def add_comic_group(image, photo, reply, option: dict, cut_out: bool | None = None):
    """The comic layers in a new group above ``photo``, masked by the person's mask; returns the group.

    ``option`` is the request's ``comic`` option, recorded so the group can be drawn again. Unless
    the option asks for soft edges, the group's mask is the person's mask decided as print needs it
    (inside or not, cut at half): the layers' ink is black or nothing at the edge, not a grey fringe.
    When ``photo`` is a cut-out (``cut_out``; by default: it has a layer mask) it is hidden: its soft
    edge would show the old background around the decided one; it stays below as the artist's reference.
    """
    style = option["style"]
    width, height = photo.get_width(), photo.get_height()
    frames = replies.comic_frames(reply, width, height)
    offsets = photo.get_offsets()
    group = Gimp.GroupLayer.new(image, _("Comic (%s)") % style)
    image.insert_layer(group, photo.get_parent(), image.get_item_position(photo))
    for position, (name, rgba) in enumerate(frames):
        layer = Gimp.Layer.new(image, _(name), width, height, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, group, position)
        layer.set_offsets(offsets.offset_x, offsets.offset_y)
        write_pixels(layer, RGBA_FORMAT, rgba)
    mask = group.create_mask(Gimp.AddMaskType.WHITE)
    group.add_mask(mask)
    write_pixels(mask, MASK_FORMAT, group_mask(reply.frames["mask"], option))
    if (photo.get_mask() is not None) if cut_out is None else cut_out:
        photo.set_visible(False)
    tag = json.dumps({"photo": photo.get_tattoo(), "style": style, "comic": full_option(option)}).encode()
    # undoable too: a persistent parasite alone is attached with a "can't undo" step, and GIMP then says
    # "Can't undo Attach Parasite to Item" at every Ctrl+Z that takes the group away
    flags = Gimp.PARASITE_PERSISTENT | Gimp.PARASITE_UNDOABLE
    group.attach_parasite(Gimp.Parasite.new(COMIC_PARASITE, flags, tag))
    return group


def group_mask(mask: bytes, option: dict) -> bytes:
    """The comic group's mask: the person's mask, decided at half unless the option keeps soft edges."""
    return mask if option.get("soft_edges", False) else pixel_bytes.decided(mask)


def comic_info(item) -> dict | None:
    """The parasite of a comic group made by :func:`add_comic_group`, or None."""
    return read_parasite(item, COMIC_PARASITE)


def replace_layers(group, reply, photo, option: dict) -> None:
    """The group's layers redrawn: the reply's pixels at ``photo``'s size and place, names and order kept.

    The group's mask becomes the reply's mask (the person's, at that size).
    """
    width, height = photo.get_width(), photo.get_height()
    frames = {}
    for name, rgba in replies.comic_frames(reply, width, height):  # a layer is named in the user's language
        frames[name] = frames[_(name)] = rgba
    layers = group.get_children()
    extra = [x.get_name() for x in layers if x.get_name() not in frames]
    if extra:  # checked first: a group half redrawn would be worse than one only scaled
        raise ValueError(_("%(group)s holds layers the style does not draw (%(layers)s)")
                         % {"group": group.get_name(), "layers": ", ".join(extra)})
    offsets = photo.get_offsets()
    for layer in layers:
        layer.resize(width, height, 0, 0)
        layer.set_offsets(offsets.offset_x, offsets.offset_y)
        write_pixels(layer, RGBA_FORMAT, frames[layer.get_name()])
    if group.get_mask() is not None:
        group.remove_mask(Gimp.MaskApplyMode.DISCARD)
    group.add_mask(group.create_mask(Gimp.AddMaskType.WHITE))
    write_pixels(group.get_mask(), MASK_FORMAT, group_mask(reply.frames["mask"], option))


def dialog_rows() -> list[str]:
    """The dialog: the style and its parameters, where the mask comes from, the server."""
    parameters = [argument_name(p) for p in all_params()]
    return ["style", *parameters, "mask-source", "segmenter", NOTE, *procedures.SERVER_ARGUMENTS]


def show_style_parameters(dialog, config) -> None:
    """Only the chosen style's parameters are shown: the others do not apply to it; the dialog fits them."""
    from gi.repository import GLib, GObject

    for param in all_params():
        shown_for(dialog, config, argument_name(param), "style", styles_with(param))
        row = dialog.get_widget(argument_name(param), GObject.TYPE_NONE)
        if hasattr(row, "get_spin_button"):  # room for "0.080": GIMP sizes the entry for the range, not the digits
            row.get_spin_button().set_width_chars(6)

    def fit(*_args):
        GLib.idle_add(lambda: dialog.resize(dialog.get_allocated_width(), 1) and False)  # once the rows are hidden

    config.connect("notify::style", fit)


def run(procedure, run_mode, image, drawables, config, data):
    layer, problem = procedures.selected_photo(image, drawables, NOT_ONE_LAYER)  # any part of a cut-out: its photo
    if layer is None:
        return procedures.fail(procedure, problem)
    if run_mode == Gimp.RunMode.INTERACTIVE:
        watch = watch_segmenter(config)

        def on_open(dialog):
            watch(dialog)
            show_style_parameters(dialog, config)
            only_for(dialog, config, "segmenter", "mask-source", ("auto", "fresh"))

        if not procedures.show_dialog(
            procedure,
            config,
            _("Comic Layers"),
            on_open,
            dialog_rows(),
            lambda dialog: segmenter_note(dialog, procedure, config),
        ):
            return procedures.cancelled(procedure)

    style = config.get_property("style")
    source = config.get_property("mask-source")
    if source == "layer-mask" and layer.get_mask() is None:
        return procedures.fail(procedure, _("The layer has no layer mask: choose a fresh cut-out, or add a mask."))
    use_mask = layer.get_mask() is not None and source != "fresh"
    if (
        run_mode == Gimp.RunMode.INTERACTIVE
        and not use_mask
        and not licence_consent(None, config.get_property("segmenter"))
    ):
        return procedures.cancelled(procedure)  # asked before the job starts, and only when a segmenter runs
    options = {"comic": style_option(style, config.get_property), "foreground": False}
    Gimp.progress_init(_("Person Cutout: comic layers"))
    try:
        if use_mask:  # the artist's own mask: the server renders within it and runs no segmenter
            pixels, wire_format = layer_with_mask_as_alpha(layer), "RGBA8"
            options["mask"] = "alpha"
        else:
            pixels, wire_format = layer_pixels(layer)
        reply = request("comic", layer, pixels, wire_format, config.get_property("segmenter"), options,
                        endpoint_or_configured(config.get_property("endpoint")),
                        float(config.get_property("timeout")), ("comic",) if use_mask else ("segment", "comic"))
        if not use_mask and not replies.person_found(reply.frames["mask"]):  # empty layers in an all-black group
            return procedures.fail(procedure, replies.nobody_found(layer.get_name()))
        replies.comic_frames(reply, layer.get_width(), layer.get_height())
    except (CutoutError, ValueError) as exc:
        return procedures.fail(procedure, str(exc))

    with procedures.undo_group(image):
        add_comic_group(image, layer, reply, options["comic"])
    return procedures.done(procedure)


def add_style_arguments(procedure):
    """One argument per comic style parameter, with the server's own defaults, ranges and units."""
    for param in all_params():
        label, name = param_label(param), argument_name(param)
        if param.kind == "int":
            procedure.add_int_argument(
                name, label, _(param.help), param.minimum, param.maximum, param.default, procedures.FLAGS
            )
        else:
            procedure.add_double_argument(
                name,
                label,
                _(param.help),
                float(param.minimum),
                float(param.maximum),
                float(param.default),
                procedures.FLAGS,
            )


def create(plugin, name):
    procedure = procedures.layer_procedure(plugin, name, run, MENU_LABEL, MENU_BLURB, MENU_HELP)
    procedures.add_choice(procedure, "style", _("St_yle"), _("Comic style"), style_choices(), "manga")
    procedures.add_choice(
        procedure, "mask-source", _("_Mask"), _("Where the person's mask comes from"), MASK_SOURCES, "auto"
    )
    procedures.add_segmenter_choice(procedure, _("For a fresh cut-out"))
    add_style_arguments(procedure)
    procedures.add_server_arguments(procedure)
    return procedure
