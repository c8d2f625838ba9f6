"""Which people to matte again on a crop of their own, and how those crops join the whole-photo matte.

Plain functions on numpy arrays (boxes are :class:`models.persons.Person`), used by
:mod:`models.people`. The constants were chosen on persons-dev as a whole (mean IoU of the
merged matte; README, *Quality*):

* a person is matted on a crop when the whole-photo pass already sees part of them
  (:data:`SEEN_SHARE` of their box) or when they are about as tall as the tallest person found
  (:data:`TALL_SHARE`): the masks of that set — and most users — want the people a photo is
  of, not passers-by far behind them, and the detector finds those too;
* a crop's matte joins the whole-photo matte by the per-pixel maximum, faded in over
  :data:`FEATHER` of the crop's long side from its edges inside the photo. Of maximum,
  replacement, mean and "the more confident of the two", the maximum measured best: a crop
  sees a person at more pixels and finds what the whole pass missed, while replacing loses
  the neighbours a crop cuts in half at its edge;
* which pixels belong to whom (to pick one person) follows the boxes: a pixel goes to the person
  whose box centre is nearest in units of that box's half-sides.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .persons import Person

#: a crop reaches this share of the person's box size beyond it on each side (hair, arms, a hat)
CROP_MARGIN = 0.15
#: people the whole-photo pass already calls person on this share of their box are cropped ...
SEEN_SHARE = 0.05
#: ... and so are people at least this share of the tallest person's height
TALL_SHARE = 0.85
#: ... when the network sees them on the crop at least this many times larger than in the whole photo: a crop
#: about as large as the photo costs a whole pass and adds little (persons-dev: every worthy person cropped,
#: IoU 0.9232 in 12.5 CPU s/MP under load; from a gain of 1.2, 0.9225 in 11.0; 1.6, 0.9203 in 9.7; none, 0.9102)
MIN_GAIN = 1.2
#: a crop fades in over this share of its long side from each edge that is not the photo's
FEATHER = 0.1

Rect = tuple[int, int, int, int]


def seen_share(alpha: np.ndarray, person: Person) -> float:
    """The share of ``person``'s box that ``alpha`` (the whole-photo matte) calls person (≥ 0.5)."""
    x0, y0, x1, y1 = person.padded(0.0, alpha.shape)
    box = alpha[y0:y1, x0:x1]
    return float(np.count_nonzero(box >= 0.5)) / box.size if box.size else 0.0


def worth_cropping(people: Sequence[Person], alpha: np.ndarray, seen: float = SEEN_SHARE,
                   tall: float = TALL_SHARE) -> list[int]:
    """Indices of the people to matte on their own crop: partly seen by the whole-photo pass, or tall."""
    tallest = max((p.height for p in people), default=0.0)
    return [i for i, p in enumerate(people) if seen_share(alpha, p) >= seen or p.height >= tall * tallest]


def crop_gain(rect: Rect, shape: tuple[int, ...], view: int) -> float:
    """How many times larger a network with a long-side ``view`` sees a crop (enlarged to the view) than the same
    pixels in its whole-photo pass (which never enlarges)."""
    crop_side = max(rect[2] - rect[0], rect[3] - rect[1], 1)
    return (view / crop_side) / min(1.0, view / max(shape[0], shape[1]))


def feather_weights(rect: Rect, shape: tuple[int, ...], feather: float = FEATHER) -> np.ndarray:
    """Weights (crop-sized, float32 in [0, 1]) that fade a crop in from its edges inside the photo.

    A linear ramp over ``feather`` × the crop's long side; an edge on the photo's own border
    needs none (nothing lies beyond it), so a crop of the whole photo has weight 1 everywhere.
    """
    x0, y0, x1, y1 = rect
    height, width = y1 - y0, x1 - x0
    ramp = max(1.0, feather * max(height, width))
    rows = np.ones(height, np.float32)
    cols = np.ones(width, np.float32)
    inward_rows = np.arange(height, dtype=np.float32) + 0.5
    inward_cols = np.arange(width, dtype=np.float32) + 0.5
    if y0 > 0:
        rows = np.minimum(rows, inward_rows / ramp)
    if y1 < shape[0]:
        rows = np.minimum(rows, inward_rows[::-1] / ramp)
    if x0 > 0:
        cols = np.minimum(cols, inward_cols / ramp)
    if x1 < shape[1]:
        cols = np.minimum(cols, inward_cols[::-1] / ramp)
    return np.minimum(rows[:, None], cols[None, :])


def merge_crop(alpha: np.ndarray, foreground: np.ndarray | None, rect: Rect, crop_alpha: np.ndarray,
               crop_foreground: np.ndarray | None, feather: float = FEATHER) -> None:
    """Join a crop's matte into the photo's (in place): the maximum of the two, faded in at the crop's edges.

    Foreground colours follow the alpha: where the crop's alpha is the larger, its colours are
    taken, with the same fade.
    """
    x0, y0, x1, y1 = rect
    region = alpha[y0:y1, x0:x1]
    weights = feather_weights(rect, alpha.shape, feather)
    gain = np.maximum(crop_alpha - region, 0.0)
    if foreground is not None and crop_foreground is not None:
        colours = foreground[y0:y1, x0:x1]
        take = (weights * (gain > 0))[..., None]
        colours += take * (crop_foreground - colours)
    region += weights * gain


def ownership(people: Sequence[Person], shape: tuple[int, ...], reach: float = 1.0 + 2 * CROP_MARGIN) -> np.ndarray:
    """Who each pixel belongs to: an int32 map of indices into ``people``, −1 for nobody.

    A pixel belongs to the person whose box centre is nearest in units of that box's half-width
    and half-height (the largest of the two: 1 on the box's edge), if that is at most ``reach``
    (by default the crop's margin around the box). Where boxes overlap, the boundary between two
    people runs where each is equally far in their own box's terms, so a child in front of an
    adult keeps their own box's middle. Worked out box by box in its reach, so memory stays two
    photo-sized planes whatever the number of people.
    """
    height, width = shape[:2]
    owner = np.full((height, width), -1, np.int32)
    nearest = np.full((height, width), np.inf, np.float32)
    for index, person in enumerate(people):
        half_w, half_h = max(person.width / 2, 0.5), max(person.height / 2, 0.5)
        cx, cy = (person.box[0] + person.box[2]) / 2, (person.box[1] + person.box[3]) / 2
        x0, x1 = max(0, int(np.floor(cx - reach * half_w))), min(width, int(np.ceil(cx + reach * half_w)) + 1)
        y0, y1 = max(0, int(np.floor(cy - reach * half_h))), min(height, int(np.ceil(cy + reach * half_h)) + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        dx = np.abs(np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / half_w
        dy = np.abs(np.arange(y0, y1, dtype=np.float32) + 0.5 - cy) / half_h
        distance = np.maximum(dy[:, None], dx[None, :])
        closer = distance < nearest[y0:y1, x0:x1]
        closer &= distance <= reach
        # copyto with a mask writes in place; boolean indexing would gather and scatter (0.3 s at 12 MP)
        np.copyto(nearest[y0:y1, x0:x1], distance, where=closer)
        np.copyto(owner[y0:y1, x0:x1], index, where=closer)
    return owner
