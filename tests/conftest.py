"""Shared fixtures: where the real photos are, the installed weights, small helpers.

``../shared/data/persons-dev`` (87 real photos with masks) is read in place, never
copied. Outside CI a test that needs it is skipped with the reason shown; in CI
(``CI=true``) its absence is a failure, so a broken checkout cannot pass quietly.
"""

from __future__ import annotations

import os

# as python -m server does (server/__main__.py): OpenMP threads wait passively, so a shared CI core is not
# spent spinning; read by libgomp when torch is first imported, which has not happened yet here
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PERSON_CUTOUT_SHARED", REPO_ROOT.parent / "shared"))
PERSONS_DEV = SHARED / "data" / "persons-dev"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; otherwise skip (or fail in CI) saying what is missing."""
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if IN_CI:
        pytest.fail(message + " (required in CI)")
    pytest.skip(message)


def installed(segmenter):
    """``segmenter`` loaded; skipped (failed in CI) with the install command when its weights are missing."""
    if segmenter.missing_weights():
        message = f"{segmenter.name} weights are not installed (python install.py --models {segmenter.name})"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    segmenter.load()
    return segmenter


@pytest.fixture(scope="session")
def tfjs_runtime(tmp_path_factory) -> Path:
    """TF.js with its WebAssembly backend, installed once per run with npm into a temporary folder (the original
    runtime the ports are checked against); skipped (failed in CI) when npm cannot install it."""
    from server.bench.references.tfjs_rvm import RuntimeUnavailable, install_tfjs

    try:
        return install_tfjs(tmp_path_factory.mktemp("tfjs"))
    except RuntimeUnavailable as exc:
        pytest.fail(str(exc)) if IN_CI else pytest.skip(str(exc))


@pytest.fixture(scope="session")
def onnxruntime_python(tmp_path_factory) -> Path:
    """The python of one throwaway venv with onnxruntime from PyPI (15 s to make), for the ports' checks against the
    original ONNX files (ISNet, MODNet); a failure to install fails the test that needs it."""
    from server.bench.references.onnx_isnet import install_onnxruntime

    try:
        return install_onnxruntime(tmp_path_factory.mktemp("onnxruntime-venv"))
    except RuntimeError as exc:
        pytest.fail(str(exc))


def tfjs_graph(weights: Path, network: str) -> Path:
    """The original TF.js graph of ``network`` as installed (``weights/sources/NAME/NAME.json`` + ``.bin``);
    skipped (failed in CI) with the install command when it is missing."""
    folder = weights / "sources" / network
    if not (folder / f"{network}.json").is_file() or not (folder / f"{network}.bin").is_file():
        message = (f"the original TF.js graph is not installed in {folder} "
                   f"(python -m models.install install --models {network})")
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def persons_dev() -> Path:
    # resolved: a symlinked ../shared must name the same files inside the GIMP test root's bind mounts
    return need(PERSONS_DEV, "the persons-dev photos (../shared/data/persons-dev)").resolve()


@pytest.fixture(scope="session")
def weights() -> Path:
    from models.paths import weights_dir

    return weights_dir()


@pytest.fixture(scope="module")
def people(weights):
    """The default segmenter, loaded (skipped, or failed in CI, without its weights); per module, as its
    networks' memory is worth giving back between the files that use it."""
    from models.people import PeopleSegmenter

    return installed(PeopleSegmenter(weights, "cpu"))


def load_pair(persons_dev: Path, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 photo, boolean person mask) of one persons-dev photo."""
    from PIL import Image

    rgb = np.asarray(Image.open(persons_dev / "images" / f"{stem}.jpg").convert("RGB"))
    mask = np.asarray(Image.open(persons_dev / "masks" / f"{stem}.png").convert("L")) > 127
    return rgb, mask


def stems(persons_dev: Path, limit: int | None = None) -> list[str]:
    names = sorted(p.stem for p in (persons_dev / "images").glob("*.jpg"))
    return names[:limit] if limit else names
