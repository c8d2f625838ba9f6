"""Client side of the protocol: the CLI and the GIMP plug-in both use this.

Standard library + pyzmq only (it runs in GIMP's Python as it is).

Every wait has a deadline. While a request is unanswered the server sends a
progress (or a heartbeat: the last progress again, or stage ``queued``) at least
every 2 s, so silence means the server is gone: after ``silence_timeout``
seconds of it (10 by default) the request fails with ``unreachable`` (the server
had answered before) or ``timeout`` (nothing ever came back). Only the cheap ops
``hello`` and ``ping`` are resent on a fresh socket (ZeroMQ's *lazy pirate*
pattern), at most ``retries`` times: an image job the server may still be
working on is never sent twice. A request keeps its id, so a stale answer to
another request is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import zmq

from . import protocol

ProgressFn = protocol.ProgressFn
CancelFn = Callable[[], bool]
#: ``on_queued(ahead)``: the request waits in the server's queue, ``ahead`` requests before it
QueuedFn = Callable[[int], None]

#: ops that are cheap and idempotent: the only ones resent after a silence
RETRYABLE_OPS = ("hello", "ping")


class ServerError(RuntimeError):
    """The server (or the client, for ``timeout``/``unreachable``) answered with an error."""

    def __init__(self, code: str, message: str, header: dict[str, Any] | None = None):
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.message = message
        self.header = header or {}


class Client:
    """A connection to a Person Cutout server or broker.

    ``deadline``: total seconds a request may take. ``silence_timeout``: seconds
    without any message before the server is taken for gone. ``retries``: how many
    times ``hello``/``ping`` are resent after a silence (image jobs never are).
    ``curve``: optional ``(client_public, client_secret, server_public)`` Z85 keys
    for an encrypted, authenticated connection. ``copy_frames``: a result's pixel frames as
    ``bytes`` (True, what GIMP's API takes) or as read-only ``memoryview`` objects of ZeroMQ's own
    receive buffers (False: no copy, for numpy callers). Pixels sent are never copied. ``routing_id``: the
    socket's identity on the server (default: one the server makes up); another process that connects with
    the same one once this client is gone can cancel its requests (the GIMP plug-in's cancel watcher).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        deadline: float = 600.0,
        silence_timeout: float = protocol.SILENCE_SECONDS,
        retries: int = 0,
        curve: tuple[bytes, bytes, bytes] | None = None,
        context: zmq.Context | None = None,
        copy_frames: bool = True,
        routing_id: bytes | None = None,
    ):
        self.endpoint = endpoint
        self.routing_id = routing_id
        self.copy_frames = copy_frames
        self.deadline = deadline
        self.silence_timeout = silence_timeout
        self.retries = retries
        self.curve = curve
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket | None = None

    # -- socket lifecycle -----------------------------------------------------------

    def _open(self) -> zmq.Socket:
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDTIMEO, 10_000)
            if self.routing_id:
                sock.setsockopt(zmq.ROUTING_ID, self.routing_id)
            if self.curve:
                sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = self.curve
            if self.endpoint.startswith("tcp://["):  # an IPv6 literal: ZeroMQ needs IPv6 switched on
                sock.setsockopt(zmq.IPV6, 1)
            sock.connect(self.endpoint)
            self._socket = sock
        return self._socket

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def close(self) -> None:
        self._reset()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------

    def request(
        self,
        frames: list[bytes],
        *,
        on_progress: ProgressFn | None = None,
        cancelled: CancelFn | None = None,
        deadline: float | None = None,
        on_queued: QueuedFn | None = None,
    ) -> protocol.Reply:
        """Send a request (frames from ``protocol.encode_*``) and wait for its final reply.

        Raises :class:`ServerError` for an ``error`` reply, a deadline or a
        server that stays silent (``unreachable`` when it had answered before,
        ``timeout`` when nothing came). ``cancelled`` is polled a few times a
        second; when it returns True a ``cancel`` op is sent and
        ``ServerError('cancelled')`` raised at once. ``on_queued`` hears the queue position of a
        request that waits (progress stage ``queued``), which then does not go to ``on_progress``.
        """
        header = protocol._loads_header(frames[0])
        request_id = header["id"]
        retries = self.retries if header.get("op") in RETRYABLE_OPS else 0
        end = time.monotonic() + (deadline if deadline is not None else self.deadline)
        attempts = 0
        while True:
            sock = self._open()
            try:
                sock.send_multipart(frames, copy=False)
            except zmq.Again:
                self._reset()
                raise ServerError("unreachable", f"could not send to {self.endpoint}") from None
            heard = {"any": False}
            outcome = self._wait(sock, request_id, end, on_progress, cancelled, heard, on_queued)
            if outcome is not None:
                return outcome
            attempts += 1
            self._reset()  # lazy pirate: a silent socket is thrown away
            if heard["any"]:
                raise ServerError(
                    "unreachable",
                    f"the Person Cutout server at {self.endpoint} stopped answering "
                    f"(nothing for {self.silence_timeout:g} s while it worked on the request); it may have stopped",
                )
            if attempts > retries or time.monotonic() >= end:
                raise ServerError(
                    "timeout",
                    f"no answer from the Person Cutout server at {self.endpoint} "
                    f"after {attempts} attempt(s); is it running?",
                )

    def _wait(
        self,
        sock: zmq.Socket,
        request_id: str,
        end: float,
        on_progress: ProgressFn | None,
        cancelled: CancelFn | None,
        heard: dict[str, bool],
        on_queued: QueuedFn | None = None,
    ) -> protocol.Reply | None:
        """The final reply, or None when the server went silent (``heard['any']``: after saying something)."""
        silent_until = time.monotonic() + self.silence_timeout
        while True:
            now = time.monotonic()
            if now >= end:
                self._send_cancel(request_id)
                raise ServerError("deadline", f"request {request_id} ran past its deadline")
            if now >= silent_until:
                return None
            if cancelled is not None and cancelled():
                self._send_cancel(request_id)
                raise ServerError("cancelled", "cancelled by the user")
            if not sock.poll(int(min(250, (min(end, silent_until) - now) * 1000) + 1)):
                continue
            try:
                reply = protocol.parse_reply(sock.recv_multipart(copy=self.copy_frames))
            except protocol.ProtocolError as exc:
                self._send_cancel(request_id)
                raise ServerError(exc.code, f"the server's reply breaks the protocol: {exc.message}") from None
            if reply.id != request_id:
                continue  # a late answer to an earlier, abandoned request
            heard["any"] = True
            silent_until = time.monotonic() + self.silence_timeout
            if reply.type == "progress":
                if on_queued is not None and reply.header.get("stage") == "queued":
                    ahead = reply.header.get("ahead", 0)
                    on_queued(ahead if isinstance(ahead, int) and not isinstance(ahead, bool) else 0)
                elif on_progress is not None:
                    on_progress(str(reply.header.get("stage", "")), float(reply.header.get("fraction", 0.0)))
                continue
            if reply.type == "error":
                raise ServerError(reply.header.get("code", "internal"), reply.header.get("message", ""), reply.header)
            return reply

    def _send_cancel(self, request_id: str) -> None:
        if self._socket is not None:
            try:
                self._socket.send_multipart(protocol.encode_request("cancel", target=request_id), flags=zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        self._reset()

    # -- conveniences ------------------------------------------------------------------

    def hello(self, timeout: float = 5.0) -> dict[str, Any]:
        """The server's self-description; raises ServerError('timeout') when nobody answers."""
        saved = self.silence_timeout, self.retries
        self.silence_timeout, self.retries = timeout, 0
        try:
            return self.request(protocol.encode_request("hello"), deadline=timeout + 1).header
        finally:
            self.silence_timeout, self.retries = saved

    def image_request(
        self,
        op: str,
        pixels: bytes | memoryview,
        width: int,
        height: int,
        format: str,
        *,
        on_progress: ProgressFn | None = None,
        cancelled: CancelFn | None = None,
        on_queued: QueuedFn | None = None,
        **fields: Any,
    ) -> protocol.Reply:
        """An image op; ``fields`` are :func:`protocol.encode_image_request`'s (stride, segmenter, options…)."""
        frames = protocol.encode_image_request(op, pixels, width, height, format, **fields)
        return self.request(frames, on_progress=on_progress, cancelled=cancelled, on_queued=on_queued)

    def cutout(self, pixels: bytes | memoryview, width: int, height: int, format: str, **kwargs: Any) -> protocol.Reply:
        return self.image_request("cutout", pixels, width, height, format, **kwargs)
