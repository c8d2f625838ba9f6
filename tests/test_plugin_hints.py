"""Refine Cut-out…'s GIMP-free logic (plugin_logic/hints.py): the hints frame and which layers are which."""

from __future__ import annotations

import numpy as np
import pytest
from plugin_logic import hints


def frame(data: bytes, width: int, height: int) -> np.ndarray:
    return np.frombuffer(data, np.uint8).reshape(height, width)


def expected_classes(rgba: np.ndarray) -> np.ndarray:
    """The rule written out in numpy: opaque and every channel light → 255, opaque and dark → 0, else 128."""
    colour, alpha = rgba[..., :3], rgba[..., 3]
    out = np.full(rgba.shape[:2], hints.NO_HINT, np.uint8)
    out[(alpha >= hints.OPAQUE) & np.all(colour >= hints.LIGHT, axis=-1)] = hints.PERSON
    out[(alpha >= hints.OPAQUE) & np.all(colour <= hints.DARK, axis=-1)] = hints.NOT_PERSON
    return out


def test_painted_pixels_become_hints_by_the_rule_on_random_pixels():
    rng = np.random.default_rng(1)
    # values drawn near the thresholds' both sides, so every branch is hit often
    choices = np.array([0, 30, 63, 64, 128, 191, 192, 230, 255], np.uint8)
    rgba = rng.choice(choices, size=(37, 53, 4))
    got = hints.hints_frame((53, 37), (rgba.tobytes(), (53, 37), (0, 0)))
    np.testing.assert_array_equal(frame(got, 53, 37), expected_classes(rgba))
    assert {0, 128, 255} == set(np.unique(frame(got, 53, 37)))


def test_a_brush_stroke_with_soft_rims_and_a_transparent_layer():
    rgba = np.zeros((10, 12, 4), np.uint8)  # a fresh Hints layer: transparent black
    assert set(hints.hints_frame((12, 10), (rgba.tobytes(), (12, 10), (0, 0)))) == {hints.NO_HINT}
    rgba[4:6, 2:10] = (255, 255, 255, 255)  # a white stroke
    rgba[3, 2:10] = (255, 255, 255, 100)  # its soft rim, less than half opaque
    rgba[7, 2:10] = (255, 0, 0, 255)  # a red stroke: no hint
    got = frame(hints.hints_frame((12, 10), (rgba.tobytes(), (12, 10), (0, 0))), 12, 10)
    assert np.all(got[4:6, 2:10] == 255) and np.all(got[3] == 128) and np.all(got[7] == 128)
    assert hints.count_hints(got.tobytes()) == (16, 0)


def test_a_hints_layer_elsewhere_on_the_canvas_is_placed_on_the_photo():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 255  # all black and opaque
    got = frame(hints.hints_frame((6, 5), (rgba.tobytes(), (4, 4), (3, -1))), 6, 5)
    expected = np.full((5, 6), 128, np.uint8)
    expected[0:3, 3:6] = 0  # rows -1..2 and columns 3..6 of the photo, clipped to it
    np.testing.assert_array_equal(got, expected)


def test_the_selection_keeps_and_a_black_stroke_wins_over_it():
    selection = np.zeros((5, 6), np.uint8)
    selection[1:4, 1:5] = 255
    selection[1, 1] = 100  # a feathered edge under half: not selected
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[2, :, 3] = 255  # a black line across the selection
    got = frame(
        hints.hints_frame((6, 5), (rgba.tobytes(), (6, 5), (0, 0)), (selection.tobytes(), (6, 5), (0, 0))), 6, 5
    )
    assert np.all(got[2] == 0)
    assert got[1, 1] == 128 and np.all(got[1, 2:5] == 255) and np.all(got[3, 1:5] == 255)
    assert got[0].tolist() == [128] * 6 and got[4].tolist() == [128] * 6
    only_selection = hints.hints_frame((6, 5), None, (selection.tobytes(), (6, 5), (0, 0)))
    assert hints.count_hints(only_selection) == (11, 0)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError):
        hints.classes_from_rgba(bytes(7))
    with pytest.raises(ValueError):
        hints.hints_frame((2, 2), None, (bytes(3), (2, 2), (0, 0)))


@pytest.mark.parametrize(
    "names, selected, photo, hints_layer",
    [
        (["Hints", "photo"], 1, 1, 0),  # the photo selected, its Hints layer above it
        (["Hints", "photo"], 0, 1, 0),  # the Hints layer left selected after painting
        (["Hints #1", "Hints", "photo", "background"], 1, 2, 1),  # the nearest Hints layer above
        (["photo", "Hints"], 0, 0, 1),  # a Hints layer below the photo still counts
        (["photo"], 0, 0, None),
        (["Hints"], 0, None, None),  # only hints: no photo
        (["Hintsy", "photo"], 1, 1, None),  # a layer merely named alike is not a Hints layer
    ],
)
def test_which_layer_is_the_photo_and_which_the_hints(names, selected, photo, hints_layer):
    assert hints.pick_photo(names, selected) == photo
    if photo is not None:
        assert hints.pick_hints(names, photo) == hints_layer
