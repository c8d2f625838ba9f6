# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Filters › Person Cutout › Place in Panel…: a cut-out and its comic layers into a panel of a comic page.

The cut-out is copied into the panel's group, scaled to fit (plugin_logic.placement) and clipped by
the panel's mask. Placed comic groups are drawn again by the server at the page's resolution, so their
line weights (pt) and screentone (lpi) print as asked, not as the scaling made them; the photo goes
along hidden below them, as the artist's reference (its soft edge would show the old background
around the comic layers' decided one).

Which page: GIMP's procedure dialogs draw no image arguments, so the dialog has a chooser of the
open comic pages of its own (GIMP's image combo box, limited to images Comic Page… made), set to the
most recent page; it fills the procedure's ``page`` argument, which scripts set directly. The
cut-out is the photo of whatever part of it is selected in the image the procedure runs on (the
photo, its mask, its Hints layer, a comic group or a layer in one: plugin_logic.cutouts); a photo
without any mask is placed whole, and GIMP's message says so.
"""

from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
import procedures  # noqa: E402
from comic_layers import comic_info, replace_layers  # noqa: E402
from comic_page import PAGE_PARASITE, PANEL_PARASITE  # noqa: E402
from gi.repository import Gimp  # noqa: E402
from gimp_layers import MASK_FORMAT, RGBA_FORMAT, person_rgba, read_parasite, read_pixels, write_pixels  # noqa: E402
from plugin_logic.comic_options import recorded_option  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from plugin_logic.placement import person_bounds, placement, whole_photo  # noqa: E402
from plugin_logic.settings import endpoint_or_configured  # noqa: E402
from server_link import CutoutError, request  # noqa: E402

PROCEDURE = "python-fu-person-cutout-place-in-panel"
MENU_LABEL = _("_5. Place in Panel…")
MENU_BLURB = _("Put the cut-out (with its comic layers) into a panel of a comic page")
MENU_HELP = _(
    "Copies the selected cut-out layer and the comic groups made from it into the chosen panel of a page "
    "made by Comic Page…, scaled to fit and clipped by the panel's mask; the server draws the comic layers again "
    "at the page's resolution. One undo step on the page."
)
FITS = [("whole", _("Whole person inside the panel")), ("fill", _("Fill the panel (the panel crops the person)"))]
NOT_ONE_LAYER = {
    "count": _("Select the cut-out to place: its photo layer, its mask, or its comic group."),
    "group": _(
        "Select the cut-out to place: its photo layer, its mask, or its comic group (not a layer group of your own)."
    ),
}
#: the dialog's rows below the page chooser
DIALOG = ("panel", "fit", *procedures.SERVER_ARGUMENTS)


def is_page(image) -> bool:
    return image.get_parasite(PAGE_PARASITE) is not None


def open_pages(exclude) -> list:
    """The open comic pages other than ``exclude``, most recent first."""
    pages = [i for i in Gimp.get_images() if is_page(i) and i.get_id() != exclude.get_id()]
    return sorted(pages, key=lambda i: i.get_id(), reverse=True)


def latest_page(exclude) -> object | None:
    """The most recently opened comic page other than ``exclude`` (for runs that name no page)."""
    pages = open_pages(exclude)
    return pages[0] if pages else None


def page_chooser(dialog, config, source) -> None:
    """A row at the top of the dialog: the open comic pages, the chosen one written into ``page``."""
    gi.require_version("Gtk", "3.0")
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi, GObject, Gtk

    chosen = config.get_property("page")
    if chosen is None or not is_page(chosen) or chosen.get_id() == source.get_id():
        chosen = latest_page(source)
        config.set_property("page", chosen)
    combo = GimpUi.ImageComboBox.new(lambda image, *data: is_page(image) and image.get_id() != source.get_id())
    if chosen is not None:
        combo.set_active(chosen.get_id())

    def changed(widget):
        found, image_id = widget.get_active()
        if found and Gimp.Image.id_is_valid(image_id):
            config.set_property("page", Gimp.Image.get_by_id(image_id))

    GObject.Object.connect(combo, "changed", changed)  # GimpIntComboBox.connect is its own, for one value
    label = Gtk.Label.new_with_mnemonic(_("Comic pa_ge"))
    label.set_mnemonic_widget(combo)
    label.set_xalign(0.0)
    row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12)
    row.pack_start(label, False, False, 0)
    row.pack_start(combo, True, True, 0)
    row.set_border_width(12)
    row.show_all()
    area = dialog.get_content_area()
    area.pack_start(row, False, False, 0)
    area.reorder_child(row, 0)


def find_panel(page, number: int):
    """(group, rect dict) of panel ``number`` (1 = first in reading order) of a comic page."""
    for item in page.get_layers():
        info = read_parasite(item, PANEL_PARASITE) if item.is_group() else None
        if info is not None and info["order"] + 1 == number:
            return item, info
    return None, None


def cutout_items(image, photo) -> list:
    """The cut-out to place, top first: the comic groups drawn from ``photo`` beside it, then the photo layer."""
    return [x for x in procedures.siblings(image, photo) if procedures.comic_photo(x) == photo.get_tattoo()] + [photo]


def person_mask(items) -> bytes | None:
    """The person's mask at the photo's size ("Y u8"): the photo's layer mask, else its alpha, else
    the mask of a comic group made from it (Comic Layers… leaves the photo itself unmasked)."""
    photo = items[-1]
    if photo.get_mask() is not None:
        return read_pixels(photo.get_mask(), MASK_FORMAT)
    if photo.has_alpha():
        return read_pixels(photo, RGBA_FORMAT)[3::4]
    for item in items[:-1]:
        mask = item.get_mask()
        if mask is not None and (mask.get_width(), mask.get_height()) == (photo.get_width(), photo.get_height()):
            return read_pixels(mask, MASK_FORMAT)
    return None


def place(source, photo, page, number: int, fit: str, endpoint: str, timeout: float) -> tuple[object, str | None]:
    """Copy the cut-out into panel ``number`` of ``page``, scaled and clipped; one undo step on the page.

    Returns the new group (inside the panel's group, below its border) and, when the server
    could not draw the comic groups again, why (those groups stay scaled copies).
    """
    group, panel = find_panel(page, number)
    if group is None:
        raise ValueError(_("The page has no panel %d.") % number)
    items = cutout_items(source, photo)
    size = photo.get_width(), photo.get_height()
    mask = person_mask(items)
    scale, x, y = placement(person_bounds(mask, *size), size, panel, fit)
    origin = photo.get_offsets()
    with procedures.undo_group(page):
        holder = Gimp.GroupLayer.new(page, _("%s (placed)") % photo.get_name())
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
        if len(items) > 1:  # the comic layers are the picture; the photo's soft edge would fringe them
            copy.set_visible(False)
        options = [recorded_option(comic_info(item)) for item in items[:-1]]
        problem = redraw_comics(holder, options, page_dpi(page), endpoint, timeout)
    return holder, problem


def page_dpi(page) -> int:
    info = read_parasite(page, PAGE_PARASITE) or {}
    return int(round(info.get("dpi") or page.get_resolution()[-1]))


def redraw_comics(holder, options: list[dict], dpi: int, endpoint: str, timeout: float) -> str | None:
    """Each placed comic group drawn again on the scaled photo at ``dpi``, with the options it was made with.

    Scaled pixels would change the line weights and the tone's frequency and dots on the printed
    page. Returns why a group could not be redrawn (it is left scaled), or None.
    """
    *comics, photo = holder.get_children()
    if not comics:
        return None
    pixels = person_rgba(photo)
    for number, (group, option) in enumerate(zip(comics, options, strict=True)):
        comic = {**option, "dpi": dpi}
        try:
            reply = request(
                "comic",
                photo,
                pixels,
                "RGBA8",
                "default",
                {"comic": comic, "mask": "alpha", "foreground": False},
                endpoint,
                timeout,
                ("comic",),
                (number / len(comics), (number + 1) / len(comics)),
            )
            replace_layers(group, reply, photo, comic)
        except (CutoutError, ValueError) as exc:  # no server, or it refused: keep the scaled copies
            return str(exc)
    return None


def run(procedure, run_mode, image, drawables, config, data):
    if is_page(image):
        return procedures.fail(procedure, _("Run Place in Panel… on the cut-out's own image, not on the page."))
    photo, problem = procedures.selected_photo(image, drawables, NOT_ONE_LAYER)  # any part: the whole cut-out
    if photo is None:
        return procedures.fail(procedure, problem)
    if run_mode == Gimp.RunMode.INTERACTIVE:
        if latest_page(image) is None:
            return procedures.fail(
                procedure, _("No comic page is open: make one with File › Create › Comic Page… first.")
            )
        if not procedures.show_dialog(
            procedure, config, _("Place in Panel"), None, DIALOG, lambda dialog: page_chooser(dialog, config, image)
        ):
            return procedures.cancelled(procedure)
    page = config.get_property("page") or latest_page(image)
    if page is None or not is_page(page):
        return procedures.fail(procedure, _("No comic page is open: make one with File › Create › Comic Page… first."))
    if page.get_id() == image.get_id():
        return procedures.fail(procedure, _("Run Place in Panel… on the cut-out's own image, not on the page."))
    Gimp.progress_init(_("Person Cutout: place in panel"))
    try:
        _holder, problem = place(
            image,
            photo,
            page,
            config.get_property("panel"),
            config.get_property("fit"),
            endpoint_or_configured(config.get_property("endpoint")),
            float(config.get_property("timeout")),
        )
    except ValueError as exc:
        return procedures.fail(procedure, str(exc))
    if whole_photo(person_mask(cutout_items(image, photo))):  # placed as asked, but likely not what was meant
        Gimp.message(
            _(
                "“%s” has no mask, so the whole photo went into the panel, background included. To place "
                "only the person, undo this on the page (Ctrl+Z), run Cut Out Person… on the photo first, "
                "then Place in Panel… again."
            )
            % photo.get_name()
        )
    if problem:  # placed all the same: the page is usable, only the comic layers are scaled
        Gimp.message(
            _(
                "Placed, but the comic layers are only scaled, not drawn again at the page's resolution "
                "(their line weights and screentone differ from those asked): %s"
            )
            % problem
        )
    return procedures.done(procedure)


def create(plugin, name):
    procedure = procedures.layer_procedure(plugin, name, run, MENU_LABEL, MENU_BLURB, MENU_HELP)
    procedure.add_image_argument(
        "page", _("Comic pa_ge"), _("Empty: the most recent comic page"), True, procedures.FLAGS
    )
    procedure.add_int_argument(
        "panel", _("_Panel"), _("Panel number in reading order (1 = the first panel read)"), 1, 99, 1, procedures.FLAGS
    )
    procedures.add_choice(procedure, "fit", _("_Fit"), _("How the person is scaled"), FITS, "whole")
    procedures.add_server_arguments(procedure)  # the comic groups are drawn again at the page's resolution
    return procedure
