"""Hints through the pipeline: ``run_cutout(hints=…)`` in process and the option ``hints`` through a real
loopback server, on a given mask (``mask: alpha``) and on a fresh cut-out.

The default segmenter (``people``) re-runs on the crops, so these tests need its weights; the refusals
need none.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import zmq
from PIL import Image

from cutout_common.client import Client, ServerError
from models import registry
from models.base import OptionError
from server.pipeline.cutout import run_cutout
from server.pipeline.model_cache import ModelCache
from server.pipeline.refine import NO_HINT, NOT_PERSON, PERSON
from server.transport.service import Server, ServerConfig
from tests import doubles
from tests.conftest import installed

ASTRONAUT = Path(__file__).resolve().parent / "data" / "astronaut.png"


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(Image.open(ASTRONAUT).convert("RGB"))


@pytest.fixture(scope="module")
def default_installed(weights) -> str:
    name = registry.resolve(None, weights=weights)
    installed(registry.create(name, "cpu", weights))
    return name


@pytest.fixture(scope="module")
def server(default_installed):
    running = Server(ServerConfig(endpoint="tcp://127.0.0.1:*", workers=1))
    endpoint = running.start()
    yield endpoint
    running.close()


def client(endpoint: str) -> Client:
    return Client(endpoint, context=zmq.Context.instance(), deadline=120, silence_timeout=60)


def spoiled_mask(rgb: np.ndarray, endpoint: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the server's own mask, that mask with the backdrop beside her hair pasted in, the pasted region)."""
    height, width = rgb.shape[:2]
    with client(endpoint) as c:
        reply = c.cutout(rgb.tobytes(), width, height, "RGB8", options={"foreground": False})
    mask = np.frombuffer(reply.frames["mask"], np.uint8).reshape(height, width).copy()
    wrong = np.zeros(mask.shape, np.uint8)
    cv2.ellipse(wrong, (335, 110), (40, 50), 0, 0, 360, 1, thickness=-1)
    wrong = wrong.astype(bool) & (mask < 128)
    assert np.count_nonzero(wrong) > 4000
    spoiled = mask.copy()
    spoiled[wrong] = 255
    return mask, spoiled, wrong


def black_dot(shape: tuple[int, int], centre: tuple[int, int], radius: int = 5) -> np.ndarray:
    hints = np.full(shape, NO_HINT, np.uint8)
    cv2.circle(hints, centre, radius, NOT_PERSON, thickness=-1)
    return hints


def far_from(region: np.ndarray, distance: int) -> np.ndarray:
    return cv2.distanceTransform((~region).view(np.uint8), cv2.DIST_L2, 5) > distance


def test_a_black_stroke_on_a_given_mask_removes_the_mistake_and_nothing_far_from_it(astronaut, server):
    rgb = astronaut
    height, width = rgb.shape[:2]
    _, spoiled, wrong = spoiled_mask(rgb, server)
    hints = black_dot(spoiled.shape, (335, 110))
    rgba = np.dstack([rgb, spoiled])
    stages = []
    with client(server) as c:
        reply = c.cutout(rgba.tobytes(), width, height, "RGBA8", options={"mask": "alpha", "foreground": False},
                         hints=hints.tobytes(), on_progress=lambda stage, fraction: stages.append(stage))
    out = np.frombuffer(reply.frames["mask"], np.uint8).reshape(height, width)
    assert np.all(out[hints == NOT_PERSON] == 0), "the stroke's pixels are hard"
    assert np.mean(out[wrong] < 128) > 0.8, "most of the pasted patch goes, not only the dot"
    far = far_from(wrong, 40)
    np.testing.assert_array_equal(out[far], spoiled[far])
    assert "refine" in stages


