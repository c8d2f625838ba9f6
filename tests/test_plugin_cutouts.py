"""Which photo a command means, whatever part of the cut-out is selected (plugin_logic/cutouts.py; issue 29,
items 3 and 4).

The layers are plain objects with GIMP's method names; the real GIMP flows (Draw Comic Layers… with the
Hints layer selected, Place in Panel… with *Flat colour* selected) are in tests/test_gimp_gui.py.
"""

from __future__ import annotations

from itertools import count

from plugin_logic import cutouts

tattoos = count(1)


class Layer:
    def __init__(self, name: str, children: list | None = None, photo: Layer | None = None):
        self.name, self.children, self.parent = name, children, None
        self.tattoo = next(tattoos)
        self.comic_of = photo.tattoo if photo is not None else None  # a comic group's parasite
        for child in children or []:
            child.parent = self

    def get_name(self):
        return self.name

    def is_group(self):
        return self.children is not None

    def get_parent(self):
        return self.parent

    def get_tattoo(self):
        return self.tattoo


def image(*top):
    def siblings(item):
        return item.parent.children if item.parent is not None else list(top)

    return siblings


def comic_photo(item):
    return item.comic_of


def test_every_part_of_a_cut_out_means_its_photo():
    photo = Layer("Background")
    ink, tone, flat = Layer("Ink"), Layer("Tone"), Layer("Flat colour")
    group = Layer("Comic (manga)", [ink, tone, flat], photo=photo)
    hints = Layer("Hints")
    siblings = image(hints, group, photo)
    for selected in (photo, hints, group, ink, flat):
        found, problem = cutouts.photo_for(selected, siblings, comic_photo)
        assert (found, problem) == (photo, None), f"{selected.name} means {found and found.name} ({problem})"


def test_what_is_no_part_of_a_cut_out_says_what_to_select():
    photo, mine = Layer("Background"), Layer("My group", [Layer("sketch")])
    assert cutouts.photo_for(mine, image(mine, photo), comic_photo) == (None, cutouts.GROUP)
    assert cutouts.photo_for(mine.children[0], image(mine, photo), comic_photo) == (mine.children[0], None)
    lonely = Layer("Hints")
    assert cutouts.photo_for(lonely, image(lonely), comic_photo) == (None, cutouts.NO_PHOTO)
    orphan = Layer("Comic (manga)", [Layer("Ink")], photo=Layer("deleted photo"))
    assert cutouts.photo_for(orphan.children[0], image(orphan, photo), comic_photo) == (None, cutouts.NO_PHOTO)
    assert "select the photo layer" in cutouts.photo_missing()
