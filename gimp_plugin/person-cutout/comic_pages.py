# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Comic pages in GIMP: a new page with guides and panel groups, and placing a cut-out in a panel.

All geometry comes from :mod:`cutout_common.page_geometry` (the server uses the same package), so
the page GIMP builds is the page the tests and the README picture measure.
A page is ordinary GIMP layers: a white "Paper" layer and one group per panel, holding a
"Panel N border" layer and masked to the panel, so whatever is put in the group is clipped to the
panel and stays editable. Parasites (saved in XCF) record the page and each panel's rectangle.
Placed comic groups are drawn again by the server at the page's resolution, so their line weights
(pt) and screentone (lpi) print as asked, not as the scaling made them.
"""

from __future__ import annotations

import json

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from comic_layers import comic_info, recorded_option, replace_layers  # noqa: E402
from gi.repository import Gegl, Gimp  # noqa: E402
from server_link import (  # noqa: E402
    MASK_FORMAT,
    CutoutError,
    layer_with_mask_as_alpha,
    read_pixels,
    request,
    write_pixels,
)

from cutout_common import page_geometry  # noqa: E402

PAGE_PARASITE = "person-cutout-page"
PANEL_PARASITE = "person-cutout-panel"
GRID = "grid"  # the layout choice that uses rows × columns
FITS = [("whole", "Whole person inside the panel"), ("fill", "Fill the panel (the panel crops the person)")]


def _parasite(data: dict) -> Gimp.Parasite:
    return Gimp.Parasite.new(PAGE_PARASITE if "trim" in data else PANEL_PARASITE, Gimp.PARASITE_PERSISTENT,
                             json.dumps(data).encode())


def _read_parasite(item, name: str) -> dict | None:
    parasite = item.get_parasite(name)
    return None if parasite is None else json.loads(bytes(parasite.get_data()).decode())


# --------------------------------------------------------------------------- new page


def panels_for(geometry, layout: str, rows: int, columns: int, gutter_mm: tuple[float, float]) -> list:
    if layout == GRID:
        return page_geometry.layout(geometry, None, rows=rows, columns=columns, gutter_mm=gutter_mm)
    return page_geometry.layout(geometry, layout, gutter_mm=gutter_mm)


def new_page(preset: str, dpi: int, layout: str, rows: int, columns: int,
             gutter_mm: tuple[float, float], border_pt: float):
    """A new image: white paper, bleed/trim/safe guides, one masked group with a border per panel."""
    geometry = page_geometry.page(preset, dpi)
    panels = panels_for(geometry, layout, rows, columns, gutter_mm)
    image = Gimp.Image.new(geometry.width, geometry.height, Gimp.ImageBaseType.RGB)
    image.undo_disable()  # a new image has nothing to undo; building it is not a user's step
    image.set_resolution(dpi, dpi)
    paper = Gimp.Layer.new(image, "Paper", geometry.width, geometry.height, Gimp.ImageType.RGB_IMAGE,
                           100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(paper, None, 0)
    paper.fill(Gimp.FillType.WHITE)
    guides = geometry.guides()
    for x in guides["vertical"]:
        image.add_vguide(x)
    for y in guides["horizontal"]:
        image.add_hguide(y)
    width = page_geometry.border_px(border_pt, dpi)
    for panel in reversed(panels):  # each goes on top: panel 1 ends up first in the Layers dialog
        add_panel(image, panel, width)
    Gimp.Selection.none(image)
    image.attach_parasite(_parasite(geometry.as_dict()))
    image.undo_enable()
    return image


def add_panel(image, panel, border: int):
    """A group "Panel N" masked to the panel, with a "Panel N border" layer stroked ``border`` px inside its edge."""
    r = panel.rect
    group = Gimp.GroupLayer.new(image, f"Panel {panel.order + 1}")
    image.insert_layer(group, None, 0)
    line = Gimp.Layer.new(image, f"Panel {panel.order + 1} border", r.width, r.height,
                          Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(line, group, 0)
    line.set_offsets(r.x, r.y)
    line.fill(Gimp.FillType.TRANSPARENT)
    # the stroke is centred on the selection's edge: half a line inside the panel keeps all of it inside
    inset = border / 2.0
    image.select_rectangle(Gimp.ChannelOps.REPLACE, r.x + inset, r.y + inset, r.width - border, r.height - border)
    Gimp.context_push()
    try:
        Gimp.context_set_foreground(Gegl.Color.new("black"))
        Gimp.context_set_stroke_method(Gimp.StrokeMethod.LINE)
        Gimp.context_set_antialias(False)
        Gimp.context_set_line_width(float(border))
        line.edit_stroke_selection()
    finally:
        Gimp.context_pop()
    image.select_rectangle(Gimp.ChannelOps.REPLACE, r.x, r.y, r.width, r.height)
    group.add_mask(group.create_mask(Gimp.AddMaskType.SELECTION))
    group.attach_parasite(_parasite(panel.as_dict()))
    return group


# --------------------------------------------------------------------------- place in panel


def is_page(image) -> bool:
    return image.get_parasite(PAGE_PARASITE) is not None


def latest_page(exclude) -> object | None:
    """The most recently opened comic page other than ``exclude`` (for runs that name no page)."""
    pages = [i for i in Gimp.get_images() if is_page(i) and i.get_id() != exclude.get_id()]
    return max(pages, key=lambda i: i.get_id()) if pages else None


def find_panel(page, number: int):
    """(group, rect dict) of panel ``number`` (1 = first in reading order) of a comic page."""
    for item in page.get_layers():
        info = _read_parasite(item, PANEL_PARASITE) if item.is_group() else None
        if info is not None and info["order"] + 1 == number:
            return item, info
    return None, None


def cutout_items(image, selected) -> list:
    """The cut-out to place, top first: the photo layer and the comic groups made from it.

    ``selected`` is either the (masked) photo layer or one of its comic groups.
    """
    info = comic_info(selected)
    photo = selected
    if info is not None:
        photo = next((x for x in _siblings(image, selected) if x.get_tattoo() == info.get("photo")), None)
        if photo is None:
            return [selected]
    comics = [x for x in _siblings(image, photo)
              if (comic_info(x) or {}).get("photo") == photo.get_tattoo()]
    return comics + [photo]


def _siblings(image, item) -> list:
    parent = item.get_parent()
    return list(parent.get_children() if parent is not None else image.get_layers())


def person_mask(items) -> bytes | None:
    """The person's mask at the photo's size ("Y u8"): the photo's layer mask, else its alpha, else
    the mask of a comic group made from it (Comic Layers… leaves the photo itself unmasked)."""
    photo = items[-1]
    if photo.get_mask() is not None:
        return read_pixels(photo.get_mask(), MASK_FORMAT)
    if photo.has_alpha():
        return read_pixels(photo, "R'G'B'A u8")[3::4]
    for item in items[:-1]:
        mask = item.get_mask()
        if mask is not None and (mask.get_width(), mask.get_height()) == (photo.get_width(), photo.get_height()):
            return read_pixels(mask, MASK_FORMAT)
    return None


def person_bounds(mask: bytes | None, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), in photo pixels, of where the mask is 50 % and more (the whole photo without one).

    Pure byte operations (GIMP's Python has no numpy): each row is thresholded by a translate
    table and its first and last person pixel found with ``strip``.
    """
    if mask is None:
        return 0, 0, width, height
    binary = mask.translate(bytes(0 if v < 128 else 1 for v in range(256)))
    x0, y0, x1, y1 = width, height, -1, -1
    for y in range(height):
        row = binary[y * width:(y + 1) * width]
        left = len(row) - len(row.lstrip(b"\0"))
        if left == width:
            continue
        right = len(row.rstrip(b"\0"))
        x0, x1 = min(x0, left), max(x1, right)
        y0 = min(y0, y)
        y1 = y + 1
    if x1 < 0:
        return 0, 0, width, height  # nobody found: place the whole photo
    return x0, y0, x1, y1


