"""Photos with ground truth: ``images/`` and ``masks/`` matched by file stem, read as the photo is shown.

A set may also label parts: ``parts/NAME.png`` (one byte per pixel, 0 background, each other value a label
named in ``labels.txt``, lines ``VALUE NAME``), as ccp-dev does: the bag, the coat, the hair. :func:`read_parts`
reads them, so ``eval`` can say how much of each kind of thing a cut-out keeps.

A mask whose pixels are all 0 or one other value is a binary person mask; one with intermediate
values is an alpha matte. Ground truth of another size with the photo's aspect ratio is resized to
the photo; a mask that fits only the photo as stored (not as its EXIF orientation shows it) is
matched to the stored pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from server.pipeline.images import read_photo

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: relative aspect-ratio difference up to which ground truth of another size is resized
ASPECT_TOLERANCE = 0.01


class DatasetError(Exception):
    """The folder is not a set of photos with ground truth."""


@dataclass
class Pair:
    stem: str
    image: Path
    mask: Path
    parts: Path | None = None  # parts/NAME.png when the set labels parts


def find_pairs(data: Path) -> tuple[list[Pair], list[dict[str, str]]]:
    """Photos and masks matched by stem, sorted by stem; the unmatched ones as skipped entries."""
    images, masks = data / "images", data / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise DatasetError(f"{data} must hold images/ and masks/ folders")
    photos = _by_stem(images)
    truths = _by_stem(masks)
    labelled = data / "parts"
    pairs = [Pair(stem, photos[stem], truths[stem], _part_file(labelled, stem)) for stem in sorted(photos)
             if stem in truths]
    skipped = [{"file": str(photos[s]), "reason": "no mask with this name"} for s in sorted(photos) if s not in truths]
    skipped += [
        {"file": str(truths[s]), "reason": "no photo with this name"} for s in sorted(truths) if s not in photos
    ]
    return pairs, skipped


def _part_file(folder: Path, stem: str) -> Path | None:
    path = folder / f"{stem}.png"
    return path if path.is_file() else None


def part_labels(data: Path) -> dict[int, str]:
    """``labels.txt`` of a set with parts: value → name (empty when the set has none)."""
    path = Path(data) / "labels.txt"
    if not path.is_file():
        return {}
    words = path.read_text(encoding="utf-8").split()
    return {int(words[i]): words[i + 1] for i in range(0, len(words) - 1, 2) if words[i].isdigit()}


def read_parts(pair: Pair, shape: tuple[int, int]) -> np.ndarray | None:
    """The part labels of ``pair`` (H×W uint8) at the photo's ``shape``; None without parts or at another size."""
    if pair.parts is None:
        return None
    with Image.open(pair.parts) as image:
        labels = np.asarray(image)
    if labels.ndim != 2:
        return None
    if labels.shape != tuple(shape):
        if not _same_aspect(labels.shape, shape):
            return None
        labels = cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return labels


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            found.setdefault(path.stem, path)
    return found


def read_truth(path: Path) -> tuple[np.ndarray, bool]:
    """(truth H×W float32 in [0, 1], is it an alpha matte); binary when only 0 and one other value occur."""
    with Image.open(path) as image:
        if image.mode in ("I", "I;16", "I;16B", "I;16L"):
            values = np.asarray(image, dtype=np.float32) / 65535.0
        elif image.mode == "F":
            values = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        else:
            values = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    levels = np.unique(values)
    if len(levels) == 1 or (len(levels) == 2 and levels[0] == 0.0):  # {v} or {0, v}: 0/1 or 0/255 masks
        return (values >= levels[-1] / 2).astype(np.float32) if levels[-1] > 0 else values, False
    return values, True


def fit_truth(truth: np.ndarray, alpha: bool, height: int, width: int) -> np.ndarray | None:
    """Ground truth at the photo's size; None when the aspect ratios differ (a different picture)."""
    h, w = truth.shape
    if (h, w) == (height, width):
        return truth
    if not _same_aspect((h, w), (height, width)):
        return None
    shrink = h * w > height * width
    resized = cv2.resize(truth, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return resized if alpha else (resized >= 0.5).astype(np.float32)


def _same_aspect(shape: tuple[int, ...], other: tuple[int, ...]) -> bool:
    """Whether two (height, width) sizes have the same proportions: the same picture at another size."""
    return abs((shape[1] / shape[0]) / (other[1] / other[0]) - 1.0) <= ASPECT_TOLERANCE


def load_sample(pair: Pair) -> tuple[np.ndarray, np.ndarray, bool]:
    """(RGB uint8 photo, truth at its size, alpha?); raises ValueError/OSError for unusable files.

    The photo is read as shown (its EXIF orientation applied, 16-bit scaled to 8), like the CLI
    reads it; a mask that only fits the stored, unturned pixels (drawn on a quarter-turned photo
    by a tool that ignored the orientation) is matched to those instead.
    """
    truth, alpha = read_truth(pair.mask)
    rgb = read_photo(pair.image)
    fitted = fit_truth(truth, alpha, *rgb.shape[:2])
    if fitted is None:
        stored = read_photo(pair.image, orient=False)
        if stored.shape != rgb.shape:
            rgb, fitted = stored, fit_truth(truth, alpha, *stored.shape[:2])
    if fitted is None:
        raise ValueError(f"mask is {truth.shape[1]}×{truth.shape[0]}, photo {rgb.shape[1]}×{rgb.shape[0]}")
    return rgb, fitted, alpha
