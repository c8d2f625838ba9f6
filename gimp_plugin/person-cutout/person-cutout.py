#!/usr/bin/env python3
# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Person Cutout in GIMP 3: the plug-in's registration. Each menu entry is a module of its own:

* cut_out_person.py — *Filters › Person Cutout › Cut Out Person…*;
* comic_layers.py — *Filters › Person Cutout › Draw Comic Layers…*;
* comic_page.py — *File › Create › Comic Page…*;
* place_in_panel.py — *Filters › Person Cutout › Place in Panel…*;
* refine_cutout.py — *Filters › Person Cutout › Refine Cut-out…*;
* add_hints_layer.py — *Filters › Person Cutout › Add Hints Layer* (the layer Refine Cut-out… reads).

They talk to the Person Cutout server through server_link.py (the wire protocol and client are the
server's own, in cutout_common/), read and write layers through gimp_layers.py, and leave every decision
that needs no GIMP to plugin_logic/, which the test suite imports without GIMP. Only the standard
library and pyzmq run here (no numpy in GIMP's Python). Nothing in an image changes until the whole
answer has arrived and been checked, so an error or a cancel leaves it as it was.
"""

import os
import sys

#: the folder GIMP started the plug-in from: in GIMP's profile, where install.py linked this file and keeps the
#: plug-in's config.json, compiled translations and, when GIMP's Python has no pyzmq of its own, vendor/
HERE = os.path.dirname(os.path.abspath(__file__))
#: the plug-in's code, in the checkout (the same folder when the plug-in is not linked); cutout_common, the
#: package the server imports too, is beside it
CODE = os.path.dirname(os.path.realpath(__file__))
os.environ["PERSON_CUTOUT_PLUGIN_DIR"] = HERE  # read by plugin_logic/plugin_dir.py
sys.path[:0] = [CODE, os.path.dirname(CODE)]
if os.path.isdir(os.path.join(HERE, "vendor")):  # pyzmq installed beside the plug-in by install.py,
    sys.path.append(os.path.join(HERE, "vendor"))  # used only when GIMP's Python has none of its own

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
import add_hints_layer  # noqa: E402
import comic_layers  # noqa: E402
import comic_page  # noqa: E402
import cut_out_person  # noqa: E402
import place_in_panel  # noqa: E402
import refine_cutout  # noqa: E402
from gi.repository import Gimp  # noqa: E402
from plugin_logic import i18n  # noqa: E402

MENU_ENTRIES = (cut_out_person, refine_cutout, add_hints_layer, comic_layers, comic_page, place_in_panel)
CREATORS = {entry.PROCEDURE: entry.create for entry in MENU_ENTRIES}


class PersonCutout(Gimp.PlugIn):
    def do_query_procedures(self):
        return list(CREATORS)

    def do_set_i18n(self, name):
        # as GIMP's own Python plug-ins do: the catalogue's domain and its folder beside this file, where
        # install.py compiles it (locale/<language>/LC_MESSAGES/person-cutout.mo); strings go through _()
        return True, i18n.DOMAIN, os.path.basename(i18n.LOCALE_DIR)

    def do_create_procedure(self, name):
        procedure = CREATORS[name](self, name)
        procedure.set_attribution("Person Cutout authors", "GPL-3.0-or-later", "2026")
        return procedure


Gimp.main(PersonCutout.__gtype__, sys.argv)
