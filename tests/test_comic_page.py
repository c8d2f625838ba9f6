"""Comic page geometry: sizes from millimetres, frames, guides, panels and gutters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cutout_common import page_geometry as cp

SOURCE = Path(cp.__file__)


def test_b4_manuscript_at_600_dpi_is_6071_by_8598():
    p = cp.page("b4-manga", 600)
    assert (p.width, p.height) == (6071, 8598)  # 257 × 364 mm: 6070.9 and 8598.4 px
    assert (p.trim.width, p.trim.height) == (5197, 7323)  # 220 × 310 mm
    assert (p.safe.width, p.safe.height) == (4252, 6378)  # 180 × 270 mm


@pytest.mark.parametrize("preset", sorted(cp.PAGE_PRESETS))
@pytest.mark.parametrize("dpi", [300, 600])
def test_frames_nest_and_are_centred(preset, dpi):
    p = cp.page(preset, dpi)
    spec = cp.PAGE_PRESETS[preset]
    outer = cp.Rect(0, 0, p.width, p.height)
    for inner_rect, outer_rect in ((p.bleed, outer), (p.trim, p.bleed), (p.safe, p.trim)):
        assert outer_rect.x <= inner_rect.x and inner_rect.right <= outer_rect.right
        assert outer_rect.y <= inner_rect.y and inner_rect.bottom <= outer_rect.bottom
        # centred to within a pixel of rounding
        assert abs((inner_rect.x - outer_rect.x) - (outer_rect.right - inner_rect.right)) <= 1
        assert abs((inner_rect.y - outer_rect.y) - (outer_rect.bottom - inner_rect.bottom)) <= 1
    # bleed margin is the preset's bleed in mm, on every side
    bleed = spec.bleed_mm / 25.4 * dpi
    assert abs((p.trim.x - p.bleed.x) - bleed) <= 1
    assert abs((p.bleed.bottom - p.trim.bottom) - bleed) <= 1
    assert abs(p.trim.width - spec.trim_mm[0] / 25.4 * dpi) <= 0.5


def test_a4_canvas_is_trim_plus_bleed():
    p = cp.page("a4", 300)
    assert (p.width, p.height) == (round(216 / 25.4 * 300), round(303 / 25.4 * 300))
    assert p.bleed == cp.Rect(0, 0, p.width, p.height)


def test_us_comic_sizes_in_inches():
    p = cp.page("us-comic", 600)
    assert (p.trim.width, p.trim.height) == (3975, 6150)  # 6.625 × 10.25 in
    assert (p.width, p.height) == (4125, 6300)  # + 0.125 in each side
    assert p.safe.x - p.trim.x == 150  # 0.25 in live-area margin


def test_guides_are_frame_edges_inside_the_canvas():
    p = cp.page("b4-manga", 600)
    g = p.guides()
    assert g["vertical"] == sorted({p.bleed.x, p.trim.x, p.safe.x, p.safe.right, p.trim.right, p.bleed.right})
    assert g["horizontal"] == sorted({p.bleed.y, p.trim.y, p.safe.y, p.safe.bottom, p.trim.bottom, p.bleed.bottom})
    q = cp.page("a4", 300)  # bleed is the canvas: no guide on the canvas edge
    assert 0 not in q.guides()["vertical"] and q.width not in q.guides()["vertical"]
    assert len(q.guides()["vertical"]) == 4


def test_three_tiers_fill_the_safe_area_with_tier_gutters():
    p = cp.page("b4-manga", 600)
    panels = cp.layout(p, "3 tiers")
    assert len(panels) == 3
    gutter = round(cp.DEFAULT_GUTTER_MM[1] / 25.4 * 600)
    assert panels[0].rect.y == p.safe.y and panels[-1].rect.bottom == p.safe.bottom
    for a, b in zip(panels, panels[1:], strict=False):
        assert b.rect.y - a.rect.bottom == gutter
    for q in panels:
        assert (q.rect.x, q.rect.width) == (p.safe.x, p.safe.width)
    heights = [q.rect.height for q in panels]
    assert max(heights) - min(heights) <= 1


def test_rows_by_columns_with_gutters_and_reading_order():
    p = cp.page("a4", 300)
    panels = cp.layout(p, rows=2, columns=3, gutter_mm=(5.0, 10.0))
    assert len(panels) == 6
    gx, gy = round(5 / 25.4 * 300), round(10 / 25.4 * 300)
    top = sorted((q for q in panels if q.row == 0), key=lambda q: q.column)
    assert [b.rect.x - a.rect.right for a, b in zip(top, top[1:], strict=False)] == [gx, gx]
    assert panels[3].rect.y - panels[0].rect.bottom == gy
    assert top[0].rect.x == p.safe.x and top[-1].rect.right == p.safe.right
    assert [q.column for q in panels[:3]] == [0, 1, 2]  # left to right on A4
    manga = cp.layout(cp.page("b4-manga", 300), "2x3 grid")
    assert [q.column for q in manga[:2]] == [1, 0]  # right to left on a manga manuscript
    assert [q.order for q in manga] == list(range(6))
    # no two panels overlap
    for i, a in enumerate(panels):
        for b in panels[i + 1:]:
            assert (
                a.rect.right <= b.rect.x
                or b.rect.right <= a.rect.x
                or a.rect.bottom <= b.rect.y
                or b.rect.bottom <= a.rect.y
            )


@pytest.mark.parametrize("name,count", [("1 panel", 1), ("2 tiers", 2), ("3 tiers", 3), ("4-koma", 4), ("2x3 grid", 6)])
def test_layout_presets(name, count):
    assert len(cp.layout(cp.page("b5", 300), name)) == count


def test_border_points_to_pixels():
    assert cp.border_px(1.0, 600) == round(600 / 72)  # 8.33 -> 8
    assert cp.border_px(0.8, 300) == round(0.8 * 300 / 72)
    assert cp.border_px(0.01, 300) == 1


def test_bad_requests_raise_value_error():
    with pytest.raises(ValueError):
        cp.page("a3")
    with pytest.raises(ValueError):
        cp.layout(cp.page("a4", 300), "9 tiers")
    with pytest.raises(ValueError):
        cp.layout(cp.page("a4", 300), rows=0, columns=2)
    with pytest.raises(ValueError):
        cp.layout(cp.page("a4", 72), rows=200, columns=1, gutter_mm=(3, 20))


def test_standard_library_only():
    """The GIMP plug-in carries a copy of this file; it must import nothing outside the stdlib."""
    import sys

    tree = ast.parse(SOURCE.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert names <= set(sys.stdlib_module_names) | {"__future__"}
