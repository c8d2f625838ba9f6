"""Mask clean-up that keeps thin parts: drop stray islands, fill small holes.

A low-resolution segmenter leaves blobs on background clutter and pinholes in
clothing. Morphological opening/closing would remove them too, but it also eats
fingers, hair strands and straps; working on connected components removes whole
islands or whole holes and leaves every remaining boundary where it was.
OpenCV's ``connectedComponentsWithStats`` does the labelling (fast, already a dependency).

:func:`decide_stray_soft_alpha` does the same for soft alpha: a matting network leaves grey
smears and islands away from the person; only the outline keeps its soft values.
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



#: alpha at or above this is confidently person; a region of alpha ≥ 0.5 without such a pixel is dropped
CORE_ALPHA = 0.9
#: soft alpha is kept within these shares of a person region's size (the square root of its area) of its
#: outline: narrower inside the region (soft alpha there is seams and folds) than outside (hair, motion blur) ...
EDGE_BAND_INSIDE = 0.02
EDGE_BAND_OUTSIDE = 0.04
#: ... and within this share of its confident core (soft alpha far from any core is a smear, not an edge)
CORE_REACH = 0.04
#: no band is narrower than this many pixels (the anti-aliasing of a small person's outline)
MIN_BAND = 2.0


def decide_stray_soft_alpha(
    alpha: np.ndarray,
    core: float = CORE_ALPHA,
    inside: float = EDGE_BAND_INSIDE,
    outside: float = EDGE_BAND_OUTSIDE,
    reach: float = CORE_REACH,
    min_band: float = MIN_BAND,
) -> np.ndarray:
    """``alpha`` with soft values only on person outlines: confident cores, soft edges attached, the rest 0 or 1.

    A person region is a connected component of ``alpha ≥ 0.5`` that holds a pixel ``≥ core``;
    regions without one (an object half-kept as mush, a smear on clutter) become 0. Alpha keeps
    the network's soft value only near a kept region's outline — within ``inside`` (in the
    region) or ``outside`` (beyond it) × the square root of the region's area, so a portrait's
    hair keeps a wide soft edge and a far-away person a narrow one — and within ``reach`` × the
    same of the region's confident core. Everywhere else it is decided: 1 in a kept region, 0
    outside. Grey away from the outline prints as a blotch, and there is nothing to matte there.

    Thresholded at 0.5 the result differs from ``alpha`` only by the dropped regions, so the
    region measures move only by what those were.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats((alpha >= 0.5).astype(np.uint8), connectivity=8)
    confident = np.bincount(labels[alpha >= core], minlength=count) > 0  # bincount: a sort-free np.unique
    confident[0] = False
    out = confident[labels].astype(np.float32)
    soft = np.zeros(alpha.shape, bool)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    height, width = alpha.shape
    for label in np.flatnonzero(confident):
        size = float(np.sqrt(stats[label, cv2.CC_STAT_AREA]))
        band_in, band_out, core_reach = (max(min_band, share * size) for share in (inside, outside, reach))
        pad = int(np.ceil(max(band_in, band_out, core_reach))) + 1
        x, y, w, h = stats[label, :4]
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(width, x + w + pad), min(height, y + h + pad)
        region = (labels[y0:y1, x0:x1] == label).astype(np.uint8)
        # the outline on both sides: the region's edge pixels and the background pixels touching it
        outline = cv2.dilate(region, cross) != cv2.erode(region, cross, borderType=cv2.BORDER_REPLICATE)
        to_outline = _distance_to(outline)
        to_core = _distance_to((region > 0) & (alpha[y0:y1, x0:x1] >= core))
        band = np.where(region > 0, np.float32(band_in), np.float32(band_out))
        soft[y0:y1, x0:x1] |= (to_outline <= band) & (to_core <= core_reach)
    out[soft] = alpha[soft]
    return out


def _distance_to(pixels: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest ``True`` one, by OpenCV's 5×5 chamfer mask: within 2 % of the
    exact transform, a third of its time (0.3 s of a 12 MP cut-out), and the bands it measures are shares of a
    person's size, not exact pixels."""
    return cv2.distanceTransform((~pixels).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
