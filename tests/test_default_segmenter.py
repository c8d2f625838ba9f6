"""Which segmenter a request that names none runs: what ``hello`` calls the default, from the CLI and through the
server alike (issue 26: with only ISNet installed, ``hello`` said ``isnet`` and a request ran ``selfie``, whose
weights were not there). The declarations and the default set of weights agree with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zmq
from PIL import Image

from cutout_common import vocabulary
from models import registry
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def only_isnet(tmp_path_factory) -> Path:
    """A weights folder holding nothing but ``isnet.pt`` (random weights: which network runs is the question)."""
    import torch

    from models.isnet_net import ISNetDIS

    folder = tmp_path_factory.mktemp("only-isnet")
    torch.manual_seed(0)
    torch.save(ISNetDIS().state_dict(), folder / "isnet.pt")
    return folder


def photo(path: Path) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)).save(path)
    return path


def test_the_resolver_picks_the_first_installed_of_the_default_order(only_isnet):
    assert registry.resolve(None, weights=only_isnet) == "isnet"
    assert registry.resolve(None, installed=lambda name: name in ("selfie", "rvm")) == "rvm"  # by rank, not listing
    assert (
        registry.resolve(None, installed=lambda name: False) == vocabulary.default_order()[0]
    )  # names what to install
    assert registry.resolve("maskrcnn", installed=lambda name: False) == "maskrcnn"  # a named one is never replaced
    with pytest.raises(registry.UnknownSegmenterError):
        registry.resolve("nope")


def test_with_only_isnet_hello_and_a_server_request_agree(only_isnet, monkeypatch):
    from cutout_common.client import Client
    from server.transport.service import Server, ServerConfig

    monkeypatch.setenv("PERSON_CUTOUT_WEIGHTS", str(only_isnet))
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
    with Server(ServerConfig(endpoint="tcp://127.0.0.1:*")) as server:
        with Client(server.endpoint, context=zmq.Context.instance(), deadline=300, silence_timeout=60) as client:
            hello = client.hello()
            reply = client.cutout(rgb.tobytes(), 64, 48, "RGB8")
    assert hello["default"] == "isnet"
    assert reply.header["segmenter"] == hello["default"]


def test_with_only_isnet_the_cli_runs_what_hello_calls_the_default(only_isnet, tmp_path):
    env = {**os.environ, "PERSON_CUTOUT_WEIGHTS": str(only_isnet)}
    result = subprocess.run([sys.executable, "-m", "server", "cutout", str(photo(tmp_path / "in.png")), "-o",
                             str(tmp_path / "out.png")], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "[segmenter isnet]" in result.stdout


def test_the_default_set_of_weights_holds_what_every_ranked_segmenter_needs():
    """install.py and ``models.install`` install :data:`vocabulary.DEFAULT_MODELS` when no ``--models`` are given."""
    import install

    assert install.DEFAULT_MODELS.split(",") == list(vocabulary.DEFAULT_MODELS)
    assert _fetch_models_default().split(",") == list(vocabulary.DEFAULT_MODELS)
    for name, info in vocabulary.SEGMENTERS.items():
        if info.rank is not None:
            assert set(info.networks) <= set(vocabulary.DEFAULT_MODELS), name


def _fetch_models_default() -> str:
    """``python -m models.install install --help``'s default for ``--models``."""
    result = subprocess.run([sys.executable, "-m", "models.install", "install", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    text = " ".join(result.stdout.split())
    return text.split("(default: ")[1].split(")")[0]
