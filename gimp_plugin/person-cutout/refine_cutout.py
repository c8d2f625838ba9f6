# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Filters › Person Cutout › Refine Cut-out…: a few strokes on the Hints layer fix a cut-out.

The artist paints on a layer named *Hints* (add_hints_layer.py makes one) white on what is the person
and black on what is not — a dot in the middle of a mistake is enough; the server redoes the whole
connected mistake (server/pipeline/refine.py). *Refine Cut-out…* sends the photo layer with its layer
mask (as edited by hand, if it was) and the hints (plugin_logic/hints.py: the Hints layer's white and
black, and optionally the selection as "keep") to the server (option ``mask: alpha`` and the ``hints``
frame), then in one undo step replaces the layer mask with the answer and hides the Hints layer, which
stays for more strokes and another run. A layer without a mask gets a fresh cut-out with the hints
applied. Nothing changes until the whole answer has arrived and been checked.
"""

from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
import procedures  # noqa: E402
from cut_out_person import apply_mask  # noqa: E402
from dialogs import licence_consent, segmenter_note, watch_segmenter  # noqa: E402
from gi.repository import Gimp  # noqa: E402
from gimp_layers import MASK_FORMAT, RGBA_FORMAT, layer_pixels, layer_with_mask_as_alpha, read_pixels  # noqa: E402
from plugin_logic import hints as hint_logic  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from plugin_logic.settings import endpoint_or_configured  # noqa: E402
from server_link import CutoutError, request  # noqa: E402

PROCEDURE = "python-fu-person-cutout-refine"
MENU_LABEL = _("_3. Refine Cut-out…")
MENU_BLURB = _("Redo the cut-out where white or black strokes on the Hints layer say it is wrong")
MENU_HELP = _(
    "Sends the layer, its layer mask and the hints (white: person, black: not person, painted on the layer "
    "named Hints; optionally the selection as person) to the Person Cutout server, which redoes the whole "
    "mistake each stroke touches. The layer mask is replaced in one undo step and the Hints layer hidden."
)
HOWTO = "refine-howto"
DIALOG = (HOWTO, "selection", "segmenter", "segmenter-note", "edges", *procedures.SERVER_ARGUMENTS)
SELECTION = [
    ("ignore", _("Ignore the selection")),
    ("keep", _("The selection is the person (a white hint)")),
]
NOT_ONE_LAYER = {
    "count": _("Select exactly one layer to refine the cut-out of."),
    "group": _("Select a layer, not a layer group, to refine the cut-out of."),
}


def howto() -> str:
    """The dialog's first lines: what the strokes mean and where they go."""
    return _(
        "Paint on the layer named “Hints” (Filters › Person Cutout › Add Hints Layer makes one): white on what "
        "is the person, black on what is not. One dot in the middle of a mistake is enough: the whole mistake "
        "around it is redone, and your strokes are kept as painted."
    )


def build_dialog(dialog, procedure, config) -> None:
    """The instructions above the options, and the note on segmenters without weights."""
    label = dialog.get_label(HOWTO, howto(), False, False)
    label.set_line_wrap(True)
    label.set_max_width_chars(60)
    label.set_xalign(0.0)
    segmenter_note(dialog, procedure, config)


def hints_layer_of(image, photo):
    """The photo's Hints layer (the nearest above it among its siblings, else below), or None."""
    layers = procedures.siblings(image, photo)
    here = next(i for i, x in enumerate(layers) if x.get_id() == photo.get_id())
    found = hint_logic.pick_hints([x.get_name() for x in layers], here)
    return None if found is None else layers[found]


def read_hints(image, photo, hints_layer, use_selection: bool) -> bytes:
    """The hints frame at the photo layer's size from the Hints layer and (with ``use_selection``) the selection."""
    origin = photo.get_offsets()
    painted = selection = None
    if hints_layer is not None:
        offsets = hints_layer.get_offsets()
        painted = (
            read_pixels(hints_layer, RGBA_FORMAT),
            (hints_layer.get_width(), hints_layer.get_height()),
            (offsets.offset_x - origin.offset_x, offsets.offset_y - origin.offset_y),
        )
    if use_selection and not Gimp.Selection.is_empty(image):
        channel = image.get_selection()
        selection = (
            read_pixels(channel, MASK_FORMAT),
            (channel.get_width(), channel.get_height()),
            (-origin.offset_x, -origin.offset_y),
        )
    return hint_logic.hints_frame((photo.get_width(), photo.get_height()), painted, selection)


def run(procedure, run_mode, image, drawables, config, data):
    photo, problem = procedures.selected_photo(image, drawables, NOT_ONE_LAYER)  # the Hints layer means its photo
    if photo is None:
        return procedures.fail(procedure, problem)
    hints_layer = hints_layer_of(image, photo)
    if run_mode == Gimp.RunMode.INTERACTIVE:
        if not procedures.show_dialog(
            procedure,
            config,
            _("Refine Cut-out"),
            watch_segmenter(config),
            DIALOG,
            lambda dialog: build_dialog(dialog, procedure, config),
        ):
            return procedures.cancelled(procedure)
        if not licence_consent(None, config.get_property("segmenter")):  # before the job, never during it
            return procedures.cancelled(procedure)

    use_selection = config.get_property("selection") == "keep"
    hints = read_hints(image, photo, hints_layer, use_selection)
    if hint_logic.count_hints(hints) == (0, 0):
        return procedures.fail(
            procedure,
            _(
                "No hint was found: paint white (person) or black (not person) on the layer "
                "named “%(name)s” (Filters › Person Cutout › Add Hints Layer), or select the "
                "person and choose “The selection is the person”."
            )
            % {"name": hint_logic.HINTS_LAYER},
        )
    options = {"foreground": False, "edges": config.get_property("edges")}
    Gimp.progress_init(_("Person Cutout"))
    try:
        stages = ("refine", "edges" if options["edges"] != "off" else "")
        if photo.get_mask() is not None:  # the mask as it is now, edited by hand or not
            pixels, wire_format = layer_with_mask_as_alpha(photo), "RGBA8"
            options["mask"] = "alpha"
        else:
            pixels, wire_format = layer_pixels(photo)
            stages = ("segment", *stages)
        reply = request("cutout", photo, pixels, wire_format, config.get_property("segmenter"), options,
                        endpoint_or_configured(config.get_property("endpoint")), float(config.get_property("timeout")),
                        stages, hints=hints)
    except (CutoutError, ValueError) as exc:
        return procedures.fail(procedure, str(exc))

    with procedures.undo_group(image):  # one undo step brings back the old mask and shows the Hints layer again
        apply_mask(image, photo, reply.frames["mask"], "replace")
        if hints_layer is not None:
            hints_layer.set_visible(False)
    return procedures.done(procedure)


def create(plugin, name):
    procedure = procedures.layer_procedure(plugin, name, run, MENU_LABEL, MENU_BLURB, MENU_HELP)
    procedures.add_choice(
        procedure, "selection", _("Selectio_n"), _("Whether the selection marks the person too"), SELECTION, "ignore"
    )
    procedures.add_segmenter_choice(procedure, _("The network re-run around each stroke"))
    procedures.add_edges_choice(procedure)
    procedures.add_server_arguments(procedure)
    return procedure
