"""Comic layers of a cut-out person: ``render(rgb, alpha, style, params)`` -> named RGBA layers.

Layers (RGBA uint8, photo size, top first as they stack in GIMP's layer group):

* ``Ink`` — black lines (and, in manga, solid blacks) on transparent;
* ``Tone`` — black screentone dots on transparent (manga);
* ``Flat colour`` — the person in flat colours (cartoon, posterize) or white paper (manga).

Every layer is drawn from the person's own colours (:mod:`server.comic.colours`): the
decontaminated foreground under the soft edge, the person's colours spread outward beyond it, so
no layer carries the old background along the outline. Each layer's alpha is multiplied by the
person's alpha (``soft_edges=True``, the default): a soft edge where the artist asks for one. A
client that masks the layers itself — the GIMP plug-in puts them in a group masked by the person's
mask, which the artist can repaint — asks for ``soft_edges=False``: the edge is decided as print
needs it, each pixel inside (the 8-bit mask at least 128, half) or not, so black ink is black or
nothing there, never grey; the plug-in decides its group mask the same way.

Sizes are print sizes: lines in points, smoothing in mm, tone in lines per inch, turned
into pixels with the photo's print resolution ``dpi``. With ``dpi`` = 0 (the default) the
photo's long side is taken to print at 180 mm (a full-page panel), so the same framing gives
the same picture at any pixel size. Colour work is done on a copy at about 85 dpi (smoothing
and k-means do not need more) and brought back to full size before the last, per-pixel step,
which keeps the cost per megapixel low and the edges crisp.

``progress("comic", fraction)`` is called between the stages and per colour and layer,
so a client's bar moves and the server (whose progress raises to cancel) can stop a
large render within a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from cutout_common.comic_styles import STYLES, resolve, styles  # noqa: F401  (styles: re-exported for hello)
from cutout_common.protocol import ProgressFn
from server.comic import lines as comic_lines
from server.comic import manga, screentone
from server.comic.colours import person_colours

AUTO_PRINT_MM = 180.0  # long side of the photo as printed when dpi = 0
COLOUR_WORK_DPI = 85.0  # resolution of the smoothing and colour clustering copy
KMEANS_SAMPLES = 20000



def print_dpi(shape: tuple[int, ...], dpi: float = 0) -> float:
    """Pixels per inch of the photo as printed: ``dpi``, or the long side at 180 mm when 0."""
    return float(dpi) if dpi > 0 else max(shape[:2]) / (AUTO_PRINT_MM / 25.4)


def render(
    rgb: np.ndarray,
    alpha: np.ndarray,
    style: str,
    params: dict[str, Any] | None = None,
    soft_edges: bool = True,
    progress: ProgressFn | None = None,
    foreground: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Named RGBA uint8 layers (H×W×4) of the person in ``style``; see :func:`styles` for parameters.

    ``soft_edges``: multiply each layer's alpha by the person's (True), or decide the edge: clip
    to where the person's 8-bit mask is at least half (False, for a client that applies the mask
    itself). ``foreground``: the person's decontaminated colours (H×W×3 float in [0, 1]) when the
    caller has them, else they are estimated. ``progress``: told the fraction done between
    stages; it may raise to stop the work.
    """

    def report(fraction: float) -> None:
        if progress is not None:
            progress("comic", fraction)

    report(0.0)
    spec, p = resolve(style, params)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be H×W×3 uint8, not {rgb.shape} {rgb.dtype}")
    if alpha.shape != rgb.shape[:2]:
        raise ValueError(f"alpha {alpha.shape} does not match the photo {rgb.shape[:2]}")
    alpha = np.clip(alpha.astype(np.float32), 0.0, 1.0)
    # inside as the 8-bit mask a client receives says it: at least 128 of 255 (rounded as the server sends it)
    person = np.rint(alpha * 255.0) >= 128
    rgb = person_colours(rgb, alpha, foreground)
    report(0.1)
    dpi = print_dpi(rgb.shape, p["dpi"])
    px_per_pt, px_per_mm = dpi / 72.0, dpi / 25.4

    layers: dict[str, np.ndarray] = {}
    if "Ink" in spec.layers:
        lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        ink = comic_lines.lines(lum, person, p["line_weight"] * px_per_pt, p["detail"])
        report(0.2)
        ink = np.maximum(ink, comic_lines.outline(person.astype(np.float32), p["outline"] * px_per_pt))
        layers["Ink"] = ink
        report(0.3)
    if style == "cartoon":
        layers["Flat colour"] = flat_colours(
            rgb, person, p["colours"], p["smoothing"] * px_per_mm, dpi, tick=lambda f: report(0.3 + 0.5 * f)
        )
    elif style == "posterize":
        layers["Flat colour"] = posterize(rgb, p["levels"], p["smoothing"] * px_per_mm, dpi)
    elif style == "manga":
        black, dense, light = manga_tones(rgb, person, p["shadow"], p["midtone"], dpi)
        report(0.5)
        layers["Ink"] = np.maximum(layers["Ink"], black)
        period = screentone.period_px(p["tone_lpi"], dpi)
        coverage = np.where(dense, np.float32(p["dense_dot"] / 100.0), np.float32(p["tone_dot"] / 100.0))
        tone = screentone.dots(alpha.shape, period, p["tone_angle"], coverage, tick=lambda f: report(0.5 + 0.3 * f))
        layers["Tone"] = (dense | light) * tone
        layers["Flat colour"] = np.full(rgb.shape, 255, np.uint8)
    report(0.8)
    coverage = alpha if soft_edges else person.astype(np.float32)
    out = {}
    for number, name in enumerate(spec.layers):
        out[name] = _rgba(layers[name], coverage)
        report(0.8 + 0.2 * (number + 1) / len(spec.layers))
    return out


