"""The plug-in's cancel watcher (plugin_logic/cancel_watch.py), without GIMP: a stopped call frees the server.

GIMP kills a plug-in whose progress the user cancels, so the plug-in cannot send ``cancel`` itself
(issue 29, item 8). Here the "plug-in" is a client in this process: it sends a long job, then vanishes
the way a killed process does — its socket closed, its watcher's input ended without ``done`` — and
the server must stop the job within a second or two, not when its minute is over.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from plugin_logic import cancel_watch

from cutout_common.client import Client, ServerError
from server.transport.service import Server, ServerConfig
from tests import doubles

LONG = {"seconds": 60.0}


def factory(name, device, weights):
    """doubles.Long, which notices a cancel within a quarter of a second (Slow's steps are a twentieth of its time)."""
    return doubles.Long(weights or Path("/nonexistent"), device)


@pytest.fixture
def server():
    running = Server(ServerConfig(endpoint="tcp://127.0.0.1:*", workers=1), factory=factory, names=["long"])
    endpoint = running.start()
    yield endpoint
    running.close()


def busy(endpoint: str) -> bool:
    with Client(endpoint, deadline=5, silence_timeout=5) as probe:
        queue = probe.hello()["queue"]
    return queue["running"] > 0 or queue["in_flight"] > 0


def wait(condition, seconds: float, step: float = 0.05) -> float | None:
    """Seconds until ``condition()`` held, or None when it did not within ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(step)
    return None


def long_job(endpoint: str, routing: bytes, request_id: str) -> tuple[Client, threading.Thread]:
    """A plug-in's connection sending a minute-long job from a thread (its answer never comes: it is cancelled)."""
    connection = Client(endpoint, deadline=120, silence_timeout=120, routing_id=routing)
    rgb = np.zeros((32, 32, 3), np.uint8)

    def send():
        try:
            connection.cutout(rgb.tobytes(), 32, 32, "RGB8", segmenter="long", options=LONG, request_id=request_id)
        except (ServerError, zmq.ZMQError):
            pass  # its socket was closed under it, as a killed process's is

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return connection, thread


def test_a_call_stopped_without_its_answer_frees_the_server_within_seconds(server):
    routing, request_id = cancel_watch.routing_id(), "job-stopped"
    connection, _thread = long_job(server, routing, request_id)
    watcher = cancel_watch.watch(server, routing, request_id)
    assert wait(lambda: busy(server), 10) is not None, "the long job never started"
    connection._reset()  # the process is gone: its socket closes ...
    watcher.process.stdin.close()  # ... and so does the watcher's input, without "done"
    freed = wait(lambda: not busy(server), 10)
    assert freed is not None and freed < 3.0, f"the server was still busy {freed} s after the call was stopped"
    assert watcher.process.wait(timeout=10) == 0, "the watcher's cancel was not answered"


def test_a_call_that_ended_on_its_own_cancels_nothing(server):
    routing, request_id = cancel_watch.routing_id(), "job-kept"
    connection, thread = long_job(server, routing, request_id)
    watcher = cancel_watch.watch(server, routing, request_id)
    assert wait(lambda: busy(server), 10) is not None
    watcher.done()  # the plug-in says its call ended (here while the job still runs, to see nothing is cancelled)
    assert watcher.process is None
    time.sleep(1.0)  # what is tested: the job is still running a second later
    assert busy(server), "the job was cancelled although the plug-in said it was done"
    connection._send_cancel(request_id)  # the test's own clean-up


@pytest.mark.skipif(sys.platform == "win32", reason="the watcher's module path is checked on POSIX")
def test_the_watcher_imports_what_the_plugin_imported():
    paths = cancel_watch._import_paths()
    assert any(path.endswith("person-cutout") for path in paths)
