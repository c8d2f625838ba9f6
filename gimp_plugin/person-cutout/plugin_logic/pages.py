# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""What the Comic Page… dialog says about the page before it is made: its size in pixels and in memory.

A B4 manuscript at 600 dpi is 6071 × 8598 px; at 8 bits per channel GIMP holds each full-page
RGBA layer in 4 bytes per pixel, so the artist should know before pressing OK what the page and
every layer added to it will cost. The estimate is what GIMP itself counts (the memory its status
bar shows, ``gimp_object_get_memsize`` of the image) for what Comic Page… creates:

* the page: the white *Paper* layer (RGB, 3 bytes a pixel), the selection mask every image has
  (1 byte) and the image's projection (RGBA with its mipmap pyramid, which GIMP counts as 1.33
  times the full-size buffer);
* each panel, at the panel's size: its border layer (RGBA), its group's own buffer (RGBA) and the
  group's projection (RGBA, pyramid again), and the group's mask (1 byte).

Undo is off while the page is built, so nothing is counted for it.
"""

from __future__ import annotations

from cutout_common import page_geometry

from .i18n import _

RGB, RGBA, MASK = 3, 4, 1
#: how GIMP counts a projection with its pyramid of halved levels (app/gegl/gimp-gegl-utils.c)
PYRAMID = 1.33
#: bytes per pixel of the page and of each panel, as GIMP counts them
PAGE_PIXEL = RGB + MASK + RGBA * PYRAMID
PANEL_PIXEL = RGBA + RGBA + RGBA * PYRAMID + MASK


def page_bytes(page, panels) -> int:
    """Bytes GIMP counts for a new page with ``panels``, as :mod:`comic_page` builds it."""
    canvas = page.width * page.height
    panel_area = sum(p.rect.width * p.rect.height for p in panels)
    return round(canvas * PAGE_PIXEL + panel_area * PANEL_PIXEL)


def human_bytes(count: float) -> str:
    if count >= 1e9:
        return _("%.1f GB") % (count / 1e9)
    return _("%d MB") % round(count / 1e6)


def summary(preset: str, dpi: int, panels_of) -> str:
    """One line for the dialog; ``panels_of(page)`` gives the layout's panels (or raises ValueError)."""
    page = page_geometry.page(preset, dpi)
    try:
        panels = panels_of(page)
    except ValueError as exc:
        return _("%(width)d × %(height)d px — the panels do not fit: %(error)s") % {
            "width": page.width, "height": page.height, "error": exc}
    return _("%(width)d × %(height)d px (%(megapixels).1f megapixels): about %(memory)s as created; "
             "each full-page layer adds %(layer)s") % {
        "width": page.width, "height": page.height, "megapixels": page.width * page.height / 1e6,
        "memory": human_bytes(page_bytes(page, panels)), "layer": human_bytes(page.width * page.height * RGBA)}