def _rgba(layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """An ink amount (H×W float, drawn black) or a colour image (H×W×3 uint8) -> RGBA masked by ``alpha``."""
    out = np.zeros((*alpha.shape, 4), np.uint8)
    if layer.ndim == 2:
        out[..., 3] = cv2.convertScaleAbs(cv2.multiply(layer.astype(np.float32), alpha), alpha=255.0)
    else:
        out[..., :3] = layer
        out[..., 3] = cv2.convertScaleAbs(alpha, alpha=255.0)  # rounds and saturates
    return out


def _work_copy(rgb: np.ndarray, dpi: float) -> tuple[np.ndarray, float]:
    """The photo at about :data:`COLOUR_WORK_DPI` (never enlarged) and the scale used."""
    scale = min(1.0, COLOUR_WORK_DPI / dpi)
    if scale >= 1.0:
        return rgb, 1.0
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA), scale


def _smooth(rgb: np.ndarray, radius_px: float) -> np.ndarray:
    """Edge-preserving smoothing (two bilateral passes): flattens skin and cloth, keeps outlines.

    A bilateral filter rather than OpenCV's domain-transform filter: at the work resolution
    it is as good and about twice as fast here.
    """
    radius = max(1, min(7, round(radius_px)))
    out = rgb
    for _ in range(2):
        out = cv2.bilateralFilter(out, 2 * radius + 1, 30, radius)
    return out


