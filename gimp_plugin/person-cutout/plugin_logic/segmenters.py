# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The segmenter choice as a GIMP user reads it: titles, which are installed, and how to install the others.

Titles come from :mod:`cutout_common.vocabulary` (the server's own table); which segmenters have
their weights comes from a running server's ``hello`` (``installed`` and ``install`` per segmenter).
The dialog greys out those without weights and says, in a note under the choice, how to add them.
"""

from __future__ import annotations

from cutout_common import vocabulary

from .i18n import _

DEFAULT = "default"


def choices() -> list[tuple[str, str]]:
    """(nick, label) of every segmenter a request may name, the server's best installed one first."""
    return [(DEFAULT, _("Best installed (default)"))] + [(s.name, _(s.title)) for s in vocabulary.SEGMENTERS.values()]


def not_installed(hello: dict | None) -> list[str]:
    """The vocabulary's segmenters a running server has no weights for (none known without a server)."""
    entries = {s.get("name"): s for s in (hello or {}).get("segmenters", []) if isinstance(s, dict)}
    return [name for name in vocabulary.SEGMENTERS if name in entries and not entries[name].get("installed", True)]


def install_command(names: list[str]) -> str:
    """install.py's command line that adds the weights of ``names`` (networks shared by several listed once)."""
    return vocabulary.install_command(names)


def install_how(names: list[str], folder: str | None) -> str:
    """How to add the weights of ``names``: one command, typed in the checkout install.py ran from."""
    return _("To add them, open a terminal in %(folder)s and type:  %(command)s") % {
        "folder": folder or _("the Person Cutout folder"), "command": install_command(names)}


def install_note(names: list[str], folder: str | None) -> str:
    """The dialog's note on segmenters without weights: which, and how to add them, in a user's words."""
    if not names:
        return ""
    # each one's name, not the blurb after its dash
    titles = ", ".join(_(vocabulary.SEGMENTERS[n].title).split("—")[0].strip() for n in names)
    return _("Greyed out, not installed: %s.") % titles + " " + install_how(names, folder)
