"""``people`` — people first: find each person, matte each one at full detail, leave no grey smears.

The default segmenter. ``rvm`` alone sees the whole photo at 448 pixels, so a person who fills a
tenth of a group photo gets a tenth of the network's view, and it keeps the main subject and
hedges on the rest. Here:

1. ``rvm`` mattes the whole photo (its default view) — alpha and foreground colours;
2. the person detector (:mod:`models.persons`, CenterNet) finds the people;
3. each person worth it (:func:`models.person_crops.worth_cropping`: partly seen by the whole
   pass, or as tall as the tallest) is cropped with a margin and matted again on the crop, which
   ``rvm`` sees at its full view — a small person in a group gets the pixels a portrait gets; a crop the
   network would see less than :data:`models.person_crops.MIN_GAIN` times larger than in the whole pass
   is skipped (it would cost a whole pass and add little);
4. the crops join the whole-photo matte by the per-pixel maximum, faded in at their edges
   (:func:`models.person_crops.merge_crop`), colours with them;
5. soft alpha away from the people's outlines is decided to 0 or 1
   (:func:`models.mask_cleanup.decide_stray_soft_alpha`).

Option ``person`` chooses one person: ``all`` (default), ``largest`` (the most person pixels),
or a point ``[x, y]`` in image pixels (the person standing there; a point on nobody is an
:class:`OptionError`, so a client changes nothing). Pixels belong to people by their boxes
(:func:`models.person_crops.ownership`); a point also crops whoever stands there, even someone
the whole pass left out. :meth:`PeopleSegmenter.instances` lists the people found (box, score,
area). Options ``crops`` and ``decide`` switch steps 3–4 and 5 off, so ``eval`` shows what each is
worth.

What each step is worth is measured by ``python -m server eval`` (README, *Quality*). The matting
network for crops is ``rvm`` with :data:`CROP_MATTING`; another network (MODNet, a portrait network
that sees a person crop as it was trained to) joins by overriding :meth:`PeopleSegmenter.matte_crop`,
which refine by hand also runs on its crops (the declaration's capability ``crop_matting``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cutout_common.options import Option, OptionError
from cutout_common.vocabulary import parse_person

from .base import Prediction, ProgressFn, Segmenter, no_progress
from .mask_cleanup import decide_stray_soft_alpha
from .person_crops import CROP_MARGIN, MIN_GAIN, crop_gain, merge_crop, ownership, worth_cropping
from .persons import Person, PersonDetector
from .registry import register
from .rvm import RobustVideoMatting

#: ``rvm``'s options on a crop: its default view, small crops enlarged to it (that is the point of cropping)
CROP_MATTING = {"view": 448, "enlarge": True}

OPTIONS = (
    Option("person", "Person", "custom", "all", parse=parse_person,
           type_help="'all', 'largest' or a point [x, y] in image pixels",
           help="which person of a group: all of them, the largest, or the one standing at a point"),
    Option("crops", "Matte each person", "bool", True,
           help="matte each person again on a crop of their own, at the network's full view"),
    Option("decide", "No stray soft alpha", "bool", True,
           help="soft alpha only on the people's outlines; 0 or 1 everywhere else"),
)


@dataclass
class Scene:
    """What one look at a photo found: the merged matte and colours, the people, which were cropped."""

    alpha: np.ndarray
    foreground: np.ndarray | None
    people: list[Person]
    cropped: list[int] = field(default_factory=list)
    _owner: np.ndarray | None = None

    @property
    def owner(self) -> np.ndarray:
        """Who each pixel belongs to (:func:`models.person_crops.ownership`), worked out once."""
        if self._owner is None:
            self._owner = ownership(self.people, self.alpha.shape)
        return self._owner

    def areas(self) -> np.ndarray:
        """Person pixels (alpha ≥ 0.5) of each person."""
        owned = self.owner[(self.alpha >= 0.5) & (self.owner >= 0)]
        return np.bincount(owned, minlength=len(self.people))

    def select(self, person: str | list[float]) -> tuple[np.ndarray, list[int]]:
        """(alpha, indices of the people in it) for the option ``person``; :class:`OptionError` for a point on
        nobody."""
        if isinstance(person, list):
            return self._at_point(*person)
        if person == "all" or not self.people:  # nobody found: the matte is all there is to choose from
            return self.alpha, list(range(len(self.people)))
        return self.alone(int(np.argmax(self.areas())))

    def alone(self, index: int) -> tuple[np.ndarray, list[int]]:
        """The matte of one person: the pixels that belong to them."""
        return np.where(self.owner == index, self.alpha, 0.0).astype(np.float32), [index]

    def _at_point(self, x: float, y: float) -> tuple[np.ndarray, list[int]]:
        height, width = self.alpha.shape
        col, row = int(np.floor(x)), int(np.floor(y))
        if not (0 <= row < height and 0 <= col < width):
            raise OptionError(f"point ({x:g}, {y:g}) lies outside the {width}×{height} photo")
        index = int(self.owner[row, col])
        if index < 0 or self.alpha[row, col] < 0.5:
            found = f"{len(self.people)} found elsewhere" if self.people else "none found in the photo"
            raise OptionError(f"nobody stands at ({x:g}, {y:g}) ({found}); put the point on a person, "
                              "or choose 'largest' or 'all'")
        return self.alone(index)

    def describe(self) -> list[dict[str, Any]]:
        """The people found, best score first: index, box [x0, y0, x1, y1], score, area (pixels ≥ 0.5), cropped."""
        areas = self.areas()
        return [{"index": i, "box": [round(v, 1) for v in p.box], "score": round(p.score, 4), "area": int(areas[i]),
                 "cropped": i in self.cropped} for i, p in enumerate(self.people)]


@register("people")
class PeopleSegmenter(Segmenter):
    weight_files = ("rvm.pt", "centernet.pt")
    options = OPTIONS

    def __init__(self, weights_dir: Path, device: str = "cpu"):
        super().__init__(weights_dir, device)
        self.matting = RobustVideoMatting(weights_dir, device)
        self.detector = PersonDetector(weights_dir, device)

    def load(self) -> None:
        self.ensure_weights()
        self.matting.load()
        self.detector.load()

    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        opts = self.check_options(options)
        scene = self.look(rgb, opts["person"], opts["crops"], progress)
        alpha, chosen = scene.select(opts["person"])
        if opts["decide"]:
            alpha = decide_stray_soft_alpha(alpha)
        progress("segment", 1.0)
        info = {"people": scene.describe(), "selected": chosen, "person": opts["person"]}
        return Prediction(alpha=alpha, foreground=scene.foreground, info=info)

    def instances(self, rgb: np.ndarray, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The people found, best score first: index, box [x0, y0, x1, y1], score, area (pixels ≥ 0.5), cropped."""
        opts = self.check_options(options)
        return self.look(rgb, "all", opts["crops"]).describe()

    def look(self, rgb: np.ndarray, person: str | list[float], crops: bool = True,
             progress: ProgressFn = no_progress) -> Scene:
        """Matte the whole photo, find the people, matte the ones worth it (or the one at a point) on crops."""
        whole = self.matting.predict(rgb, None, lambda stage, f: progress(stage, 0.4 * f))
        people = self.detector.detect(rgb)
        progress("segment", 0.5)
        scene = Scene(whole.alpha, whole.foreground, people)
        if not crops or not people:
            return scene
        if isinstance(person, list):  # whoever stands there, seen by the whole pass or not
            x, y = person
            chosen = [i for i, p in enumerate(people) if _within(p.padded(CROP_MARGIN, rgb.shape), x, y)]
        else:
            chosen = [
                i
                for i in worth_cropping(people, whole.alpha)
                if crop_gain(people[i].padded(CROP_MARGIN, rgb.shape), rgb.shape, CROP_MATTING["view"]) >= MIN_GAIN
            ]
        for done, index in enumerate(chosen):
            rect = people[index].padded(CROP_MARGIN, rgb.shape)
            x0, y0, x1, y1 = rect
            crop_alpha, crop_foreground = self.matte_crop(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
            merge_crop(scene.alpha, scene.foreground, rect, crop_alpha, crop_foreground)
            progress("segment", 0.5 + 0.45 * (done + 1) / len(chosen))
        scene.cropped = chosen
        return scene

    def matte_crop(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(alpha, foreground colours or None) of one person's crop."""
        matte = self.matting.predict(crop, CROP_MATTING)
        return matte.alpha, matte.foreground


def _within(rect: tuple[int, int, int, int], x: float, y: float) -> bool:
    return rect[0] <= x < rect[2] and rect[1] <= y < rect[3]
