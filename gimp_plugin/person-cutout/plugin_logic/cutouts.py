# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Which photo a command means, from whatever part of its cut-out is selected.

A cut-out is a photo layer (with the layer mask Cut Out Person… gave it), the comic groups drawn from
it (each names the photo by tattoo in its parasite) and its Hints layer. Each command leaves another
part selected: the new mask after Cut Out Person…, the Hints layer after Add Hints Layer and Refine
Cut-out…, the group's last layer (*Flat colour*) after Draw Comic Layers…. The commands that work on
the photo find it from any of these, so the next command can follow at once; what cannot be one
(a layer group of the artist's own, a Hints layer with nothing below it) gets a message that says what
to select, instead of a result made from the wrong layer.

Works on GIMP's layers through their own method names (``get_name``, ``is_group``, ``get_parent``,
``get_tattoo``), so the tests give it plain objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .hints import is_hints_layer, pick_photo
from .i18n import _

#: the parasite a comic group carries: the photo's tattoo, its style and the comic option it was drawn with
COMIC_PARASITE = "person-cutout-comic"
#: why no photo was found: the selection is a layer group that is no comic group of a photo
GROUP = "group"
#: a comic group or Hints layer whose photo is not beside it (deleted, or moved into another group)
NO_PHOTO = "no-photo"


def photo_for(
    selected: Any, siblings: Callable[[Any], list], comic_photo: Callable[[Any], int | None]
) -> tuple[Any, str | None]:
    """(the photo layer, None) for the selected layer or group, or (None, :data:`GROUP` or :data:`NO_PHOTO`).

    ``siblings(item)``: the layers beside ``item`` (in its group, or the image's top level), top first;
    ``comic_photo(item)``: the photo's tattoo a comic group records, None for any other item.
    """
    parent = selected.get_parent()
    if parent is not None and comic_photo(parent) is not None:  # a layer of a comic group: its group
        selected = parent
    tattoo = comic_photo(selected)
    if tattoo is not None:
        return next(((x, None) for x in siblings(selected) if x.get_tattoo() == tattoo), (None, NO_PHOTO))
    if selected.is_group():
        return None, GROUP
    if is_hints_layer(selected.get_name()):  # the first layer below that is no Hints layer, or a comic group's photo
        layers = siblings(selected)
        here = next(i for i, x in enumerate(layers) if x.get_tattoo() == selected.get_tattoo())
        found = pick_photo([x.get_name() for x in layers], here)
        if found is None or (layers[found].is_group() and comic_photo(layers[found]) is None):
            return None, NO_PHOTO
        return photo_for(layers[found], siblings, comic_photo)  # the photo, or the comic group drawn above it
    return selected, None


def photo_missing() -> str:
    """The message when a comic group or Hints layer has no photo beside it: what to select instead."""
    return _("The photo this was made from is not beside it in the Layers dialog: select the photo layer itself.")