def test_hints_on_a_fresh_cut_out_change_it_only_near_the_stroke(astronaut, server):
    rgb = astronaut
    height, width = rgb.shape[:2]
    mask, _, _ = spoiled_mask(rgb, server)
    hints = np.full(mask.shape, NO_HINT, np.uint8)
    cv2.line(hints, (200, 330), (260, 330), NOT_PERSON, 9)  # across her suit: the artist says no
    assert np.all(mask[hints == NOT_PERSON] >= 128)
    with client(server) as c:
        reply = c.cutout(rgb.tobytes(), width, height, "RGB8", options={"foreground": False}, hints=hints.tobytes())
    out = np.frombuffer(reply.frames["mask"], np.uint8).reshape(height, width)
    assert np.all(out[hints == NOT_PERSON] == 0)
    stroke = hints == NOT_PERSON
    reach = np.zeros(mask.shape, bool)  # the crop's bound: the stroke's box grown by 1.5 person sizes
    side = int(np.ceil(1.5 * max(np.sqrt(np.count_nonzero(mask >= 128)), 0.1 * np.hypot(height, width))))
    ys, xs = np.nonzero(stroke)
    reach[max(0, ys.min() - side) : ys.max() + side + 1, max(0, xs.min() - side) : xs.max() + side + 1] = True
    np.testing.assert_array_equal(out[~reach], mask[~reach])
    assert np.count_nonzero(out != mask) > np.count_nonzero(stroke), "more than the painted pixels changed"


def test_hints_the_mask_agrees_with_change_nothing(astronaut, server):
    rgb = astronaut
    height, width = rgb.shape[:2]
    mask, _, _ = spoiled_mask(rgb, server)
    hints = black_dot(mask.shape, (20, 20))  # the corner, background already
    cv2.circle(hints, (200, 120), 6, PERSON, -1)  # her face, person already
    rgba = np.dstack([rgb, mask])
    with client(server) as c:
        reply = c.cutout(rgba.tobytes(), width, height, "RGBA8", options={"mask": "alpha", "foreground": False},
                         hints=hints.tobytes())
    out = np.frombuffer(reply.frames["mask"], np.uint8).reshape(height, width)
    expected = mask.copy()
    expected[hints == PERSON] = 255
    expected[hints == NOT_PERSON] = 0
    np.testing.assert_array_equal(out, expected)


# ------------------------------------------------------------------------ refusals (no weights needed)


@pytest.fixture
def doubles_server():
    running = Server(ServerConfig(endpoint="tcp://127.0.0.1:*", workers=1), factory=doubles.factory,
                     names=list(doubles.DOUBLES))
    endpoint = running.start()
    yield endpoint
    running.close()


def test_a_hints_frame_of_the_wrong_size_is_a_clear_error(doubles_server):
    from cutout_common import protocol

    rgb = np.zeros((48, 64, 3), np.uint8)
    frames = protocol.encode_image_request("cutout", rgb.tobytes(), 64, 48, "RGB8", segmenter="brightness",
                                           hints=np.zeros((47, 64), np.uint8).tobytes())
    with client(doubles_server) as c, pytest.raises(ServerError) as caught:
        c.request(frames)
    assert caught.value.code == "bad_frame_size"
    assert "hints" in str(caught.value) and "64×48" in str(caught.value)


def loading_recorded() -> tuple[ModelCache, list[str]]:
    """A model cache of the stand-in segmenters, and the names it loads, in order."""
    loaded: list[str] = []

    def factory(name, device, weights):
        loaded.append(name)
        return doubles.factory(name, device, weights)

    return ModelCache("cpu", factory=factory), loaded


def test_run_cutout_refuses_hints_of_the_wrong_size_or_missing_before_segmenting():
    cache, calls = loading_recorded()
    rgb = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(OptionError, match="64×48"):
        run_cutout(rgb, "brightness", None, cache, hints=np.zeros((48, 63), np.uint8))
    with pytest.raises(OptionError, match="one byte per pixel"):
        run_cutout(rgb, "brightness", None, cache, hints=np.zeros((48, 64), np.float32))
    with pytest.raises(OptionError, match="no hints image"):
        run_cutout(rgb, "brightness", {"hints": True}, cache)
    assert calls == []


