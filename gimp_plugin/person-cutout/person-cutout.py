#!/usr/bin/env python3
# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Person Cutout in GIMP 3: Cut Out Person…, Comic Layers…, Comic Page…, Place in Panel….

*Filters › Person Cutout › Cut Out Person…* sends the selected layer to the Person Cutout
server over ZeroMQ (server_link.py) and writes the answer back: a soft layer mask on the
layer, a new cut-out layer on transparent, or the person on black — and, if asked, comic
layers above it — in one undo step. *Comic Layers…* adds only the comic layers
(comic_layers.py); *File › Create › Comic Page…* and *Place in Panel…* build comic pages
(comic_pages.py).

Only the standard library and pyzmq run here (no numpy in GIMP's Python): pixel
work is byte slicing. Nothing in the image changes until the whole answer has
arrived and been checked, so an error or a cancel leaves the image as it was.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
if os.path.isdir(os.path.join(HERE, "vendor")):  # pyzmq installed beside the plug-in by install.py,
    sys.path.append(os.path.join(HERE, "vendor"))  # used only when GIMP's Python has none of its own

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
import comic_layers  # noqa: E402
import comic_pages  # noqa: E402
import licences  # noqa: E402
import segmenter_options  # noqa: E402
from gi.repository import Gimp, GLib, GObject  # noqa: E402
from server_link import (  # noqa: E402
    MASK_FORMAT,
    CutoutError,
    endpoint_or_configured,
    layer_pixels,
    layer_with_mask_as_alpha,
    read_pixels,
    request,
    write_pixels,
)

from cutout_common import page_geometry, vocabulary  # noqa: E402

PROCEDURE = "python-fu-person-cutout"
COMIC_PROCEDURE = "python-fu-person-cutout-comic-layers"
PAGE_PROCEDURE = "python-fu-person-cutout-comic-page"
PLACE_PROCEDURE = "python-fu-person-cutout-place-in-panel"
SEGMENTERS = [("default", "Best installed (default)")] + [(s.name, s.title) for s in vocabulary.SEGMENTERS.values()]
OUTPUTS = [
    ("mask", "Layer mask on this layer"),
    ("cutout-layer", "New cut-out layer (transparent background)"),
    ("black-layer", "New layer on black"),
]
EXISTING_MASK = [
    ("replace", "Replace the existing mask"),
    ("intersect", "Combine with it (intersect)"),
    ("new-layer", "Keep it: put the result on a copy of the layer"),
]
EDGES = [(c.value, c.label) for c in vocabulary.EDGE_MODES]
COMIC = [("none", "None")] + [(name, name.capitalize()) for name in comic_layers.STYLE_NAMES]
MASK_SOURCES = [
    ("auto", "The layer's mask if it has one, else a fresh cut-out"),
    ("layer-mask", "The layer's mask"),
    ("fresh", "A fresh cut-out by the segmenter"),
]
PAGE_SIZES = [(p.name, p.label) for p in page_geometry.PAGE_PRESETS.values()]
DPIS = [(str(d), f"{d} dpi") for d in page_geometry.DPI_CHOICES]
# choice nicks must be identifiers: "3 tiers" -> "3-tiers"
LAYOUTS = {name.replace(" ", "-"): name for name in page_geometry.LAYOUT_PRESETS}


def choice(values):
    result = Gimp.Choice.new()
    for index, (nick, label) in enumerate(values):
        result.add(nick, index, label, "")
    return result


# --------------------------------------------------------------------------- writing results


def apply_mask(image, layer, mask, width, height, policy):
    """Put the mask on ``layer`` (or a copy of it), never dropping an existing mask silently."""
    target = layer
    existing = layer.get_mask()
    if existing is not None and policy == "new-layer":
        target = layer.copy()
        image.insert_layer(target, layer.get_parent(), image.get_item_position(layer))
        target.set_name(f"{layer.get_name()} (cut out)")
        target.remove_mask(Gimp.MaskApplyMode.DISCARD)
    elif existing is not None and policy == "intersect":
        old = read_pixels(existing, MASK_FORMAT)
        mask = bytes(map(min, old, mask))  # fuzzy intersection, in C-speed builtins
        write_pixels(existing, MASK_FORMAT, mask)
        return target
    elif existing is not None:
        layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    new_mask = target.create_mask(Gimp.AddMaskType.WHITE)
    target.add_mask(new_mask)
    write_pixels(new_mask, MASK_FORMAT, mask)
    return target


def add_cutout_layer(image, layer, reply, width, height, on_black):
    """A new layer above ``layer``: the person's colours (decontaminated when the server sent them)."""
    mask = reply.frames["mask"]
    colours = reply.frames.get("composite" if on_black else "foreground")
    if colours is None or len(colours) != width * height * 3:
        colours = read_pixels(layer, "R'G'B' u8")
    rgba = bytearray(width * height * 4)
    for channel in range(3):
        rgba[channel::4] = colours[channel::3]
    rgba[3::4] = b"\xff" * (width * height) if on_black else mask
    name = "Person on black" if on_black else "Person cut-out"
    new = Gimp.Layer.new(image, name, width, height, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(new, layer.get_parent(), image.get_item_position(layer))
    offsets = layer.get_offsets()
    new.set_offsets(offsets.offset_x, offsets.offset_y)
    write_pixels(new, "R'G'B'A u8", bytes(rgba))
    if on_black:
        new.flatten()  # the server composited over black (the original platform's output): drop alpha
    return new


# --------------------------------------------------------------------------- dialogs


def show_dialog(procedure, config, title, on_open=None) -> bool:
    """GIMP's dialog for the procedure's arguments; False when the user cancelled."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init(procedure.get_name())
    dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
    dialog.fill(None)
    if on_open is not None:
        on_open(dialog)
    accepted = dialog.run()
    dialog.destroy()
    return accepted


def licence_notice(parent, segmenter: str, endpoint: str) -> None:
    """Show the weights' licence the first time a segmenter that needs it is chosen (issue 11)."""
    if not licences.needs_notice(segmenter):
        return
    from server_link import hello

    licence = licences.licence_of(segmenter, hello(endpoint_or_configured(endpoint), timeout=2.0))
    if licences.seen(segmenter, licence):
        return
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk

    box = Gtk.MessageDialog(transient_for=parent, modal=True, message_type=Gtk.MessageType.INFO,
                            buttons=Gtk.ButtonsType.OK, text=f"Licence of the '{segmenter}' weights",
                            title="Person Cutout: licence")
    box.format_secondary_text(licences.message(segmenter, licence))
    box.get_widget_for_response(Gtk.ResponseType.OK).grab_focus()  # Enter closes it, not the selectable text
    box.run()
    box.destroy()
    licences.remember(segmenter, licence)


def watch_segmenter(config, segmenter_only=False):
    """The dialog shows the licence as soon as such a segmenter is picked, not after OK.

    ``segmenter_only``: Cut Out Person's *Person* and *Body parts* options, greyed out unless
    the segmenter they belong to is chosen.
    """

    def on_open(dialog):
        def changed(cfg, _pspec):
            licence_notice(dialog, cfg.get_property("segmenter"), cfg.get_property("endpoint"))

        config.connect("notify::segmenter", changed)
        if segmenter_only:
            only_for(dialog, config, "person", segmenter_options.PERSON_SEGMENTERS)
            only_for(dialog, config, "body-parts", segmenter_options.PARTS_SEGMENTERS)

    return on_open


def only_for(dialog, config, argument, segmenters):
    """Grey out ``argument`` in the dialog unless the segmenter is one of ``segmenters``."""
    values = Gimp.ValueArray.new(len(segmenters))
    for name in segmenters:
        value = GObject.Value(GObject.TYPE_STRING)
        value.set_string(name)
        values.append(value)
    try:
        dialog.set_sensitive_if_in(argument, config, "segmenter", values, True)
    except (TypeError, AttributeError) as exc:  # a cosmetic: the option is ignored for other segmenters anyway
        print(f"[person-cutout] cannot grey out {argument}: {exc}", file=sys.stderr, flush=True)


def single_layer(drawables):
    """The one plain layer selected, or an error message."""
    layers = [d for d in drawables if isinstance(d, Gimp.Layer) and not isinstance(d, Gimp.LayerMask)]
    if len(layers) != 1:
        return None, "select exactly one layer"
    if layers[0].is_group():
        return None, "select a layer, not a layer group"
    return layers[0], None


# --------------------------------------------------------------------------- Cut Out Person…


def run_cutout(procedure, run_mode, image, drawables, config, data):
    layer, problem = single_layer(drawables)
    if layer is None:
        return fail(procedure, f"{problem} to cut the person out of")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        if not show_dialog(procedure, config, "Cut Out Person", watch_segmenter(config, segmenter_only=True)):
            return cancelled(procedure)
        licence_notice(None, config.get_property("segmenter"), config.get_property("endpoint"))

    segmenter = config.get_property("segmenter")
    output = config.get_property("output")
    policy = config.get_property("existing-mask")
    comic = config.get_property("comic")
    endpoint = endpoint_or_configured(config.get_property("endpoint"))
    timeout = float(config.get_property("timeout"))
    width, height = layer.get_width(), layer.get_height()
    parts = config.get_property("body-parts") and segmenter in segmenter_options.PARTS_SEGMENTERS

    try:  # the person's point comes from the selection or a path: a clear error before anything is sent
        options = segmenter_options.segmenter_options(
            segmenter, config.get_property("person"), config.get_property("body-parts"), image, layer)
    except CutoutError as exc:
        return fail(procedure, str(exc))
    Gimp.progress_init("Person Cutout")
    try:
        options["edges"] = config.get_property("edges")
        if output == "black-layer":
            options["background"] = "black"
        if comic != "none":  # the comic group gets the person's mask: layers clipped, not multiplied by it
            options["comic"] = {"style": comic, "soft_edges": False}
        pixels, wire_format = layer_pixels(layer)
        reply = request("cutout", layer, pixels, wire_format, segmenter, options, endpoint, timeout)
        if comic != "none":
            comic_layers.checked_frames(reply, width, height)
        part_masks = segmenter_options.part_frames(reply, width, height) if parts else []
    except (CutoutError, ValueError) as exc:
        return fail(procedure, str(exc))

    image.undo_group_start()  # one undo step removes everything below
    try:
        if output == "mask":
            target = apply_mask(image, layer, reply.frames["mask"], width, height, policy)
        else:
            target = add_cutout_layer(image, layer, reply, width, height, on_black=(output == "black-layer"))
        if comic != "none":
            comic_layers.add_comic_group(image, target, reply, options["comic"])
        if part_masks:
            segmenter_options.add_part_channels(image, layer, part_masks)
    finally:
        image.undo_group_end()
    return done(procedure)


# --------------------------------------------------------------------------- Comic Layers…


def run_comic_layers(procedure, run_mode, image, drawables, config, data):
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
    options = {"comic": comic_layers.style_options(style, config), "foreground": False}
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
        comic_layers.checked_frames(reply, layer.get_width(), layer.get_height())
    except (CutoutError, ValueError) as exc:
        return fail(procedure, str(exc))

    image.undo_group_start()
    try:
        comic_layers.add_comic_group(image, layer, reply, options["comic"])
    finally:
        image.undo_group_end()
    return done(procedure)


# --------------------------------------------------------------------------- Comic Page…


def run_comic_page(procedure, config, data):
    if config.get_property("run-mode") == Gimp.RunMode.INTERACTIVE:
        if not show_dialog(procedure, config, "Comic Page"):
            return cancelled(procedure)
    try:
        image = comic_pages.new_page(
            config.get_property("page-size"),
            int(config.get_property("dpi")),
            LAYOUTS.get(config.get_property("layout"), comic_pages.GRID),
            config.get_property("rows"),
            config.get_property("columns"),
            (config.get_property("gutter"), config.get_property("tier-gutter")),
            config.get_property("border"),
        )
    except ValueError as exc:  # panels that do not fit
        return fail(procedure, str(exc))
    if config.get_property("run-mode") == Gimp.RunMode.INTERACTIVE:
        Gimp.Display.new(image)
        Gimp.displays_flush()
    return Gimp.ValueArray.new_from_values([
        GObject.Value(Gimp.PDBStatusType, Gimp.PDBStatusType.SUCCESS), GObject.Value(Gimp.Image, image),
    ])


# --------------------------------------------------------------------------- Place in Panel…


def run_place(procedure, run_mode, image, drawables, config, data):
    items = [d for d in drawables if isinstance(d, Gimp.Layer) and not isinstance(d, Gimp.LayerMask)]
    if len(items) != 1:
        return fail(procedure, "select the cut-out layer (or its comic group) to place")
    if run_mode == Gimp.RunMode.INTERACTIVE:
        if not show_dialog(procedure, config, "Place in Panel"):
            return cancelled(procedure)
    page = config.get_property("page") or comic_pages.latest_page(image)
    if page is None or not comic_pages.is_page(page):
        return fail(procedure, "no comic page is open (File › Create › Comic Page…)")
    if page.get_id() == image.get_id():
        return fail(procedure, "select the cut-out in its own image, not on the page")
    Gimp.progress_init("Person Cutout: place in panel")
    try:
        _, problem = comic_pages.place(image, items[0], page, config.get_property("panel"), config.get_property("fit"),
                                       endpoint_or_configured(config.get_property("endpoint")),
                                       float(config.get_property("timeout")))
    except ValueError as exc:
        return fail(procedure, str(exc))
    if problem:  # placed all the same: the page is usable, only the comic layers are scaled
        Gimp.message(f"Placed, but the comic layers are only scaled, not drawn again at the page's resolution "
                     f"(their line weights and screentone differ from those asked): {problem}")
    return done(procedure)


# --------------------------------------------------------------------------- results


def done(procedure):
    Gimp.progress_end()
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def cancelled(procedure):
    return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())


def fail(procedure, message):
    print(f"[person-cutout] {message}", file=sys.stderr, flush=True)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error.new_literal(GLib.quark_from_string("person-cutout"), message, 0))


