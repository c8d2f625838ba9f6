"""maskrcnn, deeplab, parsing: the original platform's three segmenters.

No weights can be downloaded in CI, so the pipeline tests fill each network with random weights
(saved as the plain state dict the segmenter loads, so the real load path runs) and send real
persons-dev photos through the server. The quality test needs the real weights: set
PERSON_CUTOUT_REAL_WEIGHTS to a folder holding maskrcnn.pt, deeplab.pt and parsing.pt
(``python -m models.install install --models maskrcnn,deeplab,parsing --target DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cutout_common.options import check_options
from models import registry
from models.base import OptionError
from models.install.random_weights import write_random_weights
from models.maskrcnn import OPTIONS as MASKRCNN_OPTIONS
from models.maskrcnn import select
from models.schp_net import LIP_LABELS, SCHPNet, load_schp_state
from tests.conftest import load_pair, stems

NAMES = ("maskrcnn", "deeplab", "parsing")
#: small working sizes: ResNet-101 at 473–520 px takes tens of seconds on 2 CPU cores
FAST = {"maskrcnn": {"view": 160}, "deeplab": {"view": 128}, "parsing": {"view": 128}}


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory) -> Path:
    return write_random_weights(NAMES, tmp_path_factory.mktemp("random-weights"))


def small_photo(persons_dev: Path, stem: str, longest: int = 240) -> np.ndarray:
    rgb, _ = load_pair(persons_dev, stem)
    scale = longest / max(rgb.shape[:2])
    return cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)


def test_random_weights_whole_pipeline_through_the_server(random_weights, persons_dev):
    from cutout_common.client import Client, ServerError
    from server.transport.service import Server, ServerConfig

    def factory(name, device, weights):
        return registry.create(name, device, random_weights)

    server = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"), factory=factory, names=list(NAMES))
    endpoint = server.start()
    try:
        with Client(endpoint, deadline=300, silence_timeout=300) as client:
            hello = client.hello(timeout=30)
            assert {s["name"] for s in hello["segmenters"] if s["installed"]} == set(NAMES)
            for name in NAMES:
                for stem in stems(persons_dev, 2)[:1 if name == "maskrcnn" else 2]:
                    rgb = small_photo(persons_dev, stem)
                    height, width = rgb.shape[:2]
                    options = dict(FAST[name], parts=True) if name == "parsing" else FAST[name]
                    reply = client.cutout(rgb.tobytes(), width, height, "RGB8", segmenter=name, options=options)
                    mask = np.frombuffer(reply.frames["mask"], np.uint8)
                    assert mask.size == width * height
                    if name == "parsing":
                        parts = {k.removeprefix("part:") for k in reply.frames if k.startswith("part:")}
                        assert parts == set(LIP_LABELS[1:])
                        assert all(
                            np.frombuffer(reply.frames[f"part:{p}"], np.uint8).size == width * height for p in parts
                        )
            # the instances op lists maskrcnn's people with the request's own options
            rgb = small_photo(persons_dev, stems(persons_dev, 1)[0])
            height, width = rgb.shape[:2]
            options = {**FAST["maskrcnn"], "threshold": 0.0}
            reply = client.image_request("instances", rgb.tobytes(), width, height, "RGB8", segmenter="maskrcnn",
                                         options=options)
            listed = reply.header["instances"]
            assert isinstance(listed, list) and [i["index"] for i in listed] == list(range(len(listed)))
            assert all(len(i["box"]) == 4 and 0 <= i["score"] <= 1 and 0 <= i["area"] <= width * height for i in listed)
            with pytest.raises(ServerError) as refused:
                client.image_request("instances", rgb.tobytes(), width, height, "RGB8", segmenter="maskrcnn",
                                     options={"threshold": 2})
            assert refused.value.code == "bad_option"
    finally:
        server.close()


@pytest.mark.parametrize("name", NAMES)
def test_random_weights_predict_gives_soft_float_masks_at_photo_size(random_weights, persons_dev, name):
    segmenter = registry.create(name, "cpu", random_weights)
    segmenter.load()
    rgb = small_photo(persons_dev, stems(persons_dev, 3)[2], longest=200)
    prediction = segmenter.predict(rgb, {**FAST[name], "threshold": 0.0} if name == "maskrcnn" else FAST[name])
    alpha = prediction.alpha
    assert alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
    assert np.isfinite(alpha).all() and alpha.min() >= 0 and alpha.max() <= 1
    for part in prediction.parts.values():
        assert part.shape == rgb.shape[:2] and part.dtype == np.float32 and 0 <= part.min() and part.max() <= 1
    if name == "parsing":  # the 20 softmax probabilities add up to one: alpha is 1 - background
        total = sum(prediction.parts.values())
        assert np.allclose(total, alpha, atol=1e-3)
    if name == "maskrcnn":
        listed = prediction.info["instances"]  # what instances() lists, from the same detections
        assert [i["index"] for i in listed] == list(range(len(listed)))
        for item in listed:
            x0, y0, x1, y1 = item["box"]
            assert 0 <= x0 <= x1 <= rgb.shape[1] and 0 <= y0 <= y1 <= rgb.shape[0]
            assert 0 <= item["score"] <= 1 and 0 <= item["area"] <= alpha.size
        if listed:
            assert len(np.unique(alpha)) > 2  # soft instance masks, not binarised


# --------------------------------------------------------------------------- instance selection


def constructed_detections(shape=(60, 80)) -> np.ndarray:
    """Three soft discs of known size and place: 0 small at left, 1 large in the middle, 2 medium right."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    masks = []
    for cx, cy, r in ((10, 30, 6), (40, 30, 15), (70, 30, 9)):
        distance = np.hypot(xx - cx, yy - cy)
        masks.append(np.clip(r + 0.5 - distance, 0, 1).astype(np.float32))  # a 1-px soft rim
    return np.stack(masks)


