"""The server over real loopback sockets, with test-double segmenters (see tests/doubles.py)."""

from __future__ import annotations

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
        self.endpoint = self.server.bind()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        assert self.server.wait_ready()

    def stop(self):
        self.server.stop()
        self.thread.join(timeout=10)
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
        reply = c.cutout(rgb.tobytes(), 64, 48, "RGB8", segmenter="brightness", on_progress=lambda s, f: stages.append(s))
    mask = np.frombuffer(reply.frames["mask"], np.uint8).reshape(48, 64)
    np.testing.assert_array_equal(mask, expected_mask(rgb))
    assert reply.header["segmenter"] == "brightness"
    assert "segment" in stages


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

    def good():
        with client(running.endpoint) as c:
            results["good"] = c.cutout(rgb.tobytes(), 64, 48, "RGB8", segmenter="slow", options={"seconds": 0.5})

    thread = threading.Thread(target=good)
    thread.start()
    time.sleep(0.1)
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.connect(running.endpoint)
    for frames in ([b"garbage"], [b'{"v":1,"id":"b","op":"cutout","width":64,"height":48,"format":"RGB8"}', b"short"]):
        raw.send_multipart(frames)
        assert raw.poll(5000)
        answer = protocol.parse_reply(raw.recv_multipart())
        assert answer.type == "error" and answer.header["code"] in ("bad_json", "bad_frame_size")
    raw.close(0)
    thread.join(30)
    np.testing.assert_array_equal(np.frombuffer(results["good"].frames["mask"], np.uint8).reshape(48, 64), expected_mask(rgb))


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
            c.cutout(rgb.tobytes(), 64, 48, "RGB8", segmenter="slow", options={"seconds": 5}, cancelled=lambda: time.monotonic() > cancel_at)
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
                protocol.encode_image_request("cutout", bytes(12), 2, 2, "RGB8", segmenter="slow", options={"seconds": 1}, request_id=f"r{index}")
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
