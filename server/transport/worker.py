"""``python -m server worker --connect BACKEND``: serve a broker's requests on this machine.

A worker is an ordinary :class:`server.transport.service.Server` bound to an inproc
endpoint, plus a small forwarding loop: requests from the broker go to the
local server, its replies go back through the broker. Request ids are renamed
on the way in (two clients may use the same id) and restored on the way out.
If the broker falls silent, the worker reconnects and says READY again.

The local server answers a cancelled request only once its work has stopped, so
the broker never hands this worker a new job while an old one still runs. With
``--curve DIR`` the worker authenticates with ``DIR/worker.key_secret`` (the
broker admits the keys in its ``DIR/workers``) and checks the broker's
``DIR/server.key``.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid

import zmq

from cutout_common import protocol
from server.pipeline.model_cache import SegmenterFactory
from server.transport.broker import HEARTBEAT, MAGIC, READY, REPLY, REQUEST
from server.transport.service import Server, ServerConfig

log = logging.getLogger("person_cutout.worker")


def run_worker(
    connect: str,
    *,
    device: str = "cpu",
    heartbeat: float = 1.0,
    liveness: int = 3,
    factory: SegmenterFactory | None = None,
    names: list[str] | None = None,
    stop: threading.Event | None = None,
    curve: tuple[bytes, bytes, bytes] | None = None,
    max_pixels: int = protocol.DEFAULT_MAX_PIXELS,
) -> None:
    """Serve until ``stop`` is set (or forever). ``curve``: (worker public, worker secret, broker public) keys."""
    stop = stop or threading.Event()
    context = zmq.Context.instance()
    inner = Server(
        ServerConfig(
            endpoint=f"inproc://person-cutout-worker-{uuid.uuid4().hex}",
            device=device,
            queue_size=4,
            max_pixels=max_pixels,
        ),
        factory=factory,
        names=names,
        context=context,
    )
    inner_endpoint = inner.start()
    local = context.socket(zmq.DEALER)
    local.setsockopt(zmq.LINGER, 0)
    local.connect(inner_endpoint)

    names_in_use: dict[str, tuple[bytes, str]] = {}  # local id -> (client, client's id)
    counter = itertools.count()

    def open_broker() -> zmq.Socket:
        sock = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, protocol.max_frame_bytes(max_pixels))
        if curve:
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = curve
        if connect.startswith("tcp://["):
            sock.setsockopt(zmq.IPV6, 1)
        sock.connect(connect)
        _to_broker(sock, [MAGIC, READY])
        return sock

    broker = open_broker()
    poller = zmq.Poller()
    poller.register(broker, zmq.POLLIN)
    poller.register(local, zmq.POLLIN)
    broker_expires = time.monotonic() + heartbeat * liveness
    next_heartbeat = time.monotonic() + heartbeat
    try:
        while not stop.is_set():
            events = dict(poller.poll(int(heartbeat * 250)))
            if broker in events:
                message = broker.recv_multipart()
                broker_expires = time.monotonic() + heartbeat * liveness
                if len(message) >= 4 and message[0] == MAGIC and message[1] == REQUEST:
                    try:
                        _forward_request(message[2], message[3:], local, names_in_use, counter)
                    except Exception:  # one message must not stop the worker
                        log.exception("a request from the broker could not be forwarded")
            if local in events:
                reply = local.recv_multipart()
                try:
                    _forward_reply(reply, broker, names_in_use)
                except Exception:
                    log.exception("a reply could not be forwarded to the broker")
            now = time.monotonic()
            if now >= next_heartbeat:
                _to_broker(broker, [MAGIC, HEARTBEAT])
                next_heartbeat = now + heartbeat
            if now >= broker_expires:  # paranoid pirate: reconnect to a silent broker
                hint = " (is this worker's key in the broker's workers/ folder?)" if curve else ""
                log.warning("broker silent; reconnecting to %s%s", connect, hint)
                poller.unregister(broker)
                broker.close(0)
                broker = open_broker()
                poller.register(broker, zmq.POLLIN)
                broker_expires = now + heartbeat * liveness
    finally:
        broker.close(0)
        local.close(0)
        inner.close(5)


def _forward_reply(reply: list[bytes], broker: zmq.Socket, names_in_use: dict[str, tuple[bytes, str]]) -> None:
    """A reply of the local server back to the broker, under the client's own id."""
    header = json.loads(reply[0])
    owner = names_in_use.get(header.get("id"))
    if owner is None:
        return
    client, original = owner
    if header.get("type") in ("result", "error"):
        names_in_use.pop(header["id"], None)
    header["id"] = original
    _to_broker(broker, [MAGIC, REPLY, client, json.dumps(header).encode(), *reply[1:]])


def _to_broker(broker: zmq.Socket, frames: list[bytes]) -> None:
    """Send without blocking: with no broker connected (down, or refusing this worker's key) a DEALER's
    send would wait for ever and the worker could not even stop; the broker's liveness check covers a
    lost message."""
    try:
        broker.send_multipart(frames, flags=zmq.NOBLOCK)
    except zmq.Again:
        log.debug("no broker connected: a message was dropped")


def _key_of(names_in_use: dict[str, tuple[bytes, str]], owner: tuple[bytes, str]) -> str | None:
    return next((k for k, v in names_in_use.items() if v == owner), None)


def _forward_request(client: bytes, frames: list[bytes], local: zmq.Socket, names_in_use: dict, counter) -> None:
    try:
        header = json.loads(frames[0])
        original = header["id"]
    except (ValueError, KeyError, TypeError):
        return  # the broker validates requests; nothing sensible to do with a broken one
    local_id = f"w{next(counter)}"
    names_in_use[local_id] = (client, original)
    header["id"] = local_id
    if header.get("op") == "cancel":
        target = _key_of(names_in_use, (client, header.get("target")))
        header["target"] = target or ""
    local.send_multipart([json.dumps(header).encode(), *frames[1:]])
