"""Refine a cut-out from the artist's hints: a few strokes, and the whole mistake under them is redone.

Inputs are plain arrays: the photo (H×W×3 uint8), the current mask (H×W float32 in [0, 1], the
segmenter's or one edited by hand) and a hints image (H×W uint8: 255 "this is the person", 0 "this is
not", any other value no hint). Hint pixels are hard constraints. Each *stroke* (8-connected run of one
hint value) that the current mask contradicts somewhere is a correction to make; a stroke the mask already
agrees with only constrains the others, so running again with the same hints changes nothing (the GIMP
workflow: the Hints layer stays, the artist adds strokes and runs again).

For each such stroke, largest first:

1. **A black stroke in the middle of a small separate piece** of the mask (see :class:`RefineSettings`)
   removes the piece with its soft fringe: a dot on a passer-by or a lamp post takes it away whole, while a
   dot on the edge of a child the artist brought back only trims that edge (rule 2).
2. Otherwise the mistake is decided in a **crop around the stroke**, sized by the person, by a **graph cut**
   (:mod:`server.pipeline.graphcut`) at a bounded working size. Only pixels on the wrong side of the stroke's
   label that connect to the stroke may change (a white stroke only adds, a black one only removes). What a
   change costs comes from what the photo and the networks say:

   * **the segmenter re-run on the crop** (``segment``, optional): seen larger, a missed child becomes the
     network's main subject; trusted as far as it agrees with the stroke under the stroke itself;
   * **colour**: histograms of the stroke and of the wrong-side pixels away from it, re-fitted to the cut's
     result once (as GrabCut iterates);
   * pixels nearer, along the photo, to a hint of the other label than to the stroke keep their label, so a
     black dot that trims what a white dot added does not take back what the white dot was about;
   * **distance** from the stroke and **depth** behind the current outline: the artist points at the middle
     of a mistake, so a dot near the outline moves it a little and a dot far inside redoes a whole region;
     the region around a click, as wide as its depth, is assumed part of the mistake;
   * **contrast**: neighbouring pixels of similar colour prefer the same label, so the region ends on the
     photo's edges.

3. The decision, made at the coarser size, is brought back to the crop's own with a guided filter of the
   photo, so its outline follows the photo's edges. An added region is opaque with a soft outline (the
   network's alpha where it sees the person, else a guided-filter edge) and takes the holes it alone encloses
   (a helmet's dark visor; not the gap between an arm and the torso); a removed region takes its faint fringe
   and the thin slivers of its outline with it, and the person's soft edge beside it is kept.

**Bounded work**: at most :attr:`RefineSettings.max_strokes` strokes are redone, those the mask contradicts
most; the others are only pinned (a selection by colour used as a keep hint can hold thousands of islands).

**Locality** (what a test can rely on): a stroke changes pixels only inside its crop (:func:`stroke_crop`),
which lies within the stroke's bounding box grown by ``crop_scale × person size`` (at least ``min_crop``)
on every side, or, for rule 1, inside the piece it removes and that piece's fringe. Pixels outside every
such area are returned exactly as given.

Why these parts, and what each is worth on persons-dev with the click simulator
(:mod:`server.evaluation.clicks`): README, *Refine by hand*; ``python -m server eval --clicks`` measures it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from cutout_common.protocol import HINT_NONE, HINT_NOT_PERSON, HINT_PERSON
from cutout_common.vocabulary import capabilities

from .graphcut import HARD, contrast_weights, min_cut

log = logging.getLogger("person_cutout.refine")
#: hint values: person, not person (anything else is no hint), and the one written for no hint
PERSON, NOT_PERSON, NO_HINT = HINT_PERSON, HINT_NOT_PERSON, HINT_NONE

ProgressFn = Callable[[str, float], None]
#: ``segment(crop) -> alpha``: the segmenter run on an H×W×3 uint8 crop, its H×W float32 alpha in [0, 1]
Segment = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RefineSettings:
    """Parameters of :func:`refine_with_hints`, chosen on persons-dev as a whole with the click simulator."""

    #: crop side around a stroke, in person sizes (sqrt of the mask's area)
    crop_scale: float = 1.5
    #: smallest crop side in pixels
    min_crop: int = 64
    #: the segmenter is re-run on the crop shrunk to at most this many pixels across
    evidence_size: int = 512
    #: the graph cut runs on the crop shrunk to at most this many pixels across
    work_size: int = 256
    #: weight of the contrast-sensitive smoothness term
    smoothness: float = 5.0
    #: cost of changing a pixel per crop side of distance from the stroke
    distance_weight: float = 4.0
    #: weight of the colour term (negative log posterior)
    colour_weight: float = 0.5
    #: weight of the network's log-odds when it fully agrees with the stroke
    network_weight: float = 2.0
    #: pixels deeper behind the current outline than this many times the stroke's own depth cost more...
    depth_factor: float = 2.0
    #: ...this much per stroke depth of excess
    depth_weight: float = 4.0
    #: colour model fits: the stroke alone, then the cut's result
    colour_rounds: int = 2
    #: gaps up to this many work pixels do not disconnect the decided region from its stroke
    bridge: int = 3
    #: a black stroke removes a whole separate piece up to this fraction of the largest piece's area
    remove_ratio: float = 0.5
    #: ...if the stroke reaches this fraction of the piece's greatest depth (distance to its outline)
    piece_depth: float = 0.5
    #: alpha above which a pixel belongs to a piece's soft fringe
    fringe: float = 0.02
    #: width in pixels of the soft outline redone around a decided region
    ring: int = 4
    #: the stroke's depth is measured at its middle (a click's centre), not its deepest pixel
    depth_from_centre: bool = True
    #: cost of keeping a pixel within the stroke's depth of its middle, falling to 0 at that distance,
    #: for a white stroke and for a black one
    region_weight_add: float = 1.0
    region_weight_remove: float = 3.0
    #: cost of changing a pixel per stroke depth of distance from the stroke (a thin mistake stays near it)
    distance_per_depth: float = 0.25
    #: a white stroke's region takes the holes it alone encloses (the visor of a helmet brought back)
    fill_enclosed: bool = True
    #: strokes redone per refine, those the mask contradicts most; the rest are only pinned as painted. An
    #: artist paints a handful; a selection by colour used as a keep hint, or a crafted hints frame, can hold
    #: thousands of islands, each a crop, a graph cut and a network pass (0.3 s at 2 MP): a refine stays bounded
    max_strokes: int = 32
    #: strokes of the two labels share a crop by distance along the photo: each unit of colour difference a
    #: path crosses adds this many pixels (0: straight-line distance)
    edge_crossing: float = 0.1


DEFAULT_SETTINGS = RefineSettings()


@dataclass(frozen=True)
class Stroke:
    """One 8-connected run of a hint value: its bounding box, its pixels inside it, and its label."""

    box: tuple[slice, slice]
    pixels: np.ndarray  # bool, shaped like the box
    positive: bool
    contradicted: int  # stroke pixels the current mask puts on the other side of 0.5


def _no_progress(stage: str, fraction: float) -> None:
    pass


def refine_with_hints(
    rgb: np.ndarray,
    alpha: np.ndarray,
    hints: np.ndarray,
    *,
    segment: Segment | None = None,
    progress: ProgressFn | None = None,
    settings: RefineSettings = DEFAULT_SETTINGS,
) -> np.ndarray:
    """The mask redone where the hints say it is wrong (H×W float32 in [0, 1]); see the module doc.

    ``segment`` re-runs a segmenter on a crop (:func:`segmenter_evidence`); without it only colour,
    distance and contrast decide. ``progress(stage, fraction)`` is called between steps (at most a few
    tenths of a second apart on a 2 MP photo); an exception it raises cancels the refine.
    """
    _check_inputs(rgb, alpha, hints)
    report = progress or _no_progress
    out = np.array(alpha, dtype=np.float32, copy=True)
    np.clip(out, 0.0, 1.0, out=out)
    todo = active_strokes(hints, out)
    if len(todo) > settings.max_strokes:
        log.warning("%d strokes contradict the mask: the %d it contradicts most are redone, the rest only pinned",
                    len(todo), settings.max_strokes)
        todo = todo[: settings.max_strokes]
    for number, stroke in enumerate(todo):
        report("refine", number / len(todo))
        if stroke.positive or not _remove_small_piece(out, hints, stroke, settings):
            _redo_crop(
                rgb, out, hints, stroke, segment, settings, lambda f, n=number: report("refine", (n + f) / len(todo))
            )
    pin_hints(out, hints)
    report("refine", 1.0)
    return out


def pin_hints(alpha: np.ndarray, hints: np.ndarray) -> None:
    """The artist's pixels as painted, in place: 1 under a person hint, 0 under a not-person hint."""
    alpha[hints == PERSON] = 1.0
    alpha[hints == NOT_PERSON] = 0.0


