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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import zmq

from cutout_common import protocol
from cutout_common.client import Client, ServerError
from server.bench.fuzz import malformed_messages
from server.transport.broker import Broker, BrokerConfig
from server.transport.security import SecurityError
from server.transport.service import Server, ServerConfig
from server.transport.worker import run_worker
from tests import doubles
from tests.test_server import Running, expected_mask, photo

REPO = Path(__file__).resolve().parent.parent
NAMES = list(doubles.DOUBLES)


# --------------------------------------------------------------------------- fuzz


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
        for frames in malformed_messages(rng, 10_000):
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
        self.frontend, self.backend = self.broker.start()
        self.thread = self.broker.thread

    def stop(self):
        self.broker.close()


class WorkerThread:
    def __init__(self, connect: str, heartbeat=0.25, **kwargs):
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=run_worker,
            args=(connect,),
            kwargs=dict(heartbeat=heartbeat, factory=doubles.factory, names=NAMES, stop=self.stop_event, **kwargs),
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


def wait_for_heartbeats(broker: Broker, count: int, timeout: float = 10) -> None:
    """Until the broker has heard ``count`` more heartbeats from its only registered worker (each renews its record)."""
    (record,) = broker.workers.values()
    seen, end = [record.expires], time.monotonic() + timeout
    while len(seen) <= count:
        assert time.monotonic() < end, f"{len(seen) - 1} of {count} heartbeats heard"
        if record.expires != seen[-1]:
            seen.append(record.expires)
        time.sleep(0.01)


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
                    frames = protocol.encode_image_request(
                        "cutout", rgb.tobytes(), 5, 6, "RGB8", segmenter="brightness", request_id=request_id
                    )
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
                    reply = c.cutout(
                        rgb.tobytes(),
                        8,
                        8,
                        "RGB8",
                        segmenter="slow",
                        options={"seconds": 2},
                        on_progress=lambda s, f: progressed.set(),
                    )
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
                    c.cutout(
                        photo(8, 8).tobytes(),
                        8,
                        8,
                        "RGB8",
                        segmenter="slow",
                        options={"seconds": 5},
                        on_progress=lambda s, f: progressed.set(),
                    )
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
        with Client(
            started.endpoint,
            deadline=3,
            silence_timeout=1,
            retries=0,
            curve=(stranger_public, stranger_secret, server_public),
        ) as c:
            with pytest.raises(ServerError) as info:
                c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness")
        assert info.value.code in ("timeout", "deadline")
    finally:
        started.stop()


# --------------------------------------------------------------------------- hardening (issue 14)

from tests.test_server import collect, image_frames, raw_socket  # noqa: E402


@contextmanager
def broker_with_a_worker() -> Iterator[tuple[BrokerRunning, zmq.Socket]]:
    """A broker with one stand-in worker ready and a raw DEALER on its front; all closed afterwards."""
    broker = BrokerRunning()
    worker = WorkerThread(broker.backend)
    sock = raw_socket(broker.frontend)
    try:
        wait_for_workers(broker.broker, 1)
        yield broker, sock
    finally:
        sock.close(0)
        worker.stop()
        broker.stop()


def test_broker_survives_a_huge_integer_timeout():
    """Defect 1, broker side: the deadline code overflowed float() on a 401-digit integer and stopped the broker."""
    with broker_with_a_worker() as (broker, sock):
        header = (
            b'{"v":1,"id":"t","op":"cutout","width":2,"height":2,"format":"RGB8","segmenter":"brightness","timeout":1'
            + b"0" * 400
            + b"}"
        )
        sock.send_multipart([header, bytes(12)])
        assert sock.poll(5000), "no answer: the broker died"
        reply = protocol.parse_reply(sock.recv_multipart())
        assert (reply.id, reply.header.get("code")) == ("t", "bad_field")
        assert broker.thread.is_alive()
        with Client(broker.frontend, deadline=10) as c:
            assert c.cutout(photo(4, 4).tobytes(), 4, 4, "RGB8", segmenter="brightness").type == "result"


