# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""What install.py configured (``config.json`` beside the plug-in), and which server the plug-in may start.

The plug-in starts a server only at the endpoint install.py configured, and only when that is on
this computer: a server it started elsewhere would be one nobody stops (a mistyped port), and one
for another machine cannot work at all. Any other endpoint that does not answer is reported at
once, in words that say what to do.
"""

from __future__ import annotations

import json
import os

from cutout_common.endpoints import is_local_endpoint, parse_connect
from cutout_common.protocol import DEFAULT_ENDPOINT

from .i18n import _
from .plugin_dir import PLUGIN_DIR

CONFIG_FILE = "config.json"


class EndpointError(ValueError):
    """An endpoint that cannot be a server's address; the message says how to write one."""


def load_config(folder: str | None = None) -> dict:
    """The installed configuration; only the endpoint when install.py wrote none (a copied plug-in)."""
    path = os.path.join(folder or PLUGIN_DIR, CONFIG_FILE)
    try:
        with open(path) as handle:
            config = json.load(handle)
    except FileNotFoundError:
        return {"endpoint": DEFAULT_ENDPOINT}
    except (OSError, ValueError) as exc:
        raise ValueError(_("the plug-in's settings %(path)s cannot be read (%(error)s); install Person Cutout again")
                         % {"path": path, "error": exc}) from None
    if not isinstance(config, dict):
        raise ValueError(_("the plug-in's settings %s are not a JSON object; install Person Cutout again") % path)
    return config


def configured_endpoint(config: dict) -> str:
    return str(config.get("endpoint") or DEFAULT_ENDPOINT).strip()


def endpoint_or_configured(endpoint: str, folder: str | None = None) -> str:
    """The endpoint a procedure was given, else the one install.py wrote into config.json."""
    return endpoint.strip() or configured_endpoint(load_config(folder))


def checked_endpoint(endpoint: str) -> str:
    """``endpoint`` if a client can connect to it; :class:`EndpointError` in the user's words otherwise."""
    try:
        parse_connect(endpoint)
    except ValueError:
        raise EndpointError(
            _("“%(endpoint)s” is not a server address. Write it as tcp://HOST:PORT, for example %(example)s, "
              "or leave Server address empty to use the server set up at installation.")
            % {"endpoint": endpoint, "example": DEFAULT_ENDPOINT}) from None
    return endpoint.strip()


def may_start_server(endpoint: str, config: dict) -> bool:
    """Whether the plug-in may start a server for ``endpoint``: the configured one, on this computer, with a command."""
    return (
        bool(config.get("server_command")) and endpoint == configured_endpoint(config) and is_local_endpoint(endpoint)
    )


def no_server_message(endpoint: str, config: dict) -> str:
    """Why no server answers at ``endpoint`` and the plug-in does not start one, and what to do."""
    configured = configured_endpoint(config)
    if not is_local_endpoint(endpoint):
        return _(
            "No Person Cutout server answers at %(endpoint)s. That address is on another computer: start the "
            "server there, check the address, or leave Server address empty to use this computer's server."
        ) % {"endpoint": endpoint}
    if endpoint != configured:
        return _(
            "No Person Cutout server answers at %(endpoint)s. The plug-in starts a server by itself only at "
            "%(configured)s, the address set up at installation: leave Server address empty to use it, or start "
            "a server at %(endpoint)s yourself."
        ) % {"endpoint": endpoint, "configured": configured}
    return _(
        "No Person Cutout server answers at %(endpoint)s, and none is set up to start by itself: "
        "install Person Cutout again, or start the server yourself."
    ) % {"endpoint": endpoint}
