"""Manga's blacks and screentone: which parts of the person are solid black, dense tone, light tone or paper.

A manga artist decides tone by how dark a part is *within the figure*: black hair and a navy coat are
filled solid black (beta) or laid with dense tone, mid-tones get a lighter tone, light parts stay paper,
whatever the exposure of the reference photo. So the decision is made on levels of the person's own
tonal range — luminance put on a scale from 0 at the person's darkest (its 2nd percentile under the
mask) to 1 at its lightest (98th) — not on shares of the person (a person dressed mostly in black would
have only a fixed share of it filled, the rest left white) nor on absolute values (a dim photo would turn
black all over).

Dark parts (level up to ``shadow``) are filled solid black where they form a mass; a dark region smaller
than :data:`MASS_MM` square is a detail — a button, an eye, a strap — which the ink lines already draw, and
gets dense tone; light specks smaller than :data:`HOLE_MM` square inside a black mass (noise, a glint) are
filled. The tone band (``shadow`` .. ``midtone``) is split in two sheets, as an artist lays them: its darker
half dense tone, its lighter half light tone.
"""

from __future__ import annotations

import cv2
import numpy as np

#: the person's tonal range: these percentiles of its smoothed luminance are levels 0 and 1
RANGE_PERCENTILES = (2.0, 98.0)
#: the narrowest range a level scale spans (luminance in [0, 1]): a flat, grey person is not stretched to black
#: and white
MIN_RANGE = 0.2
#: share of the tone band (``shadow`` .. ``midtone``), from its dark end, laid with dense tone
DENSE_SHARE = 0.5
#: side of the smallest dark region filled black (mm as printed); smaller ones are details, drawn by the ink lines
MASS_MM = 1.0
#: side of the largest light speck inside a black mass that is filled (mm as printed)
HOLE_MM = 0.7
#: how far past ``shadow`` :func:`settle_masses` moves a level it decides
NUDGE = 1e-3


def tone_levels(lum: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """H×W float32: ``lum`` on the person's own scale, 0 at its darkest and 1 at its lightest (may overshoot)."""
    values = lum[inside] if inside.any() else lum.ravel()
    lo, hi = (float(v) for v in np.percentile(values, RANGE_PERCENTILES))
    if hi - lo < MIN_RANGE:  # too flat to stretch: the narrowest range, centred on the person's
        lo = 0.5 * (lo + hi - MIN_RANGE)
    return ((lum - lo) / max(hi - lo, MIN_RANGE)).astype(np.float32)


def settle_masses(level: np.ndarray, inside: np.ndarray, shadow: float, px_per_mm: float) -> np.ndarray:
    """``level`` with its blacks decided as masses: small dark regions lifted just above ``shadow`` (to dense
    tone), small light specks inside a mass lowered just below it (filled).

    Meant for the smoothing copy, where it is cheap; :func:`tone_areas` on the result brought to full size
    by bilinear interpolation makes the same decision with smooth edges (a lifted region's neighbours are all
    above ``shadow``, so no value between them falls below it; likewise for a filled speck).
    """
    dark = inside & (level <= shadow)
    black = _masses(dark, (MASS_MM * px_per_mm) ** 2)
    filled = inside & _small_holes(black, (HOLE_MM * px_per_mm) ** 2)
    out = level.copy()
    out[dark & ~black] = shadow + NUDGE
    out[filled] = np.minimum(out[filled], shadow - NUDGE)
    return out


def tone_areas(level: np.ndarray, person: np.ndarray, shadow: float,
               midtone: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(solid black, dense tone, light tone) as H×W bool, disjoint, inside ``person``.

    ``level``: the person's tones on its own scale (:func:`tone_levels`, masses settled by
    :func:`settle_masses`); ``shadow`` and ``midtone``: the levels up to which a part is black and toned.
    """
    black = person & (level <= shadow)
    toned = person & ~black & (level <= midtone)
    dense = toned & (level <= shadow + DENSE_SHARE * (midtone - shadow))
    return black, dense, toned & ~dense


def _masses(dark: np.ndarray, min_area: float) -> np.ndarray:
    """The connected regions of ``dark`` of at least ``min_area`` px."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False  # the background label
    return keep[labels]


def _small_holes(black: np.ndarray, max_area: float) -> np.ndarray:
    """Regions not in ``black`` (4-connected, as a hole inside an 8-connected mass is) under ``max_area`` px."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~black).astype(np.uint8), connectivity=4)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False  # the black itself
    return small[labels]
