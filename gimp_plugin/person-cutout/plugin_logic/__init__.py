# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The plug-in's logic that needs no GIMP: it imports without ``gi`` and is tested in the ordinary suite.

The GIMP modules beside this package (one per menu entry) read layers, call these functions and
write the results back; everything that can be decided on bytes, numbers and the server's answer
is decided here. Standard library only: GIMP's Python has no numpy.
"""
