"""Who a photo is about: which of the people a detector found are its subject(s).

A street portrait has passers-by behind the subject, a stage has an audience around the performer, a
group photo has everyone posing together. A user who asks for "the person" means the first and the last
of these, never the passers-by or the audience (what Photoshop's *Select Subject* does). The decision is
made from what the detector's boxes and the whole-photo matte show, plain functions on numpy arrays:

* the **lead** is the most prominent person: large, near the middle of the frame, seen by the
  whole-photo matting pass (a matting network keeps the main subject and hedges on the rest), not cut
  off by the left or right edge of the frame;
* everyone else is compared with the lead. **Size** is the square root of the box's area (a person lying
  down or mid-spin keeps their size), relative to the lead's: well smaller is farther away. **Depth** is
  where the box ends at the bottom: on a common floor, someone whose feet are clearly higher in the frame
  stands behind. A person comparable in size and not behind the lead poses with them (on the lead's own ground
  line smaller people count too: at the same distance, they are children or sitting); someone about as large as
  the lead counts even a little behind (a second row of a group);
* **sharpness** against the lead's: a person much blurrier than the lead (out of focus, in the background)
  counts less; **crowds**: when many people are comparable with the lead, only the clearly comparable
  ones count, so an audience of twenty does not come out with the dancer;
* **cut by the frame**: a person cut off by the left or right edge of the photo, and not as large as the lead,
  counts less (a passer-by walking out of the picture);
* a box lying mostly inside a subject's box (a second detection of a part of them, a child held in the arms)
  goes with that subject, unless it is much smaller (someone far behind them).

A detector's box can end at the knees; where the whole-photo matte shows the person going on below it, the feet
are where the matte ends (:func:`feet_rows`).

Each person gets a score in [0, 1] and the factors behind it, which ``instances`` reports; a subject
scores at least :data:`SUBJECT_SCORE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .person_crops import seen_share
from .persons import Person

#: a person scoring at least this is a subject
SUBJECT_SCORE = 0.5
#: size relative to the lead's: the size factor rises from 0 at the first to 1 at the second ...
SIZE_RAMP = (0.4, 0.7)
#: ... and from these for someone standing on the lead's own ground line (feet within SAME_GROUND of the photo's
#: height): at the lead's distance, a smaller person is a child or someone sitting, not someone far away
SIZE_RAMP_BESIDE = (0.25, 0.45)
SAME_GROUND = (0.06, 0.02)
#: ... and a person at least this large counts even behind the lead (a group's second row)
LARGE_AS_LEAD = (0.85, 0.95)
#: how far (a share of the photo's height) a person's feet may lie above the lead's: counted fully up to the
#: second, not at all beyond the first
BEHIND_RAMP = (0.15, 0.05)
#: sharpness relative to the lead's: the focus factor rises from its floor at the first to 1 at the second
FOCUS_RAMP = (0.25, 0.5)
FOCUS_FLOOR = 0.6
#: a crowd: more than this many people comparable with the lead (size factor above one half) ...
CROWD = 5
#: ... and then a subject must score this (only the clearly comparable ones of a crowd count)
CROWD_SCORE = 0.8
#: a box whose area lies at least this much inside a subject's larger box is part of that subject ...
INSIDE_SHARE = 0.8
#: ... unless it is smaller than this share of the subject (someone far behind them)
INSIDE_SIZE = 0.4
#: cut by the frame: the factor for a person cut off by the left or right edge, up to the sizes (relative to the
#: lead's) from which they count fully again
CUT_FACTOR = 0.5
CUT_SIZE_RAMP = (0.7, 0.9)
#: the frame's edge: a box within this share of the width of the left or right border is cut by the frame
EDGE_SHARE = 0.01


@dataclass(frozen=True)
class SubjectScore:
    """One person's verdict: a subject or not, the score it came from and the factors behind it."""

    subject: bool
    score: float
    why: dict[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        return {"subject": self.subject, "subject_score": round(self.score, 3),
                "why": {k: round(v, 3) for k, v in self.why.items()}}


def smoothstep(x: np.ndarray | float, low: float, high: float) -> np.ndarray:
    """0 at ``low``, 1 at ``high`` (either order), smooth in between."""
    t = np.clip((np.asarray(x, np.float64) - low) / (high - low), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def feet_rows(people: Sequence[Person], alpha: np.ndarray, side: int = 640) -> np.ndarray:
    """Where each person ends at the bottom: their box's bottom, or lower where the matte's pieces that hold the
    middle of the box go on below it, in the box's columns (a box that ends at the knees). Worked out on the matte
    seen at most ``side`` pixels long: a cue of depth needs no finer rows."""
    scale = min(1.0, side / max(alpha.shape))
    small = alpha if scale == 1.0 else cv2.resize(alpha, (max(1, round(alpha.shape[1] * scale)),
                                                          max(1, round(alpha.shape[0] * scale))),
                                                  interpolation=cv2.INTER_AREA)
    count, labels = cv2.connectedComponents((small >= 0.5).astype(np.uint8), connectivity=8)
    bottoms = []
    for person in people:
        bottom = float(person.box[3])
        x0, y0, x1, y1 = (int(v * scale) for v in person.box)
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        if count > 1:
            h, w = y1 - y0, x1 - x0
            middle = labels[y0 + h // 3:y0 + 2 * h // 3 + 1, x0 + w // 4:x0 + 3 * w // 4 + 1]
            pieces = np.unique(middle[middle > 0])
            if len(pieces):
                rows = np.nonzero(np.isin(labels[:, x0:x1], pieces).any(axis=1))[0]
                bottom = max(bottom, float(rows[-1] + 1) / scale)
        bottoms.append(bottom)
    return np.array(bottoms)


def sharpness(people: Sequence[Person], rgb: np.ndarray, side: int = 96) -> np.ndarray:
    """Each person's sharpness: the mean gradient magnitude of their box seen at ``side`` pixels high, over its mean
    at half that. Scale-free (a small person is not sharper for having fewer pixels) and contrast-free (a dark coat is
    not blurrier than a white shirt); about 1 for a person in focus, lower for one out of focus."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    values = []
    for person in people:
        x0, y0, x1, y1 = person.padded(0.0, rgb.shape)
        if x1 - x0 < 4 or y1 - y0 < 4:
            values.append(0.0)
            continue
        scale = side / (y1 - y0)
        size = (max(4, round((x1 - x0) * scale)), side)
        fine = cv2.resize(grey[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA).astype(np.float32)
        coarse = cv2.resize(cv2.resize(fine, (size[0] // 2, side // 2), interpolation=cv2.INTER_AREA), size,
                            interpolation=cv2.INTER_LINEAR)
        values.append(_gradient(fine) / max(_gradient(coarse), 1e-6))
    return np.array(values)


def _gradient(image: np.ndarray) -> float:
    return float(np.mean(np.abs(cv2.Sobel(image, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(image, cv2.CV_32F, 0, 1))))


def score_subjects(people: Sequence[Person], shape: tuple[int, ...], alpha: np.ndarray | None = None,
                   rgb: np.ndarray | None = None) -> list[SubjectScore]:
    """Which of ``people`` (boxes in a photo of ``shape``) the photo is about, with the score and why.

    ``alpha``, the whole-photo matte, says whom a matting network saw (the lead is more likely one of them);
    ``rgb`` gives the focus cue. Either may be None (a detector without a matte: Mask R-CNN's instances).
    """
    if not people:
        return []
    height, width = shape[:2]
    boxes = np.array([p.box for p in people], np.float64)
    box_w, box_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    size = np.sqrt(np.maximum(box_w, 1) * np.maximum(box_h, 1))
    centre = np.abs((boxes[:, 0] + boxes[:, 2]) / 2 / width - 0.5) * 2  # 0 in the middle, 1 at the edge
    cut = ((boxes[:, 0] <= EDGE_SHARE * width) | (boxes[:, 2] >= (1 - EDGE_SHARE) * width)).astype(np.float64)
    seen = np.array([seen_share(alpha, p) for p in people]) if alpha is not None else np.ones(len(people))
    bottoms = feet_rows(people, alpha) if alpha is not None else boxes[:, 3]
    prominence = size / size.max() * (1 - 0.4 * centre) * (0.7 + 0.3 * np.minimum(seen / 0.3, 1)) * (1 - 0.3 * cut)
    lead = int(np.argmax(prominence))

    relative = size / size[lead]
    feet = (bottoms - bottoms[lead]) / height  # negative: feet higher in the frame, farther away on a common floor
    beside = smoothstep(feet, -SAME_GROUND[0], -SAME_GROUND[1])  # 1: on the lead's own ground line
    size_factor = smoothstep(relative, SIZE_RAMP[0] - beside * (SIZE_RAMP[0] - SIZE_RAMP_BESIDE[0]),
                             SIZE_RAMP[1] - beside * (SIZE_RAMP[1] - SIZE_RAMP_BESIDE[1]))
    depth_factor = np.maximum(smoothstep(feet, -BEHIND_RAMP[0], -BEHIND_RAMP[1]), smoothstep(relative, *LARGE_AS_LEAD))
    frame_factor = 1 - (1 - CUT_FACTOR) * cut * (1 - smoothstep(relative, *CUT_SIZE_RAMP))
    focus_factor = np.ones(len(people))
    if rgb is not None:
        sharp = sharpness(people, rgb)
        focus_factor = FOCUS_FLOOR + (1 - FOCUS_FLOOR) * smoothstep(sharp / max(sharp[lead], 1e-6), *FOCUS_RAMP)
    score = size_factor * depth_factor * focus_factor * frame_factor
    score[lead] = 1.0
    crowded = int(np.count_nonzero(size_factor > 0.5)) - 1 > CROWD
    needed = CROWD_SCORE if crowded else SUBJECT_SCORE
    subject = score >= needed
    part_of = np.zeros(len(people))  # the share of a box inside a larger subject's that made it one of theirs
    for i in np.argsort(-size):  # parts of a subject go with them, largest subjects first
        if not subject[i]:
            continue
        inside = _inside_share(boxes, i)
        joins = ~subject & (inside >= INSIDE_SHARE) & (size < size[i]) & (size >= INSIDE_SIZE * size[i])
        part_of[joins] = inside[joins]
        subject |= joins
    return [
        SubjectScore(bool(subject[i]), float(score[i]),
                     {"size": float(relative[i]), "depth": float(depth_factor[i]), "focus": float(focus_factor[i]),
                      "frame": float(frame_factor[i]), "middle": float(1 - centre[i]), "seen": float(seen[i]),
                      "lead": float(i == lead), "crowd": float(crowded), "inside_subject": float(part_of[i])})
        for i in range(len(people))
    ]


def _inside_share(boxes: np.ndarray, index: int) -> np.ndarray:
    """The share of every box's area that lies inside box ``index``."""
    x0, y0, x1, y1 = boxes[index]
    overlap_w = np.clip(np.minimum(boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None)
    overlap_h = np.clip(np.minimum(boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None)
    areas = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    return overlap_w * overlap_h / areas


def subject_indices(scores: Sequence[SubjectScore]) -> list[int]:
    """The indices of the subjects among the people scored."""
    return [i for i, s in enumerate(scores) if s.subject]