def flat_colours(
    rgb: np.ndarray,
    person: np.ndarray,
    colours: int,
    smoothing_px: float,
    dpi: float,
    tick: Callable[[float], None] | None = None,
) -> np.ndarray:
    """H×W×3 uint8: the person in at most ``colours`` flat colours (k-means in CIELAB on the person).

    Areas smaller than ``smoothing_px`` merge into their neighbours (a majority vote over a
    box that size); region edges are found at full size from upscaled votes, so they are smooth.
    ``tick`` hears the fraction done after the clustering and after each colour's votes.
    """
    tick = tick or (lambda fraction: None)
    h, w = rgb.shape[:2]
    small, scale = _work_copy(rgb, dpi)
    small = _smooth(small, smoothing_px * scale / 2)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    inside = cv2.resize(person.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
    samples = lab[inside] if inside.any() else lab.reshape(-1, 3)
    rng = np.random.default_rng(0)
    if len(samples) > KMEANS_SAMPLES:
        samples = samples[rng.choice(len(samples), KMEANS_SAMPLES, replace=False)]
    k = int(min(colours, len(samples)))
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.2)
    _, _, centres = cv2.kmeans(samples.astype(np.float32), k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    tick(0.2)

    # nearest centre: |x - c|² = |x|² - 2 x·c + |c|², and |x|² is the same for every c
    labels = np.argmin((centres ** 2).sum(1) - 2.0 * lab.reshape(-1, 3) @ centres.T, axis=1).reshape(lab.shape[:2])
    box = max(1, round(smoothing_px * scale)) | 1
    # running argmax of the upscaled votes, packed as (votes << 4 | label) in uint16 so that
    # one maximum per label finds the winner: 12 bits of vote, 4 bits of label (k <= 16)
    best = np.zeros((h, w), np.uint16)
    for j in range(k):
        votes = cv2.blur((labels == j).astype(np.float32), (box, box))
        votes = np.round(votes * 4095.0).astype(np.uint16)
        if scale < 1.0:
            votes = cv2.resize(votes, (w, h), interpolation=cv2.INTER_LINEAR)
        np.left_shift(votes, 4, out=votes)
        np.bitwise_or(votes, np.uint16(j), out=votes)
        np.maximum(best, votes, out=best)
        tick(0.2 + 0.8 * (j + 1) / k)
    index = (best & 15).astype(np.uint8)
    palette = cv2.cvtColor(centres[None].astype(np.float32), cv2.COLOR_Lab2RGB)[0]
    lut = np.zeros((1, 256, 3), np.uint8)
    lut[0, :k] = np.clip(np.round(palette * 255.0), 0, 255)
    return cv2.LUT(cv2.merge([index, index, index]), lut)


def posterize(rgb: np.ndarray, levels: int, smoothing_px: float, dpi: float) -> np.ndarray:
    """H×W×3 uint8: smoothed colours cut into ``levels`` bands per channel (at most levels³ colours)."""
    h, w = rgb.shape[:2]
    small, scale = _work_copy(rgb, dpi)
    small = _smooth(small, smoothing_px * scale / 2)
    if scale < 1.0:
        small = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    # each 8-bit value's band, as a 256-entry table (cv2.LUT): the same bytes as the arithmetic on every pixel,
    # in milliseconds instead of 1.8 s at 12 MP, the whole of which a cancel could not stop
    band = np.minimum(np.arange(256, dtype=np.uint16) * levels // 256, levels - 1)
    return cv2.LUT(small, np.round(band * (255.0 / (levels - 1))).astype(np.uint8))


def manga_tones(
    rgb: np.ndarray, person: np.ndarray, shadow: float, midtone: float, dpi: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(solid black, dense tone, light tone) as H×W bool: :func:`server.comic.manga.tone_areas` of the photo.

    The levels come from the smoothed luminance (edge-preserving at 0.5 mm, then a 0.4 mm blur for clean
    region edges) on the work copy, where the masses are settled too; they are brought to full size before
    the thresholds, so that the areas' edges are smooth.
    """
    h, w = rgb.shape[:2]
    small, scale = _work_copy(rgb, dpi)
    lum = cv2.cvtColor(_smooth(small, 0.5 * COLOUR_WORK_DPI / 25.4), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    lum = cv2.GaussianBlur(lum, (0, 0), 0.4 * dpi * scale / 25.4)
    inside = cv2.resize(person.astype(np.uint8), (lum.shape[1], lum.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    level = manga.settle_masses(manga.tone_levels(lum, inside), inside, shadow, dpi * scale / 25.4)
    if scale < 1.0:
        level = cv2.resize(level, (w, h), interpolation=cv2.INTER_LINEAR)
    return manga.tone_areas(level, person, shadow, midtone)


def composite(layers: dict[str, np.ndarray], background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """H×W×3 uint8: the layers stacked (first on top) over a flat ``background``."""
    shape = next(iter(layers.values())).shape[:2]
    out = np.empty((*shape, 3), np.float32)
    out[:] = background
    for layer in reversed(list(layers.values())):
        a = layer[..., 3:].astype(np.float32) / 255.0
        out = out * (1.0 - a) + layer[..., :3].astype(np.float32) * a
    return np.round(out).astype(np.uint8)


def demo_sheet(
    rgb: np.ndarray, alpha: np.ndarray, height: int = 480, params: dict[str, dict] | None = None
) -> np.ndarray:
    """H×W×3 uint8 picture for the README: the cut-out, then each style, side by side on white.

    Each style is rendered at the photo's size with its defaults (or ``params[style]``) and
    the row is scaled to ``height`` px, with the style's name written under each panel.
    """
    tiles = [("cut-out", _over_white(rgb, alpha))]
    for name in STYLES:
        tiles.append((name, composite(render(rgb, alpha, name, (params or {}).get(name)))))
    label_h = max(18, height // 16)
    out = []
    for name, tile in tiles:
        h, w = tile.shape[:2]
        tile = cv2.resize(tile, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)
        strip = np.full((label_h, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(strip, name, (6, label_h - 6), cv2.FONT_HERSHEY_SIMPLEX, label_h / 36, (0, 0, 0), 1, cv2.LINE_AA)
        out.append(np.vstack([tile, strip]))
        out.append(np.full((height + label_h, 8, 3), 255, np.uint8))
    return np.hstack(out[:-1])


def _over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = np.clip(alpha.astype(np.float32), 0, 1)[..., None]
    return np.round(rgb * a + 255.0 * (1 - a)).astype(np.uint8)