# --------------------------------------------------------------------------- registration

FLAGS = GObject.ParamFlags.READWRITE


def add_server_arguments(procedure):
    procedure.add_string_argument("endpoint", "Server e_ndpoint", "Empty: the one install.py configured", "", FLAGS)
    procedure.add_double_argument("timeout", "_Timeout (s)", "How long to wait for the server", 5.0, 3600.0, 600.0, FLAGS)


def add_style_arguments(procedure):
    """One argument per comic style parameter, with the server's own defaults, ranges and units."""
    for param in comic_layers.all_params():
        label = f"{param.label} ({param.unit})" if param.unit else param.label
        name = comic_layers.argument_name(param)
        if param.kind == "int":
            procedure.add_int_argument(name, label, param.help, param.minimum, param.maximum, param.default, FLAGS)
        else:
            procedure.add_double_argument(name, label, param.help, float(param.minimum), float(param.maximum),
                                          float(param.default), FLAGS)


def create_cutout(plugin, name):
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run_cutout, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    procedure.set_menu_label("Cut Out _Person…")
    procedure.add_menu_path("<Image>/Filters/Person Cutout")
    procedure.set_documentation(
        "Cut the person out of the layer with a deep segmenter",
        "Sends the layer to the Person Cutout server and adds a soft layer mask that keeps the person, "
        "or a new cut-out layer (transparent or on black), and optionally comic layers above it. "
        "One undo step removes it.",
        name,
    )
    procedure.add_choice_argument("segmenter", "Se_gmenter", "Which network finds the person",
                                  choice(SEGMENTERS), "default", FLAGS)
    procedure.add_choice_argument("output", "O_utput", "What to create", choice(OUTPUTS), "mask", FLAGS)
    procedure.add_choice_argument("existing-mask", "E_xisting mask", "When the layer already has a mask",
                                  choice(EXISTING_MASK), "replace", FLAGS)
    procedure.add_choice_argument("edges", "_Edges", "Alpha matting refinement of hair and soft edges",
                                  choice(EDGES), "off", FLAGS)
    procedure.add_choice_argument("comic", "Co_mic layers", "Also add comic layers of the person (style defaults)",
                                  choice(COMIC), "none", FLAGS)
    procedure.add_choice_argument("person", "_Person", "Mask R-CNN only: which person of a group (the selection's "
                                  "centre, else the first path's first anchor, picks one)",
                                  choice(segmenter_options.PERSONS), "all", FLAGS)
    procedure.add_boolean_argument("body-parts", "_Body parts as channels", "Human parsing only: add hair, face, "
                                   "clothes, arms, legs… as channels named by their labels", False, FLAGS)
    add_server_arguments(procedure)
    return procedure