def test_a_given_mask_the_hints_agree_with_loads_no_network_and_one_they_contradict_does():
    cache, loaded = loading_recorded()
    rgb = np.full((120, 160, 3), 230, np.uint8)
    given = np.zeros((120, 160), np.uint8)
    given[20:100, 40:120] = 255
    hints = np.full((120, 160), NO_HINT, np.uint8)
    cv2.circle(hints, (80, 60), 5, PERSON, -1)  # inside the given mask already
    options = {"hints": True, "mask": "alpha"}
    agreed = run_cutout(rgb, "brightness", options, cache, given_alpha=given, hints=hints).alpha
    assert loaded == [] and np.array_equal(agreed >= 0.5, given > 127)
    cv2.circle(hints, (10, 10), 5, NOT_PERSON, -1)  # still agrees: background already
    cv2.circle(hints, (140, 60), 5, PERSON, -1)  # outside the mask: a correction
    run_cutout(rgb, "brightness", options, cache, given_alpha=given, hints=hints)
    assert loaded == ["brightness"]


def test_run_cutout_applies_hints_with_any_segmenter():
    """The brightness stand-in re-run on crops: a white dot in a dark photo's dark half brings back its region."""
    cache = ModelCache("cpu", factory=doubles.factory)
    rgb = np.full((120, 160, 3), 230, np.uint8)
    rgb[:, :60] = 20  # a dark block the stand-in calls background
    hints = np.full((120, 160), NO_HINT, np.uint8)
    cv2.circle(hints, (30, 60), 5, PERSON, -1)
    plain = run_cutout(rgb, "brightness", None, cache).alpha
    hinted = run_cutout(rgb, "brightness", {"hints": True}, cache, hints=hints).alpha
    assert np.all(hinted[hints == PERSON] == 1.0)
    assert np.mean(hinted[:, :60] >= 0.5) > np.mean(plain[:, :60] >= 0.5)


def test_a_refine_is_cancelled_like_any_other_request(doubles_server):
    """Four strokes, each re-running the slow stand-in (2 s) on its crop: a cancel after the first stops it."""
    rgb = np.full((48, 64, 3), 200, np.uint8)
    rgba = np.dstack([rgb, np.full((48, 64), 255, np.uint8)])  # the given mask: all person
    hints = np.full((48, 64), NO_HINT, np.uint8)
    for x in (8, 24, 40, 56):
        cv2.circle(hints, (x, 24), 2, NOT_PERSON, -1)
    seen: list[str] = []
    with client(doubles_server) as c:
        with pytest.raises(ServerError) as info:
            c.cutout(rgba.tobytes(), 64, 48, "RGBA8", segmenter="slow", options={"mask": "alpha"},
                     hints=hints.tobytes(), on_progress=lambda stage, fraction: seen.append(stage),
                     cancelled=lambda: "refine" in seen)
        assert info.value.code == "cancelled"
        started = time.monotonic()
        assert c.cutout(rgb.tobytes(), 64, 48, "RGB8", segmenter="brightness").type == "result"
        assert time.monotonic() - started < 4, "the refine stopped at its next step, not after all four strokes"


def test_edges_work_on_the_mask_the_hints_refined():
    """With edges on, the refined mask is what gets matted (not the segmenter's first mask)."""
    cache = ModelCache("cpu", factory=doubles.factory)
    rgb = np.full((80, 100, 3), 230, np.uint8)
    rgb[:, :50] = 20
    mask = np.zeros((80, 100), np.uint8)
    mask[:, 50:] = 255
    mask[30:50, 5:30] = 255  # a separate piece the artist removes with one dot
    hints = np.full((80, 100), NO_HINT, np.uint8)
    cv2.circle(hints, (17, 40), 2, NOT_PERSON, -1)
    for edges in ("off", "fast"):
        out = run_cutout(rgb, "brightness", {"mask": "alpha", "edges": edges}, cache, given_alpha=mask, hints=hints)
        assert out.alpha[30:50, 5:30].max() < 0.1, edges
