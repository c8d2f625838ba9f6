"""Mask clean-up that keeps thin parts: drop stray islands, fill small holes.

A low-resolution segmenter leaves blobs on background clutter and pinholes in
clothing. Morphological opening/closing would remove them too, but it also eats
fingers, hair strands and straps; working on connected components removes whole
islands or whole holes and leaves every remaining boundary where it was.
OpenCV's ``connectedComponentsWithStats`` does the labelling (fast, already a dependency).
"""

from __future__ import annotations

import cv2
import numpy as np

#: islands smaller than this fraction of the largest person region are dropped
ISLAND_FRACTION = 0.02
#: enclosed background smaller than this fraction of the person area is filled
HOLE_FRACTION = 0.002


def components(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, areas) of the connected components of a boolean mask; label 0 is the outside."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=connectivity)
    return labels, stats[:, cv2.CC_STAT_AREA]


def clean_mask(
    alpha: np.ndarray, island_fraction: float = ISLAND_FRACTION, hole_fraction: float = HOLE_FRACTION
) -> np.ndarray:
    """``alpha`` (H×W float in [0, 1]) with small islands set to 0 and small enclosed holes set to 1.

    Sizes are relative to the person, so the result does not depend on the photo's resolution.
    Islands go with their soft fringe (a few pixels around them), so no faint ghost stays behind.
    """
    person = alpha >= 0.5
    labels, areas = components(person, 8)
    if len(areas) <= 1:
        return alpha
    sizes = areas[1:]
    keep = np.concatenate([[False], sizes >= island_fraction * sizes.max()])
    out = alpha.copy()
    dropped = (labels > 0) & ~keep[labels]
    if dropped.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        kept = cv2.dilate(keep[labels].astype(np.uint8), kernel).astype(bool)
        fringe = cv2.dilate(dropped.astype(np.uint8), kernel).astype(bool) & ~kept
        out[dropped | fringe] = 0.0
    person = out >= 0.5
    background, hole_areas = components(~person, 4)
    border = np.unique(np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]]))
    small = hole_areas < hole_fraction * person.sum()
    small[0] = False
    small[border] = False
    if small.any():
        out[small[background]] = 1.0
    return out
