"""Comic layers on a real photo (persons-dev 219, 1280 × 960, with its hand-made mask).

What is checked is measured on the output: layer names, sizes and value ranges; ink along
the photo's strong edges; the screentone period from the spectrum peak; the colour count;
nothing painted outside the mask; the same picture at two pixel sizes.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from cutout_common import comic_styles
from server import comic
from server.comic import screentone
from tests.conftest import load_pair
from tests.doubles import Stop, StopAfter

STEM = "219"


@pytest.fixture(scope="module")
def photo(persons_dev):
    rgb, mask = load_pair(persons_dev, STEM)
    # a feathered mask, as a matting network gives: soft edge, exact 0 well outside
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2.0)
    alpha[alpha < 0.01] = 0.0
    return rgb, alpha


@pytest.fixture(scope="module")
def rendered(photo):
    rgb, alpha = photo
    return {style: comic.render(rgb, alpha, style) for style in comic.STYLES}


def _interior(alpha: np.ndarray, margin: int) -> np.ndarray:
    """Pixels at least ``margin`` px inside the person (away from the outline)."""
    inside = (alpha > 0.99).astype(np.uint8)
    return cv2.erode(inside, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0


def test_styles_list_is_complete_and_json_ready():
    listed = comic.styles()
    json.dumps(listed)
    assert {s["name"] for s in listed} == {"cartoon", "manga", "lineart", "posterize"}
    for s in listed:
        assert s["layers"] and set(s["layers"]) <= {"Ink", "Tone", "Flat colour"}
        for p in s["params"]:
            assert p["minimum"] <= p["default"] <= p["maximum"], p
            assert p["type"] in ("int", "float")
    lineart = next(s for s in listed if s["name"] == "lineart")
    assert lineart["layers"] == ["Ink"]


def test_each_style_returns_its_named_layers(photo, rendered):
    rgb, alpha = photo
    for style, layers in rendered.items():
        assert list(layers) == list(comic_styles.STYLES[style].layers)
        for name, layer in layers.items():
            assert layer.shape == (*rgb.shape[:2], 4) and layer.dtype == np.uint8, (style, name)
            painted = layer[..., 3] > 0
            assert painted.any(), (style, name)
            if name in ("Ink", "Tone"):  # black on transparent
                assert (layer[..., :3][painted] == 0).all(), (style, name)
            else:  # flat colour: opaque wherever the person is, with the mask's own soft edge
                assert np.abs(layer[..., 3].astype(int) - np.round(alpha * 255)).max() <= 1, (style, name)


def test_nothing_painted_outside_the_mask(photo, rendered):
    rgb, alpha = photo
    outside = alpha == 0
    assert outside.mean() > 0.3
    for style, layers in rendered.items():
        for name, layer in layers.items():
            assert (layer[..., 3][outside] == 0).all(), (style, name)
            # and never more opaque than the mask itself
            assert (layer[..., 3].astype(np.float32) <= alpha * 255 + 0.5).all(), (style, name)


def test_decided_edges_leave_print_no_soft_edge(photo, rendered):
    """``soft_edges=False``: each pixel is the person's (the client's 8-bit mask at least 128) or not, never half.

    GIMP masks the group with the same decided mask, so black ink is black or nothing at the outline
    (issue 17, defect 3); the colours are the same as the soft layers', only the alpha differs.
    """
    rgb, alpha = photo
    decided = comic.render(rgb, alpha, "cartoon", soft_edges=False)
    byte = np.round(alpha * 255)  # the mask as the client receives it
    assert ((byte > 0) & (byte < 255)).sum() > 1000, "the mask has a soft edge to decide"
    for name, layer in decided.items():
        assert (layer[..., 3][byte < 128] == 0).all(), name
    assert (decided["Flat colour"][..., 3][byte >= 128] == 255).all()
    for name in ("Ink", "Flat colour"):
        np.testing.assert_array_equal(decided[name][..., :3], rendered["cartoon"][name][..., :3])


@pytest.mark.parametrize("style", ["posterize", "cartoon"])
def test_the_old_background_does_not_colour_the_outline(photo, style):
    """The person over a colour they do not wear, blended by a wide soft edge: the outline keeps the person's colours.

    Each pixel under the soft edge, inside the decided mask, should get the flat colour of the person
    next to it. Drawn from the blended pixels themselves (passed as the person's colours, as the
    renderer did before issue 17), many take a colour pulled towards the background: the test tells the two apart.
    """
    from scipy import ndimage

    rgb, mask = photo[0], photo[1] >= 0.5
    person = rgb[mask].astype(np.float32)
    candidates = np.array([[0, 255, 0], [255, 0, 255], [0, 255, 255], [255, 255, 0], [0, 0, 255]], np.float32)
    background = candidates[np.argmax([np.percentile(np.linalg.norm(person - c, axis=1), 1) for c in candidates])]
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 4.0)  # a wide soft edge, as a scaled-up mask has
    blended = np.rint(rgb * alpha[..., None] + background * (1 - alpha[..., None])).astype(np.uint8)
    band = (np.round(alpha * 255) >= 128) & (alpha < 0.95)  # inside the decided edge, where the photo is mixed
    sure = alpha >= 0.99
    assert band.sum() > 1000
    _, (ys, xs) = ndimage.distance_transform_edt(~sure, return_indices=True)  # each pixel's nearest sure pixel

    def off_colour(layers) -> float:
        """Share of band pixels whose flat colour is nearer the background than their nearest sure neighbour's is."""
        flat = layers["Flat colour"][..., :3].astype(np.float32)
        here = np.linalg.norm(flat[band] - background, axis=1)
        there = np.linalg.norm(flat[ys[band], xs[band]] - background, axis=1)
        return float((here < there - 20).mean())

    clean = comic.render(blended, alpha, style, soft_edges=False)
    mixed = comic.render(blended, alpha, style, soft_edges=False, foreground=blended / 255.0)
    assert off_colour(mixed) > 0.05, "the blended colours do carry the background: the test can tell"
    assert off_colour(clean) < 0.3 * off_colour(mixed), (off_colour(clean), off_colour(mixed))


