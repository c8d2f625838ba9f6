"""``selfie``: the torch port against the mediapipe runtime, its quality through the server, its converter."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from models.convert_selfie import ConversionError, convert
from models.selfie import SelfieSegmenter
from server.client import Client
from server.service import Server, ServerConfig
from tests.conftest import IN_CI, load_pair, stems
from tests.runtimes import run_script, throwaway_venv


@pytest.fixture(scope="module")
def selfie(weights):
    segmenter = SelfieSegmenter(weights, "cpu")
    if segmenter.missing_weights():
        message = "selfie weights are not installed (python install.py)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    segmenter.load()
    return segmenter


@pytest.mark.network_runtime
def test_port_matches_the_mediapipe_runtime(selfie, persons_dev, tmp_path_factory):
    """Mean absolute difference of the probability ≤ 0.02 per photo, on 12 real photos of several sizes."""
    python = throwaway_venv(tmp_path_factory.mktemp("mediapipe-venv"), ["mediapipe==0.10.21"])
    names = stems(persons_dev)[::7][:12]
    out = tmp_path_factory.mktemp("mediapipe-out")
    run_script(python, "mediapipe_selfie.py", str(out), *(str(persons_dev / "images" / f"{n}.jpg") for n in names))
    differences = []
    for name in names:
        rgb, _ = load_pair(persons_dev, name)
        reference = np.load(out / f"{name}.npy")
        assert reference.shape == rgb.shape[:2]
        differences.append(float(np.abs(selfie.predict(rgb).alpha - reference).mean()))
    print("mean |torch - mediapipe| per photo:", " ".join(f"{d:.4f}" for d in differences))
    assert max(differences) <= 0.02


def test_cutout_through_the_server_reaches_iou_080(selfie, persons_dev):
    server = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"))
    endpoint = server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
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
        server.stop()
        thread.join(10)
    print(f"selfie through the server: mean IoU {np.mean(ious):.3f} over {len(ious)} photos")
    assert len(ious) == 87 and np.mean(ious) >= 0.80


def test_soft_values_survive_to_the_photo_size(selfie, persons_dev):
    rgb, _ = load_pair(persons_dev, stems(persons_dev)[0])
    alpha = selfie.predict(rgb).alpha
    assert alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert ((alpha > 0.05) & (alpha < 0.95)).sum() > 50  # a soft edge, not a binary mask


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
