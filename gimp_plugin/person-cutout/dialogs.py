# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""How the dialogs react to what is chosen: the weights' licence, segmenters without weights, options that apply.

* A segmenter whose weights need the user's consent (plugin_logic.licences) is asked about as
  soon as it is picked, and again after OK if it was already chosen when the dialog opened — so
  before the job starts, never while it runs. Declining in the dialog puts the previous choice back.
* Segmenters the running server has no weights for are greyed out, with a note that says how to
  install them (plugin_logic.segmenters); without a running server nothing is greyed (nothing is known).
* Options that apply to some choices only are greyed out (or hidden) for the others.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GObject  # noqa: E402
from plugin_logic import licences, segmenters  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from plugin_logic.settings import endpoint_or_configured, load_config  # noqa: E402

NOTE = "segmenter-note"


def licence_consent(parent, segmenter: str) -> bool:
    """True when the segmenter may run: no consent needed, given before, or given now in a question."""
    if not licences.must_ask(segmenter):
        return True
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk

    box = Gtk.MessageDialog(transient_for=parent, modal=True, message_type=Gtk.MessageType.QUESTION,
                            buttons=Gtk.ButtonsType.NONE, text=licences.title(segmenter),
                            title=_("Person Cutout: licence"))
    box.format_secondary_text(licences.message(segmenter))
    box.add_buttons(_("_Cancel"), Gtk.ResponseType.CANCEL, _("_Use it"), Gtk.ResponseType.OK)
    box.get_widget_for_response(Gtk.ResponseType.OK).grab_focus()  # Enter accepts, not the selectable text
    accepted = box.run() == Gtk.ResponseType.OK
    box.destroy()
    if accepted:
        licences.remember(segmenter)
    return accepted


def segmenter_note(dialog, procedure, config) -> str:
    """Grey out the segmenters the running server has no weights for; the note's id (its text says how to add them)."""
    from server_link import hello

    try:
        info = hello(endpoint_or_configured(config.get_property("endpoint")), timeout=1.0)
        folder = load_config().get("server_cwd")
    except ValueError:  # unreadable settings: the run says so
        info, folder = None, None
    missing = segmenters.not_installed(info)
    pspec = procedure.find_argument("segmenter")
    gimp_choice = Gimp.param_spec_choice_get_choice(pspec) if pspec is not None else None
    for name in missing:
        if gimp_choice is not None:
            gimp_choice.set_sensitive(name, False)
    label = dialog.get_label(NOTE, segmenters.install_note(missing, folder), False, False)
    label.set_line_wrap(True)
    label.set_max_width_chars(60)
    label.set_xalign(0.0)
    label.set_selectable(True)  # the command can be copied
    label.set_visible(bool(missing))
    label.set_no_show_all(not missing)
    return NOTE


def watch_segmenter(config, only_for_segmenters: dict[str, tuple[str, ...]] | None = None):
    """The dialog asks for the licence as soon as such a segmenter is picked, not after OK.

    ``only_for_segmenters``: argument -> the segmenters it applies to; it is greyed out for the others.
    """

    def on_open(dialog):
        previous = {"segmenter": config.get_property("segmenter")}

        def changed(cfg, _pspec):
            chosen = cfg.get_property("segmenter")
            if chosen == previous["segmenter"]:
                return
            if licence_consent(dialog, chosen):
                previous["segmenter"] = chosen
            else:
                cfg.set_property("segmenter", previous["segmenter"])  # declined: as it was

        config.connect("notify::segmenter", changed)
        for argument, names in (only_for_segmenters or {}).items():
            only_for(dialog, config, argument, "segmenter", names)

    return on_open


def only_for(dialog, config, argument: str, chooser: str, values: tuple[str, ...]) -> None:
    """Grey out ``argument`` in the dialog unless the choice ``chooser`` is one of ``values``."""
    array = Gimp.ValueArray.new(len(values))
    for name in values:
        value = GObject.Value(GObject.TYPE_STRING)
        value.set_string(name)
        array.append(value)
    try:
        dialog.set_sensitive_if_in(argument, config, chooser, array, True)
    except (TypeError, AttributeError) as exc:  # a cosmetic: the option is ignored for the others anyway
        print(f"[person-cutout] cannot grey out {argument}: {exc}", file=sys.stderr, flush=True)


def shown_for(dialog, config, argument: str, chooser: str, values: tuple[str, ...]) -> None:
    """Show ``argument``'s row only while the choice ``chooser`` is one of ``values`` (hidden otherwise)."""
    widget = dialog.get_widget(argument, GObject.TYPE_NONE)
    if widget is None:
        return

    def update(*_args):
        widget.set_visible(config.get_property(chooser) in values)

    widget.set_no_show_all(True)  # the dialog's show_all must not show it again
    update()
    config.connect(f"notify::{chooser}", update)
