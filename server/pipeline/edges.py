"""Hair-preserving edges: alpha matting in a band around the segmenter's outline, then clean colours.

A segmenter's mask is soft but blobby: it was predicted at a few hundred pixels and scaled
up, so hair strands and fuzzy outlines are lost and the edge pixels still carry the old
background's colour. :func:`matte_edges` fixes both at the photo's full resolution:

1. :func:`trimap` — pixels the mask is sure about stay as they are; an *unknown* band
   around the outline (its width scales with the person's size, wider where the mask is
   uncertain, wider still around hair when a hair mask is given) is solved again.
2. The band is cut into tiles (:func:`band_tiles`); each tile with unknown pixels is solved
   on its own crop plus a margin, so memory is bounded by the tile size, not the photo's.

   * ``fast``: :func:`guided_alpha` — He et al.'s colour guided filter of the mask cut at
     0.5, guided by the photo (OpenCV box filters), its coefficients fitted at reduced
     resolution (the *fast* guided filter): the hard edge becomes a soft one that follows
     the photo's colour edges. Small tiles, since its cost is per tile pixel.
   * ``best``: :func:`best_alpha` — the ``fast`` matte moved halfway towards
     :func:`closed_form_alpha`, Levin et al.'s closed-form matting (pymatting's Laplacian and
     solver) per tile, with a margin wide enough (8 band radii) that the tiled matte matches
     the whole-photo solve to within 1 % (measured), and a vanishing prior towards the mask
     that only keeps every tile's system solvable (a band piece cut off by the crop has no
     sure pixel to anchor it). The two solvers err in different places (closed-form leaks
     along smooth colour ramps, the guided filter blurs within a window), so their mean beats
     either; but only where closed-form has something to go on: where the mask is sure (a
     hard mask), where it would be grey in a flat part of the photo, or where it fails,
     ``fast``'s matte is kept, and holes of the mask's background that the photo shows stay
     background (see :func:`best_alpha`) — so ``best`` is never worse than ``fast``.
3. Foreground colours in the band, so a composite shows no halo: ``fast`` uses
   :func:`blur_fusion_foreground` (Forte & Pitié 2021, two box-filter passes), ``best``
   pymatting's multilevel ``estimate_foreground_ml`` (Germer et al. 2020).

pymatting is used rather than hand-written solvers because its Laplacian, incomplete
Cholesky preconditioner and multilevel foreground estimator are numba-compiled, tested and
the de-facto reference for these methods.

``progress`` is called at least every few tenths of a second of CPU, in every stage, at 24 MP
too: the server's progress raises to cancel a job, and a cancel must stop it within a second.
Whole-photo arrays and the trimap are made in strips of rows; pymatting is imported on another
thread (its kernels load for seconds the first time); the Laplacian is built in strips, the
incomplete Cholesky factor is sparse enough to take a fraction of a second on the largest tile
and each of its diagonal shifts is one call, the conjugate gradients call back every iteration,
and the foreground is estimated in cells.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import math
import sys
import threading
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from cutout_common.protocol import ProgressFn

log = logging.getLogger(__name__)

#: progress within one piece of work, a fraction in [0, 1]
TickFn = Callable[[float], None]

MODES = ("off", "fast", "best")
#: the mask is "sure" outside this alpha range
SURE = 0.05
#: unknown band half-width as a fraction of sqrt(person area), and its limits in pixels
BAND_FRACTION = 0.015
BAND_MIN, BAND_MAX = 3, 80
#: around hair the band is this many times wider
HAIR_FACTOR = 3.0
#: best: tile core size, and its context margin in band radii (pixels, clipped)
TILE = 512
MARGIN_RADII, MARGIN_MIN, MARGIN_MAX = 8, 32, 192
#: fast mode's tiles are smaller: its cost is per pixel of tile, so less sure area around the band
FAST_TILE = 128
#: guided filter regulariser (colours in [0, 1]); small keeps strands, large smooths noise (1e-5 measured
#: best of 1e-3..1e-5 on the composite set)
GUIDED_EPS = 1e-5
#: the guided filter's coefficients (and blur-fusion's large pass) are fitted at a resolution where the
#: window radius is this many pixels (He & Sun's fast guided filter). 2 measured best of 1/2/3/4/no
#: subsampling on the composite set at 640, 1155 and 2400 px (band SAD 30.4 vs 32.5 unsubsampled at
#: 2400 px), and it makes fast's cost per megapixel nearly independent of the photo's size
FAST_LOW_RADIUS = 2
#: weight of the segmenter's soft mask as a prior inside the band: only a regulariser
PRIOR_WEIGHT = 1e-5
#: best: holes and gaps of the mask's background are where no disc of HOLE_RADII band radii fits, deeper than
#: HOLE_DEPTH band radii from where one does; where the guided matte there is below HOLE_GUIDED too (the photo
#: agrees), the closed-form solve takes them as sure background
HOLE_RADII, HOLE_DEPTH, HOLE_GUIDED = 1.0, 1.0, 0.1
#: best: the closed-form matte's share is at most CF_SHARE (the mean of the two solvers); where a 3×3 window of
#: the photo has one colour (its summed RGB variance, colours in [0, 1], well below TEXTURE_VARIANCE) a grey
#: closed-form value has nothing behind it, and its share falls as var / (var + TEXTURE_VARIANCE)
CF_SHARE = 0.5
TEXTURE_VARIANCE = 3e-3
#: whole-photo arrays and the trimap are made in strips of rows of about this many pixels, each a fraction of a
#: second at 24 MP, with progress between them
STRIP_PIXELS = 1 << 21
#: entries per row of pymatting's Laplacian of 3×3 windows: every pixel within 2 rows and columns
NEIGHBOURS = 25
#: best: the Laplacian is built in strips of about this many pixels, each one uninterruptible call
LAPLACIAN_STRIP_PIXELS = 1 << 16
#: best: incomplete-Cholesky entries below these thresholds are dropped, tried in turn while the factor would
#: outgrow ICHOL_MAX_ENTRIES (half a second of CPU to make); beside each, the factor's size it gives in entries
#: of the matrix (measured on composite and synthetic tiles: 3.6–4.3, 1.9, 0.8, 0.55); and the solver's limit
ICHOL_THRESHOLDS = ((1e-4, 4.5), (1e-3, 2.0), (1e-2, 0.9), (3e-2, 0.6))
ICHOL_MAX_ENTRIES = 2_500_000
CG_MAX_ITERATIONS = 2000
#: best: the share of its progress bar that fast's matte, computed first, takes
FAST_PASS_SHARE = 0.05
#: best: foreground colours are estimated in cells of this size with at most this much context
FOREGROUND_CELL, FOREGROUND_MARGIN_MAX = 384, 64


def matte_edges(
    rgb: np.ndarray,
    alpha: np.ndarray,
    mode: str,
    *,
    hair: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Refine ``alpha`` (H×W float32 in [0, 1]) on ``rgb`` (H×W×3 uint8); return (alpha, foreground or None).

    ``off`` returns the segmenter's mask itself and no colours. Pixels outside the unknown
    band keep their values exactly; the foreground there is the photo's colour.
    """
    if mode not in MODES:
        raise ValueError(f"edges mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        return alpha, None
    if rgb.shape[:2] != alpha.shape:
        raise ValueError(f"photo {rgb.shape[:2]} and mask {alpha.shape} differ in size")
    done = [0.0]

    def report(fraction: float) -> None:
        done[0] = max(done[0], min(fraction, 1.0))  # a solver's residual may rise for a step: the bar must not
        if progress is not None:
            progress("edges", done[0])

    report(0.0)
    if mode == "best":
        _import_in_background("pymatting", lambda: report(0.0))
    # whole-photo arrays are made in strips of rows, each a fraction of a second at 24 MP, so a cancel is heard
    clipped = np.empty(alpha.shape, np.float32)
    for rows in _strips(alpha.shape, lambda: report(0.0)):
        np.clip(alpha[rows], 0.0, 1.0, out=clipped[rows])
    alpha = clipped
    tri = trimap(alpha, hair, tick=lambda: report(0.0))
    out = np.empty(alpha.shape, np.float32)
    foreground = np.empty(rgb.shape, np.float32)
    for rows in _strips(alpha.shape, lambda: report(0.0)):
        out[rows] = alpha[rows]
        np.multiply(rgb[rows], np.float32(1 / 255), out=foreground[rows])
    band = band_radius(int(np.count_nonzero(alpha >= 0.5)))
    radius = guided_radius(band)
    sub = max(1, radius // FAST_LOW_RADIUS)
    # the guided filter's two box passes and blur-fusion's large pass need 2·radius of context
    margin = 2 * radius + 4
    unknown = tri == 0.5
    # fast's matte first; best starts from it, so that where it keeps it, it is fast's to the pixel
    fast_share = 1.0 if mode == "fast" else FAST_PASS_SHARE
    tiles = list(band_tiles(unknown, FAST_TILE, margin))
    for i, (core, crop) in enumerate(tiles):
        image = np.multiply(rgb[crop], np.float32(1 / 255), dtype=np.float32)  # not a view of foreground: it changes
        solved = guided_alpha(image, alpha[crop], radius, subsample=sub)
        inner, band_pixels = _inner(core, crop), unknown[core]
        out[core][band_pixels] = solved[inner][band_pixels]
        if mode == "fast":
            colours = blur_fusion_foreground(image, solved, (margin, 3), subsample=sub)
            foreground[core][band_pixels] = colours[inner][band_pixels]
        report(fast_share * (i + 1) / len(tiles))
    if mode == "fast":
        report(1.0)
        return out, foreground

    guided = out.copy()
    margin = int(np.clip(MARGIN_RADII * band, MARGIN_MIN, MARGIN_MAX))
    tiles = list(band_tiles(unknown, TILE, margin))

    def stage(i: int, start: float, width: float) -> TickFn:  # tile i's stage, [start, start + width] of the tile
        return lambda f: report(fast_share + (1.0 - fast_share) * (i + start + width * f) / len(tiles))

    for i, (core, crop) in enumerate(tiles):
        image = np.multiply(rgb[crop], np.float32(1 / 255), dtype=np.float32)
        solved = best_alpha(image, tri[crop], alpha[crop], guided[crop], band, tick=stage(i, 0.0, 0.7))
        inner, band_pixels = _inner(core, crop), unknown[core]
        needed = np.zeros(solved.shape, bool)
        needed[inner] = band_pixels
        colours = ml_foreground(image, solved, needed, min(margin, FOREGROUND_MARGIN_MAX), tick=stage(i, 0.75, 0.25))
        out[core][band_pixels] = solved[inner][band_pixels]
        foreground[core][band_pixels] = colours[inner][band_pixels]
        report(fast_share + (1.0 - fast_share) * (i + 1) / len(tiles))
    report(1.0)
    return out, foreground


def best_alpha(
    image: np.ndarray, tri: np.ndarray, alpha: np.ndarray, guided: np.ndarray, band: int, tick: TickFn | None = None,
) -> np.ndarray:
    """Best alpha of one tile: ``fast``'s matte ``guided``, moved towards the closed-form one where that can be trusted.

    The two solvers err in different places, so their mean beats either where closed-form matting has
    something to go on; elsewhere the guided matte (``fast``'s) is kept, so ``best`` is never worse than it:

    * where the given mask is sure (a hard mask states the outline to the pixel; a soft segmenter
      mask is sure away from its blur) the guided filter of it is kept: the closed-form share fades from
      the mask's unsure pixels (a strip of at least 3 px: a hard mask's anti-aliasing does not count)
      to nothing one band radius away;
    * in flat parts of the photo the colour-line model has nothing to fit, and closed-form leaks the
      matte along the smooth colours: where a 3×3 window has one colour, a grey closed-form value loses
      its share (a sure 0 or 1 keeps it: across a flat area the solve rightly moves a misplaced outline);
    * holes and gaps of the mask's background narrower than the band (between an arm and the body,
      strands, leaves) are unknown all through, with no sure background in them: the solve would fill
      them with the person. Where the guided matte agrees they are background (the photo shows them),
      they are sure background for the solve (:func:`mask_holes`);
    * a solve that fails (no preconditioner, no convergence) keeps the guided matte on the whole tile.
    """
    share = closed_form_share(alpha, band)
    unknown = tri == 0.5
    if not np.any(share[unknown] > 0):  # a hard mask: nothing for the closed-form solve to add
        return guided
    solve_tri = tri.copy()
    solve_tri[unknown & mask_holes(alpha, band) & (guided < HOLE_GUIDED)] = 0.0
    try:
        closed = closed_form_alpha(image, solve_tri, prior=alpha, tick=tick)
    except SolveFailed:
        return guided
    mean = _box(image, 1)
    flat = _box(image * image, 1) - mean * mean
    flat = TEXTURE_VARIANCE / (flat.sum(axis=2) + TEXTURE_VARIANCE)  # 1 where the 3×3 window has one colour
    flat *= 1.0 - np.abs(2.0 * closed - 1.0)  # … and the closed-form matte is grey there
    share *= 1.0 - flat
    closed -= guided
    closed *= share
    closed += guided
    return closed


def closed_form_share(alpha: np.ndarray, band: int) -> np.ndarray:
    """Per pixel, how much of the closed-form matte ``best`` takes (0 … ``CF_SHARE``); see :func:`best_alpha`."""
    unsure = ((alpha > SURE) & (alpha < 1.0 - SURE)).astype(np.uint8)
    soft = cv2.morphologyEx(unsure, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    if not soft.any():
        return np.zeros(alpha.shape, np.float32)
    share = np.clip(1.0 - _distance_to(soft) / band, 0.0, 1.0)
    share *= CF_SHARE
    return share


def mask_holes(alpha: np.ndarray, band: int) -> np.ndarray:
    """Holes and gaps in the mask's background (< 0.5): where no disc of ``HOLE_RADII`` band radii fits, deeper
    than ``HOLE_DEPTH`` band radii from where one does.

    The background where a disc fits is a morphological opening of it, written as two distance transforms
    so its cost does not grow with the band. A concave bend of the outline is no hole (its narrow tip is
    near wide background), nor is a strip along the photo's edge (the photo is padded with background:
    what lies beyond the frame is unknown).
    """
    reach = HOLE_RADII * band
    depth = HOLE_DEPTH * band
    pad = math.ceil(reach + depth) + 2
    background = cv2.copyMakeBorder((alpha < 0.5).astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=1)
    background = background.astype(bool)
    wide = _distance_to(_distance_to(~background) > reach) <= reach
    holes = background & (_distance_to(wide) > depth)
    return holes[pad:-pad, pad:-pad]


def band_radius(area: int) -> int:
    """Half-width of the unknown band in pixels: proportional to the person's size (sqrt of area)."""
    return int(np.clip(round(BAND_FRACTION * np.sqrt(area)), BAND_MIN, BAND_MAX))


def trimap(alpha: np.ndarray, hair: np.ndarray | None = None, tick: Callable[[], None] | None = None) -> np.ndarray:
    """Trimap (float32: 0 background, 1 person, 0.5 unknown) from a soft mask.

    Unknown: within ``band_radius`` of the 0.5 outline on either side, plus every pixel the
    mask itself is unsure of (between ``SURE`` and ``1 - SURE``) widened by half a band — a
    mask scaled up from a small view is unsure over a wide strip, and that strip is where the
    outline may really be. Around hair (``hair`` ≥ 0.5, dilated) the band is ``HAIR_FACTOR``
    times wider, because strands reach far past a segmenter's outline. Sure pixels keep their
    side; distance transforms keep this linear in the photo size.

    Worked out in strips of rows (``STRIP_PIXELS``) with as many rows of context as the
    farthest distance it compares, so each strip's answer is the whole photo's; ``tick`` is called
    after each strip, so a cancel raised from it is heard within a fraction of a second at 24 MP.
    """
    tick = tick or (lambda: None)
    person = alpha >= 0.5
    area = int(np.count_nonzero(person))
    if area == 0 or area == person.size:
        return np.where(person, np.float32(1.0), np.float32(0.0))
    radius = band_radius(area)
    hairy = None if hair is None else hair >= 0.5
    # rows of context: OpenCV's 3×3 distance counts a vertical step as 0.955, so a distance d may lie d / 0.955
    # rows away
    reach = math.ceil((HAIR_FACTOR * radius if hairy is not None else radius) / 0.95) + 2
    h = alpha.shape[0]
    if h * alpha.shape[1] <= STRIP_PIXELS:  # one strip: no context needed
        tri = _trimap_strip(alpha, person, hairy, radius)
        tick()
        return tri
    tri = np.empty(alpha.shape, np.float32)
    for own in _strips(alpha.shape, tick):
        rows = slice(max(own.start - reach, 0), min(own.stop + reach, h))
        strip = _trimap_strip(alpha[rows], person[rows], None if hairy is None else hairy[rows], radius)
        tri[own] = strip[own.start - rows.start:own.stop - rows.start]
    return tri


def _trimap_strip(alpha: np.ndarray, person: np.ndarray, hairy: np.ndarray | None, radius: int) -> np.ndarray:
    """:func:`trimap` on rows of the photo, ``radius`` being the whole person's band radius."""
    tri = np.where(person, np.float32(1.0), np.float32(0.0))
    inside = _distance_to(~person)  # distance of person pixels to the background
    outside = _distance_to(person)  # distance of background pixels to the person
    unknown = np.where(person, inside, outside) <= radius
    del inside
    unsure = (alpha > SURE) & (alpha < 1.0 - SURE)
    if unsure.any():
        unknown |= _distance_to(unsure) <= radius / 2
    if hairy is not None and hairy.any():
        near_hair = _distance_to(hairy) <= HAIR_FACTOR * radius
        unknown |= near_hair & (outside <= HAIR_FACTOR * radius)
    tri[unknown] = 0.5
    return tri


def band_tiles(
    unknown: np.ndarray, tile: int = TILE, margin: int = MARGIN_MIN
) -> Iterator[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """(core, crop) slice pairs for every ``tile``-sized cell holding unknown pixels.

    The crop adds ``margin`` pixels of context on each side (clipped to the photo), so the
    solver sees the sure pixels around the band; only the core is written back.
    """
    h, w = unknown.shape
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            core = (slice(y, min(y + tile, h)), slice(x, min(x + tile, w)))
            if not unknown[core].any():
                continue
            crop = (
                slice(max(y - margin, 0), min(y + tile + margin, h)),
                slice(max(x - margin, 0), min(x + tile + margin, w)),
            )
            yield core, crop


def guided_radius(band: int) -> int:
    """Guided filter window radius for a band of half-width ``band``: 0.8 of it, so a window spans the transition."""
    return max(2, round(0.8 * band))


def guided_alpha(
    image: np.ndarray, alpha: np.ndarray, radius: int, eps: float = GUIDED_EPS, subsample: int = 1
) -> np.ndarray:
    """Fast alpha: the colour guided filter (He et al. 2013) of the binarised mask, guided by the photo.

    The filter fits ``alpha ≈ a·I + b`` in every window, so the output follows the photo's
    colour edges (hair against sky) while keeping the mask's overall shape. The input is the
    mask cut at 0.5, not the soft mask: a segmenter's soft edge is blur from upscaling, which
    the filter would keep; a hard step lets the photo decide the transition (measured on the
    composite set: band SAD 2.04 vs 2.97 from the soft mask). Returns float32 in [0, 1].
    """
    p = (alpha >= 0.5).astype(np.float32)
    return np.clip(guided_filter(image, p, radius, eps, subsample), 0.0, 1.0)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, subsample: int = 1) -> np.ndarray:
    """He et al.'s guided filter with a 3-channel guide, written with OpenCV box filters.

    Not ``cv2.ximgproc.guidedFilter`` because that lives in opencv-contrib, which the
    headless wheel the server uses does not include. The per-pixel 3×3 covariance is
    inverted in closed form (adjugate / determinant), all float32; the 13 window means are
    one 13-channel box filter. With ``subsample`` > 1 it is He & Sun's *fast* guided filter:
    the linear coefficients are fitted on a ``subsample`` times smaller copy (radius scaled
    down with it) and scaled back up, and only ``a·I + b`` is evaluated at full resolution.
    The variances are formed as ``(E[xx] − E[x]²) + eps`` in that order: float32 loses the
    matrix's conditioning otherwise (measured: values off by 9 where the photo is grey).
    """
    h, w = src.shape
    full = cv2.split(guide)
    if subsample > 1:
        small = (max(w // subsample, 1), max(h // subsample, 1))
        guide = _resize(guide, small, True)
        src = _resize(src, small, True)
        radius = max(1, round(radius / subsample))
    r, g, b = cv2.split(guide)
    mr, mg, mb, mp, cr, cg, cb, vrr, vrg, vrb, vgg, vgb, vbb = cv2.split(_box(cv2.merge(
        [r, g, b, src, r * src, g * src, b * src, r * r, r * g, r * b, g * g, g * b, b * b]), radius))
    cr -= mr * mp
    cg -= mg * mp
    cb -= mb * mp
    vrr -= mr * mr
    vrg -= mr * mg
    vrb -= mr * mb
    vgg -= mg * mg
    vgb -= mg * mb
    vbb -= mb * mb
    vrr += eps
    vgg += eps
    vbb += eps
    irr = vgg * vbb - vgb * vgb
    irg = vgb * vrb - vrg * vbb
    irb = vrg * vgb - vgg * vrb
    igg = vrr * vbb - vrb * vrb
    igb = vrb * vrg - vrr * vgb
    ibb = vrr * vgg - vrg * vrg
    det = vrr * irr + vrg * irg + vrb * irb
    # a window of one colour: float32's cancellation can leave no variance at all (det 0, seen in flat, clipped
    # parts of real photos), where the filter's answer is the window's mean of src (a = 0), not a NaN
    inv_det = np.divide(1.0, det, out=np.zeros_like(det), where=det > 0)
    a_r = (irr * cr + irg * cg + irb * cb) * inv_det
    a_g = (irg * cr + igg * cg + igb * cb) * inv_det
    a_b = (irb * cr + igb * cg + ibb * cb) * inv_det
    b0 = mp - a_r * mr - a_g * mg - a_b * mb
    coef = _box(cv2.merge([a_r, a_g, a_b, b0]), radius)
    if subsample > 1:
        coef = _resize(coef, (w, h), False)
    a_r, a_g, a_b, out = cv2.split(coef)
    out += a_r * full[0]
    out += a_g * full[1]
    out += a_b * full[2]
    return out


class SolveFailed(ValueError):
    """The closed-form solve found no preconditioner or did not converge; the caller keeps another matte."""


def closed_form_alpha(
    image: np.ndarray, tri: np.ndarray, prior: np.ndarray | None = None, prior_weight: float = PRIOR_WEIGHT,
    tick: TickFn | None = None,
) -> np.ndarray:
    """Closed-form matting (Levin et al. 2008) on one tile, with the soft mask as a weak prior.

    Minimises ``αᵀLα + λ Σ_band c·(α − prior)²`` with the trimap's sure pixels fixed, where
    ``L`` is pymatting's matting Laplacian and ``c = (2·prior − 1)²`` is how sure the mask
    is. With the default tiny ``λ`` the image explains the matte; the prior only anchors
    band pieces with no sure pixel in the tile. ``prior=None`` or ``prior_weight=0`` is
    plain closed-form matting (which can then be singular). Raises :class:`SolveFailed` when
    no incomplete-Cholesky shift works or the conjugate gradients do not converge.

    ``tick`` hears the fraction done often enough that a cancel raised from it stops the solve
    within a fraction of a second: the Laplacian is built in strips of rows, each of the
    preconditioner's attempts is one call, and the solver calls back after every iteration.
    """
    from pymatting import cg

    tick = tick or (lambda fraction: None)
    rtol = 1e-6

    unknown = (tri == 0.5).ravel()
    if not unknown.any():
        return tri.astype(np.float32)
    weight = None
    if prior is not None and prior_weight > 0:
        p = prior.astype(np.float64).ravel()[unknown]
        weight = prior_weight * np.square(2.0 * p - 1.0)
    l_u, rhs = _band_system(image.astype(np.float64), tri, weight, lambda f: tick(0.3 * f))
    if weight is not None:
        rhs += weight * p
    preconditioner = _incomplete_cholesky(l_u, lambda: tick(0.3))
    tick(0.5)

    def iteration(_a, _x, _b, norm_b: float, _r, norm_r: float) -> None:  # pymatting's callback, every iteration
        reached = math.log(max(norm_r / max(norm_b, 1e-300), rtol)) / math.log(rtol)
        tick(0.5 + 0.5 * min(max(reached, 0.0), 1.0))

    out = tri.astype(np.float64).ravel()
    try:
        out[unknown] = cg(l_u, rhs, M=preconditioner, rtol=rtol, maxiter=CG_MAX_ITERATIONS, callback=iteration)
    except ValueError as exc:  # pymatting's cg says it did not converge
        raise SolveFailed(str(exc)) from exc
    tick(1.0)
    return np.clip(out, 0.0, 1.0).reshape(tri.shape).astype(np.float32)


def _band_system(image: np.ndarray, tri: np.ndarray, diagonal: np.ndarray | None, tick: TickFn) -> tuple:
    """The closed-form system on the trimap's unknown pixels: (``L_uu + diag(diagonal)`` as CSR, ``−L_uk · α_k``).

    pymatting's ``cf_laplacian`` is one uninterruptible call over the whole tile, so it is called on
    strips of rows. A pixel's row of the Laplacian sums the 3×3 windows centred on its own row and the
    rows above and below, so a strip computed with the windows one row beyond it on either side (two
    rows of photo) has its own pixels' rows complete; the strips' rows are stacked in pixel order, each
    row's columns already ascending, so the matrix is built without sorting. Only rows of unknown
    pixels are kept; their sure neighbours go to the right-hand side.
    """
    import scipy.sparse
    from pymatting import cf_laplacian

    if tri.size == 0:
        return scipy.sparse.csr_matrix((0, 0)), np.zeros(0)
    h, w = tri.shape
    flat = tri.ravel()
    unknown = flat == 0.5
    count = int(np.count_nonzero(unknown))
    index = np.full(flat.size, -1, np.int64)  # pixel -> its row in the unknowns' system
    index[unknown] = np.arange(count)
    known = ~unknown.reshape(h, w)
    foreground = (flat == 1.0).astype(np.float64)
    data, indices, lengths, rhs, diagonals = [], [], [], [], []
    strips = list(_strips(tri.shape, lambda: None, LAPLACIAN_STRIP_PIXELS))
    for n, own in enumerate(strips):
        first, last = max(own.start - 2, 0), min(own.stop + 2, h)  # the photo its windows need
        rows = np.flatnonzero(unknown[own.start * w:own.stop * w]) + (own.start - first) * w
        if rows.size:
            strip = cf_laplacian(image[first:last], epsilon=1e-7, radius=1, is_known=known[first:last])[rows]
            pixel = strip.indices + first * w  # pymatting leaves column 0 on entries off the photo, with value 0
            column = index[pixel]
            row_of = np.repeat(np.arange(rows.size), np.diff(strip.indptr))
            sure = (column < 0) & (strip.data != 0)
            weights = strip.data[sure] * foreground[pixel[sure]]
            rhs.append(-np.bincount(row_of[sure], weights=weights, minlength=rows.size))
            if not np.all(np.diff(strip.indptr) == NEIGHBOURS):
                raise SolveFailed("pymatting's Laplacian is not laid out as 5×5 neighbours per pixel")
            diagonal_entry = np.zeros(strip.data.size, bool)
            diagonal_entry[strip.indptr[:-1] + NEIGHBOURS // 2] = True  # the middle of the row's 5×5 neighbours
            keep = (column >= 0) & ((strip.data != 0) | diagonal_entry)  # the diagonal stays even where it is 0
            diagonals.append(np.flatnonzero(diagonal_entry[keep]) + sum(d.size for d in data))
            data.append(strip.data[keep])
            indices.append(column[keep])
            lengths.append(np.bincount(row_of[keep], minlength=rows.size))
        tick((n + 1) / len(strips))
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(lengths))])
    matrix = scipy.sparse.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(count, count))
    matrix.has_sorted_indices = True
    if diagonal is not None:
        matrix.data[np.concatenate(diagonals)] += diagonal
    return matrix, np.concatenate(rhs).astype(np.float64)


def _incomplete_cholesky(matrix, tick: Callable[[], None]):
    """pymatting's ``ichol`` preconditioner, as exact as fits in ``ICHOL_MAX_ENTRIES``, one attempt per call.

    Each attempt is one uninterruptible call whose cost grows with the factor's size, so the factor is
    capped: the smallest threshold (pymatting's default, 1e-4, first) whose factor is expected to fit is
    tried, and when the factor outgrows the cap the attempt stops there and the next, larger threshold
    is tried (the last without a cap). A sparser factor costs the solver more iterations, but each of
    those is interruptible. When a factorisation is not positive definite the next of pymatting's
    diagonal shifts is tried, as ``ichol`` itself does; ``tick`` is called between attempts.
    """
    import inspect

    from pymatting import ichol

    shifts = inspect.signature(ichol).parameters["shifts"].default
    for n, (threshold, fill) in enumerate(ICHOL_THRESHOLDS):
        capped = n < len(ICHOL_THRESHOLDS) - 1
        if capped and fill * matrix.nnz > ICHOL_MAX_ENTRIES:  # would outgrow the cap: not worth the attempt
            continue
        for shift in shifts:
            tick()
            # ichol prints a six-line "PERFORMANCE WARNING" to stdout for each shift that fails (on real photos,
            # most of them): trying the next is this loop's job, so the note goes to the debug log, not into the
            # user's terminal or the server's stdout (sys.stdout is swapped for the call; nothing else here prints)
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    return ichol(matrix, discard_threshold=threshold, shifts=[shift],
                                 max_nnz=ICHOL_MAX_ENTRIES if capped else matrix.nnz * 4 + matrix.shape[0])
            except ValueError as exc:
                if "max_nnz" in str(exc):  # outgrew the cap: a larger threshold, not a larger shift
                    break
                log.debug("incomplete Cholesky, threshold %g, shift %g: %s", threshold, shift, exc)
            finally:
                if printed.getvalue():
                    log.debug("pymatting's ichol printed: %s", printed.getvalue().strip())
        else:
            raise SolveFailed("incomplete Cholesky failed for every diagonal shift pymatting tries")
    raise SolveFailed("incomplete Cholesky outgrew its room at every threshold")


def blur_fusion_foreground(
    image: np.ndarray, alpha: np.ndarray, radii: tuple[int, ...] = (45, 3), subsample: int = 1
) -> np.ndarray:
    """Fast foreground colours: blur-fusion (Forte & Pitié 2021), a large then a small box pass.

    ``radii`` are the passes' box radii (the paper's 90 and 6 pixel windows by default). Each
    pass estimates local foreground and background means weighted by alpha and 1 − alpha,
    then moves F so that ``αF + (1 − α)B`` reproduces the photo. The large pass is smooth, so
    with ``subsample`` > 1 its means are taken on a ``subsample`` times smaller copy and
    scaled back up. OpenCV box filters, several channels at once; alpha is repeated to three
    channels because numpy broadcasts over a last axis of 3 slowly. Returns float32 H×W×3 in [0, 1].
    """
    h, w = alpha.shape
    a = cv2.merge([alpha, alpha, alpha])
    fg = bg = image
    for i, radius in enumerate(radii):
        fa = fg * a
        ba = bg - bg * a if i else image - fa
        weighted_f = cv2.merge([fa, alpha])
        s = subsample if i == 0 else 1
        if s > 1:
            small = (max(w // s, 1), max(h // s, 1))
            weighted_f, ba = _resize(weighted_f, small, True), _resize(ba, small, True)
            radius = max(1, round(radius / s))
        size = (2 * radius + 1, 2 * radius + 1)
        weighted_f, ba = cv2.blur(weighted_f, size), cv2.blur(ba, size)
        mean_a = weighted_f[..., 3:]
        mean_f = weighted_f[..., :3] / (mean_a + 1e-5)
        bg = ba / (1.0 + 1e-5 - mean_a)
        if s > 1:  # the means are smooth: divided at low resolution, then scaled up
            mean_f, bg = _resize(mean_f, (w, h), False), _resize(bg, (w, h), False)
        # F = mean_f + a·(I − a·mean_f − (1 − a)·bg) = mean_f + a·(I − bg − a·(mean_f − bg))
        fg = mean_f - bg
        fg *= a
        np.subtract(image, fg, out=fg)
        fg -= bg
        fg *= a
        fg += mean_f
    return np.clip(fg, 0.0, 1.0, out=fg)


def ml_foreground(
    image: np.ndarray,
    alpha: np.ndarray,
    needed: np.ndarray | None = None,
    margin: int = 64,
    tick: TickFn | None = None,
) -> np.ndarray:
    """Best foreground colours: pymatting's multilevel estimate (Germer et al. 2020), float32 in [0, 1].

    Estimated in cells of ``FOREGROUND_CELL`` pixels, each on its crop plus ``margin`` pixels of
    context, and only where ``needed`` (bool, default everywhere) has a pixel: each cell is one
    uninterruptible call of a fraction of a second, ``tick`` hears the fraction done after each.
    Elsewhere the photo's colours are returned.
    """
    from pymatting import estimate_foreground_ml

    tick = tick or (lambda fraction: None)
    needed = np.ones(alpha.shape, bool) if needed is None else needed
    out = image.astype(np.float32, copy=True)
    cells = list(band_tiles(needed, FOREGROUND_CELL, margin))
    for n, (core, crop) in enumerate(cells):
        fg = estimate_foreground_ml(image[crop].astype(np.float64), alpha[crop].astype(np.float64))
        out[core] = np.clip(fg[_inner(core, crop)], 0.0, 1.0)
        tick((n + 1) / len(cells))
    return out


def _import_in_background(name: str, tick: Callable[[], None]) -> None:
    """Import module ``name`` on another thread, calling ``tick`` every 0.1 s until it is in.

    Importing pymatting loads its numba-compiled kernels (seconds of CPU the first time in a process),
    one uninterruptible call; a cancel raised from ``tick`` stops the waiting at once, and the import
    finishes on its own thread for the next job.
    """
    module = sys.modules.get(name)
    if module is not None and not getattr(module.__spec__, "_initializing", False):
        return
    loader = threading.Thread(target=importlib.import_module, args=(name,), name=f"import {name}", daemon=True)
    loader.start()
    while loader.is_alive():
        tick()
        loader.join(0.1)


def _strips(shape: tuple[int, ...], tick: Callable[[], None], pixels: int = STRIP_PIXELS) -> Iterator[slice]:
    """Slices of rows of about ``pixels`` pixels covering an array of ``shape``; ``tick`` after each."""
    height, width = shape[:2]
    step = max(pixels // max(width, 1), 1)
    for top in range(0, height, step):
        yield slice(top, min(top + step, height))
        tick()


def _box(x, radius):
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)

def _resize(x, size, shrink):
    return cv2.resize(x, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

def _distance_to(pixels: np.ndarray) -> np.ndarray:
    """Euclidean distance (float32, OpenCV's fast 3×3 mask) of every pixel to the nearest True pixel."""
    return cv2.distanceTransform((~pixels).astype(np.uint8), cv2.DIST_L2, 3)


def _inner(core: tuple[slice, slice], crop: tuple[slice, slice]) -> tuple[slice, slice]:
    """The core's slices relative to its crop."""
    return tuple(slice(c.start - k.start, c.stop - k.start) for c, k in zip(core, crop, strict=True))