def test_broker_answers_a_duplicate_id_in_flight():
    """Defect 13, broker side."""
    with broker_with_a_worker() as (broker, sock):
        sock.send_multipart(image_frames("d", "slow", seconds=0.6))
        sock.send_multipart(image_frames("d", "slow", seconds=0.6))
        finals = [r for _, r in collect(sock, 2, timeout=10, quiet_after=0.5) if r.is_final]
    assert sorted(r.header.get("code", "result") for r in finals) == ["duplicate_id", "result"]


def test_broker_sends_exactly_one_final_reply_per_request():
    """Defect 6: 'deadline' then 'cancelled' for one request, and results under ids the client never sent."""
    with broker_with_a_worker() as (broker, sock):
        # past its deadline while running
        frames = image_frames("late", "slow", seconds=3)
        header = json.loads(frames[0])
        header["timeout"] = 0.5
        sock.send_multipart([json.dumps(header).encode(), *frames[1:]])
        replies = collect(sock, 1, timeout=10, quiet_after=3.5)
        # cancelled by the client while running
        sock.send_multipart(image_frames("job", "slow", seconds=3))
        assert sock.poll(5000)
        first = protocol.parse_reply(sock.recv_multipart())
        assert (first.id, first.type) == ("job", "progress")
        sock.send_multipart(protocol.encode_request("cancel", "stop-it", target="job"))
        replies += collect(sock, 2, timeout=10, quiet_after=3.5)
    assert {r.id for _, r in replies} <= {"late", "job", "stop-it"}, "a reply under an id never sent"
    finals = sorted((r.id, r.header.get("code", "result")) for _, r in replies if r.is_final)
    assert finals == [("job", "cancelled"), ("late", "deadline"), ("stop-it", "result")]


def test_broker_keeps_a_worker_busy_until_its_job_has_stopped():
    """Defect 5, broker side: after a cancel the broker took the worker for free while the job still ran."""
    with broker_with_a_worker() as (broker, sock):
        sock.send_multipart(image_frames("q", "quiet", seconds=1.5))
        assert sock.poll(5000)
        assert protocol.parse_reply(sock.recv_multipart()).type == "progress"
        started = time.monotonic()
        sock.send_multipart(protocol.encode_request("cancel", "c", target="q"))
        replies = collect(sock, 1, timeout=10)  # the cancel's own answer: the broker has handled the cancel
        assert [r.id for _, r in replies if r.is_final] == ["c"]
        assert all(w.job is not None for w in broker.broker.workers.values()), "worker booked free while its job runs"
        finals = {r.id: (t, r) for t, r in replies + collect(sock, 1, timeout=10) if r.is_final}
        end = time.monotonic() + 2
        while any(w.job is not None for w in broker.broker.workers.values()):
            assert time.monotonic() < end, "the worker never became free"
            time.sleep(0.02)
    stopped_at, reply = finals["q"]
    assert reply.header["code"] == "cancelled" and stopped_at - started >= 1.0


def test_broker_sockets_limit_the_message_size():
    """Defect 7, broker side: every socket facing clients or workers drops frames beyond the pixel limit."""
    broker = BrokerRunning(max_pixels=1000)
    sock = raw_socket(broker.frontend)
    try:
        for side in (broker.broker.frontend, broker.broker.backend):
            assert side.getsockopt(zmq.MAXMSGSIZE) == protocol.max_frame_bytes(1000)
        sock.send_multipart(
            [b'{"v":1,"id":"big","op":"cutout","width":10,"height":10,"format":"RGBA8"}', bytes(4 << 20)]
        )
        assert not sock.poll(1500), "the broker read a 4 MB frame with a 1000-pixel limit"
    finally:
        sock.close(0)
        broker.stop()


