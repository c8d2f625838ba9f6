"""The click simulator (server/evaluation/clicks.py): where it clicks, how it labels, and the NoC convention."""

from __future__ import annotations

import numpy as np
import pytest

from server.evaluation import clicks
from server.evaluation.metrics import iou


def square(shape=(120, 160), top=20, left=30, size=80) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_clicks_the_middle_of_the_largest_missed_region():
    truth = square()
    pred = truth.copy()
    pred[40:60, 30:70] = False  # missed: 20 × 40, the largest error
    pred[5:10, 5:10] = True  # extra: 5 × 5
    click = clicks.next_click(pred.astype(np.float32), truth)
    assert click.positive
    assert 48 <= click.y <= 51 and 39 <= click.x <= 60


def test_an_extra_region_gets_a_negative_click():
    truth = square()
    pred = truth.copy()
    pred[100:118, 120:150] = True
    click = clicks.next_click(pred, truth)
    assert not click.positive and pred[click.y, click.x] and not truth[click.y, click.x]


def test_largest_is_by_area_not_by_depth_unless_asked():
    truth = np.zeros((100, 200), bool)
    pred = truth.copy()
    truth[10:30, 10:30] = True  # missed: 20 × 20 = 400 px, deep
    pred[60:66, 20:180] = True  # extra: 6 × 160 = 960 px, thin
    assert not clicks.next_click(pred, truth).positive
    assert clicks.next_click(pred, truth, rule="depth").positive


def test_the_photos_edge_counts_as_a_border():
    truth = np.zeros((60, 100), bool)
    truth[:20] = True  # a band cut by the top of the photo, all missed
    click = clicks.next_click(np.zeros_like(truth), truth)
    assert click.positive and 8 <= click.y <= 11


def test_no_error_no_click_and_clicked_pixels_are_not_chosen_again():
    truth = square()
    assert clicks.next_click(truth, truth) is None
    pred = truth.copy()
    pred[40:60, 30:70] = False
    first = clicks.next_click(pred, truth)
    clicked = np.zeros_like(truth)
    clicked[first.y, first.x] = True
    second = clicks.next_click(pred, truth, clicked=clicked)
    assert (second.x, second.y) != (first.x, first.y)


def test_a_click_is_a_disc_of_radius_five_and_hints_accumulate():
    hints = clicks.empty_hints((50, 50))
    clicks.draw_click(hints, clicks.Click(20, 20, True))
    clicks.draw_click(hints, clicks.Click(35, 35, False))
    assert hints[20, 20] == clicks.PERSON and hints[20, 25] == clicks.PERSON and hints[20, 26] == clicks.NO_HINT
    assert hints[35, 35] == clicks.NOT_PERSON and np.count_nonzero(hints == clicks.PERSON) == 81


def test_noc_counts_clicks_to_the_target_and_caps_at_n():
    ious = [0.80, 0.88, 0.93, 0.96]
    assert clicks.noc(ious, 0.90) == 2
    assert clicks.noc(ious, 0.95) == 3
    assert clicks.noc(ious, 0.99) == 3  # never reached: N
    assert clicks.noc([0.97, 0.5], 0.95) == 0
    assert clicks.failures([ious, [0.99, 0.99]], 0.99) == 1


def test_simulate_returns_one_iou_per_click_and_an_oracle_reaches_one():
    truth = square()
    pred = truth.copy()
    pred[40:60, 30:70] = False
    pred[100:110, 120:150] = True
    steps = []
    ious = clicks.simulate(
        np.zeros(truth.shape + (3,), np.uint8), truth, pred.astype(np.float32), clicks.oracle_refine(truth), clicks=4,
        on_step=lambda k, c, a, h: steps.append((k, c, np.count_nonzero(h != clicks.NO_HINT))),
    )
    assert len(ious) == 5 and ious[0] == pytest.approx(iou(pred, truth))
    assert ious[2] == 1.0 and ious[4] == 1.0 and ious[1] > ious[0]
    assert [k for k, _, _ in steps] == [1, 2]  # no click once the mask is right
    assert steps[1][2] > steps[0][2]  # the hints keep the first click


def test_summary_is_the_mean_curve_and_mean_noc():
    summary = clicks.summarise([[0.8, 0.92, 0.96], [0.95, 0.95, 0.97]])
    assert summary.mean_iou == pytest.approx([0.875, 0.935, 0.965])
    assert summary.noc[0.90] == pytest.approx(0.5) and summary.noc[0.95] == pytest.approx(1.0)
    text = clicks.format_summary(summary)
    assert "0.935" in text and "NoC@90: 0.50" in text and "NoC@95: 1.00" in text


def test_the_oracle_sets_right_whole_mistakes_a_hint_of_their_kind_lands_on():
    truth = np.zeros((60, 60), bool)
    truth[10:50, 10:50] = True
    pred = truth.copy()
    pred[25:35, 25:35] = False  # a hole in the middle
    pred[2:6, 2:6] = True  # a stray piece in the background
    hints = clicks.empty_hints(truth.shape)
    clicks.draw_click(hints, clicks.Click(30, 30, positive=False))  # a black dot on the hole: not its kind
    np.testing.assert_array_equal(clicks.oracle_refine(truth)(None, pred.astype(np.float32), hints), pred)
    clicks.draw_click(hints, clicks.Click(30, 30, positive=True))
    fixed = clicks.oracle_refine(truth)(None, pred.astype(np.float32), hints) >= 0.5
    np.testing.assert_array_equal(fixed[10:50, 10:50], True)  # the whole hole, not only the dot
    assert fixed[2:6, 2:6].all()  # the piece no hint touched stays


def test_the_second_oracle_leaves_the_true_outline_as_the_mask_has_it():
    truth = np.zeros((60, 60), bool)
    truth[10:50, 10:50] = True
    pred = np.zeros_like(truth)
    pred[12:48, 12:48] = True  # two pixels inside the true outline all round, and a hole that joins it
    pred[20:40, 12:40] = False
    hints = clicks.empty_hints(truth.shape)
    clicks.draw_click(hints, clicks.Click(25, 30, positive=True))
    whole = clicks.oracle_refine(truth)(None, pred.astype(np.float32), hints)
    kept = clicks.oracle_refine(truth, keep_outline=1)(None, pred.astype(np.float32), hints) >= 0.5
    assert iou(whole, truth) == 1.0  # the hole and the thin band it joins are one mistake
    assert kept[20:40, 14:40].all()  # the hole is filled...
    assert not kept[20:40, 10:12].any() and not kept[11, 20:40].any()  # ...the outline band left as it was
    assert kept[20:40, 12].all()  # the column just beyond the band is set right

