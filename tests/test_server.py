"""The server over real loopback sockets, with test-double segmenters (see tests/doubles.py)."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import zmq

from cutout_common import protocol
from cutout_common.client import Client, ServerError
from server.transport.service import Server, ServerConfig
from tests import doubles


class Running:
    """A server in a background thread on a free loopback port."""

    def __init__(self, **config):
        config.setdefault("endpoint", "tcp://127.0.0.1:*")
        self.server = Server(ServerConfig(**config), factory=doubles.factory, names=list(doubles.DOUBLES))
        self.endpoint = self.server.start()
        self.thread = self.server.thread

    def stop(self):
        self.server.close()
        assert not self.thread.is_alive()


@pytest.fixture
def running():
    started = Running(queue_size=4, workers=2)
    yield started
    started.stop()


def client(endpoint, **kwargs) -> Client:
    kwargs.setdefault("deadline", 20)
    kwargs.setdefault("silence_timeout", 10)
    return Client(endpoint, context=zmq.Context.instance(), **kwargs)


def photo(height=48, width=64, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def expected_mask(rgb) -> np.ndarray:
    return np.clip(np.rint(doubles.expected_brightness(rgb) * 255), 0, 255).astype(np.uint8)


def test_hello_lists_segmenters_and_their_weights(running):
    with client(running.endpoint) as c:
        info = c.hello()
    assert info["protocol"] == 1 and info["server"].startswith("person-cutout")
    assert info["device"] == "cpu"
    by_name = {s["name"]: s for s in info["segmenters"]}
    assert by_name["brightness"]["installed"] is True
    assert by_name["missing"]["installed"] is False


def test_cutout_returns_the_segmenters_mask_exactly(running):
    rgb = photo()
    stages = []
    with client(running.endpoint) as c:
        reply = c.cutout(
            rgb.tobytes(), 64, 48, "RGB8", segmenter="brightness", on_progress=lambda s, f: stages.append(s)
        )
    mask = np.frombuffer(reply.frames["mask"], np.uint8).reshape(48, 64)
    np.testing.assert_array_equal(mask, expected_mask(rgb))
    assert reply.header["segmenter"] == "brightness"
    assert "segment" in stages


def test_frames_can_be_kept_in_zeromqs_buffers(running):
    """``copy_frames=False``: the reply's frames are views of what the socket received, the same bytes; the default
    gives ``bytes`` (what GIMP's API takes). Large enough (≥ 64 KiB) that ZeroMQ would otherwise copy."""
    rgb = photo(480, 640)
    with client(running.endpoint, copy_frames=False) as c:
        in_place = c.cutout(rgb.data, 640, 480, "RGB8", segmenter="brightness")
    with client(running.endpoint) as c:
        copied = c.cutout(rgb.data, 640, 480, "RGB8", segmenter="brightness")
    assert isinstance(in_place.frames["mask"], memoryview) and isinstance(copied.frames["mask"], bytes)
    assert in_place.frames["mask"] == copied.frames["mask"] == expected_mask(rgb).tobytes()


@pytest.mark.parametrize("fmt", ["RGBA8", "GRAY8", "GRAYA8"])
def test_other_pixel_formats(running, fmt):
    channels = protocol.PIXEL_FORMATS[fmt]
    data = np.random.default_rng(1).integers(0, 256, (10, 12, channels), dtype=np.uint8)
    rgb = data[:, :, :3] if channels >= 3 else np.repeat(data[:, :, :1], 3, axis=2)
    with client(running.endpoint) as c:
        reply = c.cutout(data.tobytes(), 12, 10, fmt, segmenter="brightness")
    np.testing.assert_array_equal(np.frombuffer(reply.frames["mask"], np.uint8).reshape(10, 12), expected_mask(rgb))


def test_padded_rows(running):
    rgb = photo(5, 7)
    padded = np.zeros((5, 7 * 3 + 3), np.uint8)
    padded[:, :21] = rgb.reshape(5, 21)
    with client(running.endpoint) as c:
        reply = c.cutout(padded.tobytes(), 7, 5, "RGB8", stride=24, segmenter="brightness")
    np.testing.assert_array_equal(np.frombuffer(reply.frames["mask"], np.uint8).reshape(5, 7), expected_mask(rgb))


def test_two_clients_at_once_each_get_their_own_answer(running):
    images = [photo(seed=s) for s in range(2)]
    results = {}

    def ask(index):
        with client(running.endpoint) as c:
            reply = c.cutout(images[index].tobytes(), 64, 48, "RGB8", segmenter="slow", options={"seconds": 0.3})
        results[index] = np.frombuffer(reply.frames["mask"], np.uint8).reshape(48, 64)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for index in range(2):
        np.testing.assert_array_equal(results[index], expected_mask(images[index]))


def test_malformed_request_does_not_disturb_a_concurrent_good_one(running):
    rgb = photo()
    results = {}
    working = threading.Event()

    def good():
        with client(running.endpoint) as c:
            results["good"] = c.cutout(rgb.tobytes(), 64, 48, "RGB8", segmenter="slow", options={"seconds": 0.5},
                                       on_progress=lambda stage, fraction: working.set())

    thread = threading.Thread(target=good)
    thread.start()
    assert working.wait(10), "the good request never started"  # the malformed ones come while it runs
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.connect(running.endpoint)
    for frames in ([b"garbage"], [b'{"v":1,"id":"b","op":"cutout","width":64,"height":48,"format":"RGB8"}', b"short"]):
        raw.send_multipart(frames)
        assert raw.poll(5000)
        answer = protocol.parse_reply(raw.recv_multipart())
        assert answer.type == "error" and answer.header["code"] in ("bad_json", "bad_frame_size")
    raw.close(0)
    thread.join(30)
    np.testing.assert_array_equal(
        np.frombuffer(results["good"].frames["mask"], np.uint8).reshape(48, 64), expected_mask(rgb)
    )


def test_errors_are_answered_with_codes(running):
    rgb = photo(4, 4)
    with client(running.endpoint) as c:
        with pytest.raises(ServerError) as info:
            c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="nonexistent")
        assert info.value.code == "unknown_segmenter"
        with pytest.raises(ServerError) as info:
            c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="missing")
        assert info.value.code == "weights_missing" and "install.py" in info.value.message
        with pytest.raises(ServerError) as info:
            c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness", options={"edges": "sharpest"})
        assert info.value.code == "bad_option"
        with pytest.raises(ServerError) as info:
            c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="crashing")
        assert info.value.code == "internal" and "ZeroDivisionError" in info.value.message
        # and the server still works afterwards
        assert c.cutout(rgb.tobytes(), 4, 4, "RGB8", segmenter="brightness").type == "result"


