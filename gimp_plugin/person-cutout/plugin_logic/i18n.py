# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Translations: every string a GIMP user reads goes through ``_()`` (gettext), as in GIMP's own plug-ins.

The catalogue is ``locale/<language>/LC_MESSAGES/person-cutout.mo`` beside the plug-in, where
install.py compiles it from ``gimp_plugin/translations/<language>.po`` — the folder and domain
GIMP itself binds for a plug-in (``do_set_i18n`` in person-cutout.py returns them). Python's own
gettext reads it here, so the plug-in's logic translates without ``gi`` and the tests can load a
language of their choice. The language is GIMP's: GIMP passes its ``LANGUAGE`` (Preferences ›
Interface › Language, else the system's) to its plug-ins.

Names defined once in :mod:`cutout_common` (segmenter titles, comic styles, page sizes) are
shared with the server, which speaks English: they are translated where the plug-in shows them
(``_(style.label)``); ``gimp_plugin/translations/catalogue.py`` lists them in the template.
"""

from __future__ import annotations

import gettext
import os

from .plugin_dir import PLUGIN_DIR

DOMAIN = "person-cutout"
#: beside the plug-in's main file, as GIMP expects (its default catalogue folder for a plug-in)
LOCALE_DIR = os.path.join(PLUGIN_DIR, "locale")


def load(languages: list[str] | None = None, localedir: str = LOCALE_DIR) -> gettext.NullTranslations:
    """The catalogue for ``languages`` (default: from LANGUAGE, LC_ALL, LC_MESSAGES, LANG); English without one."""
    return gettext.translation(DOMAIN, localedir, languages=languages, fallback=True)


_catalogue = load()


def _(message: str) -> str:
    """``message`` in the user's language (itself when there is no translation)."""
    return _catalogue.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return _catalogue.ngettext(singular, plural, count)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is defined; ``_()`` translates it where it is shown."""
    return message
