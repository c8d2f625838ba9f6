"""Cut-out quality measures on numpy arrays: one photo's prediction against its ground truth.

``pred`` is the soft person mask a segmenter returns (H×W float in [0, 1]); ``truth`` is the
ground truth, a binary mask (bool or {0, 1}) or an alpha matte (float in [0, 1]), same size.

* Pixel precision, recall, F1 and IoU, as the original platform computed precision and recall:
  the prediction binarised at 0.5 (``pred >= 0.5`` is person), the truth at 0.5, every pixel
  counted once. F1 is the harmonic mean of the photo's precision and recall.
* MAE: mean absolute difference of the *soft* prediction and the truth (no threshold).
* Boundary F-measure (as DAVIS's ``F``, Perazzi et al. 2016): the contours of both binarised
  masks, a contour pixel counts as matched when the other contour lies within a tolerance of
  ``ceil(1 % of the image diagonal)`` pixels (Euclidean); F is the harmonic mean of the two
  matched fractions. The photo's own border is not a contour (a person cut by the frame has
  no edge there), so a mask that fills the photo has no contour at all.
* Stray soft alpha ("grey smears"): the share of the photo where the prediction is semi-transparent
  (alpha in [0.1, 0.9]) farther than 2 % of the diagonal from the truth's outline. Soft alpha
  belongs on the outline (hair, motion blur); away from it, it prints as a blotch. A photo whose
  share exceeds 0.5 % has smears (the project owner's independent scorer uses the same rule).
* Outline offset: the IoU the same binarised prediction would score grown by one pixel and shrunk by
  one (a 3×3 cross, so the outline moves one pixel along the rows and columns). Where growing wins on
  most photos, the set's masks are drawn a pixel outside the network's 0.5 contour — a convention of how
  the truth was made (persons-dev: a matting service, resized), which caps what any refine can reach
  without learning the annotator's outline; where shrinking wins, the network bleeds.
* Person size: the share of the photo the truth's person covers, in three classes, so results on
  small people in groups are not drowned by portraits.
* Outside share: the share of the cut-out (prediction ≥ 0.5) that lies outside the true person — a
  passer-by, a shadow, a piece of the background.
* Parts kept (a set that labels parts): of each group of labels (:data:`PART_GROUPS`: what people carry,
  what they wear loosely, their body), the pixels the cut-out keeps (≥ 0.5) and the pixels there are.
* For alpha ground truth, the alpha matting benchmark's measures (Rhemann et al. 2009, as
  computed by Deep Image Matting's evaluation code): SAD (sum of absolute differences, in
  thousands), MSE, and the gradient error (both mattes min-max normalised, gradient magnitude
  by Gaussian-derivative filters of sigma 1.4, sum of squared differences, in thousands).
  The benchmark sums over the trimap's unknown band; without a trimap these sum over the
  whole photo, or over ``region`` when one is given.

Empty masks (conventions, so every photo gets a number and the mean stays defined):

* prediction and truth both empty (no person in either): every measure is 1 — the right answer;
* otherwise a ratio whose denominator is zero counts as 0 — e.g. an empty prediction of a
  photo with a person scores precision 0, recall 0, F1 0, IoU 0; a prediction of a person in
  a photo with nobody scores the same 0s. The boundary measure follows the same rule on the
  contours (no contour in either → 1, in only one → 0).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: prediction and truth are binarised at this value (the original platform's threshold)
THRESHOLD = 0.5
#: boundary tolerance as a fraction of the image diagonal
BOUNDARY_TOLERANCE = 0.01
#: sigma of the Gaussian-derivative filters of the gradient error (Rhemann et al., DIM)
GRADIENT_SIGMA = 1.4
#: groups of part labels (names of a set's labels.txt) whose keeping ``eval`` reports: what the subject carries,
#: what they wear loosely over their clothes, their body
PART_GROUPS: dict[str, tuple[str, ...]] = {
    "carried": ("bag", "purse", "wallet"),
    "outer": ("coat", "cape", "scarf", "hat", "cardigan"),
    "body": ("skin", "hair"),
}
#: the measures of every photo in table order; the matting ones only where the truth is an alpha matte
REGION_MEASURES = ("precision", "recall", "f1", "iou", "boundary_f", "mae")
MATTING_MEASURES = ("sad", "mse", "gradient")
#: what counts as semi-transparent, how far from the true outline it is stray, and how much is a smear
SOFT_RANGE = (0.1, 0.9)
STRAY_DISTANCE = 0.02  # of the image diagonal
SMEAR_SHARE = 0.005  # of the photo
#: person size classes by the share of the photo the person covers: small below the first, large from the second
SIZE_LIMITS = (0.05, 0.25)
SIZE_CLASSES = ("small", "medium", "large")


def binarise(mask: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Person pixels of a soft mask or matte (``>= threshold``); bool masks pass through."""
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask
    return mask >= threshold


def _ratio(num: float, den: float, both_empty: bool) -> float:
    """``num / den`` with the module's conventions for an empty denominator (1 if both empty, else 0)."""
    if den > 0:
        return float(num) / float(den)
    return 1.0 if both_empty else 0.0


def confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, true negatives) of the binarised masks."""
    p, t = binarise(pred), binarise(truth)
    _check_shapes(p, t)
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return tp, fp, fn, p.size - tp - fp - fn


def precision_recall_f1(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Pixel precision, recall and F1 at threshold 0.5 (empty-mask conventions in the module doc)."""
    tp, fp, fn, _ = confusion(pred, truth)
    both_empty = tp + fp + fn == 0
    precision = _ratio(tp, tp + fp, both_empty)
    recall = _ratio(tp, tp + fn, both_empty)
    return precision, recall, _ratio(2 * precision * recall, precision + recall, both_empty)


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of the binarised masks (Jaccard index)."""
    tp, fp, fn, _ = confusion(pred, truth)
    return _ratio(tp, tp + fp + fn, tp + fp + fn == 0)


def mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error of the soft prediction: rewards confident, penalises hedged pixels."""
    p, t = _as_float(pred), _as_float(truth)
    _check_shapes(p, t)
    return float(np.mean(np.abs(p - t), dtype=np.float64))


def contour(mask: np.ndarray) -> np.ndarray:
    """Inner contour of a binary mask: person pixels with a 4-neighbour that is background.

    The photo's border is replicated outwards, so it never counts as a contour.
    """
    m = binarise(mask).astype(np.uint8)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    eroded = cv2.erode(m, cross, borderType=cv2.BORDER_REPLICATE)
    return (m > 0) & (eroded == 0)


def tolerance_pixels(shape: tuple[int, ...], fraction: float = BOUNDARY_TOLERANCE) -> int:
    """The boundary tolerance in pixels: ``ceil(fraction × diagonal)`` (1 px for any photo ≥ 1 px)."""
    return math.ceil(fraction * math.hypot(shape[0], shape[1]))


def boundary_f(pred: np.ndarray, truth: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """Boundary F-measure: how well the outlines agree, within ``tolerance`` × diagonal.

    Region measures barely move when an outline is off by a few pixels; this one does,
    which is what a user sees at the cut-out's edge.
    """
    p, t = contour(pred), contour(truth)
    _check_shapes(p, t)
    n_p, n_t = int(np.count_nonzero(p)), int(np.count_nonzero(t))
    if n_p == 0 or n_t == 0:
        return 1.0 if n_p == n_t else 0.0
    tol = tolerance_pixels(p.shape, tolerance)
    precision = np.count_nonzero(p & (_distance_to(t) <= tol)) / n_p
    recall = np.count_nonzero(t & (_distance_to(p) <= tol)) / n_t
    return _ratio(2 * precision * recall, precision + recall, False)


def stray_soft_alpha(pred: np.ndarray, truth: np.ndarray) -> float:
    """Share of the photo that is semi-transparent in ``pred`` and farther than 2 % of the diagonal from
    the truth's outline (0 for a decided mask; compare with :data:`SMEAR_SHARE`)."""
    pred = _as_float(pred)
    _check_shapes(pred, np.asarray(truth))
    soft = (pred >= SOFT_RANGE[0]) & (pred <= SOFT_RANGE[1])
    if not soft.any():
        return 0.0
    outline = contour(truth) | contour(~binarise(truth))  # both sides of the true edge
    far = _distance_to(outline) > STRAY_DISTANCE * math.hypot(*pred.shape) if outline.any() else np.ones_like(soft)
    return float(np.count_nonzero(soft & far)) / soft.size


def outline_offset_ious(pred: np.ndarray, truth: np.ndarray, pixels: int = 1) -> tuple[float, float]:
    """(IoU with the binarised ``pred`` grown by ``pixels``, IoU with it shrunk by ``pixels``): which way the
    outline would have to move to agree with the truth (module doc)."""
    mask = binarise(pred).view(np.uint8)
    true = binarise(truth)
    _check_shapes(mask, true)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))  # 3×3: a cross
    grown = cv2.dilate(mask, disc, borderType=cv2.BORDER_REPLICATE).astype(bool)
    shrunk = cv2.erode(mask, disc, borderType=cv2.BORDER_REPLICATE).astype(bool)
    return iou(grown, true), iou(shrunk, true)


def person_size(truth: np.ndarray) -> str:
    """``small``, ``medium`` or ``large``: the share of the photo the true person covers."""
    share = float(np.count_nonzero(binarise(truth))) / max(1, np.asarray(truth).size)
    return SIZE_CLASSES[int(np.searchsorted(SIZE_LIMITS, share, side="right"))]


