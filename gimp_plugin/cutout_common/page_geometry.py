"""Comic page geometry: print sizes, bleed/trim/safe guides and panel layouts, in pixels.

Standard library only (part of :mod:`cutout_common`, which runs in GIMP's own Python). Everything is
plain dataclasses of integer pixel rectangles, computed from millimetres at a chosen dpi::

    from cutout_common.page_geometry import page, layout, border_px
    p = page("b4-manga", dpi=600)          # 6071 × 8598 px, B4 manuscript paper
    panels = layout(p, "3 tiers")          # three full-width panels inside the inner frame
    p.guides()                             # {"vertical": [x, ...], "horizontal": [y, ...]}
    border_px(0.8, p.dpi)                  # panel border of 0.8 pt -> px

Frames, outermost first (each a :class:`Rect` on the canvas):

* ``bleed`` — where art that runs off the page must reach; cut away when printed;
* ``trim`` — where the printed page is cut (Japanese: 仕上がり線, "finish frame");
* ``safe`` — where panels, faces and text belong (manga: 内枠/基本枠, "inner frame";
  US comics: the "live area").

Sizes (the usual published figures; print shops vary by a millimetre or two):

* ``b4-manga`` — Japanese commercial manuscript paper B4 257 × 364 mm; trim 220 × 310 mm
  (reduced to a B5 magazine page when printed), 5 mm bleed, inner frame 180 × 270 mm.
  The canvas is the whole sheet, so the frames sit inside it;
* ``b5`` — doujinshi page: trim 182 × 257 mm (JIS B5), 3 mm bleed, inner frame 150 × 220 mm;
* ``a4`` — trim 210 × 297 mm, 3 mm bleed, inner frame 180 × 270 mm;
* ``us-comic`` — trim 6.625 × 10.25 in, 0.125 in bleed, live area 0.25 in inside the trim.

For the last three the canvas is the bleed area.
"""

from __future__ import annotations

from dataclasses import dataclass

