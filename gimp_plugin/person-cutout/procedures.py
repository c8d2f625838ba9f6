# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""What every procedure of the plug-in does the same way: arguments, its dialog, its outcome."""

from __future__ import annotations

import sys

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GLib, GObject  # noqa: E402

FLAGS = GObject.ParamFlags.READWRITE


def choice(values):
    """A Gimp.Choice of (nick, label) pairs; nicks must be identifiers."""
    result = Gimp.Choice.new()
    for index, (nick, label) in enumerate(values):
        result.add(nick, index, label, "")
    return result


MENU = "<Image>/Filters/Person Cutout"


def layer_procedure(plugin, name, run, label: str, blurb: str, help_text: str):
    """A procedure on the selected layer of an RGB or grey image, in the Person Cutout menu."""
    procedure = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    procedure.set_menu_label(label)
    procedure.add_menu_path(MENU)
    procedure.set_documentation(blurb, help_text, name)
    return procedure


def add_server_arguments(procedure):
    procedure.add_string_argument("endpoint", "Server e_ndpoint", "Empty: the one install.py configured", "", FLAGS)
    procedure.add_double_argument("timeout", "_Timeout (s)", "How long to wait for the server", 5.0, 3600.0, 600.0, FLAGS)


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


def single_layer(drawables):
    """The one plain layer selected, or an error message."""
    layers = [d for d in drawables if isinstance(d, Gimp.Layer) and not isinstance(d, Gimp.LayerMask)]
    if len(layers) != 1:
        return None, "select exactly one layer"
    if layers[0].is_group():
        return None, "select a layer, not a layer group"
    return layers[0], None


def done(procedure):
    Gimp.progress_end()
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def cancelled(procedure):
    return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())


def fail(procedure, message):
    print(f"[person-cutout] {message}", file=sys.stderr, flush=True)
    error = GLib.Error.new_literal(GLib.quark_from_string("person-cutout"), message, 0)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, error)
