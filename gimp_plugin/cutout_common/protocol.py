"""Person Cutout wire protocol, version 1 — the one module both ends share.

Standard library only (pyzmq is used by the callers, not here): it runs in GIMP's
Python as it is, as part of :mod:`cutout_common`.

Transport: the client's DEALER talks to the server's ROUTER (or a broker that
looks like one). Every message is multipart:

* frame 0 — UTF-8 JSON header, at most :data:`MAX_HEADER_BYTES`;
* frames 1… — raw bytes (pixels, masks), described by the header. No PNG, no base64.

Request header: ``{"v": 1, "id": str, "op": str, ...}``. Ops:

* ``hello`` — server version, device, segmenters and whether their weights are installed;
* ``cutout`` — one pixel frame described by ``width``, ``height``, ``format``
  (:data:`PIXEL_FORMATS`), ``stride`` (bytes per row, optional), ``segmenter``
  (optional: the server's default) and ``options`` (an object);
* ``comic`` — like ``cutout``; ``options.style`` picks the comic style;
* ``instances`` — like ``cutout``; lists the people found (box, score, area);
* ``cancel`` — ``target``: the id of an earlier request of the same client;
* ``ping`` — liveness, answered at once.

Any request may carry ``timeout``: seconds (a finite number, 0 < timeout ≤
:data:`MAX_TIMEOUT`) after which the server gives up on it; the server's own limit
applies when it is shorter. Text fields must be valid Unicode (no lone surrogates),
and a client may not reuse an id while that request is still in flight
(``duplicate_id``).

Reply header: ``{"v": 1, "id": <request id>, "type": "progress"|"result"|"error", ...}``.
A request gets any number of ``progress`` replies (``stage``, ``fraction``) and then
exactly one ``result`` or ``error``. Until the final reply the server sends a
``progress`` at least every :data:`HEARTBEAT_SECONDS` × 2 — real progress, the last
one again, or, while the request waits in the queue, stage ``queued`` with
``ahead``: how many requests wait before it (0: it starts next). A client that
hears nothing for :data:`SILENCE_SECONDS` may take the server for gone. The final
reply of a cancelled request, or of one past its deadline, comes once its work
has really stopped (stage ``stopping`` meanwhile). A ``result`` lists its data frames in
``frames``: ``[{"name", "format", "width", "height"}, ...]`` in frame order; the
person mask is named ``mask`` (GRAY8, 0 background … 255 person, soft at edges),
matting colours ``foreground`` (RGB8), part masks ``part:<Label>`` (GRAY8),
comic layers ``layer:<Name>`` (RGBA8). An ``error`` carries a stable ``code``
(:data:`ERROR_CODES`) and a plain ``message``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VERSION = 1

#: bytes per pixel of each pixel format (8 bits per channel)
PIXEL_FORMATS: dict[str, int] = {"GRAY8": 1, "GRAYA8": 2, "RGB8": 3, "RGBA8": 4}

MAX_HEADER_BYTES = 64 * 1024
MAX_ID_CHARS = 128
#: ``progress(stage, fraction)``: a progress reply as a callback — how every long stage reports (fraction in [0, 1]);
#: on the server the callback may raise to cancel the work
ProgressFn = Callable[[str, float], None]


def no_progress(stage: str, fraction: float) -> None:
    """Progress sink for callers that do not care."""


#: where the server listens unless told otherwise (loopback: nothing else may reach it without CURVE keys)
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP
MAX_DIMENSION = 1 << 18  # 262144 px on a side: GIMP's own limit
#: the longest ``timeout`` a request may ask for, seconds (a day)
MAX_TIMEOUT = 86_400.0
#: bytes a frame may have beyond 4 bytes per pixel: room for the header frame and row padding
FRAME_MARGIN = MAX_HEADER_BYTES
#: the server sends something for every unanswered request at least this often (half the promised 2 s)
HEARTBEAT_SECONDS = 1.0
#: a client that hears nothing for this long while it waits takes the server for gone
SILENCE_SECONDS = 10.0
#: values of the hints frame: the artist says "person" / "not person"; any other byte is no hint, and this one
#: is what the project writes for none
HINT_PERSON, HINT_NOT_PERSON, HINT_NONE = 255, 0, 128

IMAGE_OPS = ("cutout", "comic", "instances")
OPS = ("hello", "ping", "cancel", *IMAGE_OPS)

#: stable error codes; clients may switch on them
ERROR_CODES = {
    "bad_json": "frame 0 is not a UTF-8 JSON object",
    "header_too_large": "the JSON header exceeds the size limit",
    "bad_version": "the protocol version is not supported",
    "bad_field": "a header field is missing or has the wrong type or value",
    "unknown_op": "the op is not known",
    "unknown_segmenter": "no segmenter has that name",
    "bad_format": "the pixel format is not supported",
    "bad_frames": "the number of data frames is wrong",
    "bad_frame_size": "a data frame's length does not match the header",
    "too_large": "the image exceeds the server's pixel limit",
    "bad_option": "an option has the wrong type or value",
    "duplicate_id": "a request with this id from this client is still in flight",
    "weights_missing": "the segmenter's weights are not installed",
    "busy": "the server's queue is full; retry later",
    "cancelled": "the request was cancelled by the client",
    "deadline": "the request ran past its deadline",
    "shutdown": "the server is shutting down",
    "worker_lost": "the worker running the request died",
    "internal": "the server failed while handling the request",
    "timeout": "nothing came back from the server: it may not be running (client side)",
    "unreachable": "the server stopped answering while a request was in flight (client side)",
}


class ProtocolError(Exception):
    """A request or reply that breaks the protocol; ``code`` is from :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str, request_id: str | None = None):
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass
class Request:
    """A validated request. ``pixels`` is the raw frame (not yet decoded)."""

    id: str
    op: str
    header: dict[str, Any]
    width: int = 0
    height: int = 0
    format: str = ""
    stride: int = 0
    segmenter: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    pixels: bytes | memoryview = b""
    #: with the option ``hints``: the GRAY8 frame after the pixels (255 person, 0 not, else no hint)
    hints: bytes | memoryview | None = None
    target: str | None = None
    timeout: float | None = None  # seconds the client allows, validated

    def time_limit(self, server_limit: float) -> float:
        """Seconds this request may run: the client's ``timeout`` when it is shorter than the server's own limit."""
        return server_limit if self.timeout is None else min(self.timeout, server_limit)


