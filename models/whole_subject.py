"""The subject whole: what the chosen people wear, hold or carry joins their matte, and nobody else does.

``rvm`` is trained on people: it keeps bodies and hair and drops much of what they carry (a bag held at the
side, a helmet held to the chest, a loose coat). MODNet, a portrait matting network, sees a person *with*
what belongs to them when it sees them as it was trained to — a crop around the person, short side 512.
But it is the weaker network on small people and crowds (it can return nearly nothing), and it takes
shadows and things leaning on the subject for them. So, plain functions on numpy arrays:

* :func:`subject_crop` — one crop around the chosen people, grown to a portrait's proportions;
* :func:`trusted` — MODNet's matte is used only where it covers ``rvm``'s confident core of the people
  (where it misses the body ``rvm`` is sure of, it failed on this photo);
* :func:`join_objects` — the two mattes averaged (each network's mistakes are its own, and their outlines
  differ by a pixel or two), except where MODNet is confident: there its alpha stands, so a bag or a helmet
  ``rvm`` left out comes in whole, with the soft edges MODNet gives it;
* :func:`keep_chosen` — of the joined matte, the connected pieces that reach a chosen person's box, without
  the pixels that belong to anybody else: an object joins only where it extends a subject, never as a
  region of its own; soft fringes go with the piece they border.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .mask_cleanup import CORE_ALPHA
from .person_crops import Rect, ownership
from .persons import Person

#: the crop reaches this share of the chosen people's height beyond their boxes on every side: a detector's box
#: holds the body, not the helmet held at the chest or the bag held at arm's length
SUBJECT_MARGIN = 0.25
#: ... and is at least this wide for its height (a portrait's 3:4)
PORTRAIT_ASPECT = 0.75
#: a crop covering at least this share of the photo becomes the whole photo (MODNet's view costs the same, and an
#: object cut by the crop's edge is no longer seen as one)
WHOLE_PHOTO = 0.5
#: MODNet's matte is trusted when it calls person this share of ``rvm``'s confident core (alpha ≥ CORE_ALPHA,
#: eroded by CORE_EROSION pixels) of the chosen people
TRUST_COVER = 0.95
CORE_EROSION = 2
#: where MODNet's alpha is at least this, it stands (confident objects come in whole)
CONFIDENT = 0.9
#: soft alpha farther than this many pixels from every kept piece is dropped with the pieces it borders
FRINGE = 4


def subject_crop(people: Sequence[Person], chosen: Sequence[int], shape: tuple[int, ...]) -> Rect:
    """The integer crop (x0, y0, x1, y1) around the chosen people: their boxes' union, a margin, a portrait's width;
    the whole photo when that is most of it."""
    boxes = np.array([people[i].box for i in chosen], np.float64)
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
    margin = SUBJECT_MARGIN * (y1 - y0)
    x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    if x1 - x0 < PORTRAIT_ASPECT * (y1 - y0):
        middle, half = (x0 + x1) / 2, PORTRAIT_ASPECT * (y1 - y0) / 2
        x0, x1 = middle - half, middle + half
    height, width = shape[:2]
    rect = (max(0, math.floor(x0)), max(0, math.floor(y0)), min(width, math.ceil(x1)), min(height, math.ceil(y1)))
    if (rect[2] - rect[0]) * (rect[3] - rect[1]) >= WHOLE_PHOTO * width * height:
        return 0, 0, width, height
    return rect


def trusted(base: np.ndarray, objects: np.ndarray, region: np.ndarray) -> bool:
    """Whether ``objects`` (MODNet's matte) covers :data:`TRUST_COVER` of ``base``'s (``rvm``'s) confident core
    inside ``region`` (a boolean mask: the chosen people's boxes). No core to check: not trusted."""
    core = ((base >= CORE_ALPHA) & region).astype(np.uint8)
    if CORE_EROSION:
        core = cv2.erode(core, np.ones((2 * CORE_EROSION + 1,) * 2, np.uint8))
    count = int(np.count_nonzero(core))
    return count > 0 and np.count_nonzero(objects[core.astype(bool)] >= 0.5) >= TRUST_COVER * count


def join_objects(base: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """The mean of the two mattes, and ``objects``' alpha wherever it is confident and higher (float32)."""
    joined = np.add(base, objects, dtype=np.float32)  # in place from here: a 12 MP crop is 48 MB a plane
    joined *= 0.5
    np.maximum(joined, objects, out=joined, where=objects >= CONFIDENT)
    return joined


def boxes_mask(people: Sequence[Person], chosen: Sequence[int], shape: tuple[int, ...]) -> np.ndarray:
    """True inside the boxes of the chosen people."""
    inside = np.zeros(shape[:2], bool)
    for i in chosen:
        x0, y0, x1, y1 = people[i].padded(0.0, shape)
        inside[y0:y1, x0:x1] = True
    return inside


def keep_chosen(alpha: np.ndarray, people: Sequence[Person], chosen: Sequence[int],
                owner: np.ndarray | None = None) -> np.ndarray:
    """``alpha`` with only the connected pieces (alpha ≥ 0.5, 8-connected) that reach a chosen person's box, less the
    pixels owned (:func:`models.person_crops.ownership`) by a person not chosen outside every chosen box; soft alpha
    goes with the nearer of the kept and the dropped pieces, and is dropped beyond :data:`FRINGE` pixels of both.
    ``owner``: the ownership map when the caller has it already."""
    solid = alpha >= 0.5
    count, labels = cv2.connectedComponents(solid.astype(np.uint8), connectivity=8)
    if count <= 1:
        return alpha
    inside = boxes_mask(people, chosen, alpha.shape)
    reached = np.bincount(labels[inside & solid], minlength=count) > 0
    reached[0] = False
    keep = reached[labels]
    others = [i for i in range(len(people)) if i not in set(chosen)]
    if others:
        owner = ownership(people, alpha.shape) if owner is None else owner
        not_chosen = np.zeros(len(people) + 1, bool)  # indexed by owner + 1: nobody (−1) is no one else
        not_chosen[np.asarray(others) + 1] = True
        keep &= ~(not_chosen[owner + 1] & ~inside)
    dropped = solid & ~keep
    if not dropped.any():
        return alpha
    to_kept = cv2.distanceTransform((~keep).astype(np.uint8), cv2.DIST_L2, 3)
    to_dropped = cv2.distanceTransform((~dropped).astype(np.uint8), cv2.DIST_L2, 3)
    soft_kept = ~solid & (to_kept <= FRINGE) & (to_kept <= to_dropped)
    return np.where(keep | soft_kept, alpha, 0.0).astype(np.float32)
