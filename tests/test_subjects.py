"""Who a photo is about (models.subjects), and the subject whole (models.whole_subject, models.people).

The decision's own tests use drawn boxes; the pipeline's use real photos: a large person of persons-dev in
front of a row of small ones pasted from other persons-dev photos (../shared), and the astronaut with the
helmet she holds (tests/data).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.people import PeopleSegmenter
from models.persons import Person
from models.subjects import score_subjects, subject_indices
from models.whole_subject import join_objects, keep_chosen, subject_crop, trusted
from tests.conftest import load_pair
from tests.test_people import astronaut

SHAPE = (1000, 1500)


def box(x: float, bottom: float, height: float, width: float | None = None) -> Person:
    """A standing person: feet at ``bottom``, centred on ``x``, ``width`` defaulting to 0.4 of the height."""
    width = 0.4 * height if width is None else width
    return Person((x - width / 2, bottom - height, x + width / 2, bottom), 0.8)


def subjects_of(people: list[Person], shape: tuple[int, int] = SHAPE) -> list[int]:
    return subject_indices(score_subjects(people, shape))


# --------------------------------------------------------------------------- the decision, on drawn boxes


def test_a_group_posing_together_is_all_subjects():
    group = [box(x, 950, h) for x, h in ((400, 700), (600, 650), (800, 720), (1000, 600), (1150, 680))]
    assert subjects_of(group) == [0, 1, 2, 3, 4]


def test_passers_by_behind_a_street_portrait_are_not_subjects():
    people = [box(750, 980, 900), box(200, 500, 250), box(1300, 520, 300), box(1100, 450, 180)]
    assert subjects_of(people) == [0]


def test_an_audience_around_a_performer_is_not():
    """A dancer in the middle of the floor, twenty people standing around and behind, most of them taller in the
    frame than the crouching dancer but all farther back."""
    dancer = box(750, 900, 420, width=380)
    audience = [box(60 + 72 * i, 620 + (i % 3) * 15, 480 + (i % 4) * 20) for i in range(20)]
    verdicts = score_subjects([dancer, *audience], SHAPE)
    assert subject_indices(verdicts) == [0]
    assert verdicts[0].why["lead"] == 1.0 and all(v.score < 0.5 for v in verdicts[1:])


def test_a_second_row_as_large_as_the_first_is_in_the_group():
    front = [box(500, 980, 600), box(800, 980, 620), box(1100, 980, 590)]
    back = [box(650, 840, 560), box(950, 850, 580)]  # feet hidden behind the front row
    assert subjects_of([*front, *back]) == [0, 1, 2, 3, 4]


def test_a_second_detection_inside_the_subject_goes_with_them():
    person = box(750, 980, 900)
    upper_body = Person((650, 120, 850, 500), 0.4)
    assert subjects_of([person, upper_body, box(200, 500, 250)]) == [0, 1]
    verdicts = score_subjects([person, upper_body, box(200, 500, 250)], SHAPE)
    # why it counts: its own score is low, its box lies inside the subject's (instances reports that, not only 0)
    assert verdicts[1].subject and verdicts[1].why["inside_subject"] == 1.0
    assert verdicts[0].why["inside_subject"] == 0.0 and verdicts[2].why["inside_subject"] == 0.0


def test_the_verdict_says_why():
    verdicts = score_subjects([box(750, 980, 900), box(200, 500, 250)], SHAPE)
    lead, passer_by = (v.describe() for v in verdicts)
    assert lead["subject"] and lead["subject_score"] == 1.0 and lead["why"]["lead"] == 1.0
    assert not passer_by["subject"] and passer_by["subject_score"] < 0.5 and passer_by["why"]["size"] < 0.4
    assert score_subjects([], SHAPE) == []


# --------------------------------------------------------------------------- joining what the subjects carry


def test_the_crop_grows_to_a_portrait_and_to_the_whole_photo_when_that_is_most_of_it():
    small = [box(300, 400, 200)]
    x0, y0, x1, y1 = subject_crop(small, [0], SHAPE)
    assert (x1 - x0) >= 0.75 * (y1 - y0) - 2 and (x0, y0) != (0, 0)
    assert subject_crop([box(750, 990, 950)], [0], SHAPE) == (0, 0, SHAPE[1], SHAPE[0])


def test_objects_are_trusted_only_where_they_cover_the_body():
    base = np.zeros((100, 100), np.float32)
    base[20:80, 30:70] = 1.0
    region = np.ones_like(base, bool)
    covering = base.copy()
    covering[50:90, 70:95] = 1.0  # the body and a bag beside it
    missing = np.zeros_like(base)
    missing[20:40, 30:70] = 1.0  # only the head: this network failed here
    assert trusted(base, covering, region) and not trusted(base, missing, region)
    joined = join_objects(base, covering)
    assert joined[60, 80] == 1.0 and joined[50, 50] == 1.0  # the bag comes in whole, the body stays
    assert join_objects(base, np.full_like(base, 0.6))[5, 5] == pytest.approx(0.3)  # unsure: the mean


def test_keep_chosen_drops_pieces_that_reach_no_chosen_person_and_other_peoples_pixels():
    alpha = np.zeros((200, 300), np.float32)
    alpha[20:180, 40:100] = 1.0  # the subject
    alpha[100:140, 100:130] = 1.0  # a bag held at the side, beyond the subject's box
    alpha[60:180, 200:260] = 1.0  # a passer-by
    alpha[120:125, 130:198] = 0.3  # a soft shadow between the bag and the passer-by
    people = [Person((40, 20, 100, 180), 0.9), Person((200, 60, 260, 180), 0.9)]
    kept = keep_chosen(alpha, people, [0])
    assert kept[120, 115] == 1.0 and kept[100, 70] == 1.0  # the subject and the bag
    assert kept[100:180, 200:260].max() == 0.0  # the passer-by
    assert kept[122, 131] == pytest.approx(0.3) and kept[122, 197] == 0.0  # soft fringe goes with the nearer piece


# --------------------------------------------------------------------------- the pipeline on real photos


def paste(canvas: np.ndarray, truth_canvas: np.ndarray, rgb: np.ndarray, mask: np.ndarray, height: int,
          x: int, bottom: int, label: int) -> None:
    """Paste the person of (rgb, mask) at ``height`` pixels high, centred on ``x``, feet at ``bottom``."""
    rows, cols = np.nonzero(mask)
    rgb, mask = rgb[rows.min():rows.max() + 1, cols.min():cols.max() + 1], mask[rows.min():rows.max() + 1,
                                                                              cols.min():cols.max() + 1]
    width = max(1, round(mask.shape[1] * height / mask.shape[0]))
    rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    x0, y0 = x - width // 2, bottom - height
    canvas[y0:bottom, x0:x0 + width][mask] = rgb[mask]
    truth_canvas[y0:bottom, x0:x0 + width][mask] = label


def street_scene(persons_dev) -> tuple[np.ndarray, np.ndarray]:
    """A large person (persons-dev 138, full length) in front of a row of six small ones farther back (119, 168,
    173, 185 and 196, full length too, one mirrored), pasted by their true masks on a grey street; (photo, labels:
    1 the large person, 2.. the small ones)."""
    rng = np.random.default_rng(3)
    canvas = np.clip(rng.normal(128, 6, (900, 1400, 3)) + np.linspace(-30, 30, 900)[:, None, None], 0, 255)
    canvas = cv2.GaussianBlur(canvas.astype(np.uint8), (0, 0), 2)
    labels = np.zeros(canvas.shape[:2], np.uint8)
    for i, (stem, x) in enumerate(zip(("119", "168", "173", "185", "196", "119"), (110, 270, 430, 980, 1140, 1300),
                                      strict=True)):
        rgb, mask = load_pair(persons_dev, stem)
        if i == 5:
            rgb, mask = rgb[:, ::-1], mask[:, ::-1]
        paste(canvas, labels, rgb, mask, 250, x, 430, 2 + i)
    rgb, mask = load_pair(persons_dev, "138")
    paste(canvas, labels, rgb, mask, 820, 700, 880, 1)
    return canvas, labels


def test_subjects_is_the_large_person_all_is_everyone(people, persons_dev):
    rgb, labels = street_scene(persons_dev)
    subjects = people.predict(rgb).alpha >= 0.5
    everyone = people.predict(rgb, {"person": "all"}).alpha >= 0.5
    large = labels == 1
    assert subjects[large].mean() > 0.9 and everyone[large].mean() > 0.9
    for label in range(2, 8):
        small = labels == label
        assert subjects[small].mean() < 0.05, f"small person {label} kept under subjects"
        assert everyone[small].mean() > 0.5, f"small person {label} left out under all"
    listed = people.instances(rgb)
    verdicts = {bool(labels[int((p["box"][1] + p["box"][3]) / 2), int((p["box"][0] + p["box"][2]) / 2)] == 1):
                p["subject"] for p in listed}
    assert verdicts == {True: True, False: False}  # the large one is the subject, nobody else is
    assert all({"subject", "subject_score", "why"} <= set(p) for p in listed)


def test_the_astronaut_keeps_the_helmet_she_holds_and_her_name_tag(people):
    rgb = astronaut()
    alpha = people.predict(rgb).alpha
    assert alpha[400:500, 320:460].mean() > 0.9  # the helmet, held at her side beyond the detector's box
    assert alpha[345:370, 285:320].mean() > 0.9  # the name tag on her chest
    without = people.predict(rgb, {"objects": False}).alpha
    assert without[400:500, 320:460].mean() < 0.5  # rvm alone leaves the helmet out: this is what objects adds
    assert alpha[:60, :60].max() == 0.0 and alpha[:100, 400:].max() == 0.0  # flag and wall still background


# --------------------------------------------------------------------------- unusual poses


class UprightOnly:
    """A stand-in matting network that, like one trained on people standing, sees a figure only the right way up:
    a red body and a blue head are a person when the head is on top."""

    def predict(self, rgb: np.ndarray, options=None, progress=None):
        from models.base import Prediction

        red = (rgb[..., 0] > 150) & (rgb[..., 2] < 100)
        blue = (rgb[..., 2] > 150) & (rgb[..., 0] < 100)
        rows_red, rows_blue = np.nonzero(red.any(axis=1))[0], np.nonzero(blue.any(axis=1))[0]
        upright = len(rows_red) and len(rows_blue) and rows_blue[0] < rows_red[0]
        person = (red | blue) if upright else np.zeros_like(red)
        return Prediction(alpha=person.astype(np.float32), foreground=rgb.astype(np.float32) / 255)

    def predict_matte(self, rgb: np.ndarray, options, progress, colours: bool):
        from models.base import Prediction

        return self.predict(rgb) if colours else Prediction(alpha=self.predict(rgb).alpha)


def upside_down_figure() -> tuple[np.ndarray, Person]:
    rgb = np.full((400, 600, 3), 90, np.uint8)
    rgb[100:300, 260:340] = (220, 40, 40)  # the body
    rgb[300:340, 280:320] = (40, 40, 220)  # the head, below: upside down
    return rgb, Person((255, 95, 345, 345), 0.9)


def test_a_person_the_matte_misses_upside_down_is_found_turned(weights):
    from models.people import Scene

    rgb, person = upside_down_figure()
    segmenter = PeopleSegmenter(weights, "cpu")
    segmenter.matting = UprightOnly()
    scene = Scene(segmenter.matting.predict(rgb).alpha, None, [person], score_subjects([person], rgb.shape))
    assert scene.alpha[100:300, 260:340].mean() < 0.01  # the upright look misses the body
    reports: list[float] = []
    segmenter.turned_looks(rgb, scene, [0], lambda stage, fraction: reports.append(fraction))
    assert scene.turned == [0]
    assert reports == [0.65, 0.65]  # before the person, after the half-turned look: a cancel is read between
    body = scene.alpha[110:290, 270:330]  # faded in towards the crop's edges as every crop is (merge_crop)
    assert body.min() > 0.85 and body[:, 25:35].min() > 0.99 and scene.alpha[:80].max() == 0.0
    upright = Scene(np.zeros(rgb.shape[:2], np.float32), None, [person], score_subjects([person], rgb.shape))
    upright.alpha[100:340, 260:340] = 1.0  # a person the matte already sees gets no second look
    segmenter.turned_looks(rgb, upright, [0])
    assert upright.turned == []


def test_mask_rcnn_selects_the_subjects_of_its_instances_too():
    """Mask R-CNN's option ``selection`` takes ``subjects`` (its default now): the same decision on its boxes."""
    from models.maskrcnn import select

    shape = (300, 400)
    masks = np.zeros((2, *shape), np.float32)
    masks[0, 20:290, 150:250] = 0.9  # a large person in front
    masks[1, 40:120, 20:50] = 0.9  # a small one far behind
    alpha, chosen = select(masks, "subjects", shape)  # boxes taken from the masks
    assert chosen == [0] and alpha[100, 200] == pytest.approx(0.9) and alpha[80, 30] == 0.0
    assert select(masks, "all", shape)[1] == [0, 1]


