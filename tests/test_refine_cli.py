"""``python -m server cutout PHOTO -o OUT --hints HINTS.png [--mask-from MASK.png]``: files and folders.

Most tests run the CLI in this process with the brightness stand-in (tests/doubles.py), recording what
the cutter was given; one runs the real command on the astronaut with the default segmenter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from server.pipeline.images import read_hints
from tests.test_pipeline_cli import photo_file

REPO = Path(__file__).resolve().parent.parent
ASTRONAUT = REPO / "tests" / "data" / "astronaut.png"


@pytest.fixture
def cli(monkeypatch):
    """``main(args)`` in this process; each cut's photo name, given mask and hints kept in ``cli.received``."""
    from server.commands import cutout as cutout_cli
    from server.commands import main as cli_module
    from server.pipeline.cutout import run_cutout
    from server.pipeline.model_cache import ModelCache
    from server.transport.cutters import with_mask_and_hints
    from tests import doubles

    cache = ModelCache("cpu", factory=doubles.factory)
    received: list[dict] = []

    def local(device):
        def cut(rgb, segmenter, options, *, mask=None, hints=None):
            received.append({"rgb": rgb, "mask": mask, "hints": hints})
            return run_cutout(rgb, segmenter or "brightness", with_mask_and_hints(options, mask, hints), cache,
                              given_alpha=mask, hints=hints)

        return cut

    monkeypatch.setattr(cutout_cli.cutters, "local", local)

    def run(*args) -> int:
        return cli_module.main([str(a) for a in args])

    run.received = received
    return run


def bright_photo(height: int = 60, width: int = 80, shade: int = 240) -> np.ndarray:
    """A bright photo: the brightness stand-in calls all of it person."""
    return np.full((height, width, 3), shade, np.uint8)


def test_a_black_dot_on_a_given_mask_removes_the_whole_mistake_and_the_rest_stays(cli, tmp_path):
    rgb = np.full((60, 80, 3), 20, np.uint8)
    rgb[:, 40:] = 240  # dark left, bright right: the stand-in's person is the bright half
    photo = photo_file(tmp_path / "photo.png", rgb)
    mask = np.zeros((60, 80), np.uint8)
    mask[:, 40:] = 255
    mask[20:40, 5:25] = 255  # a patch of dark background the mask claims, apart from the person
    hints = np.full((60, 80), 128, np.uint8)
    cv2.circle(hints, (15, 30), 2, 0, -1)  # one black dot in its middle
    out = tmp_path / "refined.png"
    assert cli("cutout", photo, "-o", out, "--mask", "--mask-from", photo_file(tmp_path / "mask.png", mask),
               "--hints", photo_file(tmp_path / "hints.png", hints)) == 0
    refined = np.asarray(Image.open(out))
    assert np.all(refined[20:40, 5:25] == 0), "the whole patch goes, not only the dot"
    np.testing.assert_array_equal(refined[:, 30:], mask[:, 30:])
    np.testing.assert_array_equal(cli.received[0]["hints"], hints)
    np.testing.assert_array_equal(cli.received[0]["mask"], mask)


def test_mask_from_is_the_mask_to_start_from_and_a_cut_out_gives_its_alpha(cli, tmp_path):
    photo = photo_file(tmp_path / "photo.png", bright_photo())
    mask = np.zeros((60, 80), np.uint8)
    mask[10:50, 20:60] = 255
    as_grey = photo_file(tmp_path / "mask.png", mask)
    as_cutout = photo_file(tmp_path / "cutout.png", np.dstack([bright_photo(), mask]))
    for given in (as_grey, as_cutout):
        out = tmp_path / f"out-{given.stem}.png"
        assert cli("cutout", photo, "-o", out, "--mask", "--mask-from", given) == 0
        np.testing.assert_array_equal(np.asarray(Image.open(out)), mask)
        assert cli.received[-1]["hints"] is None


