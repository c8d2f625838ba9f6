"""``rvm``: the torch port against the TF.js runtime, its quality on persons-dev, clean colours, memory, converter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from models.base import OptionError
from models.install.rvm import ConversionError, state_dict_from_tfjs
from models.rvm import DEFAULT_VIEW, RobustVideoMatting, box_filter_valid, downsample_ratio
from tests.conftest import REPO_ROOT, installed, load_pair, stems, tfjs_graph


@pytest.fixture(scope="module")
def rvm(weights):
    return installed(RobustVideoMatting(weights, "cpu"))


@pytest.fixture(scope="module")
def sources(weights):
    return tfjs_graph(weights, "rvm")


def equivalence_photos(persons_dev) -> list[str]:
    """A handful of photos of several sizes: the guided filter enlarging (large photos) and reducing (small)."""
    by_size = sorted(stems(persons_dev), key=lambda s: (max(load_pair(persons_dev, s)[0].shape[:2]), int(s)))
    return [by_size[0], by_size[len(by_size) // 2], by_size[-8], by_size[-1]]


@pytest.mark.network_runtime
def test_port_matches_the_tfjs_runtime(rvm, sources, persons_dev, tfjs_runtime, tmp_path_factory):
    """Alpha and foreground within 0.01 mean absolute difference of the TF.js graph run by TF.js itself (wasm)."""
    from server.bench.references.tfjs_rvm import run_tfjs

    runtime = tfjs_runtime
    names = equivalence_photos(persons_dev)
    photos = {}
    for name in names:
        rgb, _ = load_pair(persons_dev, name)
        photos[name] = (rgb, downsample_ratio(*rgb.shape[:2], DEFAULT_VIEW))
    photos[f"{names[0]}-at-1"] = (photos[names[0]][0], 1.0)  # the graph's other branch: no resizing, no filter
    reference = run_tfjs(runtime, sources, photos, tmp_path_factory.mktemp("tfjs-out"))
    for name, (rgb, ratio) in photos.items():
        alpha, foreground, _ = rvm.matte(rgb, ratio)
        alpha_diff = float(np.abs(alpha - reference[name].alpha).mean())
        fgr_diff = float(np.abs(foreground - reference[name].foreground).mean())
        print(
            f"{name} {rgb.shape[1]}×{rgb.shape[0]} ratio {ratio:.3f}: |Δalpha| {alpha_diff:.2e}, |Δfgr| {fgr_diff:.2e}"
        )
        assert alpha.shape == rgb.shape[:2] and foreground.shape == rgb.shape
        assert alpha_diff <= 0.01 and fgr_diff <= 0.01


def test_quality_on_persons_dev(rvm, persons_dev):
    """All 87 photos, alpha > 0.5 against the masks: mean IoU ≥ 0.90 and F1 ≥ 0.94."""
    ious, f1s = [], []
    for name in stems(persons_dev):
        rgb, truth = load_pair(persons_dev, name)
        predicted = rvm.predict(rgb).alpha > 0.5
        tp, fp, fn = (predicted & truth).sum(), (predicted & ~truth).sum(), (~predicted & truth).sum()
        ious.append(tp / max(tp + fp + fn, 1))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    print(f"rvm on persons-dev: mean IoU {np.mean(ious):.4f}, F1 {np.mean(f1s):.4f} over {len(ious)} photos")
    assert len(ious) == 87
    assert np.mean(ious) >= 0.90 and np.mean(f1s) >= 0.94


def local_mean(image: np.ndarray, weight: np.ndarray, size: int) -> np.ndarray:
    """Weighted box mean of ``image`` (normalised convolution): the typical colour of the weighted pixels nearby."""
    blur = lambda x: cv2.blur(x, (size, size), borderType=cv2.BORDER_REFLECT)  # noqa: E731
    total = blur(weight.astype(np.float32))
    return blur(image * weight[..., None]) / np.maximum(total, 1e-6)[..., None]


def background_leak(composite: np.ndarray, backdrop: np.ndarray, alpha: np.ndarray, photo: np.ndarray) -> float:
    """How much of the photo's old background a composite over ``backdrop`` shows in the edge band.

    ``composite − (1 − alpha)·backdrop`` is what the person contributes (``alpha × colours``).
    For every soft pixel the local foreground F̂ (mean of nearby opaque pixels) and local
    background B̂ (mean of nearby clear pixels) are estimated from the photo; the leak is the
    part of ``alpha × (colours − F̂)`` pointing from F̂ towards B̂, in colour units, averaged
    over the band where F̂ and B̂ differ clearly. Photo × alpha leaks about ``alpha(1 − alpha)|B̂ − F̂|``.
    """
    size = max(9, int(0.03 * max(alpha.shape)) | 1)
    fg_hat = local_mean(photo, (alpha > 0.98).astype(np.float32), size)
    bg_hat = local_mean(photo, (alpha < 0.02).astype(np.float32), size)
    direction = bg_hat - fg_hat
    distance = np.linalg.norm(direction, axis=2)
    band = (alpha > 0.05) & (alpha < 0.95) & (distance > 0.15)
    person = composite - (1 - alpha[..., None]) * backdrop - alpha[..., None] * fg_hat
    along = (person * direction).sum(axis=2) / np.maximum(distance, 1e-6)
    return float(np.clip(along, 0, None)[band].mean()) if band.any() else 0.0


def test_foreground_colours_bleed_less_background_than_the_photo(rvm, persons_dev):
    """Composited over pure green, rvm's foreground shows less of the old background than photo × alpha."""
    green = np.array([0.0, 1.0, 0.0], np.float32)
    port_leaks, raw_leaks = [], []
    for name in stems(persons_dev)[::10]:
        rgb, _ = load_pair(persons_dev, name)
        prediction = rvm.predict(rgb)
        alpha, photo = prediction.alpha[..., None], rgb.astype(np.float32) / 255.0
        composite = alpha * prediction.foreground + (1 - alpha) * green
        naive = alpha * photo + (1 - alpha) * green
        port_leaks.append(background_leak(composite, green, prediction.alpha, photo))
        raw_leaks.append(background_leak(naive, green, prediction.alpha, photo))
    port, raw = float(np.mean(port_leaks)), float(np.mean(raw_leaks))
    print(f"background leaking into the edge band over green: rvm foreground {port:.4f}, photo × alpha {raw:.4f}")
    print("per photo (rvm / photo):", " ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(port_leaks, raw_leaks, strict=True)))
    assert all(a < b for a, b in zip(port_leaks, raw_leaks, strict=True))  # measured: 0.089 vs 0.119 mean
    assert port < 0.85 * raw


def test_view_option(rvm, persons_dev):
    rgb, _ = load_pair(persons_dev, stems(persons_dev)[0])
    small = rvm.predict(rgb, {"view": 128})
    assert max(small.info["view"]) == 128 and small.alpha.shape == rgb.shape[:2]
    assert 0.0 <= small.alpha.min() and small.alpha.max() <= 1.0
    assert 0.0 <= small.foreground.min() and small.foreground.max() <= 1.0
    tiny = cv2.resize(rgb, (rgb.shape[1] // 4, rgb.shape[0] // 4), interpolation=cv2.INTER_AREA)
    kept = rvm.predict(tiny)  # smaller than the view: seen at its own size, no guided filter
    assert kept.info["view"] == [tiny.shape[1], tiny.shape[0]] and kept.info["downsample_ratio"] == 1.0
    enlarged = rvm.predict(tiny, {"enlarge": True})
    assert max(enlarged.info["view"]) == DEFAULT_VIEW and enlarged.alpha.shape == tiny.shape[:2]
    for bad in ({"view": 10}, {"view": "512"}, {"view": True}, {"zoom": True}, {"enlarge": "yes"}):
        with pytest.raises(OptionError):
            rvm.predict(rgb, bad)


@pytest.mark.parametrize("channels", [1, 4, 8])
def test_box_filter_is_the_valid_3x3_mean(channels):
    import torch

    x = torch.rand(channels, 37, 53, generator=torch.Generator().manual_seed(channels))
    expected = torch.nn.functional.avg_pool2d(x[None], 3, stride=1)[0]  # the graph's own definition
    result = box_filter_valid(x)
    assert result.shape == (channels, 35, 51)
    assert float((result - expected).abs().max()) < 1e-6


@pytest.mark.parametrize("channels", [8, 20])
def test_first_frame_gru_is_the_cell_with_a_zero_state(channels):
    """The still-photo shortcut computes what the full cell computes from a zero state (random weights)."""
    import torch

    from models.rvm_net import ConvGRU

    torch.manual_seed(channels)
    cell = ConvGRU(channels).eval()
    for conv in (cell.ih[0], cell.hh[0]):
        torch.nn.init.normal_(conv.bias)  # the default init leaves the biases small; make every term count
    x = torch.randn(2, channels, 23, 31)
    with torch.inference_mode():
        full = cell.forward(x, torch.zeros_like(x))
        shortcut = cell.forward(x, None)
    assert shortcut.shape == full.shape
    assert float((shortcut - full).abs().max()) < 1e-5
    assert float(full.abs().mean()) > 0.05  # a real comparison, not of two near-zero tensors


def test_downsample_ratio_gives_the_view_size():
    for height, width, view in [
        (4000, 6000, 512),
        (3000, 4000, 512),
        (480, 640, 512),
        (997, 1511, 384),
        (333, 200, 512),
    ]:
        ratio = downsample_ratio(height, width, view)
        assert int(np.float32(max(height, width)) * np.float32(ratio)) == view


def test_24_megapixels_stay_within_bounded_memory(weights, rvm):
    """A 6000×4000 photo: peak memory beyond the photo and the two outputs stays under 512 MiB."""
    script = textwrap.dedent(f"""
        import json, sys, numpy as np
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from pathlib import Path
        from models.rvm import RobustVideoMatting
        def status(key):  # kB from /proc/self/status
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
        segmenter = RobustVideoMatting(Path({str(weights)!r})); segmenter.load()
        rgb = np.empty((4000, 6000, 3), np.uint8)
        rgb[:] = (np.arange(6000) % 251).astype(np.uint8)[None, :, None]
        segmenter.predict(rgb[:256, :384])  # warm up at a small size
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
        before = status("VmRSS:")
        prediction = segmenter.predict(rgb)
        print(json.dumps({{"before": before * 1024, "after": status("VmHWM:") * 1024,
                          "shape": list(prediction.alpha.shape)}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    outputs = 4000 * 6000 * 4 * 4  # alpha and foreground, float32
    growth = report["after"] - report["before"]
    print(f"24 MP: peak grew by {growth / 2**20:.0f} MiB (outputs alone {outputs / 2**20:.0f} MiB)")
    assert report["shape"] == [4000, 6000]
    assert growth - outputs < 512 * 2**20  # measured: 136 MiB beyond the outputs


def test_converter_rejects_damaged_files(sources, tmp_path):
    truncated = tmp_path / "rvm.bin"
    truncated.write_bytes((sources / "rvm.bin").read_bytes()[:100_000])
    with pytest.raises(ConversionError, match="truncated"):
        state_dict_from_tfjs(sources / "rvm.json", truncated)
    garbage = tmp_path / "rvm.json"
    garbage.write_text("{not json")
    with pytest.raises(ConversionError):
        state_dict_from_tfjs(garbage, sources / "rvm.bin")
    other = json.loads((sources / "rvm.json").read_text())
    other["modelTopology"]["node"] = [n for n in other["modelTopology"]["node"] if "conv2d_62" not in n["name"]]
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(ConversionError, match="convolutions"):
        state_dict_from_tfjs(tmp_path / "other.json", sources / "rvm.bin")


def test_converter_writes_the_installed_weights(sources, weights, tmp_path):
    """Converting the sources again gives exactly the installed rvm.pt."""
    import torch

    from models.install.rvm import convert

    written = convert({"rvm.json": sources / "rvm.json", "rvm.bin": sources / "rvm.bin"}, tmp_path)
    installed = torch.load(weights / "rvm.pt", weights_only=True)
    fresh = torch.load(written[0], weights_only=True)
    assert installed.keys() == fresh.keys()
    assert all(torch.equal(installed[k], fresh[k]) for k in installed)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_encoder_is_torchvisions_mobilenet_v3_module_for_module():
    """The encoder is written out so a cold start need not import torchvision (issue 26): the same modules under the
    same names as torchvision's MobileNetV3-Large with RVM's dilated blocks, and the same features from the same
    weights."""
    import torch
    from torchvision.models.mobilenetv3 import InvertedResidualConfig, MobileNetV3

    from models.rvm_net import BLOCKS, MobileNetV3Encoder

    theirs = MobileNetV3([InvertedResidualConfig(*block, width_mult=1.0) for block in BLOCKS], last_channel=1280)
    del theirs.avgpool, theirs.classifier
    ours = MobileNetV3Encoder()
    torch.manual_seed(0)
    state = {name: torch.randn_like(value) if value.is_floating_point() else value
             for name, value in ours.state_dict().items()}
    state = {**state, **{name: value.abs() + 0.5 for name, value in state.items() if name.endswith("running_var")}}
    ours.load_state_dict(state)
    theirs.load_state_dict({name: value for name, value in state.items() if name not in ("mean", "std")})
    x = torch.rand(1, 3, 96, 128)
    with torch.inference_mode():
        expected, found = theirs.eval().features, []
        y = (x - ours.mean) / ours.std
        for index, layer in enumerate(expected):
            y = layer(y)
            if index in (1, 3, 6, 16):
                found.append(y)
        for mine, reference in zip(ours.eval()(x), found, strict=True):
            torch.testing.assert_close(mine, reference, rtol=0, atol=0)


def test_the_default_segmenter_loads_without_torchvision():
    """torchvision's import pulls in torch's compiler stack (seconds of a cold start): the default needs none of it."""
    code = ("import sys; from models import registry; s = registry.create('people'); "
            "print(sorted({'torchvision', 'torch._dynamo', 'scipy'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
