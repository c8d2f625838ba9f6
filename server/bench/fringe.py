"""``python -m server bench fringe``: how much of the old background comic layers show along the outline, as
GIMP shows them.

Photo pixels under a soft mask are a mix of the person and the old background. Comic layers drawn
from them, masked by that soft mask, showed it in print as a fringe: the background's colour along
the outline, and grey where black ink met a soft edge (issue 17, defect 3). On real photos
(persons-dev) cut out by a segmenter, each style is rendered with the GIMP plug-in's options and
composed as GIMP shows it — the *Comic* group (its mask: the person's, decided at half, as the
plug-in writes it) over the photo layer with its soft mask, hidden as the plug-in leaves it — on
white paper. ``--as-before`` composes as the plug-in did before: a soft group mask over the visible
photo. In the outline band (every pixel the mask is unsure of, and a 2 px ring around its half
line) it prints, per style, over all photos:

* **background colour** — of the band pixels where something other than black ink or white paper
  is painted, and where the person's colour nearby differs from the background's nearby (ΔE > 20,
  CIELAB), the share whose colour is closer to the background's;
* **grey ink** — of the band pixels where the Ink layer draws solid black (alpha ≥ 0.9), the
  share the page shows less than 90 % black: ink should be black or nothing.

Segmenter outputs are cached under ``--cache`` so the composition can be measured again at once.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from server import comic

REPO = Path(__file__).resolve().parents[2]
PERSONS_DEV = Path(os.environ.get("PERSON_CUTOUT_SHARED", REPO.parent / "shared")) / "data" / "persons-dev"
HELP = "background colour and grey ink along the outline of comic layers, as GIMP shows them"
MIN_CONTRAST = 20.0  # ΔE between the person's and the background's colour for a band pixel to count
INK_OR_PAPER = (20.0, 92.0, 10.0)  # CIELAB: darker than L 20 or lighter than L 92, with chroma under 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=PERSONS_DEV, help="photos: DIR/images/*.jpg")
    parser.add_argument("--photos", type=int, default=20, help="how many (every n-th photo of the sorted set)")
    parser.add_argument("--segmenter", default="rvm", help="the segmenter that cuts the person out")
    parser.add_argument("--styles", default=",".join(comic.STYLES))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/person-cutout-fringe-cache"), help="segmenter outputs")
    parser.add_argument("--as-before", action="store_true", help="compose as the plug-in did before issue 17")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="enlarge photo and mask first, as Place in Panel does for a page (no foreground then)")


def cut_out(path: Path, segmenter: str, cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(RGB, alpha float32, foreground or None) of a photo, the segmenter's output cached on disk."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    stored = cache / f"{segmenter}-{path.stem}.npz"
    if stored.exists():
        data = np.load(stored)
        return rgb, data["alpha"], data["foreground"] if data["foreground"].size else None
    from server.pipeline.cutout import run_cutout
    from server.pipeline.model_cache import default_cache

    result = run_cutout(rgb, segmenter, {"edges": "off"}, default_cache())
    cache.mkdir(parents=True, exist_ok=True)
    foreground = result.foreground if result.foreground is not None else np.zeros(0, np.float32)
    np.savez_compressed(stored, alpha=result.alpha.astype(np.float32), foreground=foreground.astype(np.float32))
    return rgb, result.alpha, result.foreground


def band(alpha8: np.ndarray) -> np.ndarray:
    """The outline band: pixels the mask is unsure of, and a 2 px ring either side of its half line."""
    person = (alpha8 >= 128).astype(np.uint8)
    ring = cv2.dilate(person, np.ones((5, 5), np.uint8)) != cv2.erode(person, np.ones((5, 5), np.uint8))
    return ring | ((alpha8 > 0) & (alpha8 < 255))


def local_mean(rgb: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """The colour of the weighted pixels nearby (normalised convolution), float32 H×W×3."""
    w = cv2.GaussianBlur(weight.astype(np.float32), (0, 0), sigma)
    c = cv2.GaussianBlur(rgb.astype(np.float32) * weight[..., None], (0, 0), sigma)
    return c / np.maximum(w, 1e-4)[..., None]


def over(top: np.ndarray, alpha: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return top * a + bottom * (1.0 - a)


def gimp_page(
    rgb: np.ndarray, alpha8: np.ndarray, layers: dict[str, np.ndarray], as_before: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(what GIMP shows on white paper, float RGB; the Ink layer's alpha; its black coverage on the page)."""
    paper = np.full(rgb.shape, 255.0, np.float32)
    soft = alpha8.astype(np.float32) / 255.0
    page = over(rgb.astype(np.float32), soft, paper) if as_before else paper  # the photo layer: visible before
    group = np.zeros(rgb.shape, np.float32)
    group_alpha = np.zeros(alpha8.shape, np.float32)
    for name in reversed(list(layers)):  # bottom first: Flat colour, Tone, Ink
        a = layers[name][..., 3].astype(np.float32) / 255.0
        group = over(layers[name][..., :3].astype(np.float32), a, group)
        group_alpha = a + group_alpha * (1.0 - a)
    mask = soft if as_before else (alpha8 >= 128).astype(np.float32)
    group = group / np.maximum(group_alpha, 1e-6)[..., None]
    coverage = group_alpha * mask
    ink = layers["Ink"][..., 3].astype(np.float32) / 255.0 if "Ink" in layers else np.zeros_like(mask)
    return over(group, coverage, page), ink, ink * mask


