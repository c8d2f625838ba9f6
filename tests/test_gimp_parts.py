"""Cut Out Person… with the original platform's segmenters in a real, headless GIMP 3 (issue 4).

``parsing`` with *Body parts as channels*: 19 channels named by the LIP labels, image-sized, holding
the server's part masks at the layer's offsets; one Ctrl+Z removes them with the mask. ``maskrcnn``
with *Person: under the selection*: the plug-in sends the selection's centre (else the first anchor
of the first path) in the layer's pixels, the mask holds the person under it, and with neither, or with
a point on nobody, it fails clearly without touching the image.

The server runs in this process on random weights (no real weights can be downloaded here), with
segmenters that record the options each request brought and work at a small view, so ResNet-101 is
quick on two CPU cores. What the plug-in sent is checked on the server's side, not by what random
weights happen to find; the maskrcnn double runs its network, then hands the real selection code two
people at known places.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cutout_common.client import Client
from models import registry
from models.base import no_progress
from models.install.random_weights import write_random_weights
from models.maskrcnn import MaskRCNNSegmenter
from models.parsing import ParsingSegmenter
from models.schp_net import LIP_LABELS
from server.transport.service import Server, ServerConfig
from tests.conftest import IN_CI
from tests.test_gimp_plugin import REPO, gimp, home, workdir  # noqa: F401  (the same GIMP and profile)

BATCH = REPO / "tests" / "gimp_parts_batch.py"
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"  # 512 × 512 RGB
#: small working sizes: ResNet-101 at its real sizes takes tens of seconds on 2 CPU cores
VIEW = {"maskrcnn": 160, "parsing": 128}
pytestmark = pytest.mark.gimp

received: list[tuple[str, dict]] = []  # (segmenter, the options its predict() got), in order


#: the people the maskrcnn double "finds", as soft discs (cx, cy, radius) in the layer's pixels: random
#: weights find nobody, so which person the plug-in's point picks is checked against these two
PEOPLE = ((130, 150, 120), (400, 380, 70))


def known_people(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    masks = np.stack([np.clip(r + 0.5 - np.hypot(xx - cx, yy - cy), 0, 1) for cx, cy, r in PEOPLE]).astype(np.float32)
    boxes = np.array([[cx - r, cy - r, cx + r, cy + r] for cx, cy, r in PEOPLE], np.float32)
    return {"boxes": boxes, "scores": np.array([0.9, 0.8], np.float32), "masks": masks}


class RecordingMaskRCNN(MaskRCNNSegmenter):
    def load(self, progress=None):
        super().load()
        # random weights propose 1000 boxes to the box head: seconds on 2 cores, whatever the view; 20 will do
        self.net.rpn._pre_nms_top_n["testing"], self.net.rpn._post_nms_top_n["testing"] = 100, 20

    def detect(self, rgb, threshold=0.5, view=800):
        found = super().detect(rgb, threshold, view)  # the real network runs (random weights) ...
        assert found["masks"].shape[1:] == rgb.shape[:2]
        return known_people(rgb.shape[:2])  # ... and the selection works on people whose places are known

    def predict(self, rgb, options=None, progress=no_progress):
        received.append((self.name, dict(options or {})))
        return super().predict(rgb, {"view": VIEW[self.name], **(options or {})}, progress)


class RecordingParsing(ParsingSegmenter):
    def predict(self, rgb, options=None, progress=no_progress):
        received.append((self.name, dict(options or {})))
        return super().predict(rgb, {"view": VIEW[self.name], **(options or {})}, progress)


DOUBLES = {"maskrcnn": RecordingMaskRCNN, "parsing": RecordingParsing}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    weights = write_random_weights(list(DOUBLES), tmp_path_factory.mktemp("random-weights"))

    def factory(name, device, _weights):
        assert type(registry.create(name, device, weights)) is DOUBLES[name].__base__  # the registry's class, recorded
        return DOUBLES[name](weights, device)

    running = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"), factory=factory, names=list(DOUBLES))
    with running:
        yield running.endpoint


def run(gimp, home: Path, workdir: Path, name: str, gui: bool = False, **fields) -> dict:  # noqa: F811
    fields["dump_dir"] = str(workdir / name)
    (workdir / name).mkdir(exist_ok=True)
    return gimp.scenario(BATCH, home, workdir, name, gui, **fields)


def gray(path: Path, width: int, height: int) -> np.ndarray:
    return np.fromfile(path, np.uint8).reshape(height, width)


def test_parsing_parts_become_channels_at_the_layer_offsets_and_one_undo_removes_them(gimp, home, workdir, server):  # noqa: F811
    if not gimp.gui_available():
        message = "GIMP's GUI on Xvfb is not available (apt-get install xvfb xauth xdotool)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    # canvas 512+40 × 512+30, the layer at (-5, 9): part of it off the canvas on the left, margins elsewhere
    offsets, grow = (-5, 9), (40, 30)
    received.clear()
    report = run(gimp, home, workdir, "parts", gui=True, undo=True, input=str(ASTRONAUT), grow=grow, offsets=offsets,
                 runs=[{"args": {"segmenter": "parsing", "body-parts": True, "person": "under-selection",
                                 "endpoint": server}}])
    assert report["registered"]
    (entry,) = report["runs"]
    assert entry["success"], entry.get("error")
    # "Person" belongs to maskrcnn: with parsing it is ignored (nothing sent, no selection needed)
    assert [name for name, _ in received] == ["parsing"] and "selection" not in received[0][1]

    width, height = 512 + grow[0], 512 + grow[1]
    after = entry["after"]
    assert [c["name"] for c in after["channels"]] == list(LIP_LABELS[1:])  # Hat, Hair, Glove, …, Right-shoe
    assert len(after["channels"]) == 19
    assert all((c["width"], c["height"]) == (width, height) and not c["visible"] for c in after["channels"])
    assert after["layers"][0]["offsets"] == list(offsets) and after["layers"][0]["mask_md5"] is not None

    # the server's own answer for the same pixels
    sent = (workdir / "parts" / "sent.rgb").read_bytes()
    with Client(server, deadline=300, silence_timeout=300) as client:
        reply = client.cutout(sent, 512, 512, "RGB8", segmenter="parsing", options={"parts": True, "edges": "off"})
    np.testing.assert_array_equal(gray(workdir / "parts" / "0" / "mask.gray", 512, 512),
                                  np.frombuffer(reply.frames["mask"], np.uint8).reshape(512, 512))
    ox, oy = offsets
    inside = np.zeros((height, width), bool)
    inside[oy:oy + 512, 0:ox + 512] = True
    for label in LIP_LABELS[1:]:
        channel = gray(workdir / "parts" / "0" / f"channel-{label}.gray", width, height)
        part = np.frombuffer(reply.frames[f"part:{label}"], np.uint8).reshape(512, 512)
        np.testing.assert_array_equal(channel[oy:oy + 512, 0:ox + 512], part[:, -ox:], err_msg=label)
        assert not channel[~inside].any(), f"{label}: the channel is not zero outside the layer"
    assert any(gray(workdir / "parts" / "0" / f"channel-{label}.gray", width, height).any() for label in LIP_LABELS[1:])

    # Edit › Undo once in the real GIMP: the 19 channels and the mask go together
    assert report["windows"] >= 1, "GIMP's image window did not appear"
    assert report["after_undo"] == entry["before"]
    assert entry["before"]["channels"] == [] and entry["before"]["layers"][0]["mask_md5"] is None


def test_maskrcnn_person_under_the_selection_or_path_and_none(gimp, home, workdir, server):  # noqa: F811
    offsets = (13, 7)  # a canvas larger than the layer, the layer moved: the point goes to the layer's pixels
    args = {"segmenter": "maskrcnn", "person": "under-selection", "endpoint": server}
    received.clear()
    report = run(gimp, home, workdir, "persons", input=str(ASTRONAUT), grow=(40, 30), offsets=offsets, runs=[
        {"select": [100, 60, 50, 40], "path": [[300, 300]], "args": args},  # a selection wins over a path
        {"path": [[60, 90], [200, 250]], "args": args},  # no selection: the first anchor of the path
        {"args": args},  # neither: a clear error, the image untouched
        {"select": [530, 200, 20, 40], "args": args},  # its centre x 540 is right of the layer (image x 13 … 524)
        {"select": [430, 120, 40, 40], "args": args},  # on nobody: refused, the mask of run 1 stays
        {"select": [400, 370, 20, 20], "args": args},  # on the second, smaller person
        {"args": {**args, "person": "largest"}},
    ])
    assert report["registered"]
    first, second, neither, outside, nobody, smaller, largest = report["runs"]
    for entry in (first, second, smaller, largest):
        assert entry["success"], entry.get("error")
    assert first["after"]["layers"][0]["mask_md5"] is not None
    selections = [options.get("selection") for name, options in received]
    assert [name for name, _ in received] == ["maskrcnn"] * 5
    # the selection's bounds (100, 60)–(150, 100): centre (125, 80) in the image, (112, 73) in the layer
    assert selections == [[125 - 13, 80 - 7], [60 - 13, 90 - 7], [450 - 13, 140 - 7], [410 - 13, 380 - 7], "largest"]

    def person_in_mask(index: int) -> int:
        """Which of PEOPLE the layer mask after run ``index`` holds: its centre opaque, the other's clear."""
        mask = gray(workdir / "persons" / str(index) / "mask.gray", 512, 512)
        inside = [mask[cy, cx] for cx, cy, _ in PEOPLE]
        assert sorted(inside) == [0, 255], f"run {index}: mask at the two people's centres {inside}"
        return int(np.argmax(inside))

    assert [person_in_mask(i) for i in (0, 1, 5, 6)] == [0, 0, 1, 0]

    assert not neither["success"]
    assert "needs a selection (or a path)" in neither["error"], neither["error"]
    assert neither["after"] == neither["before"], "a refused run changed the image"
    assert not outside["success"] and "outside the layer" in outside["error"], outside.get("error")
    assert outside["after"] == outside["before"]
    assert not nobody["success"], nobody
    assert "nobody stands at (437, 133) (2 found elsewhere)" in nobody["error"], nobody["error"]
    assert nobody["after"] == nobody["before"], "a point on nobody changed the image"
