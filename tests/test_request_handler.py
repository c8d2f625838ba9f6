"""The server's two halves apart: request handling without sockets, and the transport with a stand-in handler.

The handler turns a parsed request into a :class:`Reply` that says whether it is an error; the transport counts
and sends replies by that, never by reading their bytes (issue 26).
"""

from __future__ import annotations

import numpy as np
import pytest
import zmq

from cutout_common import protocol, vocabulary
from cutout_common.client import Client, ServerError
from models import registry
from models.base import Segmenter, WeightsMissingError
from server.pipeline.model_cache import ModelCache
from server.transport.handler import Reply, RequestHandler
from server.transport.service import Server, ServerConfig
from tests import doubles


def handler() -> RequestHandler:
    return RequestHandler(ModelCache("cpu", factory=doubles.factory, names=list(doubles.DOUBLES)), "cpu", 10_000)


def request(rgb: np.ndarray, op: str = "cutout", **fields) -> protocol.Request:
    height, width = rgb.shape[:2]
    frames = protocol.encode_image_request(op, rgb.tobytes(), width, height, "RGB8", request_id="r", **fields)
    return protocol.parse_request(frames, max_pixels=10_000, segmenters=list(doubles.DOUBLES))


def test_a_request_becomes_its_reply_without_any_socket():
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8)
    stages = []
    reply = handler().process(request(rgb), lambda stage, fraction: stages.append(stage))
    assert reply.ok and "segment" in stages
    parsed = protocol.parse_reply([bytes(f) if not isinstance(f, np.ndarray) else f.tobytes() for f in reply.frames])
    assert parsed.header["segmenter"] == "brightness"  # the stand-ins' default: the first listed
    expected = np.clip(np.rint(doubles.expected_brightness(rgb) * 255), 0, 255).astype(np.uint8)
    assert parsed.frames["mask"] == expected.tobytes()


def test_errors_are_replies_that_say_so():
    rgb = np.zeros((4, 4, 3), np.uint8)
    answer = handler()
    with pytest.raises(WeightsMissingError) as raised:
        answer.process(request(rgb, segmenter="missing"), lambda *_: None)
    reply = answer.error_reply(request(rgb), raised.value)
    assert not reply.ok and protocol.parse_reply(reply.frames).header["code"] == "weights_missing"


def test_instances_are_asked_of_the_declaration():
    """A segmenter whose declaration lists no instances is refused before anything is loaded."""
    with pytest.raises(Exception) as raised:
        handler().process(request(np.zeros((4, 4, 3), np.uint8), op="instances"), lambda *_: None)
    message = str(raised.value)
    assert "'brightness' does not list instances" in message
    assert all(f"'{name}'" in message for name in vocabulary.with_capability("instances"))


def test_hello_calls_the_default_what_a_request_runs():
    answer = handler()
    hello = answer.hello({"size": 1, "waiting": 0, "running": 0, "in_flight": 0})
    assert hello["default"] == answer.models.resolve(None) == "brightness"


class Refusing:
    """A stand-in for request handling: every image request is answered with an error reply."""

    models = ModelCache("cpu", factory=doubles.factory, names=list(doubles.DOUBLES))

    def segmenter_names(self) -> list[str]:
        return list(doubles.DOUBLES)

    def prepare(self) -> None:
        pass

    def process(self, request: protocol.Request, progress) -> Reply:
        return Reply.error(request.id, "bad_option", "refused by the stand-in")

    def error_reply(self, request: protocol.Request, exc: Exception) -> Reply:
        raise AssertionError("process never raises here")


def test_the_transport_counts_replies_by_their_kind():
    with Server(ServerConfig(endpoint="tcp://127.0.0.1:*"), handler=Refusing()) as server:
        with Client(server.endpoint, context=zmq.Context.instance(), deadline=10) as client:
            with pytest.raises(ServerError) as raised:
                client.cutout(bytes(12), 2, 2, "RGB8", segmenter="brightness")
        assert raised.value.code == "bad_option"
        assert server.stats["errors"] == 1 and server.stats["results"] == 0


def test_every_declared_segmenter_is_registered_by_its_module_and_nothing_else_can_be():
    for name, info in vocabulary.SEGMENTERS.items():
        implementation = registry.segmenter_class(name)
        assert implementation.__module__ == info.module and implementation.name == name
    with pytest.raises(LookupError):
        registry.register("undeclared")
    with pytest.raises(LookupError, match="declared in models.rvm"):
        registry.register("rvm")(type("Elsewhere", (Segmenter,), {"__module__": "tests.test_request_handler"}))
