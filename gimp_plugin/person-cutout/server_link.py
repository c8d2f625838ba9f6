# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Talking to the Person Cutout server from GIMP: connect (starting it if needed), send a layer, read back.

Shared by every procedure of the plug-in. The wire protocol and the client are the server's own
(:mod:`cutout_common`, installed beside the plug-in); only they and pyzmq are needed.

What the user sees: an endpoint that cannot be one is refused before anything is sent; a server
that does not answer is started only when it is the one install.py configured on this computer
(plugin_logic.settings), and a server that stops at once is reported at once with its log's last
lines; otherwise GIMP's message says within a few seconds why nothing happens. While a request
waits behind other jobs on the server, the progress text says how many (plugin_logic.progress).
Every job is watched by a small process of its own (plugin_logic.cancel_watch): GIMP kills a plug-in
whose progress the user cancels, and the watcher then cancels the job on the server.
"""

from __future__ import annotations

import subprocess
import sys
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402
from plugin_logic import cancel_watch, errors, segmenters  # noqa: E402
from plugin_logic.i18n import _  # noqa: E402
from plugin_logic.progress import Progress  # noqa: E402
from plugin_logic.replies import checked_mask  # noqa: E402
from plugin_logic.settings import (  # noqa: E402
    EndpointError,
    checked_endpoint,
    load_config,
    may_start_server,
    no_server_message,
)

from cutout_common.protocol import SILENCE_SECONDS  # noqa: E402

#: how long a live server may take to answer ``ping`` (it answers from its I/O thread, at once)
PING_SECONDS = 2.0


class CutoutError(Exception):
    """A failure the user should read about (server down, bad answer, wrong layer)."""


def log(message: str) -> None:
    """A line on GIMP's terminal (and the tests' log): what the user was shown, for whoever reads it later."""
    print(f"[person-cutout] {message}", file=sys.stderr, flush=True)


def _client_module():
    try:
        from cutout_common import client
    except ImportError as exc:
        raise CutoutError(_("The Python module “zmq” (pyzmq) is missing in GIMP's Python (%s). Install Person Cutout "
                            "again, or install your system's python3-zmq package.") % exc) from exc
    return client


def connect(endpoint: str, timeout: float):
    """A client for a live server; starts the configured local server when none answers there."""
    try:
        endpoint = checked_endpoint(endpoint)
    except EndpointError as exc:
        raise CutoutError(str(exc)) from None
    client = _client_module()
    config = load_config()
    # the server speaks at least every 2 s while it works: silence means it is gone (config: silence_timeout)
    silence = float(config.get("silence_timeout", SILENCE_SECONDS))
    connection = client.Client(endpoint, deadline=timeout, silence_timeout=min(timeout, silence), retries=1,
                               routing_id=cancel_watch.routing_id())  # the identity a cancel watcher takes on
    if ping(connection, PING_SECONDS):
        return connection
    if not may_start_server(endpoint, config):
        connection.close()
        raise CutoutError(no_server_message(endpoint, config))
    start_server(connection, config, endpoint)
    return connection


def start_server(connection, config: dict, endpoint: str) -> None:
    """Start the configured server and wait until it answers; a server that stops or never answers is reported."""
    Gimp.progress_set_text(_("Starting the Person Cutout server…"))
    log_path = errors.SERVER_LOG
    command = list(config["server_command"]) + ["--endpoint", endpoint]
    try:
        with open(log_path, "ab") as log_file:
            start = log_file.tell()
            process = subprocess.Popen(command, cwd=config.get("server_cwd") or None, stdout=log_file, stderr=log_file,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        connection.close()
        raise CutoutError(_("Could not start the Person Cutout server (%(command)s): %(error)s")
                          % {"command": " ".join(command), "error": exc}) from exc
    log(f"started the server: {' '.join(command)} (process {process.pid})")
    deadline = time.monotonic() + float(config.get("start_timeout", 120))
    while time.monotonic() < deadline:
        if process.poll() is not None:  # it stopped: say so now, with its own words, not after the timeout
            connection.close()
            raise CutoutError(_("The Person Cutout server stopped as it started (exit status %(status)s):\n%(log)s")
                              % {"status": process.returncode, "log": _log_tail(log_path, start)})
        if ping(connection, 1.0):
            return
        Gimp.progress_pulse()
    process.terminate()  # a server that never answered must not keep running unseen
    connection.close()
    raise CutoutError(_("Started the Person Cutout server, but it did not answer at %(endpoint)s in time; "
                        "it was stopped. Its log: %(log)s") % {"endpoint": endpoint, "log": log_path})


def _log_tail(path: str, start: int, lines: int = 6) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return path
    return "\n".join(text.strip().splitlines()[-lines:]) or path


def ping(connection, timeout: float) -> bool:
    """Whether a server answers ``ping`` within ``timeout`` s (cheap: ``hello`` imports every model module)."""
    from cutout_common import client, protocol

    saved = connection.silence_timeout, connection.retries
    connection.silence_timeout, connection.retries = timeout, 0
    try:
        connection.request(protocol.encode_request("ping"), deadline=timeout + 1)
        return True
    except client.ServerError as exc:
        log(f"no server answers at {connection.endpoint} ({exc})")
        return False
    finally:
        connection.silence_timeout, connection.retries = saved


def hello(endpoint: str, timeout: float = 1.0) -> dict | None:
    """A running server's ``hello`` (segmenters, which are installed, comic styles), or None; never starts a server."""
    try:
        endpoint = checked_endpoint(endpoint)
        from cutout_common import client
    except (EndpointError, ImportError):
        return None
    with client.Client(endpoint, deadline=timeout, silence_timeout=timeout, retries=0) as connection:
        try:
            return connection.hello(timeout)
        except client.ServerError:
            return None