def segmenter_evidence(segmenter, options: dict | None = None) -> Segment:
    """A :data:`Segment` from a loaded :class:`models.base.Segmenter`, seeing a small crop at its full view.

    A segmenter whose declaration says it mattes crops of its own (``crop_matting``; ``people``: ``rvm``
    enlarged to its view) is asked that way; one with the option ``enlarge`` (``rvm``) gets it unless
    ``options`` say otherwise, as measured; any other runs with ``options`` as given (its defaults when None).
    """
    if options is None and capabilities(segmenter.name).crop_matting:
        return lambda crop: segmenter.matte_crop(np.ascontiguousarray(crop), colours=False)[0]
    if options is None and any(option.name == "enlarge" for option in segmenter.options):
        options = {"enlarge": True}

    def segment(crop: np.ndarray) -> np.ndarray:
        return segmenter.predict(np.ascontiguousarray(crop), options).alpha

    return segment


def _check_inputs(rgb: np.ndarray, alpha: np.ndarray, hints: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be H×W×3 uint8, got {rgb.shape} {rgb.dtype}")
    if alpha.shape != rgb.shape[:2] or hints.shape != rgb.shape[:2]:
        raise ValueError(f"alpha {alpha.shape} and hints {hints.shape} must match the photo's {rgb.shape[:2]}")
    if hints.dtype != np.uint8:
        raise ValueError(f"hints must be uint8, got {hints.dtype}")


def active_strokes(hints: np.ndarray, alpha: np.ndarray) -> list[Stroke]:
    """The strokes the mask contradicts somewhere, most contradicted pixels first."""
    found = []
    for value, positive in ((PERSON, True), (NOT_PERSON, False)):
        count, labels, stats, _ = cv2.connectedComponentsWithStats((hints == value).view(np.uint8), connectivity=8)
        for index in range(1, count):
            x, y, w, h = (int(v) for v in stats[index, :4])
            box = (slice(y, y + h), slice(x, x + w))
            pixels = labels[box] == index
            under = alpha[box][pixels]
            contradicted = int(np.count_nonzero(under < 0.5 if positive else under >= 0.5))
            if contradicted:
                found.append(Stroke(box, pixels, positive, contradicted))
    found.sort(key=lambda s: -s.contradicted)
    return found


def person_size(alpha: np.ndarray) -> float:
    """The person's size in pixels: sqrt of the mask's area, at least a tenth of the photo's diagonal."""
    return max(float(np.sqrt(np.count_nonzero(alpha >= 0.5))), 0.1 * float(np.hypot(*alpha.shape)))


def stroke_crop(
    stroke: Stroke, shape: tuple[int, int], settings: RefineSettings, alpha: np.ndarray
) -> tuple[slice, slice]:
    """The area a stroke may change: a square of ``crop_scale`` person sizes centred on the stroke, moved inside
    the photo (grown if the stroke is longer). It lies within the stroke's bounding box grown by that side.

    A square with the stroke in the middle, not the stroke's box grown and cut by the photo's edge: the
    segmenter re-run on it then sees a whole scene around the mistake (cut crops at the photo's edge
    made it take a treadmill for a person, measured).
    """
    side = max(settings.min_crop, settings.crop_scale * person_size(alpha))
    return tuple(_centred_span(span, limit, side) for span, limit in zip(stroke.box, shape, strict=True))


def _centred_span(span: slice, limit: int, side: float) -> slice:
    length = min(limit, max(int(round(side)), span.stop - span.start + 2 * PAD))
    start = int(round((span.start + span.stop - length) / 2))
    start = min(max(start, 0), limit - length)
    return slice(start, start + length)


#: a crop reaches at least this many pixels beyond a long stroke's ends
PAD = 8


def _remove_small_piece(alpha: np.ndarray, hints: np.ndarray, stroke: Stroke, settings: RefineSettings) -> bool:
    """Rule 1: a black stroke on a small separate piece of the mask removes it with its fringe. In place."""
    on = (alpha >= 0.5).view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(on, connectivity=8)
    if count <= 2:
        return False
    touched = np.unique(labels[stroke.box][stroke.pixels])
    touched = touched[touched > 0]
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if not touched.size or largest in touched:
        return False
    if stats[touched, cv2.CC_STAT_AREA].sum() > settings.remove_ratio * stats[largest, cv2.CC_STAT_AREA]:
        return False
    # a dot in the middle of a piece removes it; one near its outline (a passer-by's fringe) only trims it
    piece = np.isin(labels, touched)
    if (hints[piece] == PERSON).any():  # the artist said part of it is the person
        return False
    depth = cv2.distanceTransform(piece.view(np.uint8), cv2.DIST_L2, 5)
    if depth[stroke.box][stroke.pixels].max() < settings.piece_depth * depth.max():
        return False
    # the piece's fringe: faint pixels connected to it, but never the largest piece's own edge
    _, faint = cv2.connectedComponents((alpha > settings.fringe).view(np.uint8), connectivity=8)
    faint_ids = np.unique(faint[piece])
    region = np.isin(faint, faint_ids[faint_ids > 0])
    region &= ~cv2.dilate((labels == largest).view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    alpha[region] = 0.0
    return True


def _redo_crop(
    rgb: np.ndarray,
    alpha: np.ndarray,
    hints: np.ndarray,
    stroke: Stroke,
    segment: Segment | None,
    settings: RefineSettings,
    report: Callable[[float], None],
) -> None:
    """Rule 2: decide the mistake under ``stroke`` by a graph cut in its crop and write it into ``alpha``."""
    crop = stroke_crop(stroke, alpha.shape, settings, alpha)
    height, width = crop[0].stop - crop[0].start, crop[1].stop - crop[1].start
    scale = min(1.0, settings.work_size / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    photo = rgb[crop]
    current = alpha[crop]
    on_stroke = np.zeros((height, width), bool)
    on_stroke[stroke.box[0].start - crop[0].start : stroke.box[0].stop - crop[0].start,
              stroke.box[1].start - crop[1].start : stroke.box[1].stop - crop[1].start] = stroke.pixels
    evidence = None
    if segment is not None:
        evidence = _network_evidence(segment, photo, settings.evidence_size)
        report(0.6)

    image = _shrink(photo, size)
    wrong_side = _shrink(current, size)
    wrong_side = wrong_side < 0.5 if stroke.positive else wrong_side >= 0.5
    label, other = (PERSON, NOT_PERSON) if stroke.positive else (NOT_PERSON, PERSON)
    seeds = _shrink(on_stroke.astype(np.float32), size) > 0
    same_hint = _shrink((hints[crop] == label).astype(np.float32), size) > 0
    other_hint = _shrink((hints[crop] == other).astype(np.float32), size) > 0.5

    # costs of giving a pixel the stroke's label ("change") and of leaving it as it is ("keep")
    from_stroke = cv2.distanceTransform((~seeds).view(np.uint8), cv2.DIST_L2, 5) / scale
    cost_change = settings.distance_weight * from_stroke / max(height, width)
    cost_keep = np.zeros_like(cost_change)
    # depth behind the current outline (the crop's own edge is not an outline)
    if wrong_side.all():  # no outline in the crop to be deep behind (OpenCV would give 'infinite' distances)
        depth = np.zeros(wrong_side.shape, np.float32)
    else:
        depth = cv2.distanceTransform(np.pad(wrong_side.view(np.uint8), 1, mode="edge"), cv2.DIST_L2, 5)[1:-1, 1:-1]
        depth /= scale
    centre = _shrink(_stroke_middle(on_stroke).astype(np.float32), size) > 0 if settings.depth_from_centre else seeds
    probe = centre & wrong_side if (centre & wrong_side).any() else seeds & wrong_side
    stroke_depth = max(2.0, float(depth[probe].max())) if probe.any() else 2.0
    cost_change += settings.depth_weight * np.maximum(0.0, depth - settings.depth_factor * stroke_depth) / stroke_depth
    if settings.distance_per_depth > 0:
        cost_change += settings.distance_per_depth * from_stroke / stroke_depth
    region_weight = settings.region_weight_add if stroke.positive else settings.region_weight_remove
    if region_weight > 0:
        from_centre = cv2.distanceTransform((~centre).view(np.uint8), cv2.DIST_L2, 5) / scale
        cost_keep += region_weight * np.maximum(0.0, 1.0 - from_centre / stroke_depth)
    if evidence is not None:
        says_label = evidence if stroke.positive else 1.0 - evidence
        agreement = float(np.mean(says_label[on_stroke]))
        weight = settings.network_weight * agreement
        small = _shrink(says_label, size)
        cost_change += weight * _neg_log(small)
        cost_keep += weight * _neg_log(1.0 - small)

    fixed_change = ~wrong_side | same_hint | seeds
    border = _crop_edges(crop, alpha.shape, wrong_side.shape)
    fixed_keep = (wrong_side & border) | other_hint
    if other_hint.any():  # an earlier stroke of the other label keeps the pixels nearer to it than to this one
        if settings.edge_crossing > 0 and seeds.any():  # nearer along the photo: a path across an edge is longer
            steps = _step_costs(image, settings.edge_crossing)
            nearer_other = _geodesic(steps, other_hint) < _geodesic(steps, seeds)
        else:
            from_other = cv2.distanceTransform((~other_hint).view(np.uint8), cv2.DIST_L2, 5) / scale
            nearer_other = from_other < from_stroke
        fixed_keep |= wrong_side & nearer_other
    fixed_keep &= ~fixed_change
    edges = [settings.smoothness * w for w in contrast_weights(image.astype(np.float32))]
    stroke_colours = photo[on_stroke]
    far = wrong_side & (from_stroke > 0.25 * max(height, width))
    like_stroke = _colour_histogram(stroke_colours)
    like_rest = _colour_histogram(image[far] if np.count_nonzero(far) > 50 else image[wrong_side])
    change = seeds
    for round_ in range(max(1, settings.colour_rounds)):
        p_stroke, p_rest = _lookup(like_stroke, image), _lookup(like_rest, image)
        posterior = (p_stroke + 1e-9) / (p_stroke + p_rest + 2e-9)
        cost_1 = cost_change + settings.colour_weight * _neg_log(posterior)
        cost_0 = cost_keep + settings.colour_weight * _neg_log(1.0 - posterior)
        cost_1 = np.where(fixed_change, 0.0, np.where(fixed_keep, HARD, cost_1))
        cost_0 = np.where(fixed_change, HARD, np.where(fixed_keep, 0.0, cost_0))
        change = _connected_to(min_cut(cost_0, cost_1, edges) & wrong_side, seeds, settings.bridge)
        report(0.6 + 0.3 * (round_ + 1) / max(1, settings.colour_rounds))
        if round_ + 1 < settings.colour_rounds and change.any():
            like_stroke = _colour_histogram(np.concatenate([stroke_colours, image[change]]))
            rest = wrong_side & ~change
            if np.count_nonzero(rest) > 50:
                like_rest = _colour_histogram(image[rest])
    decided = _full_size_decision(change, photo, scale)
    if stroke.positive and settings.fill_enclosed:
        decided |= _enclosed_holes(decided, current >= 0.5, hints[crop] == other)
    # a region changes only within `ring` of itself: blend there (plus the guided filter's reach), not the crop
    window = _around(decided, 2 * settings.ring + 4)
    if window is not None:
        part = None if evidence is None else evidence[window]
        alpha[crop][window] = _blend(photo[window], current[window], decided[window], part, stroke.positive, settings)


def _blend(
    photo: np.ndarray, current: np.ndarray, decided: np.ndarray, evidence: np.ndarray | None, positive: bool,
    settings: RefineSettings,
) -> np.ndarray:
    """The crop's new alpha: ``decided`` gets the stroke's label, with a soft outline (module doc, step 3)."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * settings.ring + 1,) * 2)
    ring = cv2.dilate(decided.view(np.uint8), disc).astype(bool) & ~decided
    if positive:
        from .edges import guided_alpha

        # the decision's edge as the photo draws it, and the network's soft alpha (hair) where it sees a person
        edge = guided_alpha(photo.astype(np.float32) / 255.0, decided.astype(np.float32), settings.ring)
        if evidence is not None:
            edge = np.maximum(edge, evidence)
        # the artist said "person": opaque, soft only near the region's outline (a network that sees no person
        # there, as on a helmet held to the chest, must not leave the region half transparent)
        rim = decided & (_distance_to(~decided) <= settings.ring)
        inside = np.where(rim, np.maximum(np.maximum(edge, current), 0.5), 1.0)
        out = np.where(decided, inside, current)
        # beyond the region the network's alpha as it is, the photo's edge only below 0.5: the decision counts
        beyond = np.minimum(edge, 0.49) if evidence is None else np.maximum(evidence, np.minimum(edge, 0.49))
        return np.where(ring, np.maximum(current, beyond), out).astype(np.float32)
    out = np.where(decided, 0.0, current)
    # the removed region's own fringe goes with it — faint pixels, and slivers of its outline under 3 px thick
    # that the cut, decided at a coarser scale, left standing — while the soft edge of what stays does not
    kept = (current >= 0.5) & ~decided
    solid = cv2.morphologyEx(kept.view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    nearer_removed = _distance_to(decided) < _distance_to(solid)
    return np.where(ring & ~solid & nearer_removed, 0.0, out).astype(np.float32)


def _full_size_decision(change: np.ndarray, photo: np.ndarray, scale: float) -> np.ndarray:
    """The cut's decision at the crop's own size. Decided ``scale`` times smaller, its outline moves in steps of
    ``1 / scale`` pixels; a guided filter of the photo puts it back on the photo's edges (a table removed beside
    a helmet left a staircase along the helmet's rim)."""
    height, width = photo.shape[:2]
    decided = cv2.resize(change.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5
    if scale >= 1.0 or not decided.any():
        return decided
    from .edges import guided_alpha

    radius = max(2, int(np.ceil(1.0 / scale)))
    window = _around(decided, 2 * radius + 2)  # not None: decided has a pixel; the filter moves it < radius
    near = guided_alpha(photo[window].astype(np.float32) / 255.0, decided[window].astype(np.float32), radius)
    decided[window] = near >= 0.5
    return decided


def _step_costs(image: np.ndarray, crossing: float) -> tuple[np.ndarray, np.ndarray]:
    """Cost of a step to the right and down: 1, plus ``crossing`` per unit of colour difference (0–255 per channel)."""
    colours = image.astype(np.float32)
    right = 1.0 + crossing * np.linalg.norm(colours[:, 1:] - colours[:, :-1], axis=2)
    down = 1.0 + crossing * np.linalg.norm(colours[1:] - colours[:-1], axis=2)
    return right, down


def _geodesic(steps: tuple[np.ndarray, np.ndarray], sources: np.ndarray) -> np.ndarray:
    """The cheapest path's cost from any ``sources`` pixel to every pixel, 4-connected (SciPy's Dijkstra)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    right, down = steps
    height, width = sources.shape
    index = np.arange(height * width).reshape(height, width)
    tails = np.concatenate([index[:, :-1].ravel(), index[:-1].ravel()])
    heads = np.concatenate([index[:, 1:].ravel(), index[1:].ravel()])
    graph = csr_matrix((np.concatenate([right.ravel(), down.ravel()]), (tails, heads)), shape=(index.size,) * 2)
    return dijkstra(graph, directed=False, indices=np.flatnonzero(sources), min_only=True).reshape(height, width)


def _around(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The bounding box of ``mask`` grown by ``margin`` on every side within the array; None if it is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    return (slice(max(0, rows[0] - margin), min(mask.shape[0], rows[-1] + 1 + margin)),
            slice(max(0, cols[0] - margin), min(mask.shape[1], cols[-1] + 1 + margin)))


def _enclosed_holes(region: np.ndarray, person: np.ndarray, forbidden: np.ndarray) -> np.ndarray:
    """The holes ``region`` alone encloses (not touching the crop's edge) that are mostly not ``person`` yet and
    hold no ``forbidden`` pixel (a hint of the other label).

    A white dot on a helmet brings back the helmet; the visor's dark reflections, which look like the
    background, are inside it and belong to it. A gap between an arm brought back and the torso opens onto
    the torso, and a region added all round the person encloses the person: neither is a hole to fill.
    """
    holes = ndimage.binary_fill_holes(region) & ~region
    if not holes.any():
        return holes
    count, labels = cv2.connectedComponents(holes.view(np.uint8), connectivity=4)
    area = np.bincount(labels.ravel(), minlength=count)
    already = np.bincount(labels.ravel(), weights=person.ravel(), minlength=count)
    refused = (already > 0.5 * area) | (np.bincount(labels.ravel(), weights=forbidden.ravel(), minlength=count) > 0)
    refused[0] = True
    return (~refused)[labels]


def _stroke_middle(stroke: np.ndarray) -> np.ndarray:
    """The stroke's middle: its pixels farthest from its own outline (a click's centre, a line's spine)."""
    inner = cv2.distanceTransform(np.pad(stroke.view(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    return inner >= inner.max() - 0.5


def _network_evidence(segment: Segment, photo: np.ndarray, longest: int) -> np.ndarray:
    """The segmenter's alpha for the crop, run on a copy at most ``longest`` pixels across and scaled back.

    The network looks at a few hundred pixels anyway (``rvm``: 448); handing it the full crop only made it
    upsample its answer to the crop's size, which was most of a refine's time on a 2 MP photo.
    """
    height, width = photo.shape[:2]
    scale = min(1.0, longest / max(height, width))
    small = photo if scale == 1.0 else cv2.resize(photo, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                  interpolation=cv2.INTER_AREA)
    alpha = np.clip(np.asarray(segment(np.ascontiguousarray(small)), np.float32), 0.0, 1.0)
    if alpha.shape != (height, width):
        alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    return alpha


def _shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _crop_edges(crop: tuple[slice, slice], shape: tuple[int, int], work_shape: tuple[int, int]) -> np.ndarray:
    """Work pixels on the crop's edges that lie inside the photo (the photo's own edge is free)."""
    edges = np.zeros(work_shape, bool)
    edges[0] |= crop[0].start > 0
    edges[-1] |= crop[0].stop < shape[0]
    edges[:, 0] |= crop[1].start > 0
    edges[:, -1] |= crop[1].stop < shape[1]
    return edges


def _connected_to(region: np.ndarray, seeds: np.ndarray, bridge: int) -> np.ndarray:
    """The parts of ``region`` connected to ``seeds``, gaps up to ``bridge`` pixels bridged."""
    grown = (region | seeds).view(np.uint8)
    if bridge > 0:
        grown = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * bridge + 1,) * 2))
    _, labels = cv2.connectedComponents(grown, connectivity=8)
    ids = np.unique(labels[seeds])
    return np.isin(labels, ids[ids > 0]) & region


#: colour histogram bins per channel, and the smoothing (in bins) that lets 80 stroke pixels describe a colour
BINS, BIN_SIGMA = 16, 1.0


def _colour_histogram(colours: np.ndarray) -> np.ndarray:
    """Smoothed, normalised 3-D histogram of N×3 uint8 colours."""
    index = colours.reshape(-1, 3).astype(np.int32) * BINS // 256
    flat = (index[:, 0] * BINS + index[:, 1]) * BINS + index[:, 2]
    histogram = np.bincount(flat, minlength=BINS**3).astype(np.float64).reshape(BINS, BINS, BINS)
    histogram = ndimage.gaussian_filter(histogram, BIN_SIGMA, mode="constant")
    return histogram / max(float(histogram.sum()), 1e-12)


def _lookup(histogram: np.ndarray, image: np.ndarray) -> np.ndarray:
    index = image.astype(np.int32) * BINS // 256
    return histogram[index[..., 0], index[..., 1], index[..., 2]]


def _neg_log(p: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    return -np.log(np.clip(p, floor, 1.0))


def _distance_to(pixels: np.ndarray) -> np.ndarray:
    if not pixels.any():
        return np.full(pixels.shape, np.inf, np.float32)
    return cv2.distanceTransform((~pixels).view(np.uint8), cv2.DIST_L2, 3)