def test_oversized_image_is_refused_before_allocation():
    small = Running(max_pixels=1000)
    try:
        with client(small.endpoint) as c:
            with pytest.raises(ServerError) as info:
                c.cutout(b"x", 100, 100, "RGB8", segmenter="brightness")
        assert info.value.code == "too_large"
    finally:
        small.stop()


def test_cancel_stops_waiting_and_the_server_moves_on(running):
    rgb = photo()
    cancel_at = time.monotonic() + 0.3
    with client(running.endpoint) as c:
        with pytest.raises(ServerError) as info:
            c.cutout(
                rgb.tobytes(),
                64,
                48,
                "RGB8",
                segmenter="slow",
                options={"seconds": 5},
                cancelled=lambda: time.monotonic() > cancel_at,
            )
        assert info.value.code == "cancelled"
        started = time.monotonic()
        assert c.cutout(rgb.tobytes(), 64, 48, "RGB8", segmenter="brightness").type == "result"
        assert time.monotonic() - started < 4  # the slow job stopped at its next progress point


def test_deadline_is_enforced_by_the_server():
    short = Running(request_timeout=0.5)
    try:
        with client(short.endpoint) as c:
            with pytest.raises(ServerError) as info:
                c.cutout(photo().tobytes(), 64, 48, "RGB8", segmenter="slow", options={"seconds": 5})
        assert info.value.code == "deadline"
    finally:
        short.stop()


def test_full_queue_answers_busy_with_a_retry_hint():
    tiny = Running(queue_size=1, workers=1)
    try:
        socket = zmq.Context.instance().socket(zmq.DEALER)
        socket.connect(tiny.endpoint)

        def send(index: int) -> None:
            socket.send_multipart(
                protocol.encode_image_request(
                    "cutout", bytes(12), 2, 2, "RGB8", segmenter="slow", options={"seconds": 1}, request_id=f"r{index}"
                )
            )

        # r0 first, until its progress shows the worker has taken it off the queue; then r1 waits in the
        # queue's one place and r2 finds it full (sent together, r1 could find r0 still queued: a race)
        send(0)
        assert socket.poll(10_000), "no progress for the first request"
        first = protocol.parse_reply(socket.recv_multipart())
        assert (first.id, first.type) == ("r0", "progress")
        send(1)
        send(2)
        finals = {}
        deadline = time.monotonic() + 15
        while len(finals) < 3 and time.monotonic() < deadline:
            if socket.poll(500):
                reply = protocol.parse_reply(socket.recv_multipart())
                if reply.is_final:
                    finals[reply.id] = reply
        socket.close(0)
        codes = sorted(r.header.get("code", "ok") for r in finals.values())
        assert codes == ["busy", "ok", "ok"]
        busy = next(r for r in finals.values() if r.type == "error")
        assert busy.header["retry_after"] > 0
    finally:
        tiny.stop()


