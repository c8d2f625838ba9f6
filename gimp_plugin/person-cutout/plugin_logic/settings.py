# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""What install.py configured: where the server listens and how to start it (``config.json`` beside the plug-in)."""

from __future__ import annotations

import json
import os

from cutout_common.protocol import DEFAULT_ENDPOINT

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_FILE = "config.json"


def load_config(folder: str | None = None) -> dict:
    """The installed configuration; only the endpoint when install.py wrote none (a copied plug-in)."""
    path = os.path.join(folder or PLUGIN_DIR, CONFIG_FILE)
    try:
        with open(path) as handle:
            config = json.load(handle)
    except FileNotFoundError:
        return {"endpoint": DEFAULT_ENDPOINT}
    except (OSError, ValueError) as exc:
        raise ValueError(f"the plug-in's settings {path} cannot be read ({exc}); run install.py again") from None
    if not isinstance(config, dict):
        raise ValueError(f"the plug-in's settings {path} are not a JSON object; run install.py again")
    return config


def endpoint_or_configured(endpoint: str, folder: str | None = None) -> str:
    """The endpoint a procedure was given, else the one install.py wrote into config.json."""
    return endpoint or load_config(folder).get("endpoint", DEFAULT_ENDPOINT)