def test_selection_picks_the_right_instance():
    masks = constructed_detections()
    shape = masks.shape[1:]
    alpha, chosen = select(masks, "largest", shape)
    assert chosen == [1] and np.array_equal(alpha, masks[1])
    alpha, chosen = select(masks, 2, shape)
    assert chosen == [2] and np.array_equal(alpha, masks[2])
    alpha, chosen = select(masks, [10.0, 30.0], shape)  # a point inside the small disc
    assert chosen == [0] and np.array_equal(alpha, masks[0])
    alpha, chosen = select(masks, [72, 33], shape)
    assert chosen == [2]
    alpha, chosen = select(masks, "all", shape)
    assert chosen == [0, 1, 2] and np.array_equal(alpha, np.maximum(np.maximum(masks[0], masks[1]), masks[2]))
    assert ((alpha > 0) & (alpha < 1)).any()  # the soft rims survive the union
    empty, chosen = select(np.zeros((0, *shape), np.float32), "largest", shape)
    assert chosen == [] and empty.shape == shape


def test_selection_refuses_bad_values():
    masks = constructed_detections()
    with pytest.raises(OptionError, match="instance 3"):
        select(masks, 3, masks.shape[1:])
    with pytest.raises(OptionError, match="outside"):
        select(masks, [500, 5], masks.shape[1:])
    with pytest.raises(OptionError, match=r"nobody stands at \(25, 5\) \(3 found elsewhere\)"):
        select(masks, [25.0, 5.0], masks.shape[1:])  # between the discs: refused, not an empty mask
    with pytest.raises(OptionError, match="none found in the photo"):
        select(np.zeros((0, *masks.shape[1:]), np.float32), [25.0, 5.0], masks.shape[1:])
    for bad in (
        {"selection": "biggest"},
        {"selection": True},
        {"selection": [1, 2, 3]},
        {"threshold": 2},
        {"colour": 1},
    ):
        with pytest.raises(OptionError):
            check_options(MASKRCNN_OPTIONS, bad, "maskrcnn")


# --------------------------------------------------------------------------- parsing loader


@pytest.fixture(scope="module")
def schp_checkpoint() -> dict[str, torch.Tensor]:
    """A checkpoint as SCHP saves it: DataParallel's ``module.`` prefix on every key."""
    torch.manual_seed(1)
    return {f"module.{k}": v.clone() for k, v in SCHPNet().state_dict().items()}


def test_parsing_loader_accepts_schp_key_names(schp_checkpoint, tmp_path):
    from models.install.checkpoints import parsing as convert

    source = tmp_path / "exp-schp-201908261155-lip.pth"
    torch.save({"epoch": 150, "state_dict": schp_checkpoint}, source)
    (written,) = convert({"exp-schp-201908261155-lip.pth": source}, tmp_path)
    net = SCHPNet()
    load_schp_state(net, torch.load(written, weights_only=True))
    for key, tensor in net.state_dict().items():
        assert torch.equal(tensor, schp_checkpoint[f"module.{key}"]), key
    segmenter = registry.create("parsing", "cpu", tmp_path)
    segmenter.load()  # the segmenter's own load path reads parsing.pt


def test_parsing_loader_names_a_missing_or_misshaped_tensor(schp_checkpoint):
    missing = dict(schp_checkpoint)
    del missing["module.layer3.7.conv2.weight"]
    with pytest.raises(ValueError, match=r"lacks tensor 'layer3\.7\.conv2\.weight'"):
        load_schp_state(SCHPNet(), missing)
    misshaped = dict(schp_checkpoint)
    misshaped["module.fushion.3.weight"] = torch.zeros(7, 256, 1, 1)  # another dataset's head (7 labels)
    with pytest.raises(
        ValueError, match=r"'fushion\.3\.weight' has shape \(7, 256, 1, 1\), expected \(20, 256, 1, 1\)"
    ):
        load_schp_state(SCHPNet(), misshaped)
    extra = dict(schp_checkpoint, **{"module.aux.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected tensor 'aux\.weight'"):
        load_schp_state(SCHPNet(), extra)


# --------------------------------------------------------------------------- quality with the real weights

REAL = os.environ.get("PERSON_CUTOUT_REAL_WEIGHTS")


@pytest.mark.skipif(
    not REAL, reason="PERSON_CUTOUT_REAL_WEIGHTS is not set: no real maskrcnn/deeplab/parsing weights to measure"
)
@pytest.mark.parametrize("name", NAMES)
def test_real_weights_reach_mean_iou_090(persons_dev, name):
    segmenter = registry.create(name, "cpu", Path(REAL))
    missing = segmenter.missing_weights()
    if missing:
        pytest.skip(f"{', '.join(map(str, missing))} not in PERSON_CUTOUT_REAL_WEIGHTS")
    segmenter.load()
    ious = []
    for stem in stems(persons_dev):
        rgb, truth = load_pair(persons_dev, stem)
        predicted = segmenter.predict(rgb).alpha >= 0.5
        ious.append((predicted & truth).sum() / max((predicted | truth).sum(), 1))
    print(f"{name}: mean IoU {np.mean(ious):.3f} over {len(ious)} persons-dev photos")
    assert len(ious) == 87 and np.mean(ious) >= 0.90
