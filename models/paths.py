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
