# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""File › Create › Comic Page…: a page at print size with bleed, trim and safe guides and a group per panel.

All geometry comes from :mod:`cutout_common.page_geometry` (the server uses the same package), so the
page GIMP builds is the page the tests and the README picture measure. A page is ordinary GIMP layers:
a white "Paper" layer and one group per panel, holding a "Panel N border" layer and masked to the
panel, so whatever is put in the group is clipped to the panel and stays editable. Parasites (saved in
XCF) record the page and each panel's rectangle, for *Place in Panel…*.
"""

from __future__ import annotations

import json

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from dialogs import only_for  # noqa: E402
from gi.repository import Gegl, Gimp, GObject  # noqa: E402
from plugin_logic import pages  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from procedures import FLAGS, add_choice, cancelled, fail, show_dialog  # noqa: E402

from cutout_common import page_geometry  # noqa: E402

PROCEDURE = "python-fu-person-cutout-comic-page"
PAGE_PARASITE = "person-cutout-page"
PANEL_PARASITE = "person-cutout-panel"
GRID = "grid"  # the layout choice that uses rows × columns
PAGE_SIZES = [(p.name, _(p.label)) for p in page_geometry.PAGE_PRESETS.values()]
DPIS = [(str(d), _("%d dpi") % d) for d in page_geometry.DPI_CHOICES]
# choice nicks must be identifiers: "3 tiers" -> "3-tiers"
LAYOUTS = {name.replace(" ", "-"): name for name in page_geometry.LAYOUT_PRESETS}
SUMMARY = "page-summary"
#: the dialog's rows (GIMP's own run-mode argument is not one of them)
DIALOG = ("page-size", "dpi", SUMMARY, "layout", "rows", "columns", "gutter", "tier-gutter", "border")


def _parasite(data: dict) -> Gimp.Parasite:
    return Gimp.Parasite.new(PAGE_PARASITE if "trim" in data else PANEL_PARASITE, Gimp.PARASITE_PERSISTENT,
                             json.dumps(data).encode())


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
    paper = Gimp.Layer.new(image, _("Paper"), geometry.width, geometry.height, Gimp.ImageType.RGB_IMAGE,
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
    group = Gimp.GroupLayer.new(image, _("Panel %d") % (panel.order + 1))
    image.insert_layer(group, None, 0)
    line = Gimp.Layer.new(image, _("Panel %d border") % (panel.order + 1), r.width, r.height,
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


def page_summary(config) -> str:
    """The dialog's line on the page's size in pixels and in memory, for the values chosen now."""
    layout = LAYOUTS.get(config.get_property("layout"), GRID)
    gutters = (config.get_property("gutter"), config.get_property("tier-gutter"))
    rows, columns = config.get_property("rows"), config.get_property("columns")
    return pages.summary(config.get_property("page-size"), int(config.get_property("dpi")),
                         lambda page: panels_for(page, layout, rows, columns, gutters))


def build_dialog(dialog, config) -> None:
    """The size line under Resolution, kept up to date as the page, layout and gutters change."""
    label = dialog.get_label(SUMMARY, page_summary(config), False, False)
    label.set_line_wrap(True)
    label.set_max_width_chars(50)
    label.set_xalign(0.0)

    def update(*_args):
        label.set_text(page_summary(config))

    for name in ("page-size", "dpi", "layout", "rows", "columns", "gutter", "tier-gutter"):
        config.connect(f"notify::{name}", update)


def run(procedure, config, data):
    if config.get_property("run-mode") == Gimp.RunMode.INTERACTIVE:
        def on_open(dialog):  # rows × columns apply to the grid layout only
            for name in ("rows", "columns"):
                only_for(dialog, config, name, "layout", (GRID,))

        if not show_dialog(procedure, config, _("Comic Page"), on_open, DIALOG,
                           lambda dialog: build_dialog(dialog, config)):
            return cancelled(procedure)
    try:
        image = new_page(
            config.get_property("page-size"),
            int(config.get_property("dpi")),
            LAYOUTS.get(config.get_property("layout"), GRID),
            config.get_property("rows"),
            config.get_property("columns"),
            (config.get_property("gutter"), config.get_property("tier-gutter")),
            config.get_property("border"),
        )
    except ValueError as exc:  # panels that do not fit
        return fail(procedure, str(exc))
    if config.get_property("run-mode") == Gimp.RunMode.INTERACTIVE:
        Gimp.Display.new(image)
        Gimp.displays_flush()
    return Gimp.ValueArray.new_from_values([
        GObject.Value(Gimp.PDBStatusType, Gimp.PDBStatusType.SUCCESS), GObject.Value(Gimp.Image, image),
    ])


def create(plugin, name):
    procedure = Gimp.Procedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
    procedure.set_menu_label(_("_Comic Page…"))
    procedure.add_menu_path("<Image>/File/Create")
    procedure.set_documentation(
        _("A new comic page: print size, bleed/trim/safe guides, panel groups with borders"),
        _("Creates an image at a print size and resolution with guides at the bleed, trim and safe area, "
          "and one layer group per panel, masked to the panel and holding its border."),
        name,
    )
    procedure.add_enum_argument("run-mode", _("Run mode"), _("The run mode"), Gimp.RunMode,
                                Gimp.RunMode.NONINTERACTIVE, FLAGS)
    add_choice(procedure, "page-size", _("_Page size"), _("Print format"), PAGE_SIZES, "b4-manga")
    add_choice(procedure, "dpi", _("Resolutio_n"), _("Pixels per inch"), DPIS, "600")
    layouts = [(nick, _(name)) for nick, name in LAYOUTS.items()] + [(GRID, _("Rows × columns"))]
    add_choice(procedure, "layout", _("La_yout"), _("Panel layout"), layouts, "3-tiers")
    procedure.add_int_argument("rows", _("Ro_ws"), _("For the rows × columns layout"), 1, 20, 3, FLAGS)
    procedure.add_int_argument("columns", _("Col_umns"), _("For the rows × columns layout"), 1, 20, 2, FLAGS)
    gutter, tier_gutter = page_geometry.DEFAULT_GUTTER_MM
    procedure.add_double_argument("gutter", _("_Gutter (mm)"), _("Gap between panels side by side"), 0.0, 50.0,
                                  gutter, FLAGS)
    procedure.add_double_argument("tier-gutter", _("_Tier gutter (mm)"), _("Gap between tiers"), 0.0, 50.0,
                                  tier_gutter, FLAGS)
    procedure.add_double_argument("border", _("_Border (pt)"), _("Panel border line weight"), 0.1, 20.0, 1.0, FLAGS)
    procedure.add_image_return_value("image", _("Image"), _("The new page"), False, FLAGS)
    return procedure