MM_PER_INCH = 25.4
POINTS_PER_INCH = 72.0
DPI_CHOICES = (300, 600)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in pixels: left ``x``, top ``y``, ``width``, ``height``."""

    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def as_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class PagePreset:
    """A print format in millimetres. ``paper_mm`` is None when the canvas is the bleed area."""

    name: str
    label: str
    trim_mm: tuple[float, float]
    bleed_mm: float
    safe_mm: tuple[float, float]
    paper_mm: tuple[float, float] | None = None
    right_to_left: bool = False  # reading order of panels (manga reads right to left)


_INCH = MM_PER_INCH
PAGE_PRESETS: dict[str, PagePreset] = {
    p.name: p
    for p in (
        PagePreset("b4-manga", "B4 manga manuscript (257 × 364 mm)", (220.0, 310.0), 5.0, (180.0, 270.0),
                   paper_mm=(257.0, 364.0), right_to_left=True),
        PagePreset("b5", "B5 (182 × 257 mm)", (182.0, 257.0), 3.0, (150.0, 220.0), right_to_left=True),
        PagePreset("a4", "A4 (210 × 297 mm)", (210.0, 297.0), 3.0, (180.0, 270.0)),
        PagePreset("us-comic", "US comic (6.625 × 10.25 in)", (6.625 * _INCH, 10.25 * _INCH), 0.125 * _INCH,
                   (6.125 * _INCH, 9.75 * _INCH)),
    )
}

#: panel layouts as panels per tier, top tier first
LAYOUT_PRESETS: dict[str, list[int]] = {
    "1 panel": [1],
    "2 tiers": [1, 1],
    "3 tiers": [1, 1, 1],
    "4-koma": [1, 1, 1, 1],
    "2x3 grid": [2, 2, 2],
}

#: default gutters in mm: (between panels of a tier, between tiers) — manga and US comics both
#: leave a wider gap between tiers than between panels side by side
DEFAULT_GUTTER_MM = (3.0, 6.0)


def mm_to_px(mm: float, dpi: float) -> int:
    """Millimetres -> whole pixels at ``dpi`` (rounded to nearest)."""
    return int(round(mm / MM_PER_INCH * dpi))


def pt_to_px(points: float, dpi: float) -> float:
    """Typographic points (1/72 in) -> pixels at ``dpi``, unrounded."""
    return points / POINTS_PER_INCH * dpi


def border_px(points: float, dpi: float) -> int:
    """A panel border of ``points`` as a stroke width in whole pixels (at least 1)."""
    return max(1, int(round(pt_to_px(points, dpi))))


@dataclass
class Page:
    """A page at a resolution: canvas size and its frames, all in pixels."""

    preset: str
    dpi: int
    width: int
    height: int
    bleed: Rect
    trim: Rect
    safe: Rect
    right_to_left: bool = False

    def guides(self) -> dict[str, list[int]]:
        """Guide positions for the bleed, trim and safe frames, inside the canvas, sorted.

        ``vertical`` guides are x positions, ``horizontal`` guides are y positions
        (GIMP: ``image.add_vguide(x)`` / ``image.add_hguide(y)``).
        """
        xs: set[int] = set()
        ys: set[int] = set()
        for r in (self.bleed, self.trim, self.safe):
            xs.update((r.x, r.right))
            ys.update((r.y, r.bottom))
        return {
            "vertical": sorted(x for x in xs if 0 < x < self.width),
            "horizontal": sorted(y for y in ys if 0 < y < self.height),
        }

    def as_dict(self) -> dict:
        return {
            "preset": self.preset, "dpi": self.dpi, "width": self.width, "height": self.height,
            "bleed": self.bleed.as_dict(), "trim": self.trim.as_dict(), "safe": self.safe.as_dict(),
            "right_to_left": self.right_to_left, "guides": self.guides(),
        }


def _centred(canvas_w: int, canvas_h: int, w_mm: float, h_mm: float, dpi: int) -> Rect:
    w, h = mm_to_px(w_mm, dpi), mm_to_px(h_mm, dpi)
    return Rect((canvas_w - w) // 2, (canvas_h - h) // 2, w, h)


def page(preset: str = "b4-manga", dpi: int = 600) -> Page:
    """The page of a preset (a key of :data:`PAGE_PRESETS`) at ``dpi`` pixels per inch.

    Frames are centred on the canvas; every size is rounded to whole pixels on its own,
    so B4 paper at 600 dpi is exactly round(257 / 25.4 × 600) × round(364 / 25.4 × 600).
    """
    if preset not in PAGE_PRESETS:
        raise ValueError(f"unknown page preset {preset!r}; choose from {sorted(PAGE_PRESETS)}")
    if not 72 <= dpi <= 2400:
        raise ValueError(f"dpi {dpi} out of range 72–2400")
    spec = PAGE_PRESETS[preset]
    tw, th = spec.trim_mm
    bw, bh = tw + 2 * spec.bleed_mm, th + 2 * spec.bleed_mm
    pw, ph = spec.paper_mm or (bw, bh)
    width, height = mm_to_px(pw, dpi), mm_to_px(ph, dpi)
    return Page(
        preset=preset, dpi=int(dpi), width=width, height=height,
        bleed=_centred(width, height, bw, bh, dpi) if spec.paper_mm else Rect(0, 0, width, height),
        trim=_centred(width, height, tw, th, dpi),
        safe=_centred(width, height, *spec.safe_mm, dpi),
        right_to_left=spec.right_to_left,
    )


@dataclass(frozen=True)
class Panel:
    """One panel: its rectangle, tier (``row``, top = 0), ``column`` (left = 0) and reading ``order``."""

    rect: Rect
    row: int
    column: int
    order: int = 0

    def as_dict(self) -> dict:
        return {**self.rect.as_dict(), "row": self.row, "column": self.column, "order": self.order}


def _split(start: int, length: int, count: int, gutter: int) -> list[tuple[int, int]]:
    """``count`` spans of equal size with ``gutter`` between them, exactly filling ``length``."""
    cell = (length - (count - 1) * gutter) / count
    if cell < 1:
        raise ValueError(f"{count} panels with {gutter} px gutters do not fit in {length} px")
    spans = []
    for i in range(count):
        a = start + int(round(i * (cell + gutter)))
        b = start + int(round(i * (cell + gutter) + cell))
        spans.append((a, b - a))
    return spans


def layout(
    page: Page,
    preset: str | None = "3 tiers",
    *,
    rows: int | None = None,
    columns: int | None = None,
    tiers: list[int] | None = None,
    gutter_mm: tuple[float, float] = DEFAULT_GUTTER_MM,
    area: Rect | None = None,
    right_to_left: bool | None = None,
) -> list[Panel]:
    """Panels filling ``area`` (default: the page's safe area), in reading order.

    Choose the arrangement by ``preset`` (a key of :data:`LAYOUT_PRESETS`), by ``rows`` ×
    ``columns``, or by ``tiers`` (panels per tier, top first: ``[1, 2, 2]``). ``gutter_mm`` is
    (gap between panels of a tier, gap between tiers). Reading order runs right to left
    within a tier on manga presets unless ``right_to_left`` says otherwise.
    """
    if tiers is None:
        if rows is not None or columns is not None:
            if not rows or not columns or rows < 1 or columns < 1:
                raise ValueError("rows and columns must both be positive")
            tiers = [columns] * rows
        elif preset in LAYOUT_PRESETS:
            tiers = LAYOUT_PRESETS[preset]
        else:
            raise ValueError(f"unknown layout preset {preset!r}; choose from {list(LAYOUT_PRESETS)}")
    if not tiers or any(n < 1 for n in tiers):
        raise ValueError("every tier needs at least one panel")
    area = area or page.safe
    rtl = page.right_to_left if right_to_left is None else right_to_left
    gx, gy = (mm_to_px(g, page.dpi) for g in gutter_mm)
    panels: list[Panel] = []
    for row, (y, h) in enumerate(_split(area.y, area.height, len(tiers), gy)):
        spans = _split(area.x, area.width, tiers[row], gx)
        order = list(reversed(range(len(spans)))) if rtl else list(range(len(spans)))
        for column in order:
            x, w = spans[column]
            panels.append(Panel(Rect(x, y, w, h), row, column, len(panels)))
    return panels

