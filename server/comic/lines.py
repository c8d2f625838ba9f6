"""Ink lines: difference of Gaussians with a soft threshold (XDoG, Winnemöller et al. 2012).

Why this extractor: a DoG line has a width set by its Gaussian σ, so choosing σ from the
line weight in print units makes the same framing give the same lines at any pixel size;
Canny lines are one pixel wide whatever the photo size. The response is band-limited, so
it is computed on a copy scaled until σ is ~2 px (cheap at any size) and thresholded after
bilinear upscaling, which keeps the strokes smooth and antialiased at full resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

K = 1.6  # σ ratio of the two Gaussians (Marr–Hildreth's DoG ≈ LoG)
WORK_SIGMA = 1.5  # σ in pixels on the scaled copy


def lines(lum: np.ndarray, person: np.ndarray, weight_px: float, detail: float) -> np.ndarray:
    """H×W float32 ink in [0, 1]: dark lines ``weight_px`` wide on the dark side of edges.

    ``lum`` is luminance in [0, 1]; ``person`` (bool) says where the person is: the photo
    outside is replaced by the person's own blurred tones, so the silhouette itself makes
    no line (the outline is drawn separately). ``detail`` in [0, 1] lowers the contrast an
    edge needs to get a line.
    """
    h, w = lum.shape
    if weight_px <= 0 or not person.any():
        return np.zeros((h, w), np.float32)
    sigma = max(0.5, 0.5 * weight_px)
    scale = min(1.0, WORK_SIGMA / sigma)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(lum.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    inside = cv2.resize(person.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    s = sigma * scale

    # stretch the person's tones to [0, 1] so dim and bright photos get the same lines
    values = small[inside > 0.5]
    if values.size:
        lo, hi = np.percentile(values, (2, 98))
        small = np.clip((small - lo) / max(hi - lo, 0.05), 0.0, 1.0)
    # extend the person's tones outward (normalised convolution) so the silhouette has no edge
    small = inside * small + (1 - inside) * _fill_outward(small * inside, inside, 4 * s + 2)

    response = cv2.GaussianBlur(small, (0, 0), K * s) - cv2.GaussianBlur(small, (0, 0), s)  # > 0 on dark sides
    eps = 0.04 * (0.006 / 0.04) ** detail  # contrast an edge needs, geometric in detail: 0.04 .. 0.006
    response = _drop_specks(response, eps, min_area=(3.0 * s) ** 2)
    if scale < 1.0:
        response = cv2.resize(response, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip((response - eps) / (0.25 * eps), 0.0, 1.0)


def _fill_outward(premultiplied: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Blur(value·weight) / blur(weight): the person's tones spread outward, computed at 1/4 size (it is smooth)."""
    h, w = weight.shape
    size = (max(1, w // 4), max(1, h // 4))
    num = cv2.GaussianBlur(cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA), (0, 0), sigma / 4)
    den = cv2.GaussianBlur(cv2.resize(weight, size, interpolation=cv2.INTER_AREA), (0, 0), sigma / 4)
    return cv2.resize(num / np.maximum(den, 1e-4), (w, h), interpolation=cv2.INTER_LINEAR)


def _drop_specks(response: np.ndarray, eps: float, min_area: float) -> np.ndarray:
    """Zero the response on line fragments smaller than ``min_area`` px (texture noise, not edges)."""
    on = (response > eps).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(on, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < min_area
    small[0] = False  # background
    if not small[1:].any():
        return response
    return np.where(small[labels], np.float32(0), response)


def outline(person_alpha: np.ndarray, width_px: float) -> np.ndarray:
    """H×W float32 ink in [0, 1]: a stroke ``width_px`` wide just inside the silhouette."""
    if width_px <= 0:
        return np.zeros(person_alpha.shape, np.float32)
    inside = (person_alpha >= 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)  # no stroke where the photo's frame cuts the person
    return np.where(inside > 0, np.clip(width_px + 0.5 - dist, 0.0, 1.0), 0.0).astype(np.float32)
