# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Talking to the Person Cutout server from GIMP: connect (starting it if needed), send a layer, read back.

Shared by every procedure of the plug-in. The wire protocol and the client are the server's own
(:mod:`cutout_common`, installed beside the plug-in); only they and pyzmq are needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402
from plugin_logic.replies import checked_mask  # noqa: E402
from plugin_logic.settings import PLUGIN_DIR, load_config  # noqa: E402

from cutout_common.protocol import SILENCE_SECONDS  # noqa: E402


class CutoutError(Exception):
    """A failure the user should read about (server down, bad answer, wrong layer)."""


def connect(endpoint: str, timeout: float):
    """A client for a live server; starts the server from config.json when none answers."""
    try:
        from cutout_common import client
    except ImportError as exc:
        raise CutoutError(
            f"the Python module 'zmq' (pyzmq) is missing in GIMP's Python ({exc}); rerun install.py or install python3-zmq"
        ) from exc
    # the server speaks at least every 2 s while it works: silence means it is gone (config: silence_timeout)
    silence = float(load_config().get("silence_timeout", SILENCE_SECONDS))
    connection = client.Client(endpoint, deadline=timeout, silence_timeout=min(timeout, silence), retries=1)
    if ping(connection, 3.0):
        return connection
    config = load_config()
    command = config.get("server_command")
    if not command:
        raise CutoutError(f"no Person Cutout server answers at {endpoint} and none is configured to start")
    Gimp.progress_set_text("Starting the Person Cutout server…")
    try:
        log = open(os.path.join(PLUGIN_DIR, "server.log"), "ab")
        command = list(command) + ["--endpoint", endpoint]
        subprocess.Popen(command, cwd=config.get("server_cwd") or None, stdout=log, stderr=log,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise CutoutError(f"could not start the Person Cutout server ({' '.join(command)}): {exc}") from exc
    deadline = time.monotonic() + float(config.get("start_timeout", 120))
    while time.monotonic() < deadline:
        if ping(connection, 2.0):
            return connection
        Gimp.progress_pulse()
    log_path = os.path.join(PLUGIN_DIR, "server.log")
    raise CutoutError(f"started the Person Cutout server but it did not answer at {endpoint}; see {log_path}")


def ping(connection, timeout: float) -> bool:
    """Whether a server answers ``ping`` within ``timeout`` s (cheap: ``hello`` imports every model module)."""
    from cutout_common import client, protocol

    saved = connection.silence_timeout, connection.retries
    connection.silence_timeout, connection.retries = timeout, 0
    try:
        connection.request(protocol.encode_request("ping"), deadline=timeout + 1)
        return True
    except client.ServerError as exc:
        print(f"[person-cutout] no server answers at {connection.endpoint} ({exc})", file=sys.stderr, flush=True)
        return False
    finally:
        connection.silence_timeout, connection.retries = saved


def hello(endpoint: str, timeout: float = 2.0) -> dict | None:
    """A running server's ``hello`` (segmenters, licences, comic styles), or None; never starts a server."""
    try:
        from cutout_common import client
    except ImportError:
        return None
    with client.Client(endpoint, deadline=timeout, silence_timeout=timeout, retries=0) as connection:
        try:
            return connection.hello(timeout)
        except client.ServerError:
            return None


def request(op: str, layer, pixels: bytes, wire_format: str, segmenter: str, options: dict,
            endpoint: str, timeout: float, what: str = "Cutting out the person…", hints: bytes | None = None):
    """Send ``pixels`` (the layer's size) with ``op``, and ``hints`` (GRAY8, the layer's size) when given;
    returns the reply. Raises CutoutError."""
    from cutout_common import client  # checked by connect()

    width, height = layer.get_width(), layer.get_height()
    connection = connect(endpoint, timeout)
    Gimp.progress_set_text(what)

    def on_progress(stage, fraction):
        Gimp.progress_set_text(f"Person Cutout: {stage}")
        Gimp.progress_update(fraction)

    try:
        reply = connection.image_request(op, pixels, width, height, wire_format,
                                         segmenter=None if segmenter == "default" else segmenter,
                                         options=options, on_progress=on_progress, hints=hints)
    except client.ServerError as exc:
        if exc.code == "unreachable":
            raise CutoutError(f"The Person Cutout server is gone: {exc.message}") from exc
        raise CutoutError(f"Person Cutout server: {exc.message}") from exc
    finally:
        connection.close()
    try:
        checked_mask(reply, width, height)
    except ValueError as exc:
        raise CutoutError(str(exc)) from None
    return reply