@dataclass
class Reply:
    """A parsed reply; ``frames`` maps frame names to their data: ``bytes``, or read-only ``memoryview`` objects of
    ZeroMQ's receive buffers for a client that asked for no copies (``Client(copy_frames=False)``)."""

    id: str
    type: str
    header: dict[str, Any]
    frames: dict[str, bytes | memoryview] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.type in ("result", "error")


def new_id() -> str:
    return uuid.uuid4().hex


def max_frame_bytes(max_pixels: int) -> int:
    """The largest frame a server with ``max_pixels`` accepts: 4 bytes a pixel plus :data:`FRAME_MARGIN`.

    Sockets facing clients or workers set ZMQ_MAXMSGSIZE to this, so a peer that declares a
    bigger frame is cut off by ZeroMQ before the frame is buffered.
    """
    return max_pixels * 4 + FRAME_MARGIN


def _dumps(header: dict[str, Any]) -> bytes:
    return json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _loads_header(frame: bytes) -> dict[str, Any]:
    if len(frame) > MAX_HEADER_BYTES:
        raise ProtocolError("header_too_large", f"header of {len(frame)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(bytes(frame).decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", f"header is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_json", "header must be a JSON object")
    return header


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _field(header: dict[str, Any], key: str, kind: type | tuple[type, ...], *, required: bool = True) -> Any:
    if key not in header:
        if required:
            raise ProtocolError("bad_field", f"missing field '{key}'")
        return None
    value = header[key]
    # bool is an int in Python; a JSON true must not pass as a width
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ProtocolError("bad_field", f"field '{key}' must be {_kind_name(kind)}, not a boolean")
    if not isinstance(value, kind):
        raise ProtocolError("bad_field", f"field '{key}' must be {_kind_name(kind)}")
    if isinstance(value, str) and not _is_text(value):
        raise ProtocolError("bad_field", f"field '{key}' is not valid Unicode text (a lone surrogate)")
    return value


