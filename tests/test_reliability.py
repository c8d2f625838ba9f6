"""Reliability, security and scale-out (issue 8). All traffic on loopback, bounded in count and time."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from cutout_common import protocol
from cutout_common.client import Client, ServerError
from server.transport.broker import Broker, BrokerConfig
from server.transport.security import SecurityError
from server.transport.service import Server, ServerConfig
from server.transport.worker import run_worker
from tests import doubles
from tests.test_server import Running, expected_mask, photo

REPO = Path(__file__).resolve().parent.parent
NAMES = list(doubles.DOUBLES)


# --------------------------------------------------------------------------- fuzz


def _mutations(rng: random.Random, count: int):
    """Seeded malformed messages: garbage, truncations, wrong types, huge sizes, unicode."""
    good_header = {"v": 1, "id": "x", "op": "cutout", "width": 8, "height": 4, "format": "RGBA8", "segmenter": "brightness", "options": {}}
    values = [None, True, -1, 0, 2**63, 1e308, "", "é🙂\u0000", [], {}, [1, 2], "RGBA8", "cutout", 1, 4, 8]
    for index in range(count):
        kind = rng.randrange(8)
        header = dict(good_header, id=f"f{index}")
        pixels = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 127, 128, 129])))
        if kind == 0:
            frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))]
        elif kind == 1:
            key = rng.choice(list(header))
            header[key] = rng.choice(values)
            frames = [json.dumps(header).encode(), pixels]
        elif kind == 2:
            del header[rng.choice(list(header))]
            frames = [json.dumps(header).encode(), pixels]
        elif kind == 3:
            header.update(width=rng.choice([10**5, 10**9, 2**31]), height=rng.choice([10**5, 10**9]))
            frames = [json.dumps(header).encode(), pixels]
        elif kind == 4:
            text = json.dumps(header).encode()
            frames = [text[: rng.randrange(len(text))], pixels]
        elif kind == 5:
            frames = [json.dumps(header).encode()] + [pixels] * rng.randrange(0, 4)
        elif kind == 6:
            header["op"] = rng.choice(["", "HELLO", "cut", "é", "cancel", "instances", "comic"])
            frames = [json.dumps(header).encode(), pixels]
        else:
            raw = bytearray(json.dumps(header).encode())
            for _ in range(rng.randrange(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            frames = [bytes(raw), pixels]
        yield frames


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_fuzz_10000_messages_each_answered_and_server_survives():
    started = Running(queue_size=64)
    try:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(started.endpoint)
        rss_before = _rss_mb()
        finals = sent = 0
        rng = random.Random(20261125)
        batch = []
        for frames in _mutations(rng, 10_000):
            sock.send_multipart(frames)
            sent += 1
            batch.append(frames)
            if len(batch) == 200:
                finals += _collect_finals(sock, len(batch))
                batch = []
        finals += _collect_finals(sock, len(batch))
        rss_after = _rss_mb()
        print(f"fuzz: {sent} messages, {finals} final replies; peak RSS {rss_before:.0f} MB -> {rss_after:.0f} MB")
        assert finals == sent
        assert rss_after - rss_before < 200
        with Client(started.endpoint, deadline=10) as c:
            rgb = photo(8, 8)
            reply = c.cutout(rgb.tobytes(), 8, 8, "RGB8", segmenter="brightness")
        np.testing.assert_array_equal(np.frombuffer(reply.frames["mask"], np.uint8).reshape(8, 8), expected_mask(rgb))
        sock.close(0)
    finally:
        started.stop()


def _collect_finals(sock: zmq.Socket, expected: int) -> int:
    finals = 0
    deadline = time.monotonic() + 30
    while finals < expected and time.monotonic() < deadline:
        if sock.poll(1000):
            reply = protocol.parse_reply(sock.recv_multipart())
            finals += reply.is_final
    return finals


# --------------------------------------------------------------------------- broker fixtures


class BrokerRunning:
    def __init__(self, frontend="tcp://127.0.0.1:*", backend="tcp://127.0.0.1:*", heartbeat=0.25, **kwargs):
        self.broker = Broker(BrokerConfig(frontend=frontend, backend=backend, heartbeat=heartbeat, **kwargs))
        self.frontend, self.backend = self.broker.bind()
        self.thread = threading.Thread(target=self.broker.serve_forever, daemon=True)
        self.thread.start()
        assert self.broker.wait_ready()

    def stop(self):
        self.broker.stop()
        self.thread.join(10)


class WorkerThread:
    def __init__(self, connect: str, heartbeat=0.25):
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=run_worker,
            args=(connect,),
            kwargs=dict(heartbeat=heartbeat, factory=doubles.factory, names=NAMES, stop=self.stop_event),
            daemon=True,
        )
        self.thread.start()

    def stop(self):
        self.stop_event.set()
        self.thread.join(10)


def wait_for_workers(broker: Broker, count: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while len(broker.workers) < count:
        assert time.monotonic() < end, f"only {len(broker.workers)} of {count} workers registered"
        time.sleep(0.05)


def test_load_32_clients_x_20_requests_through_the_broker():
    broker = BrokerRunning(queue_size=128)
    workers = [WorkerThread(broker.backend) for _ in range(2)]
    try:
        wait_for_workers(broker.broker, 2)
        failures: list[str] = []
        answered = []

        def client_loop(index: int):
            with Client(broker.frontend, deadline=60, silence_timeout=30) as c:
                for number in range(20):
                    rgb = photo(6, 5, seed=index * 100 + number)
                    request_id = f"c{index}-r{number}"
                    frames = protocol.encode_image_request("cutout", rgb.tobytes(), 5, 6, "RGB8", segmenter="brightness", request_id=request_id)
                    try:
                        reply = c.request(frames)
                    except ServerError as exc:
                        failures.append(f"{request_id}: {exc}")
                        continue
                    mask = np.frombuffer(reply.frames["mask"], np.uint8).reshape(6, 5)
                    if reply.id != request_id or not np.array_equal(mask, expected_mask(rgb)):
                        failures.append(f"{request_id}: wrong reply {reply.id}")
                    answered.append(request_id)

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert failures == []
        assert len(answered) == 32 * 20 == len(set(answered))
        assert sum(w.served for w in broker.broker.workers.values()) == 640
    finally:
        for w in workers:
            w.stop()
        broker.stop()


def _worker_process(connect: str) -> subprocess.Popen:
    code = (
        "import sys; from server.transport.worker import run_worker; from tests import doubles; "
        f"run_worker({connect!r}, heartbeat=0.25, factory=doubles.factory, names=list(doubles.DOUBLES))"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, start_new_session=True)


def test_killed_worker_request_is_requeued_to_another_worker():
    broker = BrokerRunning()
    first = _worker_process(broker.backend)
    second = None
    try:
        wait_for_workers(broker.broker, 1, timeout=60)
        rgb = photo(8, 8)
        outcome = {}
        progressed = threading.Event()

        def ask():
            with Client(broker.frontend, deadline=60, silence_timeout=30) as c:
                try:
                    reply = c.cutout(rgb.tobytes(), 8, 8, "RGB8", segmenter="slow", options={"seconds": 2}, on_progress=lambda s, f: progressed.set())
                    outcome["mask"] = np.frombuffer(reply.frames["mask"], np.uint8).reshape(8, 8)
                except ServerError as exc:
                    outcome["error"] = exc.code

        thread = threading.Thread(target=ask)
        thread.start()
        assert progressed.wait(30), "the first worker never started the request"
        second = _worker_process(broker.backend)
        wait_for_workers(broker.broker, 2, timeout=60)
        os.kill(first.pid, signal.SIGKILL)
        thread.join(60)
        assert "mask" in outcome, outcome
        np.testing.assert_array_equal(outcome["mask"], expected_mask(rgb))
        assert broker.broker.config.stats["requeued"] == 1
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
            if process is not None:
                process.wait(10)
        broker.stop()


def test_request_lost_twice_is_answered_with_an_error():
    broker = BrokerRunning(max_attempts=1)
    worker = _worker_process(broker.backend)
    try:
        wait_for_workers(broker.broker, 1, timeout=60)
        progressed = threading.Event()
        outcome = {}

        def ask():
            with Client(broker.frontend, deadline=30, silence_timeout=20) as c:
                try:
                    c.cutout(photo(8, 8).tobytes(), 8, 8, "RGB8", segmenter="slow", options={"seconds": 5}, on_progress=lambda s, f: progressed.set())
                except ServerError as exc:
                    outcome["error"] = exc.code

        thread = threading.Thread(target=ask)
        thread.start()
        assert progressed.wait(30)
        os.kill(worker.pid, signal.SIGKILL)
        thread.join(30)
        assert outcome.get("error") == "worker_lost"
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(10)
        broker.stop()


def test_stopped_broker_fails_clearly_then_recovers():
    broker = BrokerRunning()
    frontend, backend = broker.frontend, broker.backend
    worker = WorkerThread(backend)
    try:
        wait_for_workers(broker.broker, 1)
        rgb = photo(4, 4)
        with Client(frontend, deadline=20, silence_timeout=1, retries=1) as c:
            assert c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness").type == "result"
            broker.stop()
            with pytest.raises(ServerError) as info:
                c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness")
            assert info.value.code == "timeout" and "is it running" in info.value.message
            broker = BrokerRunning(frontend=frontend, backend=backend)
            wait_for_workers(broker.broker, 1)  # the worker noticed the silence and said READY again
            c.silence_timeout = 10
            assert c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness").type == "result"
    finally:
        worker.stop()
        broker.stop()


# --------------------------------------------------------------------------- security


def test_non_loopback_bind_without_keys_is_refused():
    with pytest.raises(SecurityError, match="--insecure"):
        Server(ServerConfig(endpoint="tcp://0.0.0.0:*"), factory=doubles.factory, names=NAMES).bind()
    with pytest.raises(SecurityError):
        Broker(BrokerConfig(frontend="tcp://*:*")).bind()


def test_curve_admits_known_keys_only(tmp_path):
    from server.transport.security import client_keys, generate_keys

    generate_keys(tmp_path / "keys")
    generate_keys(tmp_path / "strangers")
    started = Running(curve_dir=str(tmp_path / "keys"))
    try:
        rgb = photo(4, 4)
        with Client(started.endpoint, deadline=10, curve=client_keys(str(tmp_path / "keys"))) as c:
            reply = c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness")
        np.testing.assert_array_equal(np.frombuffer(reply.frames["mask"], np.uint8).reshape(4, 4), expected_mask(rgb))
        stranger_public, stranger_secret, _ = client_keys(str(tmp_path / "strangers"))
        server_public = client_keys(str(tmp_path / "keys"))[2]
        with Client(started.endpoint, deadline=3, silence_timeout=1, retries=0, curve=(stranger_public, stranger_secret, server_public)) as c:
            with pytest.raises(ServerError) as info:
                c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness")
        assert info.value.code in ("timeout", "deadline")
    finally:
        started.stop()