def _server_process() -> tuple[subprocess.Popen, str]:
    code = (
        "from server.transport.service import Server, ServerConfig; from tests import doubles; "
        "s = Server(ServerConfig(endpoint='tcp://127.0.0.1:*'), factory=doubles.factory, names=list(doubles.DOUBLES)); "
        "print(s.bind(), flush=True); s.serve_forever()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    return process, process.stdout.readline().strip()


def kill_server_mid_job(process: subprocess.Popen, job: threading.Thread, started) -> float:
    """Run ``job`` (a client of the server ``process``), kill -9 the server once ``started()``, wait for the job
    to give up; the monotonic time of the kill. The server is reaped however the test ends."""
    try:
        job.start()
        end = time.monotonic() + 30
        while not started():
            assert time.monotonic() < end and job.is_alive(), "the job never started"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        killed = time.monotonic()
        job.join(30)
        return killed
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_killed_server_is_noticed_within_the_silence_timeout():
    """Defect 8: kill -9 of the server mid-job was noticed after 179 s; now after the silence timeout, once."""
    process, endpoint = _server_process()
    running = threading.Event()
    outcome = {}

    def ask():
        with Client(endpoint, deadline=60, silence_timeout=2.0) as c:
            try:
                c.cutout(photo(8, 8).tobytes(), 8, 8, "RGB8", segmenter="slow", options={"seconds": 30},
                         on_progress=lambda s, f: running.set())
            except ServerError as exc:
                outcome["error"] = exc
                outcome["noticed"] = time.monotonic()

    killed = kill_server_mid_job(process, threading.Thread(target=ask), running.is_set)
    seconds = outcome["noticed"] - killed
    print(f"server killed mid-job: the client noticed after {seconds:.2f} s (silence timeout 2 s)")
    assert outcome["error"].code == "unreachable"
    assert seconds < 3.5


def test_source_address_endpoint_forms_are_refused_without_keys():
    """Defect 3: 'tcp://0.0.0.0:P@127.0.0.1' passed the loopback check (urlsplit read the host after '@')."""
    from server.transport.security import check_bind

    for endpoint in (
        "tcp://0.0.0.0:5555@127.0.0.1",
        "tcp://127.0.0.1;0.0.0.0:5555",
        "tcp://0.0.0.0:5555;127.0.0.1:5555",
        "tcp://127.1:5555",
        "tcp://lo:5555",
        "tcp://::1:5555",
        "tcp://[::1:5555",
        "tcp://127.0.0.1:55555555",
        "tcp://127.0.0.1",
        "tcp://user@127.0.0.1:5555",
        "TCP://127.0.0.1:5555",
        "tcp://[::]:5555",
    ):
        with pytest.raises(SecurityError):
            check_bind(endpoint, insecure=False, curve_dir=None)
    for endpoint in (
        "tcp://127.0.0.1:5555",
        "tcp://127.0.0.1:*",
        "tcp://localhost:0",
        "tcp://[::1]:5555",
        "ipc:///tmp/x",
        "inproc://x",
    ):
        check_bind(endpoint, insecure=False, curve_dir=None)
    with pytest.raises(SecurityError, match="--insecure"):
        Server(ServerConfig(endpoint="tcp://0.0.0.0:*@127.0.0.1"), factory=doubles.factory, names=NAMES).bind()


def test_endpoint_parser_reads_what_zeromq_binds():
    from server.transport.security import parse_endpoint

    assert parse_endpoint("tcp://127.0.0.1:5555")[:4] == ("tcp", "127.0.0.1", "5555", True)
    assert parse_endpoint("tcp://[::1]:*")[:4] == ("tcp", "::1", "*", True)
    assert parse_endpoint("tcp://*:5555").local is False
    assert parse_endpoint("tcp://eth0:5555").local is False  # an interface: reachable from its network
    assert parse_endpoint("tcp://[::ffff:127.0.0.1]:1").local is False  # mapped: not worth the doubt
    assert parse_endpoint("tcp://[::1]:1").ipv6 is True and parse_endpoint("tcp://127.0.0.1:1").ipv6 is False
    for ambiguous in ("tcp://0.0.0.0:5555@127.0.0.1", "tcp://a;b:1", "tcp://127.0.0.1:"):
        with pytest.raises(ValueError):
            parse_endpoint(ambiguous)


def test_ipv6_loopback_endpoint_binds_and_serves():
    """Defect 3: tcp://[::1]:P passed the check but could not bind (ZMQ_IPV6 unset)."""
    import socket

    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    started = Running(endpoint="tcp://[::1]:*")
    try:
        assert started.endpoint.startswith("tcp://[::1]:")
        with Client(started.endpoint, deadline=10) as c:
            assert c.cutout(photo(4, 4).tobytes(), 4, 4, "RGB8", segmenter="brightness").type == "result"
    finally:
        started.stop()


def test_broker_curve_admits_allowed_workers_only_end_to_end(tmp_path):
    """Defect 4: a key-less worker on a CURVE broker's backend got CURVE clients' photos; 'worker --curve' could not
    connect."""
    from server.transport.security import client_keys, generate_keys, worker_keys

    keys, strangers = tmp_path / "keys", tmp_path / "strangers"
    generate_keys(keys)
    generate_keys(strangers)
    assert sorted(p.name for p in (keys / "workers").iterdir()) == ["worker.key"]
    broker = BrokerRunning(curve_dir=str(keys))
    server_public = client_keys(str(keys))[2]
    stranger_public, stranger_secret, _ = worker_keys(str(strangers))
    outsiders = [
        WorkerThread(broker.backend),
        WorkerThread(broker.backend, curve=(stranger_public, stranger_secret, server_public)),
    ]
    allowed = None
    try:
        # started after the outsiders with the same heartbeat: once the broker has heard its READY and three
        # heartbeats, each outsider has had as many chances to say READY
        allowed = WorkerThread(broker.backend, curve=worker_keys(str(keys)))
        wait_for_workers(broker.broker, 1)
        wait_for_heartbeats(broker.broker, 3)
        assert len(broker.broker.workers) == 1, "a worker without an allowed key registered"
        rgb = photo(4, 4)
        with Client(broker.frontend, deadline=10, curve=client_keys(str(keys))) as c:
            reply = c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness")
        np.testing.assert_array_equal(np.frombuffer(reply.frames["mask"], np.uint8).reshape(4, 4), expected_mask(rgb))
        with Client(broker.frontend, deadline=2, silence_timeout=1) as c:  # and a key-less client gets nothing
            with pytest.raises(ServerError):
                c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness")
    finally:
        for w in [*outsiders, allowed]:
            if w is not None:
                w.stop()
        broker.stop()


# --------------------------------------------------------------------------- property: any header, one final reply


def _message_strategy():
    """(header, frame kinds): a valid request of any op, then up to two fields replaced by anything
    (wrong types, huge and negative numbers, odd Unicode, nested values), maybe one deleted, maybe
    unknown keys added, and sometimes a wrong number of data frames."""
    from hypothesis import strategies as st

    odd_text = st.sampled_from(["\ud800", "\udfff", "a\ud83d", "\u0000", "🙂", "é", "\u202e", " ", "x" * 129, ""])
    huge = st.sampled_from([10**400, -(10**400), 2**63, -(2**63), 2**64, 1e308, -1e308, 5e-324, -0.0, -1, 0])
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), huge, st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=12), odd_text)
    anything = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=6,
    )
    options = st.fixed_dictionaries({}, optional={
        "edges": st.sampled_from(["off", "fast", "best", "sharp"]),
        "foreground": st.booleans(),
        "parts": st.booleans(),
        "comic": st.sampled_from(["cartoon", "manga", "lineart", "posterize", "nope"]),
        "background": st.sampled_from(["white", "#00ff00", "#zzzzzz"]),
        "mask": st.sampled_from(["segment", "alpha"]),
        "seconds": st.floats(0, 0.05),
    })
    fields = ("v", "id", "op", "width", "height", "format", "stride", "segmenter", "options", "target", "timeout")

    @st.composite
    def message(draw):
        op = draw(st.sampled_from(protocol.OPS))
        header = {"v": 1, "id": draw(st.text(min_size=1, max_size=12) | odd_text), "op": op}
        if op in protocol.IMAGE_OPS:
            header.update(width=draw(st.integers(1, 12)), height=draw(st.integers(1, 12)),
                          format=draw(st.sampled_from(list(protocol.PIXEL_FORMATS))))
            if draw(st.booleans()):
                header["stride"] = header["width"] * protocol.PIXEL_FORMATS[header["format"]] + draw(st.integers(0, 8))
            header["segmenter"] = draw(st.sampled_from(["brightness", "disc", "crashing", "missing", "slow", "nope"]))
            header["options"] = draw(options)
        if op == "cancel":
            header["target"] = draw(st.text(max_size=8) | odd_text)
        if draw(st.booleans()):
            header["timeout"] = draw(st.floats(0.001, 2))
        for key in draw(st.lists(st.sampled_from(fields), max_size=2, unique=True)):
            header[key] = draw(anything | huge | odd_text)
        for key in draw(st.lists(st.sampled_from(sorted(header)), max_size=1)):
            del header[key]
        header = {**draw(st.dictionaries(st.text(max_size=6), anything, max_size=2)), **header}
        right = ["right"] if op in protocol.IMAGE_OPS else []
        kinds = draw(st.just(right) | st.lists(st.sampled_from(["right", "empty", "short", "long"]), max_size=3))
        return header, kinds

    return message()