def create_comic_layers(plugin, name):
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run_comic_layers, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    procedure.set_menu_label("_Comic Layers…")
    procedure.add_menu_path("<Image>/Filters/Person Cutout")
    procedure.set_documentation(
        "Editable comic layers (Ink, Tone, Flat colour) of the person in the layer",
        "Asks the Person Cutout server to draw the person in a comic style and adds the parts as separate "
        "layers in a group above the layer, masked by the person's mask: the layer's own mask if it has one, "
        "else a fresh cut-out. One undo step removes it.",
        name,
    )
    procedure.add_choice_argument("style", "St_yle", "Comic style", choice(comic_layers.style_choices()),
                                  "manga", FLAGS)
    procedure.add_choice_argument("mask-source", "_Mask", "Where the person's mask comes from",
                                  choice(MASK_SOURCES), "auto", FLAGS)
    procedure.add_choice_argument("segmenter", "Se_gmenter", "For a fresh cut-out", choice(SEGMENTERS), "default", FLAGS)
    add_style_arguments(procedure)
    add_server_arguments(procedure)
    return procedure


def create_comic_page(plugin, name):
    procedure = Gimp.Procedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run_comic_page, None)
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
    procedure.set_menu_label("_Comic Page…")
    procedure.add_menu_path("<Image>/File/Create")
    procedure.set_documentation(
        "A new comic page: print size, bleed/trim/safe guides, panel groups with borders",
        "Creates an image at a print size and resolution with guides at the bleed, trim and safe area, "
        "and one layer group per panel, masked to the panel and holding its border.",
        name,
    )
    procedure.add_enum_argument("run-mode", "Run mode", "The run mode", Gimp.RunMode,
                                Gimp.RunMode.NONINTERACTIVE, FLAGS)
    procedure.add_choice_argument("page-size", "_Page size", "Print format", choice(PAGE_SIZES), "b4-manga", FLAGS)
    procedure.add_choice_argument("dpi", "Resolutio_n", "Pixels per inch", choice(DPIS), "600", FLAGS)
    layouts = [(nick, name) for nick, name in LAYOUTS.items()] + [(comic_pages.GRID, "Rows × columns")]
    procedure.add_choice_argument("layout", "La_yout", "Panel layout", choice(layouts), "3-tiers", FLAGS)
    procedure.add_int_argument("rows", "Rows", "For the rows × columns layout", 1, 20, 3, FLAGS)
    procedure.add_int_argument("columns", "Columns", "For the rows × columns layout", 1, 20, 2, FLAGS)
    gutter, tier_gutter = page_geometry.DEFAULT_GUTTER_MM
    procedure.add_double_argument("gutter", "Gutter (mm)", "Gap between panels side by side", 0.0, 50.0, gutter, FLAGS)
    procedure.add_double_argument("tier-gutter", "Tier gutter (mm)", "Gap between tiers", 0.0, 50.0, tier_gutter, FLAGS)
    procedure.add_double_argument("border", "Border (pt)", "Panel border line weight", 0.1, 20.0, 1.0, FLAGS)
    procedure.add_image_return_value("image", "Image", "The new page", False, FLAGS)
    return procedure


