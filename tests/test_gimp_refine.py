"""Refine Cut-out… in a real GIMP 3 (tests/gimp_harness.py): a black stroke on the Hints layer over a known
wrong region takes the region out of the layer mask, pixels far from it keep their values, one Ctrl+Z
brings the old mask back (and shows the Hints layer again).

The server runs in this process with the installed default segmenter. The wrong region is made on purpose:
the backdrop beside the astronaut's hair pasted into the server's own mask of her, as the artist's
"mistake"; the stroke is one black dot in it, as a brush leaves it (soft rim included).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from cutout_common.client import Client
from models import registry
from server.transport.service import Server, ServerConfig
from tests.conftest import IN_CI
from tests.test_gimp_plugin import REPO, gimp, home, workdir  # noqa: F401  (the same GIMP and profile)

BATCH = REPO / "tests" / "gimp_refine_batch.py"
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"  # 512 × 512 RGB
pytestmark = pytest.mark.gimp


@pytest.fixture(scope="module")
def server():
    name = registry.resolve(None)
    if registry.create(name).missing_weights():
        message = f"{name} weights missing (python install.py)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    running = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"))
    with running:
        yield running.endpoint


def spoiled_mask(endpoint: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the astronaut, the server's mask with the backdrop beside her hair pasted in, the pasted region)."""
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    with Client(endpoint, deadline=300) as client:
        reply = client.cutout(rgb.tobytes(), 512, 512, "RGB8", options={"foreground": False})
    mask = np.frombuffer(reply.frames["mask"], np.uint8).reshape(512, 512).copy()
    wrong = np.zeros(mask.shape, np.uint8)
    cv2.ellipse(wrong, (335, 110), (40, 50), 0, 0, 360, 1, thickness=-1)
    wrong = wrong.astype(bool) & (mask < 128)
    assert np.count_nonzero(wrong) > 4000
    mask[wrong] = 255
    return rgb, mask, wrong


def black_dot(centre: tuple[int, int], radius: int) -> np.ndarray:
    """RGBA strokes on a transparent layer: an opaque black disc with a half-transparent rim."""
    strokes = np.zeros((512, 512, 4), np.uint8)
    cv2.circle(strokes, centre, radius + 2, (0, 0, 0, 90), thickness=-1)
    cv2.circle(strokes, centre, radius, (0, 0, 0, 255), thickness=-1)
    return strokes


@pytest.mark.gui
def test_a_black_stroke_on_the_hints_layer_removes_the_mistake_in_one_undo_step(gimp, home, workdir, server):  # noqa: F811
    _, spoiled, wrong = spoiled_mask(server)
    strokes = black_dot((335, 110), 6)
    paths = {name: workdir / f"refine.{name}" for name in ("mask_in", "stroke_in", "mask_before", "mask_out")}
    paths["mask_in"].write_bytes(spoiled.tobytes())
    paths["stroke_in"].write_bytes(strokes.tobytes())
    for name in ("mask_before", "mask_out"):
        paths[name].unlink(missing_ok=True)
    report = gimp.scenario(BATCH, home, workdir, "refine", gui=True, undo=True, input=str(ASTRONAUT),
                           **{k: str(v) for k, v in paths.items()}, args={"endpoint": server})

    assert report["hints_added"], report.get("hints_error")
    assert report["layer_names"] == ["Hints", report["layer_names"][1]], "the Hints layer sits above the photo"
    assert report["hints_transparent"] and report["selected"] == ["Hints"]
    # Normal mode with an outline effect (issue 29, item 2): strokes show over what the mask hides and on black too
    assert "LAYER_MODE_NORMAL" in report["before"][0]["mode"] and report["before"][0]["visible"]
    assert report["before"][0]["filters"] == ["Hint outline"]
    assert report["success"], report.get("error")

    before = np.frombuffer(paths["mask_before"].read_bytes(), np.uint8).reshape(512, 512)
    np.testing.assert_array_equal(before, spoiled)
    after = np.frombuffer(paths["mask_out"].read_bytes(), np.uint8).reshape(512, 512)
    painted = strokes[..., 3] == 255
    assert np.all(after[painted] == 0), "the painted pixels are not person"
    assert np.mean(after[wrong] < 128) > 0.8, "the whole pasted region goes, not only the dot"
    far = cv2.distanceTransform((~wrong).view(np.uint8), cv2.DIST_L2, 5) > 40
    np.testing.assert_array_equal(after[far], spoiled[far])

    hints_after, photo_after = report["after"]
    assert not hints_after["visible"] and hints_after["md5"] == report["before"][0]["md5"], "hidden, not changed"
    assert photo_after["md5"] == report["before"][1]["md5"], "the photo's own pixels are untouched"
    assert report["windows"] >= 1, report.get("titles")
    assert report["after_undo"] == report["before"], "one Ctrl+Z brings back the old mask and shows the hints"


def test_without_any_hint_it_fails_clearly_and_changes_nothing(gimp, home, workdir, server):  # noqa: F811
    _, spoiled, _ = spoiled_mask(server)
    paths = {name: workdir / f"nohint.{name}" for name in ("mask_in", "stroke_in", "mask_before", "mask_out")}
    paths["mask_in"].write_bytes(spoiled.tobytes())
    paths["stroke_in"].write_bytes(np.zeros((512, 512, 4), np.uint8).tobytes())  # the Hints layer left empty
    report = gimp.scenario(BATCH, home, workdir, "nohint", input=str(ASTRONAUT),
                           **{k: str(v) for k, v in paths.items()}, args={"endpoint": server})
    assert report["hints_added"] and not report["success"]
    assert "No hint was found" in report["error"] and "“Hints”" in report["error"]
    assert report["after"] == report["before"]


def test_the_selection_as_a_keep_hint(gimp, home, workdir, server):  # noqa: F811
    """*Selection: the selection is the person*: a rectangle over the backdrop becomes person, hard, with no stroke."""
    _, mask, _ = spoiled_mask(server)
    x, y, w, h = 400, 20, 60, 40  # the backdrop's upper right, background in the mask
    assert mask[y : y + h, x : x + w].max() < 128
    paths = {name: workdir / f"keep.{name}" for name in ("mask_in", "stroke_in", "mask_before", "mask_out")}
    paths["mask_in"].write_bytes(mask.tobytes())
    paths["stroke_in"].write_bytes(np.zeros((512, 512, 4), np.uint8).tobytes())
    report = gimp.scenario(BATCH, home, workdir, "keep", input=str(ASTRONAUT), select=[x, y, w, h],
                           **{k: str(v) for k, v in paths.items()}, args={"endpoint": server, "selection": "keep"})
    assert report["success"], report.get("error")
    after = np.frombuffer(paths["mask_out"].read_bytes(), np.uint8).reshape(512, 512)
    assert np.all(after[y : y + h, x : x + w] == 255)
    assert np.all(after >= mask), "a white hint only adds to the person"
