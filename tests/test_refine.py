"""Refine by hand (server/pipeline/refine.py) on real photos: a wrong region is made on purpose, one click fixes it.

The astronaut tests need only the bundled photo and the ``rvm`` weights; the persons-dev test runs the
click simulator (server/evaluation/clicks.py) on a handful of real photos with their true masks.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from models import registry
from server.evaluation import clicks
from server.evaluation.metrics import iou
from server.pipeline.refine import (
    DEFAULT_SETTINGS,
    NOT_PERSON,
    PERSON,
    RefineSettings,
    active_strokes,
    person_size,
    refine_with_hints,
    segmenter_evidence,
)
from tests.conftest import installed, load_pair, stems

ASTRONAUT = Path(__file__).resolve().parent / "data" / "astronaut.png"


@pytest.fixture(scope="module")
def rvm(weights):
    return installed(registry.create("rvm", "cpu", weights))


@pytest.fixture(scope="module")
def segment(rvm):
    """The evidence the server uses: rvm re-run on the crop, small crops seen at the network's view."""
    return segmenter_evidence(rvm, {"enlarge": True})


@pytest.fixture(scope="module")
def astronaut(rvm) -> tuple[np.ndarray, np.ndarray]:
    """The bundled photo and rvm's mask of it (the 'right' mask the tests spoil and then repair)."""
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    return rgb, rvm.predict(rgb).alpha


def ellipse(shape: tuple[int, int], centre: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, 1, thickness=-1)
    return canvas.astype(bool)


def click_into(spoiled: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, clicks.Click]:
    """The simulated user's click on the spoiled mask, drawn into a fresh hints image."""
    click = clicks.next_click(spoiled, right)
    assert click is not None
    hints = clicks.empty_hints(spoiled.shape)
    clicks.draw_click(hints, click)
    return hints, click


def beyond_reach(hints: np.ndarray, alpha: np.ndarray, settings: RefineSettings = DEFAULT_SETTINGS) -> np.ndarray:
    """Pixels no stroke may change: outside every stroke's box grown by one crop side (refine.py's locality)."""
    side = int(np.ceil(max(settings.min_crop, settings.crop_scale * person_size(alpha))))
    reach = np.zeros(alpha.shape, bool)
    for stroke in active_strokes(hints, alpha):
        rows, cols = stroke.box
        reach[max(0, rows.start - side) : rows.stop + side, max(0, cols.start - side) : cols.stop + side] = True
    return ~reach


def away_from(region: np.ndarray, distance: int) -> np.ndarray:
    """Pixels farther than ``distance`` from ``region``."""
    return cv2.distanceTransform((~region).view(np.uint8), cv2.DIST_L2, 5) > distance


def test_black_click_removes_a_pasted_patch_of_background(astronaut, segment):
    rgb, alpha = astronaut
    right = alpha >= 0.5
    # the backdrop beside her hair, claimed as person: attached to the head, so no separate piece
    wrong = ellipse(right.shape, (335, 110), (40, 50)) & ~right
    assert np.count_nonzero(wrong) > 4000 and np.all(alpha[wrong] < 0.5)
    spoiled = np.where(wrong, 1.0, alpha).astype(np.float32)
    hints, click = click_into(spoiled, right)
    assert not click.positive

    for evidence in (segment, None):  # with the segmenter re-run on the crop, and from colour alone
        out = refine_with_hints(rgb, spoiled, hints, segment=evidence)
        assert np.mean(out[wrong] < 0.5) > 0.8, "most of the pasted patch is removed"
        assert np.mean(out[right] >= 0.5) > 0.99, "the person stays"
        far = away_from(wrong, 40)
        np.testing.assert_array_equal(out[far], spoiled[far])


def test_changes_stay_inside_the_strokes_crop(astronaut, segment):
    """The locality bound refine.py promises, with a crop smaller than this portrait."""
    rgb, alpha = astronaut
    right = alpha >= 0.5
    wrong = ellipse(right.shape, (335, 110), (40, 50)) & ~right
    spoiled = np.where(wrong, 1.0, alpha).astype(np.float32)
    hints, _ = click_into(spoiled, right)
    settings = RefineSettings(crop_scale=0.4)
    out = refine_with_hints(rgb, spoiled, hints, segment=segment, settings=settings)
    far = beyond_reach(hints, spoiled, settings)
    assert np.mean(far) > 0.5
    np.testing.assert_array_equal(out[far], spoiled[far])
    assert np.mean(out[wrong] < 0.5) > 0.5


