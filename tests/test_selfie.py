"""``selfie``: the torch port against the mediapipe runtime, its quality (bare and with the pipeline
steps around it), its converter and the clean-up stage."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cutout_common.client import Client
from models.base import OptionError
from models.install.selfie import ConversionError, convert
from models.mask_cleanup import clean_mask
from models.selfie import DEFAULTS, SelfieSegmenter, box_transform, to_photo
from server.bench.references import run_script, throwaway_venv
from server.transport.service import Server, ServerConfig
from tests.conftest import installed, load_pair, stems

#: every step around the network off: the view mediapipe itself computes
BARE = {key: False for key in DEFAULTS}


@pytest.fixture(scope="module")
def selfie(weights):
    return installed(SelfieSegmenter(weights, "cpu"))


@pytest.mark.network_runtime
def test_port_matches_the_mediapipe_runtime(selfie, persons_dev, tmp_path_factory):
    """Mean absolute difference of the probability ≤ 0.02 per photo, on 12 real photos of several sizes."""
    names = stems(persons_dev)[::7][:12]
    out = tmp_path_factory.mktemp("mediapipe-out")
    try:
        python = throwaway_venv(tmp_path_factory.mktemp("mediapipe-venv"), ["mediapipe==0.10.21"])
        run_script(python, "mediapipe_selfie.py", str(out), *(str(persons_dev / "images" / f"{n}.jpg") for n in names))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    differences = []
    for name in names:
        rgb, _ = load_pair(persons_dev, name)
        reference = np.load(out / f"{name}.npy")
        assert reference.shape == rgb.shape[:2]
        differences.append(float(np.abs(selfie.predict(rgb, BARE).alpha - reference).mean()))
    print("mean |torch - mediapipe| per photo:", " ".join(f"{d:.4f}" for d in differences))
    assert max(differences) <= 0.02


def test_cutout_through_the_server_reaches_iou_080(selfie, persons_dev):
    server = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"))
    endpoint = server.start()
    ious = []
    try:
        with Client(endpoint, deadline=120) as client:
            for name in stems(persons_dev):
                rgb, truth = load_pair(persons_dev, name)
                height, width = truth.shape
                reply = client.cutout(rgb.tobytes(), width, height, "RGB8", segmenter="selfie")
                mask = np.frombuffer(reply.frames["mask"], np.uint8).reshape(height, width)
                assert 0 < len(np.unique(mask)) and mask.dtype == np.uint8
                predicted = mask >= 128
                ious.append((predicted & truth).sum() / max((predicted | truth).sum(), 1))
    finally:
        server.close()
    print(f"selfie through the server: mean IoU {np.mean(ious):.3f} over {len(ious)} photos")
    assert len(ious) == 87 and np.mean(ious) >= 0.80


def scores(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(IoU, F1) of a boolean prediction against a boolean truth, as the original platform counted pixels."""
    inter = float((predicted & truth).sum())
    precision, recall = inter / max(predicted.sum(), 1), inter / max(truth.sum(), 1)
    return inter / max((predicted | truth).sum(), 1), 2 * precision * recall / max(precision + recall, 1e-9)


def test_default_pipeline_beats_the_bare_network(selfie, persons_dev):
    """All 87 photos: the bare network gives about IoU 0.85 / F1 0.90; the default steps must reach 0.89 / 0.93."""
    bare, default = [], []
    for name in stems(persons_dev):
        rgb, truth = load_pair(persons_dev, name)
        bare.append(scores(selfie.predict(rgb, BARE).alpha >= 0.5, truth))
        default.append(scores(selfie.predict(rgb).alpha >= 0.5, truth))
    (bare_iou, bare_f1), (iou, f1) = np.mean(bare, axis=0), np.mean(default, axis=0)
    print(f"selfie bare: IoU {bare_iou:.4f} F1 {bare_f1:.4f}; default {DEFAULTS}: IoU {iou:.4f} F1 {f1:.4f}")
    assert len(default) == 87
    assert 0.83 <= bare_iou <= 0.87  # the original network's own figure is 0.850
    assert iou >= 0.89 and f1 >= 0.93


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_every_step_is_switchable_and_keeps_soft_values(selfie, persons_dev, name):
    rgb, _ = load_pair(persons_dev, stems(persons_dev)[0])
    alpha = selfie.predict(rgb, {**BARE, name: True}).alpha
    assert alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert ((alpha > 0.05) & (alpha < 0.95)).sum() > 50  # a soft edge, not a binary mask


def test_bad_options_are_refused(selfie):
    rgb = np.zeros((32, 48, 3), np.uint8)
    with pytest.raises(OptionError, match="zoom"):
        selfie.predict(rgb, {"zoom": "yes"})
    with pytest.raises(OptionError, match="sharpen"):
        selfie.predict(rgb, {"sharpen": True})
    assert selfie.predict(rgb).alpha.shape == (32, 48)  # an empty photo is fine: no person, no zoom


def test_view_and_back_line_up():
    """Photo → 256×256 view → photo is the identity on a smooth ramp (no half-pixel drift), letterboxed or not."""
    import cv2

    height, width = 300, 500
    ramp = np.add.outer(np.arange(height) * 0.5, np.arange(width) * 1.0).astype(np.float32)
    for box, letterbox in (
        ((0, 0, width, height), True),
        ((100.0, 50.0, 260.0, 290.0), True),
        ((0, 0, width, height), False),
    ):
        transform = box_transform(box, letterbox)
        view = cv2.warpAffine(ramp, transform, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        back = to_photo(view, transform, (height, width), outside=np.nan)
        x0, y0, x1, y1 = (int(v) for v in box)
        inner = back[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3]
        assert np.nanmax(np.abs(inner - ramp[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3])) < 0.05


def test_cleanup_drops_islands_and_pinholes_but_keeps_thin_parts_and_real_gaps():
    alpha = np.zeros((200, 200), np.float32)
    alpha[40:180, 60:140] = 0.9  # body
    alpha[100:102, 140:195] = 0.8  # a 2-pixel-thin arm reaching out
    alpha[20:24, 10:14] = 0.7  # a stray island, far smaller than the body
    alpha[150:153, 100:103] = 0.1  # a pinhole in the clothes
    alpha[60:120, 75:95] = 0.0  # a real enclosed gap (between arm and body), far larger than a pinhole
    cleaned = clean_mask(alpha)
    assert (cleaned[20:24, 10:14] == 0).all()
    assert (cleaned[150:153, 100:103] >= 0.5).all()
    assert (cleaned[100:102, 140:195] == alpha[100:102, 140:195]).all()
    assert (cleaned[60:120, 75:95] == 0).all()
    assert (cleaned[40:180, 60:75] == alpha[40:180, 60:75]).all()
    assert (clean_mask(np.zeros((10, 10), np.float32)) == 0).all()


def test_converter_rejects_damaged_files(weights, tmp_path):
    source = weights / "sources" / "selfie" / "selfie_segmentation.tflite"
    if not source.is_file():
        pytest.skip("the original .tflite is not installed")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(source.read_bytes()[:50_000])
    with pytest.raises(ConversionError):
        convert({"selfie_segmentation.tflite": truncated}, tmp_path / "out")
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a flatbuffer" * 100)
    with pytest.raises(ConversionError):
        convert({"selfie_segmentation.tflite": garbage}, tmp_path / "out")
    assert not (tmp_path / "out" / "selfie.pt").exists()
    shutil.copy(source, tmp_path / "good.tflite")
    assert convert({"selfie_segmentation.tflite": tmp_path / "good.tflite"}, tmp_path / "out")[0].is_file()