def test_shutdown_mid_request_answers_with_an_error():
    started = Running()
    errors = {}
    running_now = threading.Event()

    def ask():
        with client(started.endpoint) as c:
            try:
                c.cutout(photo().tobytes(), 64, 48, "RGB8", segmenter="slow", options={"seconds": 5},
                         on_progress=lambda stage, fraction: running_now.set())
            except ServerError as exc:
                errors["code"] = exc.code

    thread = threading.Thread(target=ask)
    thread.start()
    assert running_now.wait(10), "the request never started"  # stop mid-request, not before it arrived
    started.stop()
    thread.join(10)
    assert errors.get("code") == "shutdown"


def test_unreachable_server_fails_cleanly_within_the_deadline():
    started = time.monotonic()
    with client("tcp://127.0.0.1:9", deadline=3, silence_timeout=1, retries=1) as c:
        with pytest.raises(ServerError) as info:
            c.cutout(bytes(12), 2, 2, "RGB8")
    assert info.value.code in ("timeout", "deadline")
    assert time.monotonic() - started < 5


# --------------------------------------------------------------------------- hardening (issue 14)


def raw_socket(endpoint: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def collect(
    sock: zmq.Socket, finals_wanted: int, timeout: float, quiet_after: float = 0.0
) -> list[tuple[float, protocol.Reply]]:
    """(arrival time, reply) for everything until ``finals_wanted`` finals came, then ``quiet_after`` s more."""
    replies: list[tuple[float, protocol.Reply]] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sum(r.is_final for _, r in replies) >= finals_wanted:
            end = min(end, time.monotonic() + quiet_after)
            quiet_after = 0.0
        if sock.poll(50):
            replies.append((time.monotonic(), protocol.parse_reply(sock.recv_multipart())))
    return replies


def image_frames(
    request_id: str, segmenter: str = "brightness", size: tuple[int, int] = (4, 4), **options
) -> list[bytes]:
    height, width = size
    return protocol.encode_image_request(
        "cutout",
        photo(height, width).tobytes(),
        width,
        height,
        "RGB8",
        segmenter=segmenter,
        options=options,
        request_id=request_id,
    )


def test_huge_integer_timeout_is_refused_and_the_server_lives(running):
    """Defect 1: ``"timeout": 1`` and 400 zeros overflowed float() in the I/O thread and stopped the server."""
    sock = raw_socket(running.endpoint)
    try:
        header = (
            b'{"v":1,"id":"t","op":"cutout","width":2,"height":2,"format":"RGB8","segmenter":"brightness","timeout":1'
            + b"0" * 400
            + b"}"
        )
        sock.send_multipart([header, bytes(12)])
        assert sock.poll(5000), "no answer: the server's I/O thread died"
        reply = protocol.parse_reply(sock.recv_multipart())
        assert (reply.id, reply.type, reply.header["code"]) == ("t", "error", "bad_field")
    finally:
        sock.close(0)
    assert running.thread.is_alive()
    with client(running.endpoint, deadline=5) as c:
        assert c.cutout(photo(4, 4).tobytes(), 4, 4, "RGB8", segmenter="brightness").type == "result"


def test_lone_surrogate_id_is_refused_and_image_requests_are_still_answered():
    """Defect 2: an id that is no UTF-8 text killed the only inference thread; ping still answered, images never."""
    single = Running(workers=1)
    sock = raw_socket(single.endpoint)
    try:
        sock.send_multipart(image_frames("\ud800"))  # json.dumps writes the lone surrogate as the escape \ud800
        assert sock.poll(5000)
        reply = protocol.parse_reply(sock.recv_multipart())
        assert (reply.type, reply.header["code"], reply.header["id"]) == ("error", "bad_field", None)
        with client(single.endpoint, deadline=5, silence_timeout=5) as c:
            assert c.cutout(photo(4, 4).tobytes(), 4, 4, "RGB8", segmenter="brightness").type == "result"
    finally:
        sock.close(0)
        single.stop()


def test_duplicate_id_in_flight_is_answered_with_duplicate_id(running):
    """Defect 13: a second request under an id still in flight from the same client was silently dropped."""
    sock = raw_socket(running.endpoint)
    try:
        sock.send_multipart(image_frames("d", "slow", seconds=0.6))
        sock.send_multipart(image_frames("d", "slow", seconds=0.6))
        finals = [r for _, r in collect(sock, 2, timeout=10, quiet_after=0.5) if r.is_final]
    finally:
        sock.close(0)
    assert sorted(r.header.get("code", "result") for r in finals) == ["duplicate_id", "result"]
    assert all(r.id == "d" for r in finals)


def test_weights_missing_names_files_relative_to_the_weights_folder(running):
    """Defect 14: a remote client learnt the server's absolute paths from weights_missing."""
    with client(running.endpoint) as c:
        with pytest.raises(ServerError) as info:
            c.cutout(photo(4, 4).tobytes(), 4, 4, "RGB8", segmenter="missing")
    assert info.value.code == "weights_missing"
    assert "does-not-exist.pt" in info.value.message and "/nonexistent" not in info.value.message


def test_oversized_frame_is_cut_off_by_the_socket():
    """Defect 7: a frame far beyond --max-pixels was buffered whole before being refused (1.5 GB of RSS)."""
    small = Running(max_pixels=1000)
    sock = raw_socket(small.endpoint)
    try:
        sock.send_multipart(
            [b'{"v":1,"id":"big","op":"cutout","width":10,"height":10,"format":"RGBA8"}', bytes(4 << 20)]
        )
        assert not sock.poll(1500), "the server read a 4 MB frame with a 1000-pixel limit"
        with client(small.endpoint, deadline=5) as c:  # and it serves others
            assert c.request(protocol.encode_request("ping")).header["pong"] is True
        assert small.server._router.getsockopt(zmq.MAXMSGSIZE) == protocol.max_frame_bytes(1000)
    finally:
        sock.close(0)
        small.stop()


def test_progress_or_heartbeat_at_least_every_2_s_while_running_and_queued():
    """Defect 8: a job in a stage without progress (or waiting in the queue) left the client in silence."""
    single = Running(workers=1)
    sock = raw_socket(single.endpoint)
    try:
        sent = time.monotonic()
        sock.send_multipart(image_frames("a", "quiet", seconds=3))
        assert sock.poll(10_000), "no progress for 'a'"  # its first progress: the only worker has taken it ...
        replies = [(time.monotonic(), protocol.parse_reply(sock.recv_multipart()))]
        assert (replies[0][1].id, replies[0][1].type) == ("a", "progress")
        sock.send_multipart(image_frames("b", "quiet", seconds=0.3))  # ... so 'b' and 'c' wait behind it
        sock.send_multipart(image_frames("c", "quiet", seconds=0.3))
        replies += collect(sock, 3, timeout=15)
    finally:
        sock.close(0)
        single.stop()
    for request_id in "abc":
        times = [sent] + [t for t, r in replies if r.id == request_id]
        assert any(r.is_final and r.id == request_id for _, r in replies), request_id
        gaps = np.diff(times)
        print(f"{request_id}: {len(times) - 1} messages, longest silence {gaps.max():.2f} s")
        assert gaps.max() <= 2.0, f"{request_id} heard nothing for {gaps.max():.2f} s"
    ahead: dict[str, set] = {}
    for _, r in replies:
        if r.type == "progress" and r.header["stage"] == "queued":
            ahead.setdefault(r.id, set()).add(r.header["ahead"])
    assert ahead["b"] == {0} and 1 in ahead["c"] and ahead["c"] <= {0, 1} and "a" not in ahead


def test_client_reports_a_silent_server_without_resending_the_job():
    """Defect 8: a server gone mid-job was noticed after 3 tries × 60 s; a long job must not be sent again."""
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    received = []

    def answer_once_then_fall_silent():
        end = time.monotonic() + 6
        while time.monotonic() < end:
            if router.poll(100):
                identity, *frames = router.recv_multipart()
                received.append(frames)
                request_id = json.loads(frames[0])["id"]
                router.send_multipart([identity, *protocol.encode_progress(request_id, "segment", 0.1)])

    thread = threading.Thread(target=answer_once_then_fall_silent)
    thread.start()
    started = time.monotonic()
    try:
        with client(f"tcp://127.0.0.1:{port}", silence_timeout=1.0) as c:
            with pytest.raises(ServerError) as info:
                c.cutout(photo(4, 4).tobytes(), 4, 4, "RGB8", segmenter="slow")
        noticed = time.monotonic() - started
    finally:
        thread.join()
        router.close(0)
    print(f"silent server noticed after {noticed:.2f} s (silence timeout 1 s)")
    assert info.value.code == "unreachable" and "stopped answering" in info.value.message
    assert noticed < 2.5
    assert len(received) == 1, f"the image job was sent {len(received)} times"


def test_hello_counts_a_cancelled_job_until_its_work_stops():
    """Defect 5: a cancelled job still running showed 'in_flight: 0'; its final reply must come when it stopped."""
    single = Running(workers=1)
    sock = raw_socket(single.endpoint)
    try:
        sock.send_multipart(image_frames("q", "quiet", seconds=1.5))
        assert sock.poll(5000)
        assert protocol.parse_reply(sock.recv_multipart()).type == "progress"  # the worker has it
        started = time.monotonic()
        sock.send_multipart(protocol.encode_request("cancel", "c", target="q"))
        with client(single.endpoint) as c:
            assert c.hello()["queue"]["in_flight"] == 1
        finals = {r.id: (t, r) for t, r in collect(sock, 2, timeout=10) if r.is_final}
        with client(single.endpoint) as c:
            assert c.hello()["queue"]["in_flight"] == 0
    finally:
        sock.close(0)
        single.stop()
    assert finals["c"][1].header["cancelled"] is True
    stopped_at, reply = finals["q"]
    assert reply.header["code"] == "cancelled"
    assert stopped_at - started >= 1.0, "'cancelled' came before the work had stopped"


def test_cancelled_edges_best_job_frees_the_worker_within_seconds():
    """Defect 5: a cancelled ``edges: best`` on 3000×2000 kept the only worker 113 s; its progress must move."""
    from PIL import Image

    from tests.test_pipeline_cli import ASTRONAUT

    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB").resize((3000, 2000)))
    single = Running(workers=1)
    sock = raw_socket(single.endpoint)
    try:
        sock.send_multipart(protocol.encode_image_request(
            "cutout", rgb.tobytes(), 3000, 2000, "RGB8", segmenter="disc", options={"edges": "best"}, request_id="e"))
        fractions = []
        end = time.monotonic() + 60
        while not [f for f in fractions if 0 < f < 1] and time.monotonic() < end:  # a tile solved: numba has compiled
            if sock.poll(200):
                reply = protocol.parse_reply(sock.recv_multipart())
                assert not reply.is_final, reply.header
                if reply.header.get("stage") == "edges":
                    fractions.append(reply.header["fraction"])
        assert [f for f in fractions if 0 < f < 1], "no progress from within the edge refinement"
        cancelled = time.monotonic()
        sock.send_multipart(protocol.encode_request("cancel", "c", target="e"))
        with client(single.endpoint, deadline=30) as c:
            while c.hello()["queue"]["in_flight"]:
                assert time.monotonic() - cancelled < 20, "the worker is still busy 20 s after the cancel"
                time.sleep(0.05)
        freed = time.monotonic() - cancelled
        finals = [r for _, r in collect(sock, 2, timeout=5) if r.is_final]
    finally:
        sock.close(0)
        single.stop()
    print(f"edges best 3000×2000: worker free {freed:.2f} s after the cancel")
    assert freed < 4.0
    assert sorted((r.id, r.header.get("code", "result")) for r in finals) == [("c", "result"), ("e", "cancelled")]


def test_a_bug_while_handling_a_message_costs_that_message_only(monkeypatch):
    """Defects 1 and 2 in general: whatever raises in the I/O thread or a worker thread answers 'internal'."""
    from server.transport import handler

    single = Running(workers=1)
    try:
        monkeypatch.setattr(handler.RequestHandler, "hello", lambda self, queue: 1 / 0)
        monkeypatch.setattr(handler, "result_frames", lambda result: 1 / 0)
        with client(single.endpoint, deadline=5) as c:
            for _ in range(2):
                with pytest.raises(ServerError) as info:
                    c.hello()
                assert info.value.code == "internal"
                with pytest.raises(ServerError) as info:
                    c.cutout(photo(4, 4).tobytes(), 4, 4, "RGB8", segmenter="brightness")
                assert info.value.code == "internal" and "ZeroDivisionError" in info.value.message
            monkeypatch.undo()
            assert c.cutout(photo(4, 4).tobytes(), 4, 4, "RGB8", segmenter="brightness").type == "result"
            assert c.hello()["queue"]["in_flight"] == 0
    finally:
        single.stop()