def test_folders_pair_photos_with_their_hints_and_masks_by_name(cli, tmp_path):
    photos, hints_dir, masks_dir, out = (tmp_path / n for n in ("photos", "hints", "masks", "out"))
    for folder in (photos, hints_dir, masks_dir):
        folder.mkdir()
    for name in ("a", "b", "c"):
        photo_file(photos / f"{name}.jpg", bright_photo())
    hint = np.full((60, 80), 128, np.uint8)
    hint[5:10, 5:10] = 0
    photo_file(hints_dir / "a.png", hint)
    photo_file(masks_dir / "b.png", np.full((60, 80), 255, np.uint8))
    assert cli("cutout", photos, "-o", out, "--mask", "--hints", hints_dir, "--mask-from", masks_dir) == 0
    got = {index: item for index, item in enumerate(cli.received)}  # photos are cut in name order
    assert got[0]["hints"] is not None and got[0]["mask"] is None
    assert got[1]["hints"] is None and got[1]["mask"] is not None
    assert got[2]["hints"] is None and got[2]["mask"] is None
    assert np.all(np.asarray(Image.open(out / "a.png"))[5:10, 5:10] == 0)


def test_a_hints_or_mask_file_of_another_size_is_refused_before_any_work(cli, tmp_path, capsys):
    photos, hints_dir = tmp_path / "photos", tmp_path / "hints"
    photos.mkdir()
    hints_dir.mkdir()
    for name in ("a", "b"):
        photo_file(photos / f"{name}.png", bright_photo())
    photo_file(hints_dir / "b.png", np.full((60, 79), 128, np.uint8))  # the last photo's is one column short
    assert cli("cutout", photos, "-o", tmp_path / "out", "--hints", hints_dir) == 2
    error = capsys.readouterr().err
    assert "b.png is 79×60" in error and "80×60" in error
    assert cli.received == [] and not (tmp_path / "out").exists()

    photo = photos / "a.png"
    wrong_mask = photo_file(tmp_path / "mask.png", np.zeros((61, 80), np.uint8))
    assert cli("cutout", photo, "-o", tmp_path / "one.png", "--mask-from", wrong_mask) == 2
    assert "80×61" in capsys.readouterr().err and cli.received == []


def test_wrong_hint_paths_are_clear_errors(cli, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    photo_file(photos / "a.png", bright_photo())
    single = photo_file(tmp_path / "hints.png", np.full((60, 80), 128, np.uint8))
    assert cli("cutout", photos, "-o", tmp_path / "out", "--hints", single) == 2
    assert "names a folder" in capsys.readouterr().err
    assert cli("cutout", photos / "a.png", "-o", tmp_path / "a.png", "--hints", tmp_path / "none.png") == 2
    assert "none.png does not exist" in capsys.readouterr().err
    assert cli.received == []


def test_hints_files_read_white_and_black_and_nothing_else(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[0, :] = (255, 255, 255, 255)  # white: person
    rgba[1, :] = (0, 0, 0, 255)  # black: not person
    rgba[2, :] = (255, 255, 255, 0)  # transparent white: no hint
    rgba[3, :] = (250, 250, 250, 255)  # a grey that is not white: no hint
    hints = read_hints(photo_file(tmp_path / "hints.png", rgba))
    assert hints.dtype == np.uint8 and hints.shape == (4, 5)
    assert np.all(hints[0] == 255) and np.all(hints[1] == 0)
    assert np.all((hints[2:] != 0) & (hints[2:] != 255))


def test_the_real_command_with_the_default_segmenter(tmp_path):
    """The installed default segmenter: a black stroke across her suit takes the suit there away."""
    from models import registry

    name = registry.resolve(None)
    if registry.create(name).missing_weights():
        pytest.skip(f"{name} weights are not installed")
    hints = np.full((512, 512), 128, np.uint8)
    cv2.line(hints, (200, 330), (260, 330), 0, 9)
    hints_file = photo_file(tmp_path / "hints.png", hints)
    out = tmp_path / "mask.png"
    # this checkout's modules first, whichever checkout the environment's .pth names
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "gimp_plugin")])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "cutout",
            str(ASTRONAUT),
            "-o",
            str(out),
            "--mask",
            "--hints",
            str(hints_file),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    mask = np.asarray(Image.open(out))
    assert np.all(mask[hints == 0] == 0)
    assert mask[:60, :60].max() < 30  # the backdrop's corner stays background
    assert mask[420:500, 60:200].mean() > 200  # her suit below the stroke stays person
