# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The *Person* choice of Cut Out Person…: which of the people a segmenter finds make the cut-out.

The choices are the server's own (``cutout_common.vocabulary.PERSON_CHOICES``, the first one the
default), so a choice added there appears in the dialog by itself; then the plug-in's one more,
*under the selection*, which it turns into a point. Each is labelled with what it does — *all* is
everyone the detector finds, passers-by included, not "all the people" a viewer would count — and
a choice the plug-in has no words for yet is shown by its name rather than left out.
"""

from __future__ import annotations

from cutout_common import vocabulary

from .i18n import N_, _

#: the plug-in's own choice: the person under the selection's centre (or the first path's first anchor)
UNDER_SELECTION = "under-selection"
#: what each choice does, as the dialog says it
LABELS = {
    "subjects": N_("The photo's subject(s)"),
    "all": N_("Everyone the detector finds"),
    "largest": N_("The largest person"),
    UNDER_SELECTION: N_("The person under the selection or path"),
}


def server_choices() -> list[str]:
    """The choices the server takes by name, in its order (the first is its default)."""
    return [getattr(choice, "value", choice) for choice in vocabulary.PERSON_CHOICES]


def default() -> str:
    """The server's default choice: what a request without the option gets."""
    return server_choices()[0]


def label(value: str) -> str:
    """What the choice ``value`` does, in the user's language; its own name when the plug-in has no words for it."""
    return _(LABELS[value]) if value in LABELS else value.replace("-", " ").replace("_", " ").capitalize()


def choices() -> list[tuple[str, str]]:
    """(value, label) of every choice the dialog offers: the server's, then the plug-in's own."""
    return [(value, label(value)) for value in [*server_choices(), UNDER_SELECTION]]