@pytest.mark.parametrize("style", ["lineart", "cartoon"])
def test_ink_is_sparse_opaque_dark_strokes_along_strong_edges(photo, rendered, style):
    rgb, alpha = photo
    ink = rendered[style]["Ink"][..., 3].astype(np.float32) / 255.0
    inner = _interior(alpha, margin=8)  # away from the silhouette outline
    coverage = (ink[inner] > 0.5).mean()
    assert 0.01 < coverage < 0.20, coverage  # mostly transparent, but real lines
    painted = ink > 0
    assert (ink[painted] > 0.99).mean() > 0.5  # strokes are opaque, with antialiased rims

    # strong edges of the photo: top 3 % of the gradient magnitude inside the person
    lum = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.5)
    grad = np.hypot(cv2.Sobel(lum, cv2.CV_32F, 1, 0), cv2.Sobel(lum, cv2.CV_32F, 0, 1))
    strong = inner & (grad >= np.quantile(grad[inner], 0.97))
    near_ink = cv2.dilate((ink > 0.5).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    on_strong = near_ink[strong].mean()
    everywhere = near_ink[inner].mean()
    assert on_strong > 0.6, on_strong
    assert on_strong > 3 * everywhere, (on_strong, everywhere)


def _spectrum_peak(values: np.ndarray, min_period: float, max_period: float) -> tuple[float, float]:
    """(period in px, angle in degrees mod 90) of the strongest spatial frequency in a band."""
    h, w = values.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fftshift(np.fft.fft2((values - values.mean()) * window))) ** 2
    fy = (np.arange(h) - h // 2)[:, None] / h
    fx = (np.arange(w) - w // 2)[None, :] / w
    radius = np.hypot(fx, fy)
    power[(radius < 1 / max_period) | (radius > 1 / min_period)] = 0
    iy, ix = np.unravel_index(np.argmax(power), power.shape)
    period = 1.0 / radius[iy, ix]
    angle = np.degrees(np.arctan2(-fy[iy, 0], fx[0, ix])) % 90
    return period, angle


@pytest.mark.parametrize("dpi,lpi,angle", [(600, 60, 45.0), (600, 40, 15.0), (300, 50, 0.0)])
def test_tone_dots_have_the_requested_period_and_angle(photo, dpi, lpi, angle):
    rgb, alpha = photo
    layers = comic.render(rgb, alpha, "manga", {"dpi": dpi, "tone_lpi": lpi, "tone_angle": angle})
    tone = layers["Tone"][..., 3].astype(np.float32) / 255.0
    assert 0.02 < (tone > 0.5).mean() < 0.5
    expected = dpi / lpi
    period, measured_angle = _spectrum_peak(tone, expected / 3, expected * 3)
    assert abs(period - expected) / expected < 0.03, (period, expected)
    assert min(abs(measured_angle - angle), 90 - abs(measured_angle - angle)) < 2.0, measured_angle


def test_tone_coverage_matches_dot_size():
    for coverage in (0.1, 0.3, 0.6):
        ink = screentone.dots((400, 400), 12.0, 30.0, coverage)
        assert abs(ink.mean() - coverage) < 0.01


def test_tone_dots_are_drawn_in_strips_without_seams_and_report_after_each(monkeypatch):
    """The screen is drawn a strip of rows at a time, so a cancel is heard within it at 12 MP (a dozen float planes
    at once took a second there); the strips join without a seam: the same ink whatever their height."""
    coverage = np.linspace(0.0, 0.7, 530 * 301, dtype=np.float32).reshape(301, 530)
    whole = screentone.dots((301, 530), 7.3, 37.0, coverage)
    ticks: list[float] = []
    monkeypatch.setattr(screentone, "STRIP_ROWS", 40)
    np.testing.assert_array_equal(screentone.dots((301, 530), 7.3, 37.0, coverage, tick=ticks.append), whole)
    assert ticks == [min(301, top + 40) / 301 for top in range(0, 301, 40)]  # 8 strips, the last one short


@pytest.mark.parametrize("colours", [3, 6, 12])
def test_cartoon_uses_at_most_the_requested_colours(photo, colours):
    rgb, alpha = photo
    flat = comic.render(rgb, alpha, "cartoon", {"colours": colours})["Flat colour"]
    used = np.unique(flat[..., :3][flat[..., 3] > 0].reshape(-1, 3), axis=0)
    assert 2 <= len(used) <= colours, len(used)
    # the palette is the person's own: mean colour close to the photo's inside the mask
    inner = alpha > 0.99
    assert np.abs(flat[..., :3][inner].mean(0) - rgb[inner].mean(0)).max() < 12


def test_posterize_bands(photo, rendered):
    rgb, alpha = photo
    flat = rendered["posterize"]["Flat colour"]
    levels = comic_styles.LEVELS.default
    for c in range(3):
        assert len(np.unique(flat[..., c][alpha > 0])) <= levels


def test_line_weight_sets_stroke_width(photo):
    rgb, alpha = photo
    areas = []
    for weight in (1.0, 2.0):
        ink = comic.render(rgb, alpha, "lineart", {"line_weight": weight, "outline": 0, "dpi": 300})["Ink"]
        areas.append((ink[..., 3] > 127).sum())
    assert 1.4 < areas[1] / areas[0] < 3.0, areas


def _relative_ink_difference(a: np.ndarray, b: np.ndarray, inner: np.ndarray) -> float:
    a = cv2.GaussianBlur(a, (0, 0), 1.0)
    b = cv2.GaussianBlur(b, (0, 0), 1.0)
    return float(np.abs(a - b)[inner].sum() / ((a[inner].sum() + b[inner].sum()) / 2))


def test_same_framing_gives_the_same_picture_at_half_the_pixels(photo):
    rgb, alpha = photo
    h, w = alpha.shape
    half = (w // 2, h // 2)
    rgb2 = cv2.resize(rgb, half, interpolation=cv2.INTER_AREA)
    alpha2 = cv2.resize(alpha, half, interpolation=cv2.INTER_AREA)
    inner = _interior(alpha2, margin=3)

    def down(layer: np.ndarray) -> np.ndarray:
        return cv2.resize(layer.astype(np.float32) / 255.0, half, interpolation=cv2.INTER_AREA)

    def ink_difference(params: dict) -> float:
        big = down(comic.render(rgb, alpha, "lineart", params)["Ink"])[..., 3]
        small = comic.render(rgb2, alpha2, "lineart", params)["Ink"][..., 3].astype(np.float32) / 255.0
        return _relative_ink_difference(big, small, inner)

    scaled = ink_difference({})
    fixed = ink_difference({"dpi": 150})  # control: same dpi for both = same pixel widths, not same framing
    assert scaled < 0.3, scaled
    assert scaled < 0.5 * fixed, (scaled, fixed)

    for style in ("cartoon", "posterize"):
        big = down(comic.render(rgb, alpha, style)["Flat colour"])[..., :3]
        small = comic.render(rgb2, alpha2, style)["Flat colour"][..., :3].astype(np.float32) / 255.0
        assert np.abs(big - small).mean(-1)[inner].mean() < 0.06, style

    # screentone: the period follows the photo's size when dpi is automatic
    periods = []
    for image, mask in ((rgb, alpha), (rgb2, alpha2)):
        tone = comic.render(image, mask, "manga", {"tone_lpi": 30})["Tone"][..., 3].astype(np.float32)
        expected = comic.print_dpi(image.shape) / 30
        periods.append(_spectrum_peak(tone, expected / 2, expected * 2)[0])
    assert abs(periods[0] / periods[1] - 2.0) < 0.1, periods


def test_bad_requests_raise():
    rgb = np.zeros((20, 20, 3), np.uint8)
    alpha = np.ones((20, 20), np.float32)
    with pytest.raises(ValueError):
        comic.render(rgb, alpha, "watercolour")
    with pytest.raises(ValueError):
        comic.render(rgb, alpha, "lineart", {"colours": 4})
    with pytest.raises(ValueError):
        comic.render(rgb, alpha, "cartoon", {"colours": 40})
    with pytest.raises(ValueError):
        comic.render(rgb, alpha, "cartoon", {"colours": 2.5})
    with pytest.raises(TypeError):
        comic.render(rgb, alpha, "manga", {"tone_lpi": "fine"})
    with pytest.raises(ValueError):
        comic.render(rgb, alpha[:10], "manga")


def test_empty_mask_paints_nothing():
    rgb = np.full((64, 48, 3), 128, np.uint8)
    alpha = np.zeros((64, 48), np.float32)
    for style in comic.STYLES:
        for layer in comic.render(rgb, alpha, style).values():
            assert not layer[..., 3].any()


def test_demo_sheet_lays_out_every_style(photo):
    rgb, alpha = photo
    small = (rgb.shape[1] // 4, rgb.shape[0] // 4)
    sheet = comic.demo_sheet(cv2.resize(rgb, small), cv2.resize(alpha, small), height=200)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3
    assert sheet.shape[0] > 200
    tile = round(small[0] * 200 / small[1])
    assert sheet.shape[1] >= (1 + len(comic.STYLES)) * tile
    assert (sheet < 128).any() and (sheet == 255).any()


def test_demo_page_fills_panels_and_nothing_else(photo):
    from cutout_common import page_geometry
    from server.demos import comic_pictures as comic_demo

    rgb, alpha = photo
    small = (rgb.shape[1] // 4, rgb.shape[0] // 4)
    out = comic_demo.demo_page(cv2.resize(rgb, small), cv2.resize(alpha, small), page="a4", dpi=100, layout="2 tiers")
    sheet = page_geometry.page("a4", 100)
    assert out.shape == (sheet.height, sheet.width, 3)
    inside = np.zeros(out.shape[:2], bool)
    for panel in page_geometry.layout(sheet, "2 tiers"):
        r = panel.rect
        inside[r.y:r.bottom, r.x:r.right] = True
        assert (out[r.y, r.x:r.right] == 0).all() and (out[r.y:r.bottom, r.x] == 0).all()  # border
        assert (out[r.y + 5:r.bottom - 5, r.x + 5:r.right - 5] < 200).any()  # the person is there
    assert (out[~inside] == 255).all()  # gutters and margins stay paper


@pytest.mark.parametrize("style", list(comic.STYLES))
def test_render_reports_progress_and_stops_when_told(style):
    """Issue 14, defect 5: comic rendering had no progress, so it could be neither followed nor cancelled."""
    rng = np.random.default_rng(5)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), (0, 0), 3)
    alpha = np.zeros((300, 400), np.float32)
    cv2.ellipse(alpha, (200, 150), (100, 130), 0, 0, 360, 1.0, -1)
    calls: list[tuple[str, float]] = []
    comic.render(rgb, alpha, style, progress=lambda stage, fraction: calls.append((stage, fraction)))
    fractions = [f for _, f in calls]
    assert {s for s, _ in calls} == {"comic"} and len(calls) >= 3
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    stop_at_second = StopAfter(2)
    with pytest.raises(Stop):
        comic.render(rgb, alpha, style, progress=stop_at_second)
    assert len(stop_at_second.seen) == 2