def create_place(plugin, name):
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run_place, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    procedure.set_menu_label("Place in _Panel…")
    procedure.add_menu_path("<Image>/Filters/Person Cutout")
    procedure.set_documentation(
        "Put the cut-out (with its comic layers) into a panel of a comic page",
        "Copies the selected cut-out layer and the comic groups made from it into the chosen panel of a page "
        "made by Comic Page…, scaled to fit and clipped by the panel's mask; the server draws the comic layers again "
        "at the page's resolution. One undo step on the page.",
        name,
    )
    procedure.add_image_argument("page", "Comic pa_ge", "Empty: the most recent comic page", True, FLAGS)
    procedure.add_int_argument("panel", "_Panel", "Panel number in reading order", 1, 99, 1, FLAGS)
    procedure.add_choice_argument("fit", "_Fit", "How the person is scaled", choice(comic_pages.FITS), "whole", FLAGS)
    add_server_arguments(procedure)  # the comic groups are drawn again at the page's resolution
    return procedure


CREATORS = {
    PROCEDURE: create_cutout,
    COMIC_PROCEDURE: create_comic_layers,
    PAGE_PROCEDURE: create_comic_page,
    PLACE_PROCEDURE: create_place,
}


class PersonCutout(Gimp.PlugIn):
    def do_query_procedures(self):
        return list(CREATORS)

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        procedure = CREATORS[name](self, name)
        procedure.set_attribution("Person Cutout authors", "GPL-3.0-or-later", "2026")
        return procedure


Gimp.main(PersonCutout.__gtype__, sys.argv)
