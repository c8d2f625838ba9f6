# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The installed plug-in's own folder: where its files that are not code live (``config.json``, the compiled
translations in ``locale/``, ``licences-seen.json``, the server's log).

install.py makes that folder in GIMP's profile and links the plug-in's main file into it; the code stays in
the checkout, where the server imports the same ``cutout_common``. The main file (person-cutout.py) says
which folder GIMP started it from in ``PERSON_CUTOUT_PLUGIN_DIR``; without it (the tests, a plug-in folder
that holds its code itself) it is the folder of the plug-in's code.
"""

from __future__ import annotations

import os

PLUGIN_DIR = os.environ.get("PERSON_CUTOUT_PLUGIN_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