def placement(bounds, layer_size, panel: dict, fit: str) -> tuple[float, int, int]:
    """(scale, x, y): how the layer is scaled and where its top-left goes on the page.

    ``whole``: the person's box fits inside the panel; ``fill``: it covers the panel's width
    or height, whichever is larger. Centred across; a person cut off by the photo's bottom
    edge (a bust, a half figure) stands on the panel's bottom edge instead of floating.
    """
    x0, y0, x1, y1 = bounds
    bw, bh = x1 - x0, y1 - y0
    ratios = panel["width"] / bw, panel["height"] / bh
    scale = min(ratios) if fit == "whole" else max(ratios)
    x = panel["x"] + (panel["width"] - bw * scale) / 2 - x0 * scale
    cut_at_bottom = y1 >= layer_size[1]
    if cut_at_bottom:
        y = panel["y"] + panel["height"] - y1 * scale
    else:
        y = panel["y"] + (panel["height"] - bh * scale) / 2 - y0 * scale
    return scale, int(round(x)), int(round(y))


def place(source, selected, page, number: int, fit: str, endpoint: str, timeout: float) -> tuple[object, str | None]:
    """Copy the cut-out into panel ``number`` of ``page``, scaled and clipped; one undo step on the page.

    Returns the new group (inside the panel's group, below its border) and, when the server
    could not draw the comic groups again, why (those groups stay scaled copies).
    """
    group, panel = find_panel(page, number)
    if group is None:
        raise ValueError(f"the page has no panel {number}")
    items = cutout_items(source, selected)
    photo = items[-1]
    size = photo.get_width(), photo.get_height()
    mask = person_mask(items)
    scale, x, y = placement(person_bounds(mask, *size), size, panel, fit)
    origin = photo.get_offsets()
    page.undo_group_start()
    try:
        holder = Gimp.GroupLayer.new(page, f"{photo.get_name()} (placed)")
        page.insert_layer(holder, group, 1)  # below the border, which stays on top
        for position, item in enumerate(items):  # the photo is the last item
            copy = Gimp.Layer.new_from_drawable(item, page)
            page.insert_layer(copy, holder, position)
            offsets = item.get_offsets()
            copy.set_offsets(offsets.offset_x - origin.offset_x, offsets.offset_y - origin.offset_y)
        if mask is not None and copy.get_mask() is None and not copy.has_alpha():
            copy.add_mask(copy.create_mask(Gimp.AddMaskType.WHITE))  # the person only, not the photo's background
            write_pixels(copy.get_mask(), MASK_FORMAT, mask)
        corner = holder.get_offsets()  # the photo is at (0, 0) now; a bigger comic group may start before it
        width = max(1, int(round(holder.get_width() * scale)))
        height = max(1, int(round(holder.get_height() * scale)))
        holder.scale(width, height, True)
        holder.set_offsets(x + int(round(corner.offset_x * scale)), y + int(round(corner.offset_y * scale)))
        options = [recorded_option(comic_info(item)) for item in items[:-1]]
        problem = redraw_comics(holder, options, page_dpi(page), endpoint, timeout)
    finally:
        page.undo_group_end()
    return holder, problem