def _distance_to(pixels: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest ``True`` pixel (exact, OpenCV's DIST_MASK_PRECISE)."""
    return cv2.distanceTransform((~pixels).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def sad(pred: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None) -> float:
    """Sum of absolute differences, in thousands (how matting papers report it)."""
    diff = np.abs(_difference(pred, truth))
    return float(_in_region(diff, region).sum(dtype=np.float64) / 1000.0)


def mse(pred: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean squared error of the soft prediction over the photo (or ``region``)."""
    diff = np.square(_difference(pred, truth))
    selected = _in_region(diff, region)
    return float(selected.mean(dtype=np.float64)) if selected.size else 0.0


def gradient_error(
    pred: np.ndarray, truth: np.ndarray, region: np.ndarray | None = None, sigma: float = GRADIENT_SIGMA
) -> float:
    """Gradient error (Rhemann et al.), in thousands: penalises a matte that is blurrier or noisier than the truth."""
    _check_shapes(np.asarray(pred), np.asarray(truth))
    p_grad = gaussian_gradient(_min_max(_as_float(pred)), sigma)
    t_grad = gaussian_gradient(_min_max(_as_float(truth)), sigma)
    return float(_in_region(np.square(p_grad - t_grad), region).sum(dtype=np.float64) / 1000.0)


def gaussian_gradient(image: np.ndarray, sigma: float = GRADIENT_SIGMA) -> np.ndarray:
    """Gradient magnitude by first-derivative-of-Gaussian filters, as the benchmark's ``gaussgradient.m``.

    The kernel spans ``halfsize = ceil(sigma·sqrt(-2·ln(sqrt(2π)·sigma·0.01)))`` pixels each side
    and is scaled to unit L2 norm; borders are replicated. Written out rather than taken from
    scipy's ``gaussian_gradient_magnitude`` because its normalisation and extent differ, and
    the benchmark's figures are only comparable with its own kernel.
    """
    from scipy import ndimage  # here, so the commands that import the metrics' module start without SciPy

    hx = derivative_of_gaussian_kernel(sigma)
    gx = ndimage.convolve(image.astype(np.float64), hx, mode="nearest")
    gy = ndimage.convolve(image.astype(np.float64), hx.T, mode="nearest")
    return np.sqrt(gx * gx + gy * gy)


def derivative_of_gaussian_kernel(sigma: float) -> np.ndarray:
    """2-D kernel: Gaussian across rows times its derivative along columns, unit L2 norm."""
    half = math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma * 1e-2)))
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(u**2) / (2.0 * sigma**2)) / (sigma * math.sqrt(2.0 * math.pi))
    dgauss = -u * gauss / sigma**2
    kernel = np.outer(gauss, dgauss)
    return kernel / math.sqrt(float(np.sum(kernel**2)))


def outside_share(pred: np.ndarray, truth: np.ndarray) -> float:
    """The share of the cut-out (pred ≥ 0.5) outside the true person (truth < 0.5); 0 for an empty cut-out."""
    person = binarise(pred)
    count = int(np.count_nonzero(person))
    return float(np.count_nonzero(person & ~binarise(truth))) / count if count else 0.0


def parts_kept(pred: np.ndarray, parts: np.ndarray, names: dict[int, str],
               groups: dict[str, tuple[str, ...]] = PART_GROUPS) -> dict[str, float]:
    """``{group}_kept`` and ``{group}_pixels`` for each group with pixels in ``parts`` (labels H×W; ``names``
    value → label name): the group's pixels the cut-out keeps (≥ 0.5), and how many there are."""
    person = binarise(pred)
    counts: dict[str, float] = {}
    for group, labels in groups.items():
        values = [value for value, name in names.items() if name in labels]
        region = np.isin(parts, values)
        total = int(np.count_nonzero(region))
        if total:
            counts[f"{group}_kept"] = float(np.count_nonzero(region & person))
            counts[f"{group}_pixels"] = float(total)
    return counts


def photo_metrics(pred: np.ndarray, truth: np.ndarray, alpha_truth: bool = False) -> dict[str, float]:
    """Every measure for one photo; the matting ones (SAD, MSE, gradient) only for alpha ground truth."""
    precision, recall, f1 = precision_recall_f1(pred, truth)
    result = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "mae": mae(pred, truth),
        "iou": iou(pred, truth),
        "boundary_f": boundary_f(pred, truth),
        "stray": stray_soft_alpha(pred, truth),
        "outside": outside_share(pred, truth),
    }
    result["iou_grown"], result["iou_shrunk"] = outline_offset_ious(pred, truth)
    if alpha_truth:
        result |= {"sad": sad(pred, truth), "mse": mse(pred, truth), "gradient": gradient_error(pred, truth)}
    return result


def _as_float(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return mask.astype(np.float32) if mask.dtype == bool else mask.astype(np.float32, copy=False)


def _difference(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    p, t = _as_float(pred), _as_float(truth)
    _check_shapes(p, t)
    return p - t


def _min_max(image: np.ndarray) -> np.ndarray:
    """Stretch to [0, 1] (MATLAB's ``mat2gray``, as the benchmark does); a constant image becomes 0."""
    lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.zeros_like(image)
    return (image - lo) / (hi - lo)


def _in_region(values: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    if region is None:
        return values
    return values[np.asarray(region, dtype=bool)]


def _check_shapes(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"prediction {a.shape} and truth {b.shape} differ in size")
