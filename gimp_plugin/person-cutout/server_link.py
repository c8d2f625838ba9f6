# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Talking to the Person Cutout server from GIMP: connect (starting it if needed), send a layer, read back.

Shared by every procedure of the plug-in. ``protocol.py`` and ``client.py`` beside this file are
copies of the server's, put here by install.py; only they and pyzmq are needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402
from protocol import DEFAULT_ENDPOINT, SILENCE_SECONDS  # noqa: E402 - the copy install.py put beside this file

HERE = os.path.dirname(os.path.abspath(__file__))

# babl formats of the pixels sent, by layer type: 8-bit, perceptual (gamma) values,
# whatever the image's precision — GIMP converts high bit depth on the way.
SEND_FORMATS = {
    (True, False): ("R'G'B' u8", "RGB8"),
    (True, True): ("R'G'B'A u8", "RGBA8"),
    (False, False): ("Y' u8", "GRAY8"),
    (False, True): ("Y'A u8", "GRAYA8"),
}
# the mask's babl format: linear "Y u8" keeps the server's 0…255 values exactly in 8-bit images
MASK_FORMAT = "Y u8"


class CutoutError(Exception):
    """A failure the user should read about (server down, bad answer, wrong layer)."""


def load_config() -> dict:
    path = os.path.join(HERE, "config.json")
    if os.path.isfile(path):
        with open(path) as handle:
            return json.load(handle)
    return {"endpoint": DEFAULT_ENDPOINT}


def endpoint_or_configured(endpoint: str) -> str:
    """The endpoint a procedure was given, else the one install.py wrote into config.json."""
    return endpoint or load_config().get("endpoint", DEFAULT_ENDPOINT)


def connect(endpoint: str, timeout: float):
    """A client for a live server; starts the server from config.json when none answers."""
    try:
        import client
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
        log = open(os.path.join(HERE, "server.log"), "ab")
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
    log_path = os.path.join(HERE, "server.log")
    raise CutoutError(f"started the Person Cutout server but it did not answer at {endpoint}; see {log_path}")


def ping(connection, timeout: float) -> bool:
    """Whether a server answers ``ping`` within ``timeout`` s (cheap: ``hello`` imports every model module)."""
    import client
    import protocol

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
        import client
    except ImportError:
        return None
    with client.Client(endpoint, deadline=timeout, silence_timeout=timeout, retries=0) as connection:
        try:
            return connection.hello(timeout)
        except client.ServerError:
            return None


def read_pixels(drawable, babl_format: str) -> bytes:
    width, height = drawable.get_width(), drawable.get_height()
    rect = Gegl.Rectangle.new(0, 0, width, height)
    return bytes(drawable.get_buffer().get(rect, 1.0, babl_format, Gegl.AbyssPolicy.CLAMP))


def write_pixels(drawable, babl_format: str, data: bytes) -> None:
    width, height = drawable.get_width(), drawable.get_height()
    buffer = drawable.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, width, height), babl_format, data)
    buffer.flush()
    drawable.update(0, 0, width, height)


def layer_pixels(layer) -> tuple[bytes, str]:
    """The layer's pixels as sent to the server, and their wire format."""
    babl_format, wire_format = SEND_FORMATS[(layer.is_rgb(), layer.has_alpha())]
    return read_pixels(layer, babl_format), wire_format


def layer_with_mask_as_alpha(layer) -> bytes:
    """RGBA8 pixels: the layer's colours with its layer mask (times its own alpha) as the alpha channel.

    Sent with the option ``mask: alpha`` so the server renders comic layers of the person
    exactly as the artist masked them, without running a segmenter.
    """
    colours = read_pixels(layer, "R'G'B' u8")
    mask = read_pixels(layer.get_mask(), MASK_FORMAT)
    if layer.has_alpha():
        own = read_pixels(layer, "R'G'B'A u8")[3::4]
        mask = bytes(map(min, mask, own))
    rgba = bytearray(len(mask) * 4)
    for channel in range(3):
        rgba[channel::4] = colours[channel::3]
    rgba[3::4] = mask
    return bytes(rgba)


def request(op: str, layer, pixels: bytes, wire_format: str, segmenter: str, options: dict,
            endpoint: str, timeout: float, what: str = "Cutting out the person…"):
    """Send ``pixels`` (the layer's size) with ``op``; returns the reply. Raises CutoutError."""
    import client  # noqa: F401 - checked by connect()

    width, height = layer.get_width(), layer.get_height()
    connection = connect(endpoint, timeout)
    Gimp.progress_set_text(what)

    def on_progress(stage, fraction):
        Gimp.progress_set_text(f"Person Cutout: {stage}")
        Gimp.progress_update(fraction)

    try:
        reply = connection.image_request(op, pixels, width, height, wire_format,
                                         segmenter=None if segmenter == "default" else segmenter,
                                         options=options, on_progress=on_progress)
    except client.ServerError as exc:
        if exc.code == "unreachable":
            raise CutoutError(f"The Person Cutout server is gone: {exc.message}") from exc
        raise CutoutError(f"Person Cutout server: {exc.message}") from exc
    finally:
        connection.close()
    mask = reply.frames.get("mask")
    if mask is None or len(mask) != width * height:
        raise CutoutError(f"the server's answer has no mask of {width}×{height} pixels")
    return reply
