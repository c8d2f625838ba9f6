# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""How the dialogs react to the segmenter chosen: the weights' licence, and options only some segmenters have."""

from __future__ import annotations

import sys

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GObject  # noqa: E402
from plugin_logic import licences  # noqa: E402
from plugin_logic.settings import endpoint_or_configured  # noqa: E402


def licence_notice(parent, segmenter: str, endpoint: str) -> None:
    """Show the weights' licence the first time a segmenter that needs it is chosen."""
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


def watch_segmenter(config, only_for_segmenters: dict[str, tuple[str, ...]] | None = None):
    """The dialog shows the licence as soon as such a segmenter is picked, not after OK.

    ``only_for_segmenters``: argument -> the segmenters it applies to; it is greyed out for the others.
    """

    def on_open(dialog):
        def changed(cfg, _pspec):
            licence_notice(dialog, cfg.get_property("segmenter"), cfg.get_property("endpoint"))

        config.connect("notify::segmenter", changed)
        for argument, segmenters in (only_for_segmenters or {}).items():
            only_for(dialog, config, argument, segmenters)

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