def test_the_default_keeps_what_street_subjects_carry_and_leaves_passers_by(people):
    """ccp-dev (hand-drawn person and part labels, ../shared), every 8th photo: the default keeps nearly all of
    the bags and purses the subjects carry (rvm alone keeps about two thirds) and little outside the person; the
    whole set's figures are eval's (README, *Quality*)."""
    from server.evaluation import metrics
    from server.evaluation.dataset import find_pairs, load_sample, part_labels, read_parts
    from tests.conftest import SHARED, need

    data = need(SHARED / "data" / "ccp-dev", "the ccp-dev photos (../shared/data/ccp-dev)")
    names = part_labels(data)
    pairs = find_pairs(data)[0][::8]
    kept = pixels = 0.0
    ious, outside = [], []
    for pair in pairs:
        rgb, truth, _ = load_sample(pair)
        alpha = people.predict(rgb).alpha
        counts = metrics.parts_kept(alpha, read_parts(pair, truth.shape), names)
        kept += counts.get("carried_kept", 0.0)
        pixels += counts.get("carried_pixels", 0.0)
        ious.append(metrics.iou(alpha, truth))
        outside.append(metrics.outside_share(alpha, truth))
    print(f"\n{len(pairs)} ccp-dev photos: IoU {np.mean(ious):.4f}, carried kept {kept / pixels:.3f}, "
          f"outside {100 * np.mean(outside):.2f} %")
    assert kept / pixels > 0.93 and np.mean(ious) > 0.945 and np.mean(outside) < 0.045


def test_a_child_beside_the_adult_is_in_the_group_a_small_person_far_behind_is_not():
    """On the lead's own ground line a smaller person is at the same distance: a child (or someone sitting) with
    them; as small with their feet well higher in the frame is someone far behind."""
    adult, child = box(700, 950, 800), box(900, 950, 380)
    far = box(1200, 600, 380)
    assert subjects_of([adult, child, far]) == [0, 1]