def _is_text(value: str) -> bool:
    """Whether ``value`` can be written as UTF-8: JSON's ``\\ud800`` escape parses, but is no text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _timeout(header: dict[str, Any]) -> float | None:
    """The ``timeout`` field as seconds; a JSON integer too large for a float is refused here, not in the server."""
    value = header.get("timeout")
    if value is None and "timeout" not in header:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        raise ProtocolError(
            "bad_field", f"field 'timeout' must be a number of seconds, more than 0 and at most {MAX_TIMEOUT:.0f}"
        )
    return float(value)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", dict: "an object", list: "an array", bool: "a boolean"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


# --------------------------------------------------------------------------- requests


def encode_request(
    op: str, request_id: str | None = None, frames: list[bytes] | None = None, **fields: Any
) -> list[bytes]:
    """Frames of a request (header first). ``fields`` go into the header as given."""
    header = {"v": VERSION, "id": request_id or new_id(), "op": op, **fields}
    return [_dumps(header), *(frames or [])]


def encode_image_request(
    op: str,
    pixels: bytes | memoryview,
    width: int,
    height: int,
    format: str,
    *,
    stride: int | None = None,
    segmenter: str | None = None,
    options: dict[str, Any] | None = None,
    request_id: str | None = None,
    hints: bytes | memoryview | None = None,
) -> list[bytes]:
    """An image request; ``hints`` (width × height GRAY8 bytes) goes as a second frame with the option ``hints``."""
    fields: dict[str, Any] = {"width": width, "height": height, "format": format}
    if stride is not None:
        fields["stride"] = stride
    if segmenter is not None:
        fields["segmenter"] = segmenter
    fields["options"] = dict(options or {}, **({"hints": True} if hints is not None else {}))
    return encode_request(op, request_id, [pixels] if hints is None else [pixels, hints], **fields)


def parse_request(
    frames: list[bytes] | list[memoryview],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    segmenters: list[str] | None = None,
) -> Request:
    """Validate a request's frames without allocating anything image-sized.

    Raises :class:`ProtocolError`; its ``request_id`` is set whenever the header
    was readable, so the error can go back under the client's id.
    """
    if not frames:
        raise ProtocolError("bad_frames", "empty message")
    header = _loads_header(frames[0])
    raw_id = header.get("id")
    request_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_CHARS and _is_text(raw_id) else None
    try:
        return _parse_request(header, frames, max_pixels, segmenters)
    except ProtocolError as exc:
        exc.request_id = request_id
        raise


def readable_id(frame: bytes | memoryview) -> str | None:
    """The request id in a header frame when it is a valid one, else None (for errors found after parsing)."""
    try:
        raw_id = _loads_header(frame).get("id")
    except ProtocolError:
        return None
    return raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_CHARS and _is_text(raw_id) else None


def _parse_request(header: dict[str, Any], frames: list, max_pixels: int, segmenters: list[str] | None) -> Request:
    version = header.get("v")
    if version != VERSION or isinstance(version, bool):
        raise ProtocolError("bad_version", f"protocol version {version!r} is not supported (this is v{VERSION})")
    request_id = _field(header, "id", str)
    if not 0 < len(request_id) <= MAX_ID_CHARS:
        raise ProtocolError("bad_field", f"field 'id' must have 1 to {MAX_ID_CHARS} characters")
    op = _field(header, "op", str)
    if op not in OPS:
        raise ProtocolError("unknown_op", f"unknown op {op[:40]!r}; known: {', '.join(OPS)}")
    request = Request(id=request_id, op=op, header=header, timeout=_timeout(header))
    if op in ("hello", "ping"):
        _expect_frames(frames, 0)
        return request
    if op == "cancel":
        _expect_frames(frames, 0)
        request.target = _field(header, "target", str)
        return request

    width = _field(header, "width", int)
    height = _field(header, "height", int)
    fmt = _field(header, "format", str)
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise ProtocolError("bad_field", f"width and height must be 1..{MAX_DIMENSION}, got {width}×{height}")
    if width * height > max_pixels:
        raise ProtocolError(
            "too_large",
            f"{width}×{height} = {width * height / 1e6:.1f} MP exceeds the limit of {max_pixels / 1e6:.1f} MP",
        )
    if fmt not in PIXEL_FORMATS:
        raise ProtocolError(
            "bad_format", f"pixel format {fmt[:20]!r} is not supported; use one of {', '.join(PIXEL_FORMATS)}"
        )
    row_bytes = width * PIXEL_FORMATS[fmt]
    stride = _field(header, "stride", int, required=False)
    stride = row_bytes if stride is None else stride
    if not row_bytes <= stride <= row_bytes + 4096:
        raise ProtocolError("bad_field", f"stride {stride} must be at least {row_bytes} (width × bytes per pixel)")
    segmenter = _field(header, "segmenter", str, required=False)
    if segmenter is not None and segmenters is not None and segmenter not in segmenters:
        raise ProtocolError(
            "unknown_segmenter", f"unknown segmenter {segmenter[:40]!r}; known: {', '.join(segmenters)}"
        )
    options = _field(header, "options", dict, required=False) or {}
    expected = stride * height
    if expected > max_frame_bytes(max_pixels):
        raise ProtocolError(
            "too_large", f"a pixel frame of {expected} bytes exceeds the limit of {max_frame_bytes(max_pixels)}"
        )
    hinted = options.get("hints", False)
    if not isinstance(hinted, bool):
        raise ProtocolError(
            "bad_option", "option 'hints' must be true (a GRAY8 hints frame follows the pixels) or false"
        )
    _expect_frames(frames, 2 if hinted else 1)
    if hinted and len(frames[2]) != width * height:
        raise ProtocolError(
            "bad_frame_size",
            f"hints frame has {len(frames[2])} bytes, expected {width * height} (GRAY8 {width}×{height})",
        )
    got = len(frames[1])
    if got != expected:
        raise ProtocolError(
            "bad_frame_size", f"pixel frame has {got} bytes, header says {expected} (stride {stride} × height {height})"
        )
    request.width, request.height, request.format, request.stride = width, height, fmt, stride
    request.segmenter, request.options, request.pixels = segmenter, options, frames[1]
    request.hints = frames[2] if hinted else None
    return request


def _expect_frames(frames: list, data_frames: int) -> None:
    if len(frames) != 1 + data_frames:
        raise ProtocolError(
            "bad_frames", f"expected {data_frames} data frame(s) after the header, got {len(frames) - 1}"
        )


# --------------------------------------------------------------------------- replies


def encode_progress(request_id: str, stage: str, fraction: float, **extra: Any) -> list[bytes]:
    """A progress reply; ``extra`` adds fields (``ahead`` for stage ``queued``)."""
    fraction = 0.0 if not math.isfinite(fraction) else min(1.0, max(0.0, fraction))
    header = {
        "v": VERSION,
        "id": request_id,
        "type": "progress",
        "stage": stage,
        "fraction": round(fraction, 4),
        **extra,
    }
    return [_dumps(header)]


def encode_error(request_id: str | None, code: str, message: str, **extra: Any) -> list[bytes]:
    assert code in ERROR_CODES, code
    return [_dumps({"v": VERSION, "id": request_id, "type": "error", "code": code, "message": message, **extra})]


def encode_result(request_id: str, frames: list[tuple[dict[str, Any], Any]] | None = None, **fields: Any) -> list[Any]:
    """A result; ``frames`` pairs each frame's description (name, format, width, height) with its data.

    The data is anything with the buffer protocol, passed on as it is (the server sends C-contiguous
    numpy arrays, so ZeroMQ sends from their memory without a copy).
    """
    frames = frames or []
    header = {"v": VERSION, "id": request_id, "type": "result", **fields, "frames": [d for d, _ in frames]}
    return [_dumps(header), *(data for _, data in frames)]


def parse_reply(frames: list[bytes] | list[memoryview]) -> Reply:
    """Check a reply against the protocol (the client's side of validation); frames are kept as given, not copied."""
    if not frames:
        raise ProtocolError("bad_frames", "empty reply")
    header = _loads_header(frames[0])
    kind = header.get("type")
    if header.get("v") != VERSION:
        raise ProtocolError("bad_version", f"reply has protocol version {header.get('v')!r}")
    if kind not in ("progress", "result", "error"):
        raise ProtocolError("bad_field", f"reply type {kind!r} is unknown")
    reply = Reply(id=header.get("id") or "", type=kind, header=header)
    if kind != "result":
        return reply
    described = header.get("frames", [])
    if not isinstance(described, list) or len(described) != len(frames) - 1:
        raise ProtocolError(
            "bad_frames",
            f"reply lists {len(described) if isinstance(described, list) else '?'} frames, carries {len(frames) - 1}",
        )
    for desc, data in zip(described, frames[1:], strict=True):
        if not isinstance(data, bytes):  # ZeroMQ frames (and any other buffer) as flat bytes, without a copy
            data = memoryview(data).cast("B")
        if not isinstance(desc, dict) or not isinstance(desc.get("name"), str):
            raise ProtocolError("bad_field", "reply frame description without a name")
        fmt, width, height = desc.get("format"), desc.get("width"), desc.get("height")
        if fmt in PIXEL_FORMATS and isinstance(width, int) and isinstance(height, int):
            if len(data) != width * height * PIXEL_FORMATS[fmt]:
                raise ProtocolError(
                    "bad_frame_size",
                    f"reply frame {desc['name']!r} has {len(data)} bytes, "
                    f"expected {width * height * PIXEL_FORMATS[fmt]}",
                )
        reply.frames[desc["name"]] = data
    return reply


def frame_description(name: str, fmt: str, width: int, height: int) -> dict[str, Any]:
    return {"name": name, "format": fmt, "width": width, "height": height}