def page_dpi(page) -> int:
    info = _read_parasite(page, PAGE_PARASITE) or {}
    return int(round(info.get("dpi") or page.get_resolution()[-1]))


def person_rgba(photo) -> bytes:
    """The placed photo with the person's mask as alpha: sent with ``mask: alpha``, no segmenter runs."""
    return layer_with_mask_as_alpha(photo) if photo.get_mask() is not None else read_pixels(photo, "R'G'B'A u8")


def redraw_comics(holder, options: list[dict], dpi: int, endpoint: str, timeout: float) -> str | None:
    """Each placed comic group drawn again on the scaled photo at ``dpi``, with the options it was made with.

    Scaled pixels would change the line weights and the tone's frequency and dots on the printed
    page. Returns why a group could not be redrawn (it is left scaled), or None.
    """
    *comics, photo = holder.get_children()
    if not comics:
        return None
    pixels = person_rgba(photo)
    for group, option in zip(comics, options, strict=True):
        comic = {**option, "dpi": dpi}
        try:
            reply = request("comic", photo, pixels, "RGBA8", "default",
                            {"comic": comic, "mask": "alpha", "foreground": False}, endpoint, timeout,
                            "Drawing the comic layers for the page…")
            replace_layers(group, reply, photo)
        except (CutoutError, ValueError) as exc:  # no server, or it refused: keep the scaled copies
            return str(exc)
    return None
