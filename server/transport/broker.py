"""``python -m server broker``: one endpoint in front of many workers (ZeroMQ's load-balancing broker).

Clients (the GIMP plug-in, the CLI) talk to the frontend ROUTER exactly as to a
server. Workers (``python -m server worker --connect BACKEND``) connect their
DEALER to the backend ROUTER, say ``READY``, and exchange heartbeats with the
broker (the *paranoid pirate* pattern): a worker silent for ``liveness``
heartbeat intervals is dead. A dead worker's request is queued again once, then
answered with ``worker_lost``.

Every request gets exactly one final reply, and only under ids the client sent:
the broker forwards a worker's reply only when it belongs to the request that
worker is running. A request cancelled or past its deadline while a worker runs
it is answered when that worker reports the work stopped, and the worker is not
free before; meanwhile, and while a request waits in the queue (stage
``queued``, with ``ahead``), the client hears a progress at least every
:data:`protocol.HEARTBEAT_SECONDS`.

With ``--curve DIR`` both sides are CURVE servers with their own allow-lists:
clients' keys in ``DIR/allowed``, workers' keys in ``DIR/workers``.

Worker frames (after the ROUTER's identity frame), first frame :data:`MAGIC`:
``READY`` · ``HEARTBEAT`` · ``REPLY client-identity reply-frames…`` from workers;
``REQUEST client-identity request-frames…`` · ``HEARTBEAT`` from the broker.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import zmq

from cutout_common import protocol
from server.transport.loop import ServingLoop

log = logging.getLogger("person_cutout.broker")

MAGIC = b"PCW1"
READY, HEARTBEAT, REQUEST, REPLY = b"READY", b"HEARTBEAT", b"REQUEST", b"REPLY"
DEFAULT_BACKEND = "tcp://127.0.0.1:5556"


@dataclass(eq=False)  # compared by identity: a job is in the queue or not, whatever its fields
class BrokerJob:
    client: bytes
    request_id: str
    frames: list[bytes]
    deadline: float
    attempts: int = 0
    answer: list[bytes] | None = None  # final decided while a worker still runs it (cancelled, deadline)
    last_sent: float = 0.0
    stage: str = "starting"
    fraction: float = 0.0

    @property
    def key(self) -> tuple[bytes, str]:
        return self.client, self.request_id


@dataclass
class WorkerState:
    identity: bytes
    expires: float
    job: BrokerJob | None = None
    served: int = 0


@dataclass
class BrokerConfig:
    frontend: str = protocol.DEFAULT_ENDPOINT
    backend: str = DEFAULT_BACKEND
    heartbeat: float = 1.0
    liveness: int = 3
    queue_size: int = 64
    request_timeout: float = 600.0
    max_pixels: int = protocol.DEFAULT_MAX_PIXELS
    max_attempts: int = 2
    insecure: bool = False
    curve_dir: str | None = None
    stats: dict = field(default_factory=lambda: {"requeued": 0, "lost": 0, "dead_workers": 0})


class Broker(ServingLoop):
    """``serve_forever()`` until ``stop()``; ``start()`` serves on a thread and returns (frontend, backend)."""

    def __init__(self, config: BrokerConfig, context: zmq.Context | None = None):
        self.config = config
        self.context = context or zmq.Context.instance()
        self._init_loop()
        self.workers: OrderedDict[bytes, WorkerState] = OrderedDict()  # idle ones first, in arrival order
        self.queue: deque[BrokerJob] = deque()
        self.in_flight: dict[tuple[bytes, str], WorkerState] = {}
        self.jobs: dict[tuple[bytes, str], BrokerJob] = {}  # every request not yet answered or still running
        self._gates: list = []

    def bind(self) -> tuple[str, str]:
        from server.transport.security import bind, check_bind, configure_curve

        for endpoint in (self.config.frontend, self.config.backend):
            check_bind(endpoint, self.config.insecure, self.config.curve_dir)
        self.frontend = self.context.socket(zmq.ROUTER)
        self.backend = self.context.socket(zmq.ROUTER)
        for sock in (self.frontend, self.backend):
            sock.setsockopt(zmq.LINGER, 2000)
            # a peer that declares a frame larger than any image allowed is cut off before it is buffered
            sock.setsockopt(zmq.MAXMSGSIZE, protocol.max_frame_bytes(self.config.max_pixels))
        if self.config.curve_dir:
            self._gates = [
                configure_curve(self.context, self.frontend, self.config.curve_dir, "allowed"),
                configure_curve(self.context, self.backend, self.config.curve_dir, "workers"),
            ]
        self.bound = bind(self.frontend, self.config.frontend), bind(self.backend, self.config.backend)
        return self.bound

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
                self._heartbeat_clients(now)
        finally:
            for job in list(self.jobs.values()):
                self._answer(job, protocol.encode_error(job.request_id, "shutdown", "the broker is shutting down"))
            self.frontend.close(linger=1000)
            self.backend.close(linger=0)
            for gate in self._gates:
                gate.stop()

    def _drain(self, sock: zmq.Socket, handle) -> None:
        for _ in range(256):
            try:
                message = sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                handle(message)
            except Exception:  # a bug must cost one message, never the broker
                log.exception("a message could not be handled")
                if handle == self._from_client and len(message) > 1:
                    error = protocol.encode_error(
                        protocol.readable_id(message[1]), "internal", "the broker failed to handle this message"
                    )
                    self._reply(message[0], error)

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
        if (client, request.id) in self.jobs:
            self._reply(
                client, protocol.encode_error(request.id, "duplicate_id", f"request {request.id!r} is still in flight")
            )
            return
        if len(self.queue) >= self.config.queue_size:
            self._reply(
                client,
                protocol.encode_error(
                    request.id, "busy", "every worker is busy and the queue is full", retry_after=2.0
                ),
            )
            return
        now = time.monotonic()
        limit = request.time_limit(self.config.request_timeout)
        job = BrokerJob(client, request.id, frames, now + limit, last_sent=now)
        self.queue.append(job)
        self.jobs[job.key] = job

    def _cancel(self, client: bytes, request: protocol.Request) -> None:
        job = self.jobs.get((client, request.target or ""))
        if job is not None:
            self._stop_job(job, "cancelled", "cancelled by the client")
        self._reply(client, protocol.encode_result(request.id, cancelled=job is not None))

    def _stop_job(self, job: BrokerJob, code: str, message: str) -> None:
        """Answered now when it waits in the queue; when a worker runs it, once that worker says it stopped."""
        if job.answer is not None:
            return
        error = protocol.encode_error(job.request_id, code, message)
        worker = self.in_flight.get(job.key)
        if worker is None:
            if job in self.queue:
                self.queue.remove(job)
            self._answer(job, error)
            return
        job.answer, job.stage = error, "stopping"
        cancel = protocol.encode_request("cancel", protocol.new_id(), target=job.request_id)
        self.backend.send_multipart([worker.identity, MAGIC, REQUEST, job.client, *cancel])

    def _answer(self, job: BrokerJob, frames: list[bytes]) -> None:
        """The request's one final reply."""
        if self.jobs.pop(job.key, None) is job:
            self._reply(job.client, frames)

    def _reply(self, client: bytes, frames: list[bytes]) -> None:
        try:
            self.frontend.send_multipart([client, *frames])
        except zmq.ZMQError:
            pass

    def _heartbeat_clients(self, now: float) -> None:
        """A progress for every unanswered request that heard nothing for a heartbeat: queued ones say how many wait
        before them."""
        ahead = {id(job): position for position, job in enumerate(self.queue)}
        for job in list(self.jobs.values()):
            if now - job.last_sent < protocol.HEARTBEAT_SECONDS:
                continue
            if id(job) in ahead:
                reply = protocol.encode_progress(job.request_id, "queued", 0.0, ahead=ahead[id(job)])
            else:
                reply = protocol.encode_progress(job.request_id, job.stage, job.fraction)
            job.last_sent = now
            self._reply(job.client, reply)

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
            self._worker_reply(worker, message[3], message[4:])

    def _worker_reply(self, worker: WorkerState, client: bytes, reply: list[bytes]) -> None:
        """Forward a reply of the worker's current request; anything else (say, to the broker's own cancel) is
        dropped."""
        job = worker.job
        try:
            header = json.loads(reply[0])
        except ValueError:
            header = None
        if job is None or not isinstance(header, dict) or (client, header.get("id")) != job.key:
            log.debug("dropped a reply that is not for the worker's current request")
            return
        if header.get("type") in ("result", "error"):
            # the books first, then the reply: whoever hears the answer finds the worker free and counted
            self.in_flight.pop(job.key, None)
            worker.job = None
            worker.served += 1
            self.workers.move_to_end(worker.identity)  # least recently used first
            self._answer(job, job.answer or reply)
        elif job.answer is None:
            job.stage, job.fraction = str(header.get("stage", job.stage)), header.get("fraction", job.fraction)
            job.last_sent = time.monotonic()
            self._reply(job.client, reply)

    def _requeue(self, worker: WorkerState) -> None:
        job = worker.job
        worker.job = None
        if job is None:
            return
        self.in_flight.pop(job.key, None)
        if job.answer is not None:  # cancelled or past its deadline: nothing runs for it any more
            self._answer(job, job.answer)
        elif job.attempts < self.config.max_attempts:
            self.config.stats["requeued"] += 1
            job.stage = "starting"
            self.queue.appendleft(job)
        else:
            self.config.stats["lost"] += 1
            self._answer(
                job,
                protocol.encode_error(
                    job.request_id, "worker_lost", f"the worker died {job.attempts} times running this request"
                ),
            )

    def _purge_dead_workers(self, now: float) -> None:
        for identity in [i for i, w in self.workers.items() if w.expires < now]:
            worker = self.workers.pop(identity)
            self.config.stats["dead_workers"] += 1
            log.warning("worker %s is silent: dropped", identity.hex())
            self._requeue(worker)

    def _expire(self, now: float) -> None:
        for job in [j for j in self.jobs.values() if j.deadline <= now and j.answer is None]:
            self._stop_job(job, "deadline", "the request ran past its deadline")

    def _dispatch(self) -> None:
        while self.queue:
            idle = next((w for w in self.workers.values() if w.job is None), None)
            if idle is None:
                return
            job = self.queue.popleft()
            job.attempts += 1
            idle.job = job
            self.in_flight[job.key] = idle
            self.backend.send_multipart([idle.identity, MAGIC, REQUEST, job.client, *job.frames])
