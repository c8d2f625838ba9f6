"""``python -m server broker``: one endpoint in front of many workers (ZeroMQ's load-balancing broker).

Clients (the GIMP plug-in, the CLI) talk to the frontend ROUTER exactly as to a
server. Workers (``python -m server worker --connect BACKEND``) connect their
DEALER to the backend ROUTER, say ``READY``, and exchange heartbeats with the
broker (the *paranoid pirate* pattern): a worker silent for ``liveness``
heartbeat intervals is dead. A dead worker's request is queued again once, then
answered with ``worker_lost``; every request gets exactly one final reply.

Worker frames (after the ROUTER's identity frame), first frame :data:`MAGIC`:
``READY`` · ``HEARTBEAT`` · ``REPLY client-identity reply-frames…`` from workers;
``REQUEST client-identity request-frames…`` · ``HEARTBEAT`` from the broker.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import zmq

from cutout_common import protocol

log = logging.getLogger("person_cutout.broker")

MAGIC = b"PCW1"
READY, HEARTBEAT, REQUEST, REPLY = b"READY", b"HEARTBEAT", b"REQUEST", b"REPLY"


@dataclass
class BrokerJob:
    client: bytes
    request_id: str
    frames: list[bytes]
    deadline: float
    attempts: int = 0


@dataclass
class WorkerState:
    identity: bytes
    expires: float
    job: BrokerJob | None = None
    served: int = 0


@dataclass
class BrokerConfig:
    frontend: str = "tcp://127.0.0.1:5555"
    backend: str = "tcp://127.0.0.1:5556"
    heartbeat: float = 1.0
    liveness: int = 3
    queue_size: int = 64
    request_timeout: float = 600.0
    max_pixels: int = protocol.DEFAULT_MAX_PIXELS
    max_attempts: int = 2
    insecure: bool = False
    curve_dir: str | None = None
    stats: dict = field(default_factory=lambda: {"requeued": 0, "lost": 0, "dead_workers": 0})


class Broker:
    def __init__(self, config: BrokerConfig, context: zmq.Context | None = None):
        self.config = config
        self.context = context or zmq.Context.instance()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.workers: OrderedDict[bytes, WorkerState] = OrderedDict()  # idle ones first, in arrival order
        self.queue: deque[BrokerJob] = deque()
        self.in_flight: dict[tuple[bytes, str], WorkerState] = {}
        self._auth = None

    def bind(self) -> tuple[str, str]:
        from server.transport.security import check_bind, configure_curve

        for endpoint in (self.config.frontend, self.config.backend):
            check_bind(endpoint, self.config.insecure, self.config.curve_dir)
        self.frontend = self.context.socket(zmq.ROUTER)
        self.backend = self.context.socket(zmq.ROUTER)
        for sock in (self.frontend, self.backend):
            sock.setsockopt(zmq.LINGER, 2000)
        if self.config.curve_dir:
            self._auth = configure_curve(self.context, self.frontend, self.config.curve_dir)
        self.frontend.bind(self.config.frontend)
        self.backend.bind(self.config.backend)
        return (self.frontend.getsockopt_string(zmq.LAST_ENDPOINT), self.backend.getsockopt_string(zmq.LAST_ENDPOINT))

    def stop(self) -> None:
        self._stop.set()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self._ready.wait(timeout)

    def serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.frontend, zmq.POLLIN)
        poller.register(self.backend, zmq.POLLIN)
        next_heartbeat = time.monotonic() + self.config.heartbeat
        self._ready.set()
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(int(self.config.heartbeat * 1000 / 4)))
                if self.backend in events:
                    self._drain(self.backend, self._from_worker)
                if self.frontend in events:
                    self._drain(self.frontend, self._from_client)
                now = time.monotonic()
                if now >= next_heartbeat:
                    for identity in self.workers:
                        self.backend.send_multipart([identity, MAGIC, HEARTBEAT])
                    next_heartbeat = now + self.config.heartbeat
                self._purge_dead_workers(now)
                self._expire(now)
                self._dispatch()
        finally:
            for job in [*self.queue, *(w.job for w in self.in_flight.values() if w.job)]:
                self._reply(job.client, protocol.encode_error(job.request_id, "shutdown", "the broker is shutting down"))
            self.frontend.close(linger=1000)
            self.backend.close(linger=0)
            if self._auth is not None:
                self._auth.stop()

    def _drain(self, sock: zmq.Socket, handle) -> None:
        for _ in range(256):
            try:
                handle(sock.recv_multipart(flags=zmq.NOBLOCK))
            except zmq.Again:
                return

    # -- clients ------------------------------------------------------------------------

    def _from_client(self, message: list[bytes]) -> None:
        client, frames = message[0], message[1:]
        try:
            request = protocol.parse_request(frames, max_pixels=self.config.max_pixels)
        except protocol.ProtocolError as exc:
            self._reply(client, protocol.encode_error(exc.request_id, exc.code, exc.message))
            return
        if request.op == "ping":
            self._reply(client, protocol.encode_result(request.id, pong=True, broker=True))
            return
        if request.op == "cancel":
            self._cancel(client, request)
            return
        if (client, request.id) in self.in_flight or any(j.client == client and j.request_id == request.id for j in self.queue):
            return  # a client's retry of a request already here: it will get that answer
        if len(self.queue) >= self.config.queue_size:
            self._reply(client, protocol.encode_error(request.id, "busy", "every worker is busy and the queue is full", retry_after=2.0))
            return
        timeout = request.header.get("timeout")
        limit = self.config.request_timeout
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
            limit = min(limit, float(timeout))
        self.queue.append(BrokerJob(client, request.id, frames, time.monotonic() + limit))

    def _cancel(self, client: bytes, request: protocol.Request) -> None:
        key = (client, request.target or "")
        found = False
        for job in list(self.queue):
            if (job.client, job.request_id) == key:
                self.queue.remove(job)
                self._reply(client, protocol.encode_error(job.request_id, "cancelled", "cancelled by the client"))
                found = True
        worker = self.in_flight.get(key)
        if worker is not None:  # the worker's own server stops the job and answers 'cancelled'
            cancel = protocol.encode_request("cancel", protocol.new_id(), target=request.target)
            self.backend.send_multipart([worker.identity, MAGIC, REQUEST, client, *cancel])
            found = True
        self._reply(client, protocol.encode_result(request.id, cancelled=found))

    def _reply(self, client: bytes, frames: list[bytes]) -> None:
        try:
            self.frontend.send_multipart([client, *frames])
        except zmq.ZMQError:
            pass

    # -- workers ------------------------------------------------------------------------

    def _from_worker(self, message: list[bytes]) -> None:
        if len(message) < 3 or message[1] != MAGIC:
            return  # not one of ours
        identity, kind = message[0], message[2]
        expires = time.monotonic() + self.config.heartbeat * self.config.liveness
        worker = self.workers.get(identity)
        if kind == READY:
            if worker is not None and worker.job is not None:  # it restarted: its job is lost
                self._requeue(worker)
            self.workers[identity] = WorkerState(identity, expires)
            return
        if worker is None:
            return  # an unknown (expired) worker: it will send READY again
        worker.expires = expires
        if kind == REPLY and len(message) >= 5:
            client, reply = message[3], message[4:]
            try:
                header = json.loads(reply[0])
            except ValueError:  # bad JSON or UTF-8: forwarded as it is, not booked
                header = None
            job = worker.job
            final = isinstance(header, dict) and header.get("type") in ("result", "error")
            if final and job is not None and job.client == client and header.get("id") == job.request_id:
                # the books first, then the reply: whoever hears the answer finds the worker free and counted
                self.in_flight.pop((job.client, job.request_id), None)
                worker.job = None
                worker.served += 1
                self.workers.move_to_end(identity)  # least recently used first
            self._reply(client, reply)

    def _requeue(self, worker: WorkerState) -> None:
        job = worker.job
        worker.job = None
        if job is None:
            return
        self.in_flight.pop((job.client, job.request_id), None)
        if job.attempts < self.config.max_attempts:
            self.config.stats["requeued"] += 1
            self.queue.appendleft(job)
        else:
            self.config.stats["lost"] += 1
            self._reply(job.client, protocol.encode_error(job.request_id, "worker_lost", f"the worker died {job.attempts} times running this request"))

    def _purge_dead_workers(self, now: float) -> None:
        for identity in [i for i, w in self.workers.items() if w.expires < now]:
            worker = self.workers.pop(identity)
            self.config.stats["dead_workers"] += 1
            log.warning("worker %s is silent: dropped", identity.hex())
            self._requeue(worker)

    def _expire(self, now: float) -> None:
        for job in [j for j in self.queue if j.deadline <= now]:
            self.queue.remove(job)
            self._reply(job.client, protocol.encode_error(job.request_id, "deadline", "no worker finished the request before its deadline"))
        for key, worker in list(self.in_flight.items()):
            if worker.job is not None and worker.job.deadline <= now:
                job = worker.job
                self.in_flight.pop(key)
                worker.job = None
                cancel = protocol.encode_request("cancel", protocol.new_id(), target=job.request_id)
                self.backend.send_multipart([worker.identity, MAGIC, REQUEST, job.client, *cancel])
                self._reply(job.client, protocol.encode_error(job.request_id, "deadline", "the request ran past its deadline"))

    def _dispatch(self) -> None:
        while self.queue:
            idle = next((w for w in self.workers.values() if w.job is None), None)
            if idle is None:
                return
            job = self.queue.popleft()
            job.attempts += 1
            idle.job = job
            self.in_flight[(job.client, job.request_id)] = idle
            self.backend.send_multipart([idle.identity, MAGIC, REQUEST, job.client, *job.frames])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frontend", default="tcp://127.0.0.1:5555", help="endpoint clients connect to")
    parser.add_argument("--backend", default="tcp://127.0.0.1:5556", help="endpoint workers connect to")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats")
    parser.add_argument("--queue-size", type=int, default=64)
    parser.add_argument("--request-timeout", type=float, default=600.0)
    parser.add_argument("--curve", dest="curve_dir", default=None, metavar="DIR")
    parser.add_argument("--insecure", action="store_true")


def run(args: argparse.Namespace) -> int:
    from server.transport.security import SecurityError

    broker = Broker(
        BrokerConfig(
            frontend=args.frontend,
            backend=args.backend,
            heartbeat=args.heartbeat,
            queue_size=args.queue_size,
            request_timeout=args.request_timeout,
            insecure=args.insecure,
            curve_dir=args.curve_dir,
        )
    )
    try:
        front, back = broker.bind()
    except (SecurityError, zmq.ZMQError) as exc:
        print(f"error: {exc}")
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: broker.stop())
    print(f"Person Cutout broker: clients on {front}, workers on {back}", flush=True)
    broker.serve_forever()
    return 0
