"""The wire protocol: round trips, and every malformed request answered with its code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from cutout_common import protocol
from cutout_common.protocol import ProtocolError, encode_image_request, encode_request, parse_reply, parse_request

SEGMENTERS = ["selfie", "rvm"]


def parse(frames, **kwargs):
    return parse_request(frames, segmenters=SEGMENTERS, **kwargs)


def header(**fields) -> bytes:
    base = {"v": 1, "id": "r1", "op": "cutout", "width": 4, "height": 3, "format": "RGB8"}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


def code_of(frames, **kwargs) -> str:
    with pytest.raises(ProtocolError) as info:
        parse(frames, **kwargs)
    return info.value.code


def test_module_imports_nothing_heavy():
    """The plug-in carries a copy of protocol.py: standard library only."""
    source = Path(protocol.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "json", "math", "uuid", "collections", "dataclasses", "typing"}


def test_cutout_round_trip():
    pixels = bytes(range(36))
    frames = encode_image_request(
        "cutout", pixels, 4, 3, "RGB8", segmenter="selfie", options={"edges": "fast"}, request_id="abc"
    )
    request = parse(frames)
    assert (request.id, request.op, request.width, request.height, request.format) == ("abc", "cutout", 4, 3, "RGB8")
    assert request.stride == 12 and request.segmenter == "selfie" and request.options == {"edges": "fast"}
    assert bytes(request.pixels) == pixels


def test_padded_stride_round_trip():
    frames = encode_image_request("cutout", bytes(16 * 3), 4, 3, "RGB8", stride=16)
    assert parse(frames).stride == 16


@pytest.mark.parametrize("op", ["hello", "ping"])
def test_simple_ops(op):
    assert parse(encode_request(op, "x")).op == op


def test_cancel_needs_target():
    assert parse(encode_request("cancel", "x", target="abc")).target == "abc"
    assert code_of(encode_request("cancel", "x")) == "bad_field"


def test_result_round_trip_with_named_frames():
    mask, fg = bytes([0, 128, 255, 7]), bytes(12)
    frames = protocol.encode_result(
        "r1",
        [
            (protocol.frame_description("mask", "GRAY8", 2, 2), mask),
            (protocol.frame_description("foreground", "RGB8", 2, 2), fg),
        ],
        segmenter="rvm",
    )
    reply = parse_reply(frames)
    assert reply.type == "result" and reply.is_final and reply.header["segmenter"] == "rvm"
    assert reply.frames == {"mask": mask, "foreground": fg}


def test_progress_and_error_round_trip():
    progress = parse_reply(protocol.encode_progress("r1", "segment", 1.7))
    assert (progress.type, progress.header["fraction"], progress.is_final) == ("progress", 1.0, False)
    error = parse_reply(protocol.encode_error("r1", "busy", "full", retry_after=2))
    assert (error.type, error.header["code"], error.header["retry_after"]) == ("error", "busy", 2)


def test_reply_with_wrong_frame_size_is_rejected():
    frames = protocol.encode_result("r1", [(protocol.frame_description("mask", "GRAY8", 2, 2), b"\0\0\0")])
    with pytest.raises(ProtocolError) as info:
        parse_reply(frames)
    assert info.value.code == "bad_frame_size"


PIXELS = bytes(36)


@pytest.mark.parametrize(
    "frames, code",
    [
        ([], "bad_frames"),
        ([b"{not json", PIXELS], "bad_json"),
        ([b"\xff\xfe", PIXELS], "bad_json"),
        ([b"[1, 2]", PIXELS], "bad_json"),
        ([b'{"v": 1, "id": "a", "op": "hello", "x": NaN}'], "bad_json"),
        ([b" " * (protocol.MAX_HEADER_BYTES + 1)], "header_too_large"),
        ([header(v=2), PIXELS], "bad_version"),
        ([header(v=...), PIXELS], "bad_version"),
        ([header(v=True), PIXELS], "bad_version"),
        ([header(id=...), PIXELS], "bad_field"),
        ([header(id=17), PIXELS], "bad_field"),
        ([header(id=""), PIXELS], "bad_field"),
        ([header(id="x" * 129), PIXELS], "bad_field"),
        ([header(op="explode"), PIXELS], "unknown_op"),
        ([header(op=5), PIXELS], "bad_field"),
        ([header(width=...), PIXELS], "bad_field"),
        ([header(width="4"), PIXELS], "bad_field"),
        ([header(width=4.0), PIXELS], "bad_field"),
        ([header(width=True), PIXELS], "bad_field"),
        ([header(width=0), PIXELS], "bad_field"),
        ([header(height=-3), PIXELS], "bad_field"),
        ([header(format="CMYK8"), PIXELS], "bad_format"),
        ([header(format=3), PIXELS], "bad_field"),
        ([header(stride=11), PIXELS], "bad_field"),
        ([header(segmenter="deepfake"), PIXELS], "unknown_segmenter"),
        ([header(segmenter=1), PIXELS], "bad_field"),
        ([header(options=[]), PIXELS], "bad_field"),
        ([header()], "bad_frames"),
        ([header(), PIXELS, PIXELS], "bad_frames"),
        ([header(), PIXELS[:-1]], "bad_frame_size"),
        ([header(), PIXELS + b"\0"], "bad_frame_size"),
        ([header(op="hello"), PIXELS], "bad_frames"),
    ],
)
def test_malformed_requests_get_their_code(frames, code):
    assert code_of(frames) == code


def test_too_large_is_checked_before_the_frame():
    """A 100 000 × 100 000 claim with a 1-byte frame is refused for its size, nothing allocated."""
    assert code_of([header(width=100_000, height=100_000), b"x"]) == "too_large"
    assert code_of([header(width=2000, height=1000), b"x"], max_pixels=1_000_000) == "too_large"


def test_error_keeps_the_request_id_when_readable():
    with pytest.raises(ProtocolError) as info:
        parse([header(format="CMYK8", id="mine"), PIXELS])
    assert info.value.request_id == "mine"
    with pytest.raises(ProtocolError) as info:
        parse([b"garbage"])
    assert info.value.request_id is None


def test_every_error_code_is_documented():
    for code in ("bad_json", "bad_version", "bad_field", "unknown_op", "unknown_segmenter", "bad_format",
                 "bad_frames", "bad_frame_size", "too_large", "busy", "cancelled", "deadline", "shutdown"):
        assert code in protocol.ERROR_CODES


# --------------------------------------------------------------------------- hardening (issue 14)


@pytest.mark.parametrize("timeout", [10**400, -10**400, -1, 0, 0.0, -0.5, 1e300, True, "5", [], {}, None])
def test_timeout_must_be_a_finite_positive_bounded_number(timeout):
    """A JSON integer too large for a float once stopped the server (OverflowError in its I/O thread)."""
    assert code_of([header(timeout=timeout), PIXELS]) == "bad_field"


def test_valid_timeout_is_parsed_once_as_seconds():
    assert parse([header(timeout=1), PIXELS]).timeout == 1.0
    assert parse([header(timeout=2.5), PIXELS]).timeout == 2.5
    assert parse([header(), PIXELS]).timeout is None


@pytest.mark.parametrize("field", ["id", "op", "format", "segmenter"])
def test_lone_surrogates_are_refused_in_every_text_field(field):
    """``"\\ud800"`` is a valid JSON escape but no UTF-8 text: the id once killed the inference thread."""
    frames = [header(**{field: "\ud800"}), PIXELS]
    with pytest.raises(ProtocolError) as info:
        parse(frames)
    assert info.value.code == "bad_field"
    if field == "id":
        assert info.value.request_id is None  # never echoed back: the reply must be valid UTF-8 JSON
    cancel = [json.dumps({"v": 1, "id": "c", "op": "cancel", "target": "\udfff"}).encode()]
    assert code_of(cancel) == "bad_field"


def test_frame_bytes_are_bounded_by_the_pixel_limit():
    """Row padding cannot make a frame larger than the socket's message limit (max_pixels × 4 + margin)."""
    limit = protocol.max_frame_bytes(1000)
    assert limit >= 1000 * 4 + protocol.MAX_HEADER_BYTES
    padded = header(width=10, height=100, format="RGBA8", stride=40 + 4096)
    assert code_of([padded, bytes((40 + 4096) * 100)], max_pixels=1000) == "too_large"


def test_new_error_codes_and_the_default_endpoint_are_documented():
    for code in ("duplicate_id", "timeout", "unreachable", "internal"):
        assert code in protocol.ERROR_CODES
    assert protocol.DEFAULT_ENDPOINT == "tcp://127.0.0.1:5555"


def test_queued_progress_carries_the_queue_position():
    reply = parse_reply(protocol.encode_progress("r1", "queued", 0.0, ahead=3))
    assert (reply.type, reply.header["stage"], reply.header["ahead"]) == ("progress", "queued", 3)