def request(op: str, layer, pixels: bytes, wire_format: str, segmenter: str, options: dict,
            endpoint: str, timeout: float, stages: tuple[str, ...] = ("segment",),
            span: tuple[float, float] = (0.0, 1.0), hints: bytes | None = None):
    """Send ``pixels`` (the layer's size) with ``op``, and ``hints`` (GRAY8, the layer's size) when given;
    returns the reply. Raises CutoutError.

    ``stages``: what the server will run (segment, edges, comic), so the bar gives each its share;
    ``span``: the part of GIMP's bar this request fills.
    """
    client = _client_module()
    from cutout_common import protocol

    width, height = layer.get_width(), layer.get_height()
    connection = connect(endpoint, timeout)
    progress = Progress(stages, *span)
    shown = {"text": None}

    def show(text: str | None, fraction: float) -> None:
        if text is not None and text != shown["text"]:  # each new stage or queue position once, also on the terminal
            Gimp.progress_set_text(text)
            log(text)
            shown["text"] = text
        Gimp.progress_update(fraction)

    show(*progress.first())
    request_id = protocol.new_id()
    # GIMP kills a plug-in whose progress is cancelled: the watcher then cancels the job on the server
    watcher = cancel_watch.watch(connection.endpoint, connection.routing_id, request_id)
    try:
        reply = connection.image_request(op, pixels, width, height, wire_format, request_id=request_id,
                                         segmenter=None if segmenter == segmenters.DEFAULT else segmenter,
                                         options=options, on_progress=lambda s, f: show(*progress.update(s, f)),
                                         on_queued=lambda ahead: show(*progress.queued(ahead)), hints=hints)
    except client.ServerError as exc:
        raise CutoutError(server_error_text(exc, connection.endpoint)) from exc
    finally:
        watcher.done()
        connection.close()
    try:
        checked_mask(reply, width, height)
    except ValueError as exc:
        raise CutoutError(str(exc)) from None
    return reply


def server_error_text(exc, endpoint: str) -> str:
    """A server's (or the client's) error in words a GIMP user can act on (plugin_logic.errors)."""
    return errors.server_error_text(exc.code, exc.message, exc.header, endpoint)
