"""A comic page assembled from one cut-out, for README pictures: ``demo_page(rgb, alpha)``.

Uses the same page geometry as the GIMP command (:mod:`cutout_common.page_geometry`): each panel gets
the person in one style, clipped to the panel, with a black border of the panel's line
weight. The photo is scaled to the panel first and then rendered at the page's dpi, which is
what an artist gets by placing a cut-out and rendering it there: lines in points and tone in
lines per inch come out at their true printed size. (``comic.demo_sheet`` gives the styles
side by side instead.)

``python -m server comic-demo --out docs/`` writes both pictures for the README: the photo is
cut out by the pipeline (the best installed segmenter) and rendered with each style's defaults.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import cv2
import numpy as np

from cutout_common import page_geometry
from server import comic


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
    sheet = page_geometry.page(page, dpi)
    out = np.full((sheet.height, sheet.width, 3), 255, np.uint8)
    width = page_geometry.border_px(border_pt, dpi)
    for panel, style in zip(page_geometry.layout(sheet, layout), itertools.cycle(styles), strict=False):
        r = panel.rect
        photo, mask = _fit(rgb, alpha, r)
        picture = comic.composite(comic.render(photo, mask, style, {"dpi": dpi}))
        overhang = (picture.shape[1] - r.width) // 2  # centre across, clip what overhangs
        crop = picture[:, max(0, overhang):max(0, overhang) + r.width]
        x = r.x + max(0, -overhang)
        out[r.y:r.bottom, x:x + crop.shape[1]] = crop
        cv2.rectangle(out, (r.x, r.y), (r.right - 1, r.bottom - 1), (0, 0, 0), width)
    return out


def _fit(rgb: np.ndarray, alpha: np.ndarray, rect: page_geometry.Rect) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its mask scaled to the panel's height."""
    h, w = alpha.shape
    size = (max(1, round(w * rect.height / h)), rect.height)
    mode = cv2.INTER_AREA if rect.height < h else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=mode), cv2.resize(alpha.astype(np.float32), size, interpolation=mode)


REPO = Path(__file__).resolve().parents[2]  # the checkout (server/demos/ is two levels down)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--photo", type=Path, default=REPO / "tests" / "data" / "astronaut.png", help="the photo")
    parser.add_argument("--out", type=Path, required=True, help="folder for comic-styles.jpg and comic-page.jpg")
    parser.add_argument("--segmenter", default=None, help="segmenter for the cut-out (default: the best installed)")
    parser.add_argument("--sheet-height", type=int, default=300, help="height of the styles picture, px")
    parser.add_argument("--page-width", type=int, default=700, help="width of the page picture, px")


def run(args: argparse.Namespace) -> int:
    """Cut the photo out, render the styles sheet and a B5 page, save them as small JPEGs."""
    from PIL import Image

    from server.pipeline.cutout import predict_mask
    from server.pipeline.images import read_photo

    rgb = read_photo(args.photo)
    alpha = predict_mask(rgb, args.segmenter)
    args.out.mkdir(parents=True, exist_ok=True)
    sheet = comic.demo_sheet(rgb, alpha, height=args.sheet_height)
    page = demo_page(rgb, alpha)
    height = round(page.shape[0] * args.page_width / page.shape[1])
    page = cv2.resize(page, (args.page_width, height), interpolation=cv2.INTER_AREA)
    for name, picture in (("comic-styles.jpg", sheet), ("comic-page.jpg", page)):
        Image.fromarray(picture).save(args.out / name, quality=88, optimize=True)
        print(args.out / name)
    return 0
