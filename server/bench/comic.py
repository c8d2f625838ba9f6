"""``python -m server bench comic``: seconds per megapixel of each comic style on this machine.

The photo (persons-dev 219 with its mask when ../shared is there, else the demo astronaut
with an oval mask) is scaled to each size, same framing, and every style rendered with its
defaults. Each time is also printed as a ratio against a reference run in the same process
— one 5×5 Gaussian blur of the same photo, an operation every machine does at memory speed —
so figures from different machines can be compared; and against the goal of 0.5 s/MP.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from server import comic
from server.bench.timing import median_seconds

REPO = Path(__file__).resolve().parents[2]  # the checkout: server/bench/ is two levels down
DEMO = REPO / "tests" / "data" / "astronaut.png"
PERSONS_DEV = Path(os.environ.get("PERSON_CUTOUT_SHARED", REPO.parent / "shared")) / "data" / "persons-dev"
GOAL_S_PER_MP = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="1,4,12", help="photo sizes in megapixels")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per style and size (median)")
    parser.add_argument("--styles", default=",".join(comic.STYLES), help="styles to time")


def _photo() -> tuple[np.ndarray, np.ndarray, str]:
    if (PERSONS_DEV / "images" / "219.jpg").exists():
        rgb = np.asarray(Image.open(PERSONS_DEV / "images" / "219.jpg").convert("RGB"))
        mask = np.asarray(Image.open(PERSONS_DEV / "masks" / "219.png").convert("L")) > 127
        return rgb, mask.astype(np.float32), "persons-dev 219"
    rgb = np.asarray(Image.open(DEMO).convert("RGB"))
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 3, h // 2 - 4), 0, 0, 360, 1.0, -1)
    return rgb, mask, "astronaut, oval mask"


def run(args: argparse.Namespace) -> int:
    rgb0, alpha0, source = _photo()
    styles = [s for s in args.styles.split(",") if s]
    print(f"comic benchmark: {source}, {os.cpu_count()} CPU cores, OpenCV threads {cv2.getNumThreads()}, "
          f"median of {args.repeat}; goal {GOAL_S_PER_MP} s/MP")
    print(f"{'MP':>5} {'style':>10} {'s':>7} {'s/MP':>7} {'vs ref':>7} {'vs goal':>8}")
    for mp in (float(s) for s in args.sizes.split(",")):
        h0, w0 = alpha0.shape
        scale = (mp * 1e6 / (h0 * w0)) ** 0.5
        size = (round(w0 * scale), round(h0 * scale))
        rgb = cv2.resize(rgb0, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        alpha = cv2.resize(alpha0, size, interpolation=cv2.INTER_LINEAR)
        megapixels = size[0] * size[1] / 1e6
        comic.render(rgb, alpha, styles[0])  # warm-up: OpenCV and numpy first-call costs
        reference = median_seconds(lambda x=rgb: cv2.GaussianBlur(x, (5, 5), 0), max(args.repeat, 5))
        print(f"{megapixels:>5.1f} {'reference':>10} {reference:>7.3f} {reference / megapixels:>7.3f} {1.0:>7.1f} {'':>8}")
        for style in styles:
            seconds = median_seconds(lambda x=rgb, a=alpha, s=style: comic.render(x, a, s), args.repeat)
            per_mp = seconds / megapixels
            print(f"{megapixels:>5.1f} {style:>10} {seconds:>7.3f} {per_mp:>7.3f} {seconds / reference:>7.1f} "
                  f"{per_mp / GOAL_S_PER_MP:>8.2f}", flush=True)
    return 0