def test_white_click_brings_back_a_removed_arm(astronaut, segment):
    rgb, alpha = astronaut
    right = alpha >= 0.5
    # her right arm and sleeve (left in the photo), cut away from the mask
    arm = np.zeros(right.shape, bool)
    arm[280:, :110] = True
    arm &= right
    assert np.count_nonzero(arm) > 8000
    spoiled = np.where(arm, 0.0, alpha).astype(np.float32)
    hints, click = click_into(spoiled, right)
    assert click.positive and arm[click.y, click.x]

    out = refine_with_hints(rgb, spoiled, hints, segment=segment)
    assert np.mean(out[arm] >= 0.5) > 0.8, "most of the arm is back"
    assert np.mean(out[~right] < 0.5) > 0.99, "no background comes with it"
    far = away_from(arm, 40)
    np.testing.assert_array_equal(out[far], spoiled[far])


def test_black_dot_on_a_separate_piece_removes_all_of_it_and_nothing_else(astronaut, segment):
    rgb, alpha = astronaut
    right = alpha >= 0.5
    piece = ellipse(right.shape, (430, 150), (30, 60)) & ~right  # the model shuttle, away from her
    assert not (cv2.dilate(piece.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & right).any()
    spoiled = np.where(piece, 0.9, alpha).astype(np.float32)
    hints = clicks.empty_hints(right.shape)
    clicks.draw_click(hints, clicks.Click(430, 180, positive=False))  # off-centre: the whole piece goes anyway

    out = refine_with_hints(rgb, spoiled, hints, segment=segment)
    assert np.all(out[piece] < 0.5)
    untouched = ~cv2.dilate(piece.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[untouched], spoiled[untouched])


def test_hints_are_hard_and_running_again_changes_nothing(astronaut, segment):
    rgb, alpha = astronaut
    hints = clicks.empty_hints(alpha.shape)
    cv2.circle(hints, (335, 110), 6, NOT_PERSON, -1)  # backdrop the mask already calls background
    cv2.circle(hints, (200, 120), 6, PERSON, -1)  # her face, already person
    cv2.line(hints, (60, 330), (90, 420), PERSON, 9)  # her sleeve, already person
    cv2.circle(hints, (230, 215), 5, NOT_PERSON, -1)  # her collar: a contradiction to fix
    first = refine_with_hints(rgb, alpha, hints, segment=segment)
    assert np.all(first[hints == PERSON] == 1.0) and np.all(first[hints == NOT_PERSON] == 0.0)
    second = refine_with_hints(rgb, first, hints, segment=segment)
    np.testing.assert_array_equal(second, first)


def test_no_hint_returns_the_mask_as_given(astronaut):
    rgb, alpha = astronaut
    out = refine_with_hints(rgb, alpha, clicks.empty_hints(alpha.shape))
    np.testing.assert_array_equal(out, alpha)
    assert out is not alpha


def test_progress_is_reported_and_an_exception_cancels(astronaut, segment):
    rgb, alpha = astronaut
    hints = clicks.empty_hints(alpha.shape)
    cv2.circle(hints, (335, 110), 5, PERSON, -1)
    seen: list[tuple[str, float]] = []
    refine_with_hints(rgb, alpha, hints, segment=segment, progress=lambda stage, f: seen.append((stage, f)))
    assert seen[-1] == ("refine", 1.0) and len(seen) >= 3
    assert all(0.0 <= f <= 1.0 for _, f in seen) and [f for _, f in seen] == sorted(f for _, f in seen)

    class Cancelled(Exception):
        pass

    def cancel(stage: str, fraction: float) -> None:
        if fraction > 0.0:
            raise Cancelled

    with pytest.raises(Cancelled):
        refine_with_hints(rgb, alpha, hints, segment=segment, progress=cancel)


def test_inputs_of_the_wrong_shape_are_refused(astronaut):
    rgb, alpha = astronaut
    with pytest.raises(ValueError):
        refine_with_hints(rgb, alpha[:-1], clicks.empty_hints(alpha.shape))
    with pytest.raises(ValueError):
        refine_with_hints(rgb, alpha, clicks.empty_hints(alpha.shape).astype(np.float32))


def test_clicks_on_real_photos_improve_the_mask_and_honour_their_labels(persons_dev, rvm, segment):
    """The click simulator on a handful of persons-dev photos, rvm's masks as the starting point."""
    curves = []
    for stem in stems(persons_dev)[::15]:
        rgb, truth = load_pair(persons_dev, stem)
        initial = rvm.predict(rgb).alpha

        def check(step: int, click: clicks.Click, alpha: np.ndarray, hints: np.ndarray, truth=truth) -> None:
            assert np.all(alpha[hints == PERSON] == 1.0) and np.all(alpha[hints == NOT_PERSON] == 0.0)
            assert alpha[click.y, click.x] == (1.0 if click.positive else 0.0)
            assert click.positive == bool(truth[click.y, click.x])

        def refine(rgb, alpha, hints):
            return refine_with_hints(rgb, alpha, hints, segment=segment)

        curves.append(clicks.simulate(rgb, truth, initial, refine, clicks=3, on_step=check))
        assert curves[-1][0] == pytest.approx(iou(initial, truth))
    mean = np.mean(curves, axis=0)
    assert len(curves) >= 5 and mean[-1] > mean[0], f"mean IoU after 0..3 clicks: {mean}"


def test_black_dot_in_the_middle_of_a_joined_region_of_the_same_colour_removes_it():
    """A second, same-coloured figure joined to the subject (a passer-by behind a shoulder): one black dot in
    its middle removes it up to the photo's edge between them, from the photo alone (no network)."""
    height, width = 240, 320
    rgb = np.full((height, width, 3), 40, np.uint8)
    subject = np.zeros((height, width), bool)
    subject[60:240, 60:180] = True
    joined = ellipse((height, width), (220, 110), (45, 45)) & ~subject
    rgb[subject | joined] = (200, 170, 150)
    rgb[:, 180:182][(subject | joined)[:, 180:182]] = (120, 100, 90)  # the faint edge where they meet
    alpha = (subject | joined).astype(np.float32)
    hints = clicks.empty_hints(alpha.shape)
    clicks.draw_click(hints, clicks.Click(225, 110, positive=False))

    out = refine_with_hints(rgb, alpha, hints)
    assert np.mean(out[joined] < 0.5) > 0.9, "the joined figure is removed"
    assert np.mean(out[subject] >= 0.5) > 0.99, "the subject stays"
    without_region = refine_with_hints(rgb, alpha, hints, settings=RefineSettings(region_weight_remove=0.0))
    assert np.mean(without_region[joined] < 0.5) < 0.5, "colour alone cannot tell the two apart"


def test_a_white_dot_makes_the_region_opaque_even_where_the_network_sees_no_person():
    """An object the artist counts as the person (a helmet held to the chest) that the network calls background:
    the region a white dot brings back is opaque, soft only at its outline — not a half-transparent plateau."""
    height, width = 200, 260
    rgb = np.full((height, width, 3), 30, np.uint8)
    subject = np.zeros((height, width), bool)
    subject[40:200, 30:130] = True
    helmet = ellipse((height, width), (175, 140), (40, 40)) & ~subject
    rgb[subject] = (200, 170, 150)
    rgb[helmet] = (235, 235, 240)
    alpha = subject.astype(np.float32)
    hints = clicks.empty_hints(alpha.shape)
    clicks.draw_click(hints, clicks.Click(180, 140, positive=True))

    def sees_no_person_there(crop: np.ndarray) -> np.ndarray:
        return np.zeros(crop.shape[:2], np.float32)

    out = refine_with_hints(rgb, alpha, hints, segment=sees_no_person_there)
    assert np.mean(out[helmet] >= 0.5) > 0.9, "the helmet is brought back"
    deep = helmet & away_from(~helmet, DEFAULT_SETTINGS.ring)
    assert deep.any() and np.all(out[deep] == 1.0), "and is opaque inside"
    assert np.all(out[subject] == 1.0) and np.all(out[away_from(helmet | subject, 10)] == 0.0)


def test_a_white_dot_brings_back_the_holes_its_region_encloses_but_not_a_gap_beside_the_person():
    """The helmet's visor, dark as the background, is inside the helmet and comes back with it; the gap between
    an arm brought back and the torso opens onto the torso and stays background."""
    height, width = 220, 320
    background = (30, 30, 30)
    rgb = np.full((height, width, 3), background, np.uint8)
    torso = np.zeros((height, width), bool)
    torso[40:220, 30:110] = True
    helmet = ellipse((height, width), (250, 150), (45, 45))
    visor = ellipse((height, width), (250, 150), (20, 14))
    arm = np.zeros((height, width), bool)  # a bent arm: out from the torso, down, and back in
    arm[60:75, 110:170] = True
    arm[60:140, 155:170] = True
    arm[125:140, 110:170] = True
    gap = np.zeros((height, width), bool)
    gap[75:125, 110:155] = True
    rgb[torso | arm] = (200, 170, 150)
    rgb[helmet] = (235, 235, 240)
    rgb[visor] = background
    alpha = torso.astype(np.float32)
    hints = clicks.empty_hints(alpha.shape)
    clicks.draw_click(hints, clicks.Click(250, 120, positive=True))  # on the helmet, above the visor
    clicks.draw_click(hints, clicks.Click(162, 100, positive=True))  # on the arm's forearm

    def sees_no_person_there(crop: np.ndarray) -> np.ndarray:
        return np.zeros(crop.shape[:2], np.float32)

    out = refine_with_hints(rgb, alpha, hints, segment=sees_no_person_there)
    assert np.mean(out[helmet & ~visor] >= 0.5) > 0.95 and np.mean(out[arm] >= 0.5) > 0.95
    assert np.mean(out[visor] >= 0.5) > 0.95, "the visor is part of the helmet"
    assert np.mean(out[gap] < 0.5) > 0.95, "the gap beside the torso is not a hole of the arm"
    unfilled = refine_with_hints(rgb, alpha, hints, segment=sees_no_person_there,
                                 settings=RefineSettings(fill_enclosed=False))
    assert np.mean(unfilled[visor] >= 0.5) < 0.1, "colour alone leaves the visor out"


def test_a_black_dot_takes_the_thin_outline_of_what_it_removes_with_it():
    """A region joined to the subject leaves no sliver of its outline standing when a black dot removes it
    (seen on the astronaut: the black table a white dot on the helmet had brought along, removed by a second
    dot, left 1-px lines of alpha up to 0.9 where the cut, decided at a coarser scale, missed its edge)."""
    height, width = 220, 260
    rgb = np.full((height, width, 3), 30, np.uint8)
    subject = np.zeros((height, width), bool)
    subject[40:200, 30:130] = True
    table = np.zeros((height, width), bool)
    table[60:140, 130:220] = True
    outline = np.zeros((height, width), bool)  # a 1-px edge left around the table, coloured like the subject
    outline[59, 130:221] = outline[140, 130:221] = True
    outline[59:141, 220] = True
    rgb[subject | outline] = (200, 170, 150)
    rgb[table] = (90, 90, 100)
    alpha = (subject | table).astype(np.float32)
    alpha[outline] = 0.9
    hints = clicks.empty_hints(alpha.shape)
    clicks.draw_click(hints, clicks.Click(175, 100, positive=False))
    out = refine_with_hints(rgb, alpha, hints)
    assert np.mean(out[table] < 0.5) > 0.95
    assert np.all(out[outline & away_from(subject, 3)] < 0.5), "no sliver of the table's outline stays"
    assert np.all(out[subject] == alpha[subject]), "the subject is untouched"


def test_what_a_black_dot_removes_ends_on_the_photos_edge_not_on_the_cuts_coarser_grid():
    """A large crop is decided at most ``work_size`` pixels across; its outline is put back on the photo's
    edges at full size, not left as a staircase of the coarser grid (seen beside the astronaut's helmet)."""
    height, width = 640, 640
    rows, cols = np.indices((height, width))
    slant = 300 + 0.6 * (rows - 80)  # the person's right edge, slanted
    rgb = np.full((height, width, 3), 30, np.uint8)
    band = (rows >= 80) & (rows < 560)
    person = band & (cols >= 80) & (cols < slant)
    joined = band & (cols >= slant) & (cols < slant + 120)  # joined to it, of another colour
    rgb[person] = (200, 170, 150)
    rgb[joined] = (70, 90, 120)
    alpha = (person | joined).astype(np.float32)
    hints = clicks.empty_hints(alpha.shape)
    clicks.draw_click(hints, clicks.Click(492, 300, positive=False))
    side = max(DEFAULT_SETTINGS.min_crop, DEFAULT_SETTINGS.crop_scale * person_size(alpha))
    assert side > 1.5 * DEFAULT_SETTINGS.work_size, "decided at least 1.5 times smaller than the crop"
    out = refine_with_hints(rgb, alpha, hints)
    near = (rows >= 270) & (rows < 330)  # beside the dot, where the removed region meets the person
    assert np.mean(out[joined & near] < 0.5) > 0.99, "the joined region goes"
    wrong = ((out >= 0.5) != person) & near & (np.abs(cols - slant) < 8)
    assert np.count_nonzero(wrong) <= 0.5 * 60, "its outline lies within a pixel of the photo's edge"


def test_the_readme_refine_picture_shows_the_helmet_brought_back_and_the_table_removed(weights, tmp_path):
    """``refine-demo``'s rounds, as the README's picture shows them: ``rvm``'s cut-out of the astronaut leaves out
    the helmet she holds; a white dot brings it back, opaque; a black dot removes the table it brought along; her
    face never changes."""
    from server.demos import refine_pictures

    installed(registry.create(refine_pictures.SEGMENTER, "cpu", weights))
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    alphas, hints = refine_pictures.refine_rounds(rgb)
    assert len(alphas) == len(refine_pictures.CLICKS) + 1
    helmet, table, face = (ellipse(rgb.shape[:2], centre, (r, r)) for centre, r in
                           (((400, 440), 30), ((470, 300), 20), ((225, 110), 40)))
    assert np.mean(alphas[0][helmet] < 0.5) > 0.9, "the network leaves the helmet out"
    assert np.all(alphas[1][helmet] >= 0.5), "one white dot brings it back"
    assert np.mean(alphas[1][table] >= 0.5) > 0.9 and np.all(alphas[2][table] < 0.5), "the black dot takes the table"
    assert np.all(alphas[-1][helmet] >= 0.5), "and leaves the helmet"
    for alpha in alphas[1:]:
        np.testing.assert_array_equal(alpha[face], alphas[0][face])
    for click in refine_pictures.CLICKS:  # every round's dot stays in the hints, as on GIMP's Hints layer
        assert hints[click.y, click.x] == (clicks.PERSON if click.positive else clicks.NOT_PERSON)
    picture = refine_pictures.picture(rgb, alphas, refine_pictures.CLICKS)
    assert picture.shape == (rgb.shape[0], 3 * rgb.shape[1] + 16, 3)

    from server.commands.main import main

    assert main(["refine-demo", "--out", str(tmp_path), "--width", "400"]) == 0
    with Image.open(tmp_path / "refine-helmet.jpg") as written:
        assert written.size == (400, round(400 * picture.shape[0] / picture.shape[1]))


def test_thousands_of_strokes_are_pinned_but_only_the_most_contradicted_are_redone(astronaut):
    """A hints frame of 2,000 separate dots (a selection by colour sent as a keep hint, or a crafted frame) costs
    at most ``max_strokes`` redos, not one crop, cut and network pass per dot; every dot is still honoured."""
    rgb, alpha = astronaut
    hints = clicks.empty_hints(alpha.shape)
    grid = hints[4::10, 4::10]
    grid[...] = np.where(alpha[4::10, 4::10] >= 0.5, NOT_PERSON, PERSON)  # each dot says the opposite of the mask
    assert np.count_nonzero(hints != clicks.NO_HINT) > 2000
    passes = []

    def counted(crop: np.ndarray) -> np.ndarray:
        passes.append(crop.shape)
        return np.zeros(crop.shape[:2], np.float32)

    settings = RefineSettings(max_strokes=5)
    out = refine_with_hints(rgb, alpha, hints, segment=counted, settings=settings)
    assert 0 < len(passes) <= settings.max_strokes
    assert np.all(out[hints == PERSON] == 1.0) and np.all(out[hints == NOT_PERSON] == 0.0)


def test_a_black_dot_beside_an_object_keeps_the_background_not_a_slice_of_the_object():
    """Strokes of the two labels share a crop by distance along the photo: a path from a black dot on the
    background into a light object crosses its edge, so the whole object goes to the white dot on it. By
    straight-line distance the slice nearer the black dot stayed out (seen on the astronaut's helmet rim)."""
    height, width = 200, 240
    rgb = np.full((height, width, 3), 30, np.uint8)
    subject = np.zeros((height, width), bool)
    subject[20:200, :60] = True
    thing = np.zeros((height, width), bool)
    thing[60:140, 60:140] = True  # held against the subject, left out by the network
    rgb[subject] = (200, 170, 150)
    rgb[thing] = (235, 235, 240)
    alpha = subject.astype(np.float32)
    hints = clicks.empty_hints(alpha.shape)
    clicks.draw_click(hints, clicks.Click(100, 100, positive=True))
    clicks.draw_click(hints, clicks.Click(160, 100, positive=False))  # on the background, 20 px from the thing
    slice_ = thing & (np.indices(thing.shape)[1] >= 133)  # nearer the black dot in a straight line

    def sees_no_person_there(crop: np.ndarray) -> np.ndarray:
        return np.zeros(crop.shape[:2], np.float32)

    out = refine_with_hints(rgb, alpha, hints, segment=sees_no_person_there)
    assert np.mean(out[thing] >= 0.5) > 0.98
    straight = refine_with_hints(rgb, alpha, hints, segment=sees_no_person_there,
                                 settings=RefineSettings(edge_crossing=0.0))
    assert np.mean(straight[slice_] < 0.5) > 0.9, "by straight-line distance the slice stays out"
