"""The quality measures against small cases worked out by hand (numbers in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.evaluation import metrics


def square(size: int = 40, top: int = 10, left: int = 10, side: int = 10) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[top : top + side, left : left + side] = True
    return mask


# -- precision, recall, F1, IoU, MAE -------------------------------------------------------


def test_empty_prediction_scores_zero_where_there_is_a_person():
    truth = np.zeros((4, 4), bool)
    truth[1:3, 1:3] = True  # 4 person pixels of 16
    pred = np.zeros((4, 4), np.float32)
    m = metrics.photo_metrics(pred, truth)
    assert (m["precision"], m["recall"], m["f1"], m["iou"], m["boundary_f"]) == (0, 0, 0, 0, 0)
    assert m["mae"] == pytest.approx(4 / 16)


def test_empty_truth_scores_zero_for_a_predicted_person():
    truth = np.zeros((4, 4), bool)
    pred = np.zeros((4, 4), np.float32)
    pred[0, :] = 0.8  # 4 pixels claimed, 0.8 each
    m = metrics.photo_metrics(pred, truth)
    assert (m["precision"], m["recall"], m["f1"], m["iou"]) == (0, 0, 0, 0)
    assert m["mae"] == pytest.approx(4 * 0.8 / 16)


def test_both_empty_is_a_perfect_answer():
    m = metrics.photo_metrics(np.zeros((5, 7), np.float32), np.zeros((5, 7), bool))
    assert (m["precision"], m["recall"], m["f1"], m["iou"], m["boundary_f"], m["mae"]) == (1, 1, 1, 1, 1, 0)


def test_all_ones_prediction_on_half_a_photo():
    truth = np.zeros((4, 4), bool)
    truth[:, :2] = True  # TP 8, FP 8, FN 0
    pred = np.ones((4, 4), np.float32)
    precision, recall, f1 = metrics.precision_recall_f1(pred, truth)
    assert (precision, recall) == (0.5, 1.0)
    assert f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)  # 2/3
    assert metrics.iou(pred, truth) == 0.5
    assert metrics.mae(pred, truth) == 0.5


def test_all_ones_both_is_perfect():
    ones = np.ones((3, 3), np.float32)
    assert metrics.precision_recall_f1(ones, ones > 0) == (1.0, 1.0, 1.0)
    assert metrics.iou(ones, ones) == 1.0
    # the photo's border is no outline: no contour in either, the same answer
    assert metrics.boundary_f(ones, ones) == 1.0


def test_threshold_is_half_inclusive():
    pred = np.array([[0.5, 0.49]], np.float32)
    truth = np.array([[True, True]])
    assert metrics.confusion(pred, truth) == (1, 0, 1, 0)
    assert metrics.precision_recall_f1(pred, truth) == (1.0, 0.5, pytest.approx(2 / 3))


def test_mae_uses_soft_values():
    pred = np.array([[0.2, 0.7], [1.0, 0.0]], np.float32)
    truth = np.array([[0, 1], [1, 0]], bool)
    # |0.2| + |0.7 − 1| + 0 + 0 = 0.5 over 4 pixels; the binarised masks agree exactly
    assert metrics.mae(pred, truth) == pytest.approx(0.125)
    assert metrics.iou(pred, truth) == 1.0


def test_sizes_must_match():
    with pytest.raises(ValueError, match="differ in size"):
        metrics.iou(np.zeros((2, 2)), np.zeros((2, 3)))


# -- boundary F-measure --------------------------------------------------------------------


def test_contour_is_the_inner_ring():
    ring = metrics.contour(square())
    assert np.count_nonzero(ring) == 36  # a 10×10 square: 4·10 − 4 corners
    assert not ring[11:19, 11:19].any()


def test_tolerance_is_one_percent_of_the_diagonal_rounded_up():
    assert metrics.tolerance_pixels((40, 40)) == 1  # 0.566 px → 1
    assert metrics.tolerance_pixels((600, 800)) == 10  # diagonal 1000
    assert metrics.tolerance_pixels((601, 800)) == 11  # 10.005 → 11


def test_one_pixel_shift_is_within_tolerance():
    truth, pred = square(), square(left=11)
    assert metrics.boundary_f(pred, truth) == 1.0
    # region measures do see it: IoU 90 / 110
    assert metrics.iou(pred, truth) == pytest.approx(90 / 110)


def test_one_pixel_shift_with_zero_tolerance_matches_half_the_outline():
    # rings of 36 pixels; they share the top and bottom rows' columns 11..19: 2 × 9 = 18 pixels
    truth, pred = square(), square(left=11)
    assert metrics.boundary_f(pred, truth, tolerance=0.0) == pytest.approx(0.5)


def test_outlines_far_apart_score_zero():
    truth, pred = square(size=60, left=5), square(size=60, left=40)
    assert metrics.boundary_f(pred, truth) == 0.0


def test_boundary_with_one_empty_side_is_zero():
    assert metrics.boundary_f(np.zeros((40, 40)), square()) == 0.0
    assert metrics.boundary_f(square(), np.zeros((40, 40))) == 0.0


# -- alpha matting measures ----------------------------------------------------------------


def test_sad_and_mse_on_a_flat_half():
    pred = np.full((10, 10), 0.5, np.float32)
    truth = np.zeros((10, 10), np.float32)
    assert metrics.sad(pred, truth) == pytest.approx(50 / 1000)  # 100 pixels × 0.5, in thousands
    assert metrics.mse(pred, truth) == pytest.approx(0.25)


def test_sad_and_mse_in_a_region():
    pred = np.array([[0.0, 0.4], [0.2, 1.0]], np.float32)
    truth = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    region = np.array([[False, True], [True, False]])
    assert metrics.sad(pred, truth, region) == pytest.approx((0.4 + 0.8) / 1000)
    assert metrics.mse(pred, truth, region) == pytest.approx((0.16 + 0.64) / 2)


def test_gradient_kernel_size_for_sigma_1_4():
    # halfsize = ceil(1.4 · sqrt(−2 ln(sqrt(2π) · 1.4 · 0.01))) = ceil(3.62) = 4 → 9×9
    kernel = metrics.derivative_of_gaussian_kernel(1.4)
    assert kernel.shape == (9, 9)
    assert np.sum(kernel**2) == pytest.approx(1.0)
    np.testing.assert_allclose(kernel, -kernel[:, ::-1], atol=1e-12)  # odd along x
    np.testing.assert_allclose(kernel, kernel[::-1, :], atol=1e-12)  # even along y


def test_gradient_error_is_zero_for_equal_and_for_stretched_mattes():
    truth = np.zeros((12, 12), np.float32)
    truth[:, 6:] = 1.0
    truth[:, 5] = 0.5
    assert metrics.gradient_error(truth, truth) == 0.0
    # the benchmark min-max normalises both mattes, so 0.2 + 0.6·truth is the same matte
    assert metrics.gradient_error(0.2 + 0.6 * truth, truth) == pytest.approx(0.0, abs=1e-12)


def test_gradient_error_of_a_flat_prediction_against_a_step():
    """A flat matte has no gradient, so the error is the truth's own squared gradient, in thousands.

    The truth is a vertical step (0 left of column 5, 1 from it), so only the x-derivative is
    non-zero: at column c it is ||g||₁ / (||g||₂ ||g'||₂) · Σ_{u: c−u ≥ 5} g'(u) with the
    benchmark's 1-D Gaussian g (σ 1.4) and derivative g' on u = −4..4 (replicated borders keep
    the step). Computed here from those sums, independently of the 2-D filtering in the module.
    """
    sigma, half, rows, cols, k = 1.4, 4, 6, 11, 5
    us = range(-half, half + 1)
    g = [math.exp(-(u * u) / (2 * sigma * sigma)) / (sigma * math.sqrt(2 * math.pi)) for u in us]
    dg = [-u * gv / sigma**2 for u, gv in zip(us, g, strict=True)]
    scale = sum(g) / (math.sqrt(sum(v * v for v in g)) * math.sqrt(sum(v * v for v in dg)))
    expected = 0.0
    for c in range(cols):
        gx = scale * sum(d for u, d in zip(us, dg, strict=True) if min(max(c - u, 0), cols - 1) >= k)
        expected += rows * gx * gx
    truth = np.zeros((rows, cols), np.float32)
    truth[:, k:] = 1.0
    flat = np.full((rows, cols), 0.3, np.float32)
    assert metrics.gradient_error(flat, truth) == pytest.approx(expected / 1000, rel=1e-9)
    assert expected > 0


def test_photo_metrics_adds_matting_measures_only_for_alpha_truth():
    pred = np.zeros((4, 4), np.float32)
    truth = np.zeros((4, 4), np.float32)
    assert "sad" not in metrics.photo_metrics(pred, truth)
    assert {"sad", "mse", "gradient"} <= set(metrics.photo_metrics(pred, truth, alpha_truth=True))


def test_stray_soft_alpha_counts_soft_pixels_away_from_the_true_outline_only():
    truth = np.zeros((200, 200), bool)
    truth[50:150, 60:140] = True
    pred = truth.astype(np.float32)
    assert metrics.stray_soft_alpha(pred, truth) == 0.0
    hairy = pred.copy()
    hairy[48:52, 60:140] = 0.5  # soft right on the outline: hair, allowed
    assert metrics.stray_soft_alpha(hairy, truth) == 0.0
    smeared = pred.copy()
    smeared[10:30, 10:40] = 0.4  # a soft blob in the background, far from the person: 600 px = 1.5 %
    smeared[100, 100] = 0.95  # confident enough: not soft
    assert metrics.stray_soft_alpha(smeared, truth) == pytest.approx(600 / 40000)
    assert metrics.stray_soft_alpha(smeared, truth) > metrics.SMEAR_SHARE
    inside = pred.copy()
    inside[90:110, 90:110] = 0.5  # soft inside the person, far from its outline: a smear too
    assert metrics.stray_soft_alpha(inside, truth) == pytest.approx(400 / 40000)


def test_person_size_classes_by_share_of_the_photo():
    truth = np.zeros((100, 100), bool)
    truth[:2, :2] = True
    assert metrics.person_size(truth) == "small"
    truth[:30, :30] = True
    assert metrics.person_size(truth) == "medium"
    truth[:60, :60] = True
    assert metrics.person_size(truth) == "large"


def test_outline_offset_tells_which_way_the_outline_must_move():
    truth = np.zeros((100, 100), bool)
    truth[20:80, 30:70] = True  # 60×40
    inside = np.zeros_like(truth)
    inside[21:79, 31:69] = True  # a pixel inside the truth all round, as persons-dev's masks sit around ours
    grown, shrunk = metrics.outline_offset_ious(inside, truth)
    assert grown == pytest.approx((60 * 40 - 4) / (60 * 40))  # a 3×3 cross: one pixel per side, not the corners
    assert shrunk == pytest.approx(56 * 36 / (60 * 40))
    outside = np.zeros_like(truth)
    outside[19:81, 29:71] = True
    grown, shrunk = metrics.outline_offset_ious(outside, truth)
    assert shrunk == pytest.approx(1.0) and grown == pytest.approx(60 * 40 / (64 * 44 - 4))
    scores = metrics.photo_metrics(inside.astype(np.float32), truth)
    assert scores["iou_grown"] > scores["iou"] > scores["iou_shrunk"]
