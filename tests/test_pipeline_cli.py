"""The pipeline's option handling and compositing, and ``python -m server cutout`` end to end."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.base import OptionError
from server.commands.cutout import parse_option_pairs, plan
from server.pipeline.cutout import composite, parse_colour, parse_options

REPO = Path(__file__).resolve().parent.parent
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"


def test_options_are_split_between_pipeline_and_segmenter():
    parsed = parse_options({"edges": "fast", "comic": "manga", "view": 512})
    assert parsed.edges == "fast" and parsed.comic == {"style": "manga"} and parsed.segmenter_options == {"view": 512}


@pytest.mark.parametrize("options", [{"edges": "sharp"}, {"foreground": "yes"}, {"parts": 1}, {"comic": 3}, {"comic": {"lines": 2}},
                                     {"comic": {"style": "cartoon", "soft_edges": "no"}}])
def test_bad_options_are_refused(options):
    with pytest.raises(OptionError):
        parse_options(options)


def test_composite_on_black_uses_foreground_colours_where_soft():
    rgb = np.full((1, 3, 3), 200, np.uint8)
    alpha = np.array([[0.0, 0.5, 1.0]], np.float32)
    clean = np.zeros((1, 3, 3), np.float32)
    clean[..., 0] = 1.0  # pure red foreground
    out = composite(rgb, alpha, clean, "black")
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])
    np.testing.assert_array_equal(out[0, :, 1], [0, 0, 0])
    rgba = composite(rgb, alpha)
    np.testing.assert_array_equal(rgba[0, :, 3], [0, 128, 255])
    np.testing.assert_array_equal(rgba[0, :, 0], [200, 200, 200])


def test_colours_and_option_pairs():
    assert parse_colour("#ff8000") == (255, 128, 0) and parse_colour("black") == (0, 0, 0)
    with pytest.raises(ValueError):
        parse_colour("ultraviolet")
    assert parse_option_pairs(["flip=false", "view=384", "name=x"]) == {"flip": False, "view": 384, "name": "x"}
    with pytest.raises(ValueError):
        parse_option_pairs(["novalue"])


def test_plan_maps_folders_to_folders(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("b.jpg", "a.png", "notes.txt"):
        (tmp_path / "in" / name).write_bytes(b"")
    pairs = plan(tmp_path / "in", tmp_path / "out")
    assert [(s.name, t.name) for s, t in pairs] == [("a.png", "a.png"), ("b.jpg", "b.png")]
    with pytest.raises(FileNotFoundError):
        plan(tmp_path / "missing.jpg", tmp_path / "o.png")


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "server", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_cli_reports_unknown_segmenter_clearly(tmp_path):
    result = _cli("cutout", str(ASTRONAUT), "-o", str(tmp_path / "x.png"), "--segmenter", "nope", check=False)
    assert result.returncode == 2 and "unknown segmenter 'nope'" in result.stderr
    assert not (tmp_path / "x.png").exists()


def _default_installed() -> str:
    from models import registry

    name = registry.default_name()
    if name not in registry.names() or registry.create(name).missing_weights():
        from tests.conftest import IN_CI

        if IN_CI:
            pytest.fail("no segmenter weights installed (python install.py)")
        pytest.skip("no segmenter weights installed; run python install.py")
    return name


def test_cli_cutout_in_process_and_through_a_server_agree(tmp_path):
    name = _default_installed()
    local = tmp_path / "local.png"
    _cli("cutout", str(ASTRONAUT), "-o", str(local), "--segmenter", name)
    cut = np.asarray(Image.open(local))
    assert cut.shape == (512, 512, 4)
    alpha = cut[..., 3]
    # her orange suit fills the lower left and middle; the top corners are background (the helmet she
    # holds, lower right, is left out of the check: whether it belongs to the person is a matter of taste)
    assert alpha[300:500, 40:270].mean() > 200 and alpha[:60, :60].mean() < 30 and alpha[:60, -60:].mean() < 30

    black = tmp_path / "black.png"
    _cli("cutout", str(ASTRONAUT), "-o", str(black), "--segmenter", name, "--background", "black")
    assert np.asarray(Image.open(black)).shape == (512, 512, 3)

    from server.transport.service import Server, ServerConfig

    server = Server(ServerConfig(endpoint="tcp://127.0.0.1:*"))
    endpoint = server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        remote = tmp_path / "remote.png"
        _cli("cutout", str(ASTRONAUT), "-o", str(remote), "--segmenter", name, "--connect", endpoint)
        difference = np.abs(np.asarray(Image.open(remote)).astype(int) - cut.astype(int))
        assert difference.max() <= 1
    finally:
        server.stop()
        thread.join(10)
