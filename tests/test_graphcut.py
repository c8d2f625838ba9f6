"""The grid graph cut (server/pipeline/graphcut.py): the exact minimum on small grids, and edges that follow the
photo."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from server.pipeline.graphcut import HARD, OFFSETS, contrast_weights, min_cut


def energy(labels: np.ndarray, cost_0: np.ndarray, cost_1: np.ndarray, edges: list[np.ndarray]) -> float:
    h, w = labels.shape
    total = float(np.where(labels, cost_1, cost_0).sum())
    for weight, (dy, dx) in zip(edges, OFFSETS, strict=True):
        a = labels[: h - dy, max(0, -dx) : w - max(0, dx)]
        b = labels[dy:, max(0, dx) : w - max(0, -dx)]
        total += float((weight * (a != b)).sum())
    return total


def test_min_cut_finds_the_least_energy_of_every_labelling():
    rng = np.random.default_rng(7)
    for _ in range(15):
        cost_0, cost_1 = rng.uniform(0, 3, (3, 3)), rng.uniform(0, 3, (3, 3))
        edges = [2.0 * e for e in contrast_weights(rng.uniform(0, 255, (3, 3, 3)))]
        best = min(
            energy(np.array(bits, bool).reshape(3, 3), cost_0, cost_1, edges)
            for bits in itertools.product((False, True), repeat=9)
        )
        found = energy(min_cut(cost_0, cost_1, edges), cost_0, cost_1, edges)
        assert found <= best + 0.05  # costs are rounded to 1/100


def test_the_cut_cleans_a_noisy_colour_cue_along_the_photos_edges():
    """The suit's round mission patch: a purple-versus-orange cue misses its white lettering; the cut does not."""
    photo = np.asarray(Image.open(Path(__file__).parent / "data" / "astronaut.png").convert("RGB"))
    patch = photo[335:435, 117:217].astype(np.float32)
    disc = np.zeros(patch.shape[:2], np.uint8)
    cv2.circle(disc, (50, 50), 37, 1, thickness=-1)  # the patch's outline, measured on the photo
    red, blue = patch[..., 0], patch[..., 2]
    purple, orange = blue > red, red > blue + 60
    cost_0, cost_1 = purple.astype(float), orange.astype(float)
    cost_0[50, 50] = HARD  # the centre must be 1, whatever the cue says
    labels = min_cut(cost_0, cost_1, [3.0 * e for e in contrast_weights(patch)])
    assert labels[50, 50]
    cue, cut = np.mean(purple == disc.astype(bool)), np.mean(labels == disc.astype(bool))
    assert cut > 0.9 and cut > cue + 0.05, (cue, cut)
