"""``python -m server bench comic``: whether manga keeps dark masses dark and lights light, and how fast each style is.

**Manga tones** (on ``../shared/data/ccp-dev`` when it is there: street-fashion photos with hand-labelled
parts). Each photo is rendered in manga with its defaults, on the subject's hand-drawn mask (``masks/``,
not a segmenter's, so segmentation errors do not mix in), composited over white as printed, and compared
with the photo, both averaged over a window of two screen periods (so screentone counts by its density,
and the photo's texture — hair strands — at the scale at which tone is judged):

* a pixel of the photo is **dark** when its local luminance is in the photo's darkest quarter (at most the
  25th percentile of the local luminance over the whole frame), **light** when in its brightest quarter
  (at least the 75th). Percentiles of the photo, not thresholds, so the figure does not depend on
  exposure; of the whole frame, not of the subject, so it does not share the renderer's own scale (the
  subject's tonal range) and a subject dressed in black has as many dark pixels as the photo shows;
* the render keeps a pixel **dark** when its local composited luminance is at most 0.5 — at least half
  ink: solid black or dense tone, not the light tone — and **light** when at least 0.7 — at most 30 %
  ink: paper, light tone or a line through it;
* counted: the dark hair pixels (label ``hair`` in ``labels.txt``) rendered dark (the goal: at least
  85 %), and the light pixels of the whole subject rendered light (so that all-black cannot pass); only
  pixels whose window lies inside the mask (the white page beyond the outline would lighten it).

**Speed**: seconds per megapixel of each style. The photo (persons-dev 219 with its mask when ../shared is
there, else the demo astronaut with an oval mask) is scaled to each size, same framing, and every style
rendered with its defaults. Each time is also printed as a ratio against a reference run in the same process
— one 5×5 Gaussian blur of the same photo, an operation every machine does at memory speed — so figures
from different machines can be compared; and against the goal of 0.5 s/MP.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from cutout_common import comic_styles
from server import comic
from server.bench.timing import median_seconds
from server.comic import screentone
from server.evaluation.dataset import part_labels

REPO = Path(__file__).resolve().parents[2]  # the checkout: server/bench/ is two levels down
DEMO = REPO / "tests" / "data" / "astronaut.png"
SHARED = Path(os.environ.get("PERSON_CUTOUT_SHARED", REPO.parent / "shared")) / "data"
PERSONS_DEV = SHARED / "persons-dev"
CCP_DEV = SHARED / "ccp-dev"
GOAL_S_PER_MP = 0.5
#: a photo's dark and light pixels: local luminance in its darkest / brightest quarter
DARK_QUANTILE, LIGHT_QUANTILE = 25.0, 75.0
#: rendered dark: local luminance as printed at most this (at least half ink); light: at least this
DARK_PRINT, LIGHT_PRINT = 0.5, 0.7
GOAL_DARK_HAIR = 0.85


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", choices=("tones", "speed"), default=None, help="one of the two parts (default both)")
    parser.add_argument("--data", type=Path, default=CCP_DEV,
                        help="photos with parts for the tones: images/, masks/, parts/")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="tones: only the first N photos")
    parser.add_argument("--sizes", default="1,4,12", help="speed: photo sizes in megapixels")
    parser.add_argument("--repeat", type=int, default=3, help="speed: timed runs per style and size (median)")
    parser.add_argument("--styles", default=",".join(comic.STYLES), help="speed: styles to time")


@dataclass
class ToneCounts:
    """Pixels of a photo that are dark (or light), and of them how many the render keeps so."""

    dark: int = 0
    dark_kept: int = 0
    light: int = 0
    light_kept: int = 0

    def __iadd__(self, other: ToneCounts) -> ToneCounts:
        self.dark += other.dark
        self.dark_kept += other.dark_kept
        self.light += other.light
        self.light_kept += other.light_kept
        return self


def tone_window(shape: tuple[int, ...]) -> int:
    """Side in px of the window tones are compared over: two screen periods at the default frequency, odd."""
    period = screentone.period_px(comic_styles.TONE_LPI.default, comic.print_dpi(shape))
    return 2 * round(period) + 1


def tone_counts(rgb: np.ndarray, mask: np.ndarray, printed: np.ndarray, dark_region: np.ndarray,
                light_region: np.ndarray | None = None) -> ToneCounts:
    """The photo's dark pixels in ``dark_region``, its light ones in ``light_region`` (default: the whole subject),
    and how many of each ``printed`` keeps so.

    ``mask``: the subject (bool); ``printed``: the render composited over white (H×W×3 uint8). See the
    module's docstring for the definitions.
    """
    side = tone_window(rgb.shape)

    def local(picture: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        return cv2.blur(grey, (side, side))

    photo, print_ = local(rgb), local(printed)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((side, side), np.uint8)) > 0
    darkest, lightest = np.percentile(photo, (DARK_QUANTILE, LIGHT_QUANTILE))
    dark = inner & dark_region & (photo <= darkest)
    light = inner & (photo >= lightest)
    if light_region is not None:
        light &= light_region
    return ToneCounts(int(dark.sum()), int((print_[dark] <= DARK_PRINT).sum()),
                      int(light.sum()), int((print_[light] >= LIGHT_PRINT).sum()))


def _hair_label(data: Path) -> int:
    hair = [value for value, name in part_labels(data).items() if name == "hair"]
    if not hair:
        raise SystemExit(f"no 'hair' label in {data / 'labels.txt'}")
    return hair[0]


def run_tones(data: Path, limit: int | None) -> None:
    if not (data / "parts").is_dir():
        print(f"manga tones: skipped, no labelled photos at {data} (images/, masks/, parts/)")
        return
    hair = _hair_label(data)
    names = sorted(p.stem for p in (data / "images").glob("*.jpg"))[:limit]
    total, shares = ToneCounts(), []
    for name in names:
        rgb = np.asarray(Image.open(data / "images" / f"{name}.jpg").convert("RGB"))
        mask = np.asarray(Image.open(data / "masks" / f"{name}.png").convert("L")) > 127
        parts = np.asarray(Image.open(data / "parts" / f"{name}.png"))
        printed = comic.composite(comic.render(rgb, mask.astype(np.float32), "manga"))
        counts = tone_counts(rgb, mask, printed, parts == hair)
        total += counts
        if counts.dark:
            shares.append(counts.dark_kept / counts.dark)
    print(f"manga tones: {len(names)} photos of {data}, on their own masks, manga defaults; a pixel is dark when "
          f"its luminance (mean over two screen periods) is at most the photo's {DARK_QUANTILE:.0f}th percentile, "
          f"light when at least its {LIGHT_QUANTILE:.0f}th")
    print(f"  dark hair pixels printed dark (<= {DARK_PRINT:.0%} luminance, black or dense tone): "
          f"{total.dark_kept / max(total.dark, 1):.1%} of {total.dark} px in {len(shares)} photos "
          f"(median per photo {np.median(shares) if shares else 0:.1%}; goal >= {GOAL_DARK_HAIR:.0%})")
    print(f"  light pixels of the subject printed light (>= {LIGHT_PRINT:.0%} luminance, paper or light tone): "
          f"{total.light_kept / max(total.light, 1):.1%} of {total.light} px", flush=True)


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


def run_speed(args: argparse.Namespace) -> None:
    rgb0, alpha0, source = _photo()
    styles = [s for s in args.styles.split(",") if s]
    print(f"comic speed: {source}, {os.cpu_count()} CPU cores, OpenCV threads {cv2.getNumThreads()}, "
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
        print(f"{megapixels:>5.1f} {'reference':>10} {reference:>7.3f} {reference / megapixels:>7.3f} "
              f"{1.0:>7.1f} {'':>8}")
        for style in styles:
            seconds = median_seconds(lambda x=rgb, a=alpha, s=style: comic.render(x, a, s), args.repeat)
            per_mp = seconds / megapixels
            print(f"{megapixels:>5.1f} {style:>10} {seconds:>7.3f} {per_mp:>7.3f} {seconds / reference:>7.1f} "
                  f"{per_mp / GOAL_S_PER_MP:>8.2f}", flush=True)


def run(args: argparse.Namespace) -> int:
    if args.only in (None, "tones"):
        run_tones(args.data, args.limit)
    if args.only in (None, "speed"):
        run_speed(args)
    return 0
