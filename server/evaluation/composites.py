"""Composite test set for edge refinement: persons with a known alpha over real backgrounds.

Built on the fly from persons-dev (``../shared/data/persons-dev``), nothing stored; used by
``python -m server bench matting`` and by the test suite (tests/test_edges.py). For one photo:

* **alpha** (the truth): the person's hand-made mask with its outline softened by a
  one-pixel blur, plus a synthetic hair-like fringe on the upper third of the outline —
  a few hundred thin, curved, anti-aliased strands of partial opacity growing outwards
  (the fringe is where segmenters fail and matting must help);
* **foreground**: the photo's own colours inside the person; the strands take the mean
  colour of the person's nearby outline pixels, slightly varied, so they look like hair;
* **background**: another persons-dev photo, its person removed by OpenCV inpainting,
  scaled to size — a real background the foreground was never seen against; or a flat
  saturated colour (for measuring colour bleeding);
* **image** = ``alpha·F + (1 − alpha)·B``, rounded to uint8 as a photo would be;
* **mask**: what a segmenter gives — the truth seen at 256 pixels and scaled back up
  bilinearly: soft, blobby, no strands.

Three kinds (``KINDS``): ``hair``, the fringe above; ``holes``, the same person with the
background also seen *through* it — round holes (gaps between leaves) and curved slits (between
an arm and the body, between fingers, some of them open to the outside) of several sizes, from
a fraction of the edge band to twice its width, cut near the outline; and ``hard-holes``, that
composite given the *hard* mask (truth ≥ 0.5) as ``cutout --mask-from`` would be, so the mask
shows every hole the photo shows. Holes are where a matting solver with too little known
background around them paints them grey.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: segmenter view size (long side) the blobby mask is simulated at
VIEW = 256
#: composite kinds: a hair fringe; the same with holes and gaps inside the subject; that with the hard mask
KINDS = ("hair", "holes", "hard-holes")
#: holes: their scale unit as a fraction of sqrt(person area) (about the edge band's half-width), and how many
#: of each shape per unit of outline length
HOLE_UNIT = 0.015
HOLES_PER_UNIT = 1 / 12


@dataclass
class Composite:
    image: np.ndarray  # H×W×3 uint8
    alpha: np.ndarray  # H×W float32 truth
    foreground: np.ndarray  # H×W×3 float32 truth colours in [0, 1]
    background: np.ndarray  # H×W×3 float32 in [0, 1]
    mask: np.ndarray  # H×W float32 simulated segmenter output


def hair_alpha(mask: np.ndarray, seed: int) -> np.ndarray:
    """Truth alpha: the binary ``mask`` with a softened outline and hair-like strands on its upper third."""
    rng = np.random.default_rng(seed)
    h, w = mask.shape
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.8)
    ys, _ = np.nonzero(mask)
    if ys.size == 0:
        return alpha
    top, height = ys.min(), ys.max() - ys.min() + 1
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    points = np.concatenate([c[:, 0, :] for c in contours])
    points = points[points[:, 1] < top + height / 3]
    points = points[(points[:, 0] > 1) & (points[:, 0] < w - 2) & (points[:, 1] > 1)]
    if len(points) == 0:
        return alpha
    centre = np.array([np.nonzero(mask)[1].mean(), top + height / 4])
    scale = np.sqrt(mask.sum())
    strands = np.zeros((h, w), np.float32)
    for _ in range(int(len(points) * 0.6)):
        x, y = points[rng.integers(len(points))].astype(np.float64)
        direction = np.array([x, y]) - centre
        direction /= np.linalg.norm(direction) + 1e-9
        angle = np.arctan2(direction[1], direction[0]) + rng.normal(0, 0.4)
        length = rng.uniform(0.02, 0.09) * scale
        steps = max(int(length / 2), 2)
        path = [(x, y)]
        for _ in range(steps):
            angle += rng.normal(0, 0.15)
            x, y = x + 2 * np.cos(angle), y + 2 * np.sin(angle)
            path.append((x, y))
        # drawn on a canvas the size of the strand's box, so large photos stay quick
        path = np.array(path)
        x0, y0 = np.maximum(np.floor(path.min(axis=0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(path.max(axis=0)).astype(int) + 3, (w, h))
        if x1 <= x0 or y1 <= y0:
            continue
        canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = np.round((path - (x0, y0)) * 16).astype(np.int32)[None]
        cv2.polylines(canvas, pts, False, 255, 1, cv2.LINE_AA, shift=4)
        box = strands[y0:y1, x0:x1]
        np.maximum(box, canvas.astype(np.float32) / 255.0 * rng.uniform(0.4, 0.9), out=box)
    return np.maximum(alpha, strands)


def punch_holes(alpha: np.ndarray, mask: np.ndarray, seed: int) -> np.ndarray:
    """Truth alpha with background holes and gaps near the outline of the binary ``mask``.

    Round holes of radius 0.4–2 units and curved slits 0.4–1.5 units wide and 3–10 long (a unit is
    ``HOLE_UNIT`` of sqrt(area), about the edge band's half-width), centred 1–4 units inside the
    outline; a third of the slits start at the outline and run inwards (gaps between fingers, open to
    the background). Drawn anti-aliased; inside them the truth is 0, at their rims soft.
    """
    rng = np.random.default_rng(seed + 7)
    h, w = mask.shape
    area = int(mask.sum())
    if area == 0:
        return alpha
    unit = max(HOLE_UNIT * np.sqrt(area), 2.0)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = np.concatenate([c[:, 0, :] for c in contours]).astype(np.float64)
    near = np.argwhere((inside >= unit) & (inside <= 4 * unit))[:, ::-1].astype(np.float64)  # (x, y)
    if len(near) == 0 or len(outline) == 0:
        return alpha
    count = max(int(len(outline) / unit * HOLES_PER_UNIT), 2)
    canvas = np.zeros((h, w), np.uint8)
    shift = 4  # sub-pixel precision of the drawing (1/16 px)

    def fixed(points: np.ndarray) -> np.ndarray:
        return np.round(points * (1 << shift)).astype(np.int32)

    for _ in range(count):  # round holes
        x, y = near[rng.integers(len(near))]
        radius = rng.uniform(0.4, 2.0) * unit
        cv2.circle(canvas, tuple(fixed(np.array([x, y]))), int(radius * (1 << shift)), 255, -1, cv2.LINE_AA, shift)
    for i in range(count):  # slits: curved gaps, some open to the outside
        if i % 3 == 0:
            x, y = outline[rng.integers(len(outline))]
            gy, gx = np.gradient(inside[max(int(y) - 3, 0):int(y) + 4, max(int(x) - 3, 0):int(x) + 4])
            angle = np.arctan2(gy.mean(), gx.mean()) + rng.normal(0, 0.3)  # inwards
        else:
            x, y = near[rng.integers(len(near))]
            angle = rng.uniform(0, 2 * np.pi)
        width = rng.uniform(0.4, 1.5) * unit
        length = rng.uniform(3, 10) * unit
        path = [(x, y)]
        for _ in range(max(int(length / 2), 2)):
            angle += rng.normal(0, 0.1)
            x, y = x + 2 * np.cos(angle), y + 2 * np.sin(angle)
            path.append((x, y))
        cv2.polylines(canvas, fixed(np.array(path))[None], False, 255, max(int(round(width)), 1), cv2.LINE_AA, shift)
    holes = canvas.astype(np.float32) / 255.0
    return alpha * (1.0 - holes)


def inpainted_background(rgb: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A photo with its person inpainted away (OpenCV Telea), resized to ``size`` (w, h); float32 in [0, 1]."""
    scale = 320 / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    hole = cv2.resize(mask.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    hole = cv2.dilate(hole, np.ones((7, 7), np.uint8))
    clean = cv2.inpaint(small, hole, 5, cv2.INPAINT_TELEA)
    clean = cv2.resize(clean, size, interpolation=cv2.INTER_CUBIC)
    # the inpainted photo is upscaled; the photo's own detail, where it had no person, is kept
    full = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    keep = cv2.resize((hole == 0).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    clean[keep] = full[keep]
    return clean.astype(np.float32) / 255.0


def simulated_mask(alpha: np.ndarray, view: int = VIEW) -> np.ndarray:
    """What a segmenter returns: the truth at ``view`` pixels (long side), scaled back bilinearly."""
    h, w = alpha.shape
    scale = view / max(h, w)
    small = cv2.resize(alpha, (max(int(w * scale), 1), max(int(h * scale), 1)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1).astype(np.float32)


def hair_colour(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean colour of the person's upper outline pixels (float32 RGB in [0, 1])."""
    ys, _ = np.nonzero(mask)
    top = ys.min() + (ys.max() - ys.min()) // 4
    rim = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    rim[top:] = False
    pixels = rgb[rim] if rim.any() else rgb[mask]
    return pixels.mean(axis=0).astype(np.float32) / 255.0


def make(
    rgb: np.ndarray,
    mask: np.ndarray,
    background: np.ndarray,
    seed: int = 0,
    long_side: int | None = None,
    kind: str = "hair",
) -> Composite:
    """One composite of the person in (``rgb``, ``mask``) over ``background`` (float32 H×W×3, any size).

    ``kind`` is one of ``KINDS``: ``holes`` adds :func:`punch_holes`, ``hard-holes`` gives the hard mask too.
    """
    if kind not in KINDS:
        raise ValueError(f"composite kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if long_side is not None:
        scale = long_side / max(rgb.shape[:2])
        size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    h, w = mask.shape
    alpha = hair_alpha(mask, seed)
    if kind in ("holes", "hard-holes"):
        alpha = punch_holes(alpha, mask, seed)
    rng = np.random.default_rng(seed + 1)
    strand_colour = hair_colour(rgb, mask) * rng.uniform(0.8, 1.2, size=(h, w, 1)).astype(np.float32)
    person = rgb.astype(np.float32) / 255.0
    # inside the person the photo's colours; in the strands (outside the mask) hair colour
    fg = np.where(mask[..., None], person, np.clip(strand_colour, 0, 1)).astype(np.float32)
    bg = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    a = alpha[..., None]
    image = np.clip(np.round((a * fg + (1 - a) * bg) * 255), 0, 255).astype(np.uint8)
    given = (alpha >= 0.5).astype(np.float32) if kind == "hard-holes" else simulated_mask(alpha)
    return Composite(image, alpha, fg, bg, given)


def flat(colour: tuple[float, float, float], size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """A flat background (float32 RGB in [0, 1]) to be resized by :func:`make`."""
    return np.broadcast_to(np.array(colour, np.float32), (*size, 3)).copy()


def load_pair(persons_dev: Path, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 photo, boolean person mask) of one persons-dev photo."""
    from PIL import Image

    rgb = np.asarray(Image.open(persons_dev / "images" / f"{stem}.jpg").convert("RGB"))
    mask = np.asarray(Image.open(persons_dev / "masks" / f"{stem}.png").convert("L")) > 127
    return rgb, mask


def stems(persons_dev: Path) -> list[str]:
    """The persons-dev photo names, sorted."""
    return sorted(p.stem for p in (persons_dev / "images").glob("*.jpg"))


def dataset(persons_dev: Path, count: int = 6, long_side: int = 640, kind: str = "hair") -> list[Composite]:
    """``count`` composites of ``kind``: photo ``i``'s person over photo ``i + count``'s inpainted background."""
    names = stems(persons_dev)
    out = []
    for i in range(count):
        rgb, mask = load_pair(persons_dev, names[i * 7 % len(names)])
        other_rgb, other_mask = load_pair(persons_dev, names[(i * 7 + 40) % len(names)])
        background = inpainted_background(other_rgb, other_mask, (other_rgb.shape[1], other_rgb.shape[0]))
        out.append(make(rgb, mask, background, seed=i, long_side=long_side, kind=kind))
    return out
