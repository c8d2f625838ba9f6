"""A comic page assembled from one cut-out, for README pictures: ``demo_page(rgb, alpha)``.

Uses the same page geometry as the GIMP command (:mod:`server.comic_page`): each panel gets
the person in one style, clipped to the panel, with a black border of the panel's line
weight. The photo is scaled to the panel first and then rendered at the page's dpi, which is
what an artist gets by placing a cut-out and rendering it there: lines in points and tone in
lines per inch come out at their true printed size. (``comic.demo_sheet`` gives the styles
side by side instead.)
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from . import comic, comic_page


def demo_page(
    rgb: np.ndarray,
    alpha: np.ndarray,
    page: str = "b5",
    dpi: int = 300,
    layout: str = "2x3 grid",
    styles: tuple[str, ...] = ("manga", "cartoon", "lineart", "posterize"),
    border_pt: float = 1.0,
) -> np.ndarray:
    """H×W×3 uint8: a page of ``layout`` panels, each showing the person in the next of ``styles``."""
    sheet = comic_page.page(page, dpi)
    out = np.full((sheet.height, sheet.width, 3), 255, np.uint8)
    width = comic_page.border_px(border_pt, dpi)
    for panel, style in zip(comic_page.layout(sheet, layout), itertools.cycle(styles), strict=False):
        r = panel.rect
        photo, mask = _fit(rgb, alpha, r)
        picture = comic.composite(comic.render(photo, mask, style, {"dpi": dpi}))
        overhang = (picture.shape[1] - r.width) // 2  # centre across, clip what overhangs
        crop = picture[:, max(0, overhang):max(0, overhang) + r.width]
        x = r.x + max(0, -overhang)
        out[r.y:r.bottom, x:x + crop.shape[1]] = crop
        cv2.rectangle(out, (r.x, r.y), (r.right - 1, r.bottom - 1), (0, 0, 0), width)
    return out


def _fit(rgb: np.ndarray, alpha: np.ndarray, rect: comic_page.Rect) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its mask scaled to the panel's height."""
    h, w = alpha.shape
    size = (max(1, round(w * rect.height / h)), rect.height)
    mode = cv2.INTER_AREA if rect.height < h else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=mode), cv2.resize(alpha.astype(np.float32), size, interpolation=mode)
