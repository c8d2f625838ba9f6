"""The GPU code paths, on the CPU: which device runs, the float16 casts, and the fall-back when a GPU runs short.

CI has no GPU, so what a GPU run does differently is checked here without one: device selection
with torch's answers stubbed, the networks that run in float16 on CUDA run in float16 on the CPU
(torch computes it there too, slowly) against their float32 results, and an out-of-memory error
raised by a stand-in segmenter on a "cuda" device sends the photo to the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.isnet import ISNetSegmenter
from models.modnet import ModNetSegmenter
from models.rvm import RobustVideoMatting
from server.pipeline import devices
from server.pipeline.cutout import run_cutout
from server.pipeline.model_cache import ModelCache
from tests import doubles
from tests.conftest import REPO_ROOT, installed


def photo(height: int = 40, width: int = 60) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)


# -- device selection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_prefers_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert devices.resolve("auto") == expected
    assert devices.resolve("cpu") == "cpu"


def test_an_absent_accelerator_asked_for_is_an_error_not_a_quiet_cpu_run(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for device in ("cuda", "mps"):
        with pytest.raises(ValueError, match=device):
            devices.resolve(device)
    with pytest.raises(ValueError, match="unknown device"):
        devices.resolve("tpu")


def test_hello_names_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA H200")
    assert devices.describe("cuda") == "cuda (NVIDIA H200)"
    assert devices.describe("cpu") == "cpu"


# -- out of memory on the GPU -----------------------------------------------------------------------------


@pytest.fixture
def device_memory(monkeypatch):
    monkeypatch.setattr(doubles.DeviceMemory, "devices", [])
    return doubles.DeviceMemory


@pytest.mark.parametrize("when", ["predict", "load"])
def test_out_of_memory_on_the_gpu_reruns_the_photo_on_the_cpu(device_memory, monkeypatch, when):
    monkeypatch.setattr(device_memory, "when", when)
    cache = ModelCache("cuda", factory=doubles.factory)
    rgb = photo()
    stages = []
    result = run_cutout(rgb, "device-memory", {}, cache, progress=lambda stage, fraction: stages.append(stage))
    np.testing.assert_allclose(result.alpha, doubles.expected_brightness(rgb))
    assert "ran on the CPU" in result.info["fallback"] and "cuda" in result.info["fallback"]
    assert "segment (cpu fallback)" in stages
    assert device_memory.devices == (["cuda", "cpu"] if when == "predict" else ["cpu"])
    assert list(cache._loaded) == [("device-memory", "cpu")]  # the GPU's models were let go first


def test_other_errors_on_the_gpu_and_out_of_memory_on_the_cpu_are_not_retried(device_memory):
    with pytest.raises(ZeroDivisionError):
        run_cutout(photo(), "crashing", {}, ModelCache("cuda", factory=doubles.factory))
    cpu_cache = ModelCache("cpu", factory=doubles.factory)

    class CpuOutOfMemory(doubles.Brightness):
        def predict(self, rgb, options=None, progress=None):
            raise torch.OutOfMemoryError("out of memory on the CPU too")

    cpu_cache._factory = lambda name, device, weights: CpuOutOfMemory(weights or REPO_ROOT, device)
    with pytest.raises(torch.OutOfMemoryError):
        run_cutout(photo(), "brightness", {}, cpu_cache)


def test_the_server_answers_with_the_cpu_result_and_says_so(device_memory):
    from cutout_common.client import Client
    from server.transport.service import Server, ServerConfig

    server = Server(ServerConfig(endpoint="tcp://127.0.0.1:*", device="cuda"), factory=doubles.factory,
                    names=list(doubles.DOUBLES))
    endpoint = server.start()
    try:
        rgb = photo()
        with Client(endpoint, deadline=20, silence_timeout=10) as client:
            reply = client.cutout(rgb.tobytes(), rgb.shape[1], rgb.shape[0], "RGB8", segmenter="device-memory")
    finally:
        server.close()
    assert "ran on the CPU" in reply.header["info"]["fallback"]
    expected = np.clip(np.rint(doubles.expected_brightness(rgb) * 255), 0, 255).astype(np.uint8)
    assert reply.frames["mask"] == expected.tobytes()


# -- float16 ------------------------------------------------------------------------------------------------


def test_which_networks_run_in_float16_on_cuda(weights):
    for cls, half in ((ISNetSegmenter, True), (RobustVideoMatting, True), (ModNetSegmenter, False)):
        assert cls(weights, "cuda").compute_dtype() == (torch.float16 if half else torch.float32)
        assert cls(weights, "cpu").compute_dtype() == torch.float32
        forced = cls(weights, "cpu")
        forced.half = True
        assert forced.compute_dtype() == torch.float16


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(REPO_ROOT / "tests" / "data" / "astronaut.png").convert("RGB"))


def half(segmenter):
    segmenter.half = True
    return installed(segmenter)


@pytest.mark.parametrize("cls", [ISNetSegmenter, RobustVideoMatting])
def test_float16_casts_on_the_cpu_give_the_float32_result(cls, weights, astronaut):
    """What the network computes in float16 on a GPU, computed on the CPU: the same mask, soft values within 0.01."""
    single = installed(cls(weights, "cpu"))
    halved = half(cls(weights, "cpu"))
    assert halved.dtype == torch.float16 and next(halved.net.parameters()).dtype == torch.float16
    expected, got = single.predict(astronaut), halved.predict(astronaut)
    assert got.alpha.dtype == np.float32 and got.alpha.shape == expected.alpha.shape
    difference = float(np.abs(got.alpha - expected.alpha).mean())
    disagree = float(((got.alpha >= 0.5) != (expected.alpha >= 0.5)).mean())
    print(f"{cls.name} float16 on the CPU: mean |Δalpha| {difference:.2e}, mask pixels that differ {disagree:.2e}")
    assert difference <= 0.01 and disagree <= 0.002
    if expected.foreground is not None:
        assert got.foreground.dtype == np.float32
        assert float(np.abs(got.foreground - expected.foreground).mean()) <= 0.01
