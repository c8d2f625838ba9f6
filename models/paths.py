"""Where installed weights live.

Default: ``weights/`` next to the checkout (install.py writes there, the server
reads there), overridable with ``PERSON_CUTOUT_WEIGHTS`` for offline mirrors and
tests.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def weights_dir() -> Path:
    override = os.environ.get("PERSON_CUTOUT_WEIGHTS")
    return Path(override) if override else REPO_ROOT / "weights"


def write_weights(state: dict, weights: Path, filename: str) -> Path:
    """Save a converted state dict as ``weights/filename``, atomically: never a half-written weight file."""
    import torch

    target = Path(weights) / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    torch.save(state, partial)
    partial.replace(target)
    return target
