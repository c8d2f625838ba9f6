# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""What the Comic Page… dialog says about the page before it is made: its size in pixels and in memory.

A B4 manuscript at 600 dpi is 6071 × 8598 px; at 8 bits per channel GIMP holds each full-page
RGBA layer in 4 bytes per pixel, so the artist should know before pressing OK what the page and
every layer added to it will cost. The estimate counts what Comic Page… creates: the white
*Paper* layer (RGB), the image's projection (RGBA), and per panel its border layer, its group's
projection (both RGBA) and its mask (one byte), each the panel's size.
"""

from __future__ import annotations

from cutout_common import page_geometry

from .i18n import _

RGB, RGBA, MASK = 3, 4, 1


def page_bytes(page, panels) -> int:
    """Bytes of pixel data of a new page with ``panels``, as :mod:`comic_page` builds it."""
    canvas = page.width * page.height
    panel_area = sum(p.rect.width * p.rect.height for p in panels)
    return canvas * (RGB + RGBA) + panel_area * (RGBA + RGBA + MASK)


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
