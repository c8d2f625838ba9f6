"""Contact sheets of the worst photos: photo | truth | prediction | error, small enough to keep many in memory."""

from __future__ import annotations

import heapq

import cv2
import numpy as np

#: height of one contact-sheet panel, pixels
THUMB_HEIGHT = 200


def keep_worst(
    heap: list[tuple[float, str, np.ndarray]], size: int, score: float, stem: str, rgb, truth, pred
) -> None:
    """Keep the ``size`` lowest-IoU photos, as small contact-sheet rows (memory stays bounded)."""
    item = (-score, stem, sheet_row(rgb, truth, pred, f"{stem}  IoU {score:.3f}"))
    if len(heap) < size:
        heapq.heappush(heap, item)
    elif item[0] > heap[0][0]:
        heapq.heapreplace(heap, item)


def sheet_row(rgb: np.ndarray, truth: np.ndarray, pred: np.ndarray, caption: str) -> np.ndarray:
    """photo | truth | prediction | error, each ``THUMB_HEIGHT`` high; error red = false person, cyan = missed."""
    height, width = truth.shape
    size = (max(1, round(width * THUMB_HEIGHT / height)), THUMB_HEIGHT)
    small = [cv2.resize(np.ascontiguousarray(a), size, interpolation=cv2.INTER_AREA) for a in (rgb, truth, pred)]
    photo, t, p = small[0], small[1].astype(np.float32), small[2].astype(np.float32)
    extra, missed = np.clip(p - t, 0, 1), np.clip(t - p, 0, 1)
    error = np.stack([extra, missed, missed], axis=2)
    error = np.clip(error * 255.0, 0, 255).astype(np.uint8)
    photo = photo.copy()
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(photo, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, thickness, cv2.LINE_AA)
    gap = np.full((THUMB_HEIGHT, 4, 3), 64, np.uint8)
    return np.concatenate([photo, gap, _grey(t), gap, _grey(p), gap, error], axis=1)


def _grey(mask: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(mask * 255.0, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of different widths one under another on a dark background."""
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=32) for r in rows]
    return np.concatenate(padded, axis=0)
