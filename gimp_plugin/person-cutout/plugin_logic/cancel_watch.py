# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""Cancel a job on the server when the plug-in call that sent it is stopped before the answer came.

GIMP stops a plug-in whose progress the user cancels at once: it asks it to quit and kills it 10 ms
later (SIGKILL), so the plug-in itself can send nothing, and the server would go on with a job nobody
waits for — a long *Edges: Best* keeping the next cut-out waiting behind it. So before a job is sent,
:func:`watch` starts this module as a small process of its own (in its own session: GIMP's kill does
not reach it), holding the write end of its standard input. When the call ends, however it ends, the
plug-in writes ``done`` and the watcher exits. When the input ends without it, the plug-in was
stopped: the watcher connects with the plug-in's routing id — the server knows a job by its client's
identity and the request's id — and sends ``cancel``, trying again for a few seconds while the server
still holds the stopped plug-in's connection (a second connection with the same identity is ignored
until then).

Standard library and the shared client (pyzmq) only, like the plug-in; run as
``python -m plugin_logic.cancel_watch``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

DONE = b"done\n"
#: how long the watcher keeps trying to reach the server with its cancel
CANCEL_SECONDS = 5.0


def routing_id() -> bytes:
    """A routing id for one plug-in call's connection: the watcher connects with the same one to cancel."""
    return b"person-cutout-" + os.urandom(8).hex().encode()


class Watch:
    """A started watcher; :meth:`done` tells it the call ended on its own (nothing to cancel)."""

    def __init__(self, process: subprocess.Popen | None):
        self.process = process

    def done(self) -> None:
        if self.process is None:
            return
        try:
            self.process.stdin.write(DONE)
            self.process.stdin.close()
            self.process.wait(timeout=2.0)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass  # a watcher that died or hangs cancels nothing: the job has ended anyway
        self.process = None


def _import_paths() -> list[str]:
    """Where this process found plugin_logic, cutout_common and zmq: the watcher imports them from there."""
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    for name in ("cutout_common", "zmq"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            paths.append(os.path.dirname(os.path.dirname(os.path.abspath(module.__file__))))
    return list(dict.fromkeys(paths))


def watch(endpoint: str, routing: bytes, request_id: str) -> Watch:
    """Start the watcher for request ``request_id`` sent to ``endpoint`` by a connection with routing id ``routing``."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(_import_paths()))
    detached: dict = {"start_new_session": True}
    if sys.platform == "win32":  # no sessions: a process group of its own, without a console
        detached = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin_logic.cancel_watch", endpoint, routing.hex(), request_id],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment,
            close_fds=True, **detached)
    except OSError:  # no watcher: a cancel leaves the job running, as it did before there was one
        return Watch(None)
    return Watch(process)


def send_cancel(endpoint: str, routing: bytes, request_id: str, seconds: float = CANCEL_SECONDS) -> bool:
    """Send ``cancel`` for ``request_id`` as the client ``routing``; True once the server answered it.

    A try the server does not answer (it still holds the stopped plug-in's connection under that
    identity, and ignores a second one) is given up after half a second and made again on a new socket.
    """
    from cutout_common import client, protocol

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with client.Client(endpoint, deadline=1.0, silence_timeout=0.5, routing_id=routing) as connection:
            try:
                connection.request(protocol.encode_request("cancel", target=request_id), deadline=1.0)
                return True
            except client.ServerError:
                continue
    return False


def main(argv: list[str]) -> int:
    """Wait for the plug-in's word on standard input; cancel the job when the plug-in went without it."""
    endpoint, routing, request_id = argv[0], bytes.fromhex(argv[1]), argv[2]
    from cutout_common import client  # noqa: F401  (imported before waiting: the cancel leaves at once)

    said = sys.stdin.buffer.read()  # until the plug-in closes it, or its process ends
    if said.startswith(DONE):
        return 0
    return 0 if send_cancel(endpoint, routing, request_id) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
