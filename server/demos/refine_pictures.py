"""Refine by hand, for the README's picture: the issue's own example, on the bundled astronaut.

``python -m server refine-demo --out docs/`` cuts ``tests/data/astronaut.png`` out with ``rvm`` alone
(:data:`SEGMENTER`: a network that sees bodies, not what they hold — as the default did before it joined what
people carry; no network is right on every photo), then refines it as an artist would in GIMP, one round per dot
(:data:`CLICKS`): a white dot on the helmet she holds against her chest (the network calls it background), a black
dot on the dark table the helmet brought along, white dots on the helmet's rim and on her name tag. Each round is the
request *Refine Cut-out…* sends: the previous mask as 8-bit alpha with ``mask: alpha``, and every dot so far
as the hints frame. The picture shows the first cut-out, the dots on the photo, and the result, the two
cut-outs over a checkerboard.

The dots are the demo's input, placed for this photo (a click is a radius-5 disc, as the click simulator
draws it); everything else is the pipeline's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from server.demos import over_checkerboard
from server.evaluation.clicks import Click, draw_click, empty_hints

REPO = Path(__file__).resolve().parents[2]  # the checkout (server/demos/ is two levels down)
PHOTO = REPO / "tests" / "data" / "astronaut.png"
#: the artist's dots on the astronaut, in the order of the rounds: the helmet, the table it brought along,
#: the helmet's white rim (as light as the wall behind it), her name tag (the network leaves it faint)
CLICKS = (Click(400, 440, positive=True), Click(470, 300, positive=False), Click(385, 361, positive=True),
          Click(303, 368, positive=True))
HELP = "the README's refine picture: the bundled astronaut cut out by rvm, then refined by four dots"
#: the segmenter of the picture's first cut-out: one that leaves the helmet out, so the dots have work to do
SEGMENTER = "rvm"


def refine_rounds(rgb: np.ndarray, segmenter: str | None = SEGMENTER, clicks: tuple[Click, ...] = CLICKS
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """(the alpha of the first cut-out and after each round of ``clicks``, the hints of the last round)."""
    from server.pipeline.pixels import alpha_to_gray8
    from server.transport import cutters

    cut = cutters.local("cpu", preload=[segmenter])
    options = {"foreground": False}
    alphas = [cut(rgb, segmenter, options).alpha]
    hints = empty_hints(rgb.shape)
    for click in clicks:
        draw_click(hints, click)
        alphas.append(cut(rgb, segmenter, options, mask=alpha_to_gray8(alphas[-1]), hints=hints.copy()).alpha)
    return alphas, hints


def dots_on_photo(rgb: np.ndarray, clicks: tuple[Click, ...], radius: int = 7) -> np.ndarray:
    """The photo with each dot drawn as the artist sees it on the Hints layer, ringed so it shows on any colour."""
    out = rgb.copy()
    for click in clicks:
        fill, ring = ((255, 255, 255), (0, 0, 0)) if click.positive else ((0, 0, 0), (255, 255, 255))
        cv2.circle(out, (click.x, click.y), radius + 2, ring, thickness=-1, lineType=cv2.LINE_AA)
        cv2.circle(out, (click.x, click.y), radius, fill, thickness=-1, lineType=cv2.LINE_AA)
    return out


def picture(rgb: np.ndarray, alphas: list[np.ndarray], clicks: tuple[Click, ...], gap: int = 8) -> np.ndarray:
    """Before, the dots, after: three panels side by side on white."""
    panels = [over_checkerboard(rgb, alphas[0]), dots_on_photo(rgb, clicks), over_checkerboard(rgb, alphas[-1])]
    spacer = np.full((rgb.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([panels[0], spacer, panels[1], spacer, panels[2]], axis=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for refine-helmet.jpg")
    parser.add_argument("--segmenter", default=SEGMENTER, help=f"segmenter for the cut-out (default: {SEGMENTER})")
    parser.add_argument("--width", type=int, default=1200, help="width of the picture, px")


def run(args: argparse.Namespace) -> int:
    """Cut out, refine once per dot, save the picture as a small JPEG."""
    from PIL import Image

    from server.pipeline.images import read_photo

    rgb = read_photo(PHOTO)
    alphas, _ = refine_rounds(rgb, args.segmenter)
    out = picture(rgb, alphas, CLICKS)
    height = round(out.shape[0] * args.width / out.shape[1])
    out = cv2.resize(out, (args.width, height), interpolation=cv2.INTER_AREA)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "refine-helmet.jpg"
    Image.fromarray(out).save(path, quality=88, optimize=True)
    print(path)
    return 0