def measure(rgb, alpha, foreground, style: str, as_before: bool, scale: float = 1.0) -> tuple[int, int, int, int]:
    """(band pixels counted, of them in the background's colour; band pixels with solid ink, of them grey on the
    page)."""
    if scale != 1.0:  # as GIMP scales the placed layers: the photo and its 8-bit mask, the server gets no foreground
        size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        alpha = cv2.resize(np.rint(alpha * 255.0).astype(np.uint8), size, interpolation=cv2.INTER_LINEAR) / 255.0
        foreground = None
    alpha8 = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
    layers = comic.render(rgb, alpha, style, soft_edges=False, **({} if as_before else {"foreground": foreground}))
    page, ink, shown_ink = gimp_page(rgb, alpha8, layers, as_before)
    zone = band(alpha8)
    sigma = max(3.0, 0.015 * np.sqrt(np.count_nonzero(alpha8 >= 128)))
    lab = lambda x: cv2.cvtColor(np.clip(x / 255.0, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)  # noqa: E731
    person, background = lab(local_mean(rgb, alpha8 == 255, sigma)), lab(local_mean(rgb, alpha8 == 0, sigma))
    shown = lab(page)
    painted = zone & (np.abs(page - 255.0).max(axis=2) > 2.0)
    contrast = np.linalg.norm(person - background, axis=2) > MIN_CONTRAST
    counted = painted & contrast
    dark, light, grey = INK_OR_PAPER
    plain = ((shown[..., 0] < dark) | (shown[..., 0] > light)) & (np.hypot(shown[..., 1], shown[..., 2]) < grey)
    closer = ~plain & (np.linalg.norm(shown - background, axis=2) < np.linalg.norm(shown - person, axis=2))
    inked = zone & (ink >= 0.9)
    return int(counted.sum()), int((counted & closer).sum()), int(inked.sum()), int((inked & (shown_ink < 0.9)).sum())


def run(args: argparse.Namespace) -> int:
    paths = sorted((args.data / "images").glob("*.jpg"))
    if not paths:
        raise SystemExit(f"no photos in {args.data / 'images'}")
    paths = paths[:: max(1, len(paths) // args.photos)][: args.photos]
    styles = [s for s in args.styles.split(",") if s]
    totals = {s: np.zeros(4, np.int64) for s in styles}
    for path in paths:
        rgb, alpha, foreground = cut_out(path, args.segmenter, args.cache)
        for style in styles:
            totals[style] += measure(rgb, alpha, foreground, style, args.as_before, args.scale)
    how = "as before (soft group mask, photo visible)" if args.as_before else "now (decided group mask, photo hidden)"
    print(
        f"fringe: {len(paths)} photos of {args.data}, segmenter {args.segmenter}, scale {args.scale:g}, composed {how}"
    )
    print(f"{'style':>10} {'background colour':>18} {'grey ink':>9}")
    for style, (counted, closer, inked, grey) in totals.items():
        soft = f"{grey / inked:>9.3f}" if inked else f"{'-':>9}"
        print(f"{style:>10} {closer / max(counted, 1):>18.3f} {soft}")
    return 0
