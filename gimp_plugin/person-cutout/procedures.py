# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""What every procedure of the plug-in does the same way: arguments, its dialog, its outcome."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GLib, GObject  # noqa: E402
from gimp_layers import read_parasite  # noqa: E402
from plugin_logic import cutouts, segmenters  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402

from cutout_common import vocabulary  # noqa: E402

FLAGS = GObject.ParamFlags.READWRITE


def choice(values):
    """A Gimp.Choice of (nick, label) or (nick, label, help) tuples; nicks must be identifiers."""
    result = Gimp.Choice.new()
    for index, (nick, label, *help_text) in enumerate(values):
        result.add(nick, index, label, help_text[0] if help_text else "")
    return result


@contextmanager
def undo_group(image):
    """One undo step for everything done inside, closed however the block ends (GIMP nests groups)."""
    image.undo_group_start()
    try:
        yield image
    finally:
        image.undo_group_end()


def add_choice(procedure, name: str, label: str, blurb: str, values, default: str) -> None:
    """A drop-down argument of (nick, label) pairs, read-write like every argument of these procedures."""
    procedure.add_choice_argument(name, label, blurb, choice(values), default, FLAGS)


def add_segmenter_choice(procedure, blurb: str) -> None:
    """The *Segmenter* drop-down: the server's default first, then every segmenter by its title."""
    add_choice(procedure, "segmenter", _("Se_gmenter"), blurb, segmenters.choices(), segmenters.DEFAULT)


def add_edges_choice(procedure) -> None:
    """The *Edges* drop-down: the server's edge modes, off by default; its help says what each mode is for (the
    vocabulary's words, the same the server's ``hello`` serves), and so does each entry's."""
    modes = [(mode.value, _(mode.label), _(mode.help)) for mode in vocabulary.EDGE_MODES]
    blurb = "\n".join(f"{label}: {help_text}" for _nick, label, help_text in modes)
    add_choice(procedure, "edges", _("_Edges"), blurb, modes, "off")


def layer_procedure(plugin, name, run, label: str, blurb: str, help_text: str):
    """A procedure on the selected layer of an RGB or grey image, in the Person Cutout menu.

    GIMP 3 builds a submenu's plug-in entries in the order of a tree keyed by the collation key of
    "menu path/label" (app/menus/plug-in-menus.c, ``plug_in_menus_setup``); the order of
    ``add_menu_path`` calls or of registration does not count, and a plug-in cannot add sections of
    its own to a submenu (a "[Section]" in a path must name one GIMP's menus define). So the labels
    carry the step's number — 1. Cut Out Person…, 2. Add Hints Layer, 3. Refine Cut-out…, 4. Draw
    Comic Layers…, 5. Place in Panel… — which sorts the same in every language and collation, and is
    each entry's access key. The submenu's name is translated here, as GIMP asks.
    """
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    procedure.set_menu_label(label)
    procedure.add_menu_path("<Image>/Filters/" + _("Person Cutout"))
    procedure.set_documentation(blurb, help_text, name)
    return procedure


def add_server_arguments(procedure):
    procedure.add_string_argument("endpoint", _("Server a_ddress"),
                                  _("Leave empty for the server set up at installation (e.g. tcp://127.0.0.1:5555)"),
                                  "", FLAGS)
    procedure.add_int_argument("timeout", _("_Timeout (seconds)"), _("How long to wait for the server's answer"),
                               5, 3600, 600, FLAGS)


SERVER_ARGUMENTS = ("endpoint", "timeout")


def show_dialog(procedure, config, title, on_open=None, arguments=None, build=None) -> bool:
    """GIMP's dialog for the procedure's arguments; False when the user cancelled.

    ``arguments``: the rows, in order (names of arguments or of widgets ``build(dialog)`` made);
    without them GIMP would also show its own run-mode argument. ``on_open(dialog)`` runs once the
    rows exist (sensitivities, reactions to a choice).
    """
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init(procedure.get_name())
    dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
    if build is not None:
        build(dialog)
    dialog.fill(list(arguments) if arguments else None)
    if on_open is not None:
        on_open(dialog)
    accepted = dialog.run()
    dialog.destroy()
    return accepted


def selected_items(drawables, image) -> list:
    """The layers (or groups) the user means, each once: a layer mask means its layer, a channel the image's
    selected layer (after Cut Out Person… GIMP selects the new layer mask for editing, and a user may
    select a mask or a channel by hand while a layer stays highlighted, as the Layers dialog shows it)."""
    layers = []
    for drawable in drawables:
        if isinstance(drawable, Gimp.LayerMask):
            candidates = [Gimp.Layer.from_mask(drawable)]
        elif isinstance(drawable, Gimp.Channel):
            candidates = list(image.get_selected_layers())
        else:
            candidates = [drawable] if isinstance(drawable, Gimp.Layer) else []
        layers += [x for x in candidates if x is not None and all(x.get_id() != y.get_id() for y in layers)]
    return layers


def siblings(image, item) -> list:
    """The layers beside ``item`` (in its group, or the image's top level), top first."""
    parent = item.get_parent()
    return list(parent.get_children() if parent is not None else image.get_layers())


def comic_photo(item) -> int | None:
    """The tattoo of the photo a comic group was drawn from (its parasite); None for any other item."""
    info = read_parasite(item, cutouts.COMIC_PARASITE)
    return info.get("photo") if isinstance(info, dict) else None


def selected_photo(image, drawables, not_one: dict[str, str]):
    """(the photo layer the user means, None), or (None, the message that says what to select).

    Whatever part of a cut-out is selected — the photo, its mask, its Hints layer, a comic group drawn
    from it or a layer in one — means the photo (plugin_logic.cutouts). ``not_one``: the command's own
    words for ``"count"`` (not exactly one layer) and ``"group"`` (a layer group of the artist's own).
    """
    items = selected_items(drawables, image)
    if len(items) != 1:
        return None, not_one["count"]
    photo, problem = cutouts.photo_for(items[0], lambda item: siblings(image, item), comic_photo)
    if photo is None:
        return None, not_one["group"] if problem == cutouts.GROUP else cutouts.photo_missing()
    return photo, None


def done(procedure):
    Gimp.progress_end()
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def cancelled(procedure):
    return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())


def fail(procedure, message):
    """The procedure failed: GIMP shows ``message`` to the user (a script gets it as the error)."""
    print(f"[person-cutout] {message}", file=sys.stderr, flush=True)
    error = GLib.Error.new_literal(GLib.quark_from_string("person-cutout"), message, 0)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, error)