def _data_frame(kind: str, header: dict) -> bytes:
    width, height, fmt, stride = (header.get(k) for k in ("width", "height", "format", "stride"))
    size = 0
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height)) and isinstance(fmt, str) \
            and fmt in protocol.PIXEL_FORMATS:
        size = (
            stride
            if isinstance(stride, int) and not isinstance(stride, bool) and stride > 0
            else width * protocol.PIXEL_FORMATS[fmt]
        )
        size = size * height if 0 < size * height <= 4096 else 7
    return {"right": bytes(size), "empty": b"", "short": bytes(max(size - 1, 0)), "long": bytes(size + 1)}[kind]


def _expected_reply_id(header: dict):
    request_id = header.get("id")
    if not (isinstance(request_id, str) and 0 < len(request_id) <= protocol.MAX_ID_CHARS):
        return None
    try:
        request_id.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return request_id


@pytest.mark.parametrize("through", ["server", "broker"])
def test_property_any_header_gets_one_well_formed_final_reply(through):
    """Headers over the whole grammar (every field, wrong types, huge numbers, odd Unicode, extra frames):
    each message gets exactly one final reply that is valid UTF-8 JSON with a documented code, and the
    server (or broker and its worker) still serves a correct cut-out afterwards."""
    from hypothesis import HealthCheck, given, settings

    messages = _message_strategy()
    if through == "server":
        started, worker = Running(queue_size=64, workers=2), None
        endpoint = started.endpoint
    else:
        started = BrokerRunning(queue_size=64)
        worker = WorkerThread(started.backend)
        wait_for_workers(started.broker, 1)
        endpoint = started.frontend
    sock = raw_socket(endpoint)
    survived = []

    @settings(max_examples=200 if through == "server" else 100, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(message=messages)
    def one_message(message):
        header, frame_kinds = message
        frames = [json.dumps(header).encode()] + [_data_frame(kind, header) for kind in frame_kinds]
        sock.send_multipart(frames)
        fence = f"fence-{protocol.new_id()}"
        expected = _expected_reply_id(header)
        finals = []
        end = time.monotonic() + 15
        fence_sent = False
        while time.monotonic() < end:
            if finals and not fence_sent:  # a ping behind it: any second final would come before its answer
                sock.send_multipart(protocol.encode_request("ping", fence))
                fence_sent = True
            if not sock.poll(100):
                continue
            raw = sock.recv_multipart()
            text = raw[0].decode("utf-8")  # strict: a lone surrogate could not be sent back as UTF-8 anyway
            reply = protocol.parse_reply(raw)
            json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")  # no lone surrogate escaped inside
            if reply.id == fence and reply.is_final:
                break
            if reply.is_final:
                assert reply.header["id"] == expected, (header, reply.header)
                assert reply.type == "result" or reply.header["code"] in protocol.ERROR_CODES
                finals.append(reply.header.get("code", "result"))
        assert len(finals) == 1, (header, finals)
        survived.append(finals[0])

    try:
        one_message()
        rgb = photo(8, 8)
        with Client(endpoint, deadline=10) as c:
            reply = c.cutout(rgb.tobytes(), 8, 8, "RGB8", segmenter="brightness")
        np.testing.assert_array_equal(np.frombuffer(reply.frames["mask"], np.uint8).reshape(8, 8), expected_mask(rgb))
    finally:
        sock.close(0)
        if worker is not None:
            worker.stop()
        started.stop()
    codes = {code: survived.count(code) for code in sorted(set(survived))}
    print(f"property ({through}): {len(survived)} messages, each one final reply; {codes}")
