"""``people`` — the default: the people a photo is about, whole, each matted at full detail, no grey smears.

``rvm`` alone sees the whole photo at 448 pixels, so a person who fills a tenth of a group photo gets
a tenth of the network's view; it keeps bodies and drops much of what people carry. Here:

1. ``rvm`` mattes the whole photo (its default view) — alpha, and foreground colours unless the caller will not
   use them (:meth:`PeopleSegmenter.predict_without_colours`);
2. the person detector (:mod:`models.persons`, CenterNet) finds the people, and :mod:`models.subjects`
   decides which of them the photo is about (the subjects);
3. the people the cut-out is of (the subjects; everyone for ``all``) who are worth it
   (:func:`models.person_crops.worth_cropping`, :data:`models.person_crops.MIN_GAIN`) are cropped with a
   margin and matted again, seen at ``rvm``'s full view; the crops join by the per-pixel maximum, faded in at
   their edges (:func:`models.person_crops.merge_crop`);
4. a person the detector finds and the matte mostly misses (upside down, lying, mid-spin) gets another look
   on their crop turned as the network was trained to see people (:func:`turned_looks`), the better kept;
5. what the subjects wear, hold or carry joins their matte (:mod:`models.whole_subject`: MODNet on their
   crop, trusted where it covers ``rvm``'s confident core); then only the pieces that reach them are kept;
6. soft alpha away from the outlines is decided to 0 or 1 (:func:`models.mask_cleanup.decide_stray_soft_alpha`).

Option ``person``: ``subjects`` (default) — the people the photo is about; ``all`` — everyone the detector
finds (each cropped), passers-by included; ``largest`` — the most person pixels; or a point ``[x, y]`` in
image pixels (the person standing there; a point on nobody is an :class:`OptionError`, so a client changes
nothing). One person's pixels follow the boxes (:func:`models.person_crops.ownership`).
:meth:`PeopleSegmenter.instances` lists the people found, with whether each is a subject and why.
Options ``crops``, ``turn``, ``objects`` and ``decide`` switch steps 3, 4, 5 and 6 off, so ``eval`` shows what
each is worth (README, *Quality*).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cutout_common.options import Option, OptionError
from cutout_common.vocabulary import parse_person

from .base import ColourMatting, Prediction, ProgressFn, no_progress, progress_within
from .mask_cleanup import decide_stray_soft_alpha
from .modnet import ModNetSegmenter
from .person_crops import CROP_MARGIN, MIN_GAIN, crop_gain, merge_crop, ownership, seen_share, worth_cropping
from .persons import Person, PersonDetector
from .registry import register
from .rvm import RobustVideoMatting
from .subjects import SubjectScore, score_subjects, subject_indices
from .whole_subject import boxes_mask, join_objects, keep_chosen, subject_crop, trusted

#: ``rvm``'s options on a crop: its default view, small crops enlarged to it (that is the point of cropping)
CROP_MATTING = {"view": 448, "enlarge": True}
#: a person whose box the matte calls person on less than this share is mostly missed (a person standing fills
#: about half to two thirds of their box): they get turned looks ...
MISSED_SHARE = 0.3
#: ... and so does a person whose box is wider than tall (lying, mid-spin, a cartwheel) seen on less than this
MISSED_SHARE_LYING = 0.45
#: a turned look replaces nothing unless it finds this many times the person pixels of the upright one
TURN_GAIN = 1.5

OPTIONS = (
    Option("person", "Person", "custom", "subjects", parse=parse_person,
           type_help="'subjects', 'all', 'largest' or a point [x, y] in image pixels",
           help="which people: the photo's subject(s), everyone the detector finds, the largest, or the one "
                "standing at a point"),
    Option("crops", "Matte each person", "bool", True,
           help="matte each person again on a crop of their own, at the network's full view"),
    Option("turn", "Unusual poses", "bool", True,
           help="a person the matte mostly misses is looked at again on a crop turned upright"),
    Option("objects", "What they wear and carry", "bool", True,
           help="what the chosen people wear, hold or carry joins the cut-out (MODNet on their crop)"),
    Option("decide", "No stray soft alpha", "bool", True,
           help="soft alpha only on the people's outlines; 0 or 1 everywhere else"),
)


@dataclass
class Scene:
    """What one look at a photo found: the merged matte and colours, the people, who the photo is about."""

    alpha: np.ndarray
    foreground: np.ndarray | None
    people: list[Person]
    verdicts: list[SubjectScore] = field(default_factory=list)
    cropped: list[int] = field(default_factory=list)
    turned: list[int] = field(default_factory=list)
    objects: bool = False
    _owner: np.ndarray | None = None

    @property
    def owner(self) -> np.ndarray:
        """Who each pixel belongs to (:func:`models.person_crops.ownership`), worked out once."""
        if self._owner is None:
            self._owner = ownership(self.people, self.alpha.shape)
        return self._owner

    @property
    def subjects(self) -> list[int]:
        return subject_indices(self.verdicts)

    def areas(self) -> np.ndarray:
        """Person pixels (alpha ≥ 0.5) of each person."""
        owned = self.owner[(self.alpha >= 0.5) & (self.owner >= 0)]
        return np.bincount(owned, minlength=len(self.people))

    def select(self, person: str | list[float]) -> tuple[np.ndarray, list[int]]:
        """(alpha, indices of the people in it) for the option ``person``; :class:`OptionError` for a point on
        nobody."""
        if isinstance(person, list):
            return self._at_point(*person)
        if not self.people:  # nobody found: the matte is all there is to choose from
            return self.alpha, []
        if person == "all":
            return self.alpha, list(range(len(self.people)))
        if person == "subjects":
            return keep_chosen(self.alpha, self.people, self.subjects, self.owner), self.subjects
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
        """The people found, best score first: index, box [x0, y0, x1, y1], score, area (pixels ≥ 0.5), cropped,
        turned, and whether they count as a subject, with the subject score and the factors behind it."""
        areas = self.areas()
        return [{"index": i, "box": [round(v, 1) for v in p.box], "score": round(p.score, 4), "area": int(areas[i]),
                 "cropped": i in self.cropped, "turned": i in self.turned, **self.verdicts[i].describe()}
                for i, p in enumerate(self.people)]


@register("people")
class PeopleSegmenter(ColourMatting):
    weight_files = ("rvm.pt", "centernet.pt", "modnet.pt")
    options = OPTIONS

    def __init__(self, weights_dir: Path, device: str = "cpu"):
        super().__init__(weights_dir, device)
        self.matting = RobustVideoMatting(weights_dir, device)
        self.detector = PersonDetector(weights_dir, device)
        self.objects = ModNetSegmenter(weights_dir, device)

    def load(self, progress: ProgressFn = no_progress) -> None:
        """Its three networks (``best``: four), each reporting as it loads, so a cancel is heard between them."""
        self.ensure_weights()
        self.matting.load(progress_within(progress, 0.0, 0.3))
        self.detector.load(progress_within(progress, 0.3, 0.5))
        self.objects.load(progress_within(progress, 0.5, 1.0))

    def predict_matte(
        self, rgb: np.ndarray, options: dict[str, Any] | None, progress: ProgressFn, colours: bool
    ) -> Prediction:
        """The prediction, with the people's colours when ``colours`` (else ``foreground`` is None)."""
        opts = self.check_options(options)
        scene = self.look(rgb, opts, progress, colours)
        alpha, chosen = scene.select(opts["person"])
        # a report between the photo-sized steps (each up to half a second at 12 MP on 2 cores), so that a cancel
        # raised from ``progress`` is heard within a second at the sizes the server takes
        progress("segment", 0.98)
        if opts["decide"]:
            alpha = decide_stray_soft_alpha(alpha)
        progress("segment", 1.0)
        info = {"people": scene.describe(), "selected": chosen, "person": opts["person"],
                "subjects": scene.subjects, "objects": scene.objects}
        return Prediction(alpha=alpha, foreground=scene.foreground, info=info)

    def instances(self, rgb: np.ndarray, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The people found, best score first (:meth:`Scene.describe`): box, score, area, subject or not and why."""
        opts = self.check_options({**(options or {}), "person": "all", "objects": False})
        return self.look(rgb, opts, colours=False).describe()

    def look(self, rgb: np.ndarray, opts: dict[str, Any], progress: ProgressFn = no_progress,
             colours: bool = True) -> Scene:
        """Matte the whole photo, find the people and the subjects, matte the ones the cut-out is of on crops, turn
        the missed ones, join what the subjects carry; the foreground colours only when ``colours``."""
        person = opts["person"]
        whole = self.matting.predict_matte(rgb, None, progress_within(progress, 0.0, 0.3), colours)
        people = self.detector.detect(rgb)
        progress("segment", 0.35)
        scene = Scene(whole.alpha, whole.foreground, people, score_subjects(people, rgb.shape, whole.alpha, rgb))
        if not people:
            return scene
        targets = self.targets(scene, person)
        if opts["crops"]:
            self.crop_looks(rgb, scene, targets, progress)
        if opts["turn"]:
            self.turned_looks(rgb, scene, targets, progress)
        progress("segment", 0.7)
        if opts["objects"] and person != "all" and targets:
            self.join_what_they_carry(rgb, scene, targets, progress)
        return scene

    def targets(self, scene: Scene, person: str | list[float]) -> list[int]:
        """Whom the cut-out is of, as far as is known before matting them: the subjects, everyone, the people a
        point lies on, or (``largest``, decided on the merged matte) everyone worth a crop."""
        if person == "subjects":
            return scene.subjects
        if person == "all":
            return list(range(len(scene.people)))
        if isinstance(person, list):
            x, y = person
            return [i for i, p in enumerate(scene.people) if _within(p.padded(CROP_MARGIN, scene.alpha.shape), x, y)]
        return worth_cropping(scene.people, scene.alpha)

    def crop_looks(self, rgb: np.ndarray, scene: Scene, targets: list[int], progress: ProgressFn) -> None:
        """Matte each target (:meth:`targets`) again on a crop of their own; a crop the network would not see
        larger is skipped."""
        chosen = [
            i for i in targets
            if crop_gain(scene.people[i].padded(CROP_MARGIN, rgb.shape), rgb.shape, CROP_MATTING["view"]) >= MIN_GAIN
        ]
        for done, index in enumerate(chosen):
            rect = scene.people[index].padded(CROP_MARGIN, rgb.shape)
            x0, y0, x1, y1 = rect
            start, span = 0.35 + 0.3 * done / len(chosen), 0.3 / len(chosen)
            # the crop's network the first half of this person's stretch; the merge, the other half
            crop_alpha, crop_foreground = self.matte_crop(np.ascontiguousarray(rgb[y0:y1, x0:x1]),
                                                          scene.foreground is not None,
                                                          progress_within(progress, start, start + span / 2))
            merge_crop(scene.alpha, scene.foreground, rect, crop_alpha, crop_foreground)
            progress("segment", start + span)
        scene.cropped = chosen

    def turned_looks(
        self, rgb: np.ndarray, scene: Scene, targets: list[int], progress: ProgressFn = no_progress
    ) -> None:
        """A target whose box the matte mostly misses is matted on their crop turned a half turn (a quarter turn each
        way first when the box is wider than tall: lying, mid-spin); the look that finds the most person pixels in
        the crop, if it finds :data:`TURN_GAIN` times the upright one's, joins the matte; each look reports (0.65 …
        0.7)."""
        for done, index in enumerate(targets):
            progress("segment", 0.65 + 0.05 * done / len(targets))
            person = scene.people[index]
            lying = person.width > person.height
            if seen_share(scene.alpha, person) >= (MISSED_SHARE_LYING if lying else MISSED_SHARE):
                continue
            rect = person.padded(CROP_MARGIN, rgb.shape)
            x0, y0, x1, y1 = rect
            crop = rgb[y0:y1, x0:x1]
            turns = (1, 3, 2) if lying else (2,)
            with_colours = scene.foreground is not None
            best, best_count = None, TURN_GAIN * _person_pixels(scene.alpha[y0:y1, x0:x1])
            for turn in turns:
                alpha, colours = self.matte_crop(np.ascontiguousarray(np.rot90(crop, turn)), with_colours)
                progress("segment", 0.65 + 0.05 * done / len(targets))
                alpha = np.ascontiguousarray(np.rot90(alpha, -turn))
                count = _person_pixels(alpha)
                if count > best_count:
                    colours = None if colours is None else np.ascontiguousarray(np.rot90(colours, -turn))
                    best, best_count = (alpha, colours), count
            if best is not None:
                merge_crop(scene.alpha, scene.foreground, rect, *best)
                scene.turned.append(index)

    def join_what_they_carry(self, rgb: np.ndarray, scene: Scene, targets: list[int], progress: ProgressFn) -> None:
        """MODNet on the targets' crop (:func:`models.whole_subject.subject_crop`); where it covers the matte's
        confident core of them, what it adds joins the matte, with the photo's own colours there."""
        rect = subject_crop(scene.people, targets, rgb.shape)
        x0, y0, x1, y1 = rect
        objects = self.objects.predict(np.ascontiguousarray(rgb[y0:y1, x0:x1]), None,
                                       progress_within(progress, 0.7, 0.95)).alpha
        progress("segment", 0.95)
        base = scene.alpha[y0:y1, x0:x1]
        if not trusted(base, objects, boxes_mask(scene.people, targets, rgb.shape)[y0:y1, x0:x1]):
            return
        joined = join_objects(base, objects)
        if scene.foreground is not None:  # where MODNet adds what rvm left out, rvm's colours mean nothing
            # a weight under 1/255 moves no colour by an 8-bit level: leaving those pixels out (most of a 12 MP
            # photo's background, where MODNet's alpha is a hair above rvm's) saves seconds of fancy indexing
            gain = joined - base
            rows, cols = np.nonzero(gain >= 1.0 / (255 * 4))
            added = np.minimum(gain[rows, cols] * 4.0, 1.0)[:, None]
            colours = scene.foreground[y0:y1, x0:x1]
            photo = rgb[y0:y1, x0:x1][rows, cols].astype(np.float32) / 255.0
            colours[rows, cols] += added * (photo - colours[rows, cols])
        progress("segment", 0.96)
        scene.alpha[y0:y1, x0:x1] = joined
        scene.objects = True

    def matte_crop(
        self, crop: np.ndarray, colours: bool = True, progress: ProgressFn = no_progress
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(alpha, foreground colours or None) of one person's crop; no colours unless ``colours``."""
        matte = self.matting.predict_matte(crop, CROP_MATTING, progress, colours)
        return matte.alpha, matte.foreground


def _within(rect: tuple[int, int, int, int], x: float, y: float) -> bool:
    return rect[0] <= x < rect[2] and rect[1] <= y < rect[3]


def _person_pixels(alpha: np.ndarray) -> int:
    return int(np.count_nonzero(alpha >= 0.5))
