"""The person's own colours, everywhere the comic layers look: no old background along the outline.

A photo's pixels under a soft mask mix the person with the old background. Drawn from them, the
flat colours along the outline took on the background, and smoothing, colour clustering and the
tone thresholds, which look a few pixels around, pulled the background's dark and bright parts
into the person as ink and screentone (issue 17, defect 3). Here every pixel the mask is not sure
of gets the colour of the nearest pixel it is sure of — the print way: a flat area runs on to the
outline, whose ink stroke covers the edge — or, under the soft edge, the person's decontaminated
colours when the pipeline has them (a matting segmenter's or the edge refinement's foreground).

Why not estimate decontaminated colours here: on persons-dev 219 blended over magenta with a wide
soft edge (Gaussian σ 4 px), blur-fusion (the edge refinement's fast estimator) left the band's
colours pulled towards the background (mean distance to it 246, against 266 for the true colours
and 211 for the blend); the nearest sure pixel's colour is 262 away, and costs one OpenCV distance
transform.
"""

from __future__ import annotations

import cv2
import numpy as np

#: alpha from which a pixel is surely the person's, its colour the person's own
SURE = 0.98


def person_colours(rgb: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None = None) -> np.ndarray:
    """H×W×3 uint8: ``rgb`` where the person surely is, their own colours under the soft edge and around it.

    ``alpha``: H×W float in [0, 1]; ``foreground``: H×W×3 float in [0, 1], the person's colours where
    the caller knows them (used under the soft edge), else the nearest sure pixel's colour is used.
    """
    sure = alpha >= SURE
    if not sure.any():
        sure = alpha >= 0.5
        if not sure.any():
            return rgb
    out = nearest_sure(rgb, sure)
    if foreground is not None:
        soft = ~sure & (alpha > 1.0 - SURE)
        out[soft] = np.clip(np.rint(foreground[soft] * 255.0), 0, 255).astype(np.uint8)
    return out


def nearest_sure(rgb: np.ndarray, sure: np.ndarray) -> np.ndarray:
    """Every pixel coloured as its nearest ``sure`` pixel (the sure ones keep their own colour)."""
    # OpenCV labels each zero pixel of its input in row-major order and gives every pixel the label of the
    # nearest one: the labels index the sure pixels' colours, listed in the same order
    _, labels = cv2.distanceTransformWithLabels((~sure).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    colours = rgb[sure]
    return colours[labels - 1]
