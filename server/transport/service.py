"""The ZeroMQ server's transport: one thread owns the ROUTER socket, worker threads run the jobs.

What a request is answered with is :mod:`server.transport.handler`'s business; this module moves
messages, keeps the queue and the table of jobs, cancels, heartbeats and shuts down.

ZeroMQ sockets are not thread-safe, so only the I/O thread touches the ROUTER.
Workers hand their replies (progress and results) back through an inproc PUSH →
PULL pair, and the I/O thread forwards them. The I/O thread also keeps the
table of requests in flight, which makes "exactly one final reply per request"
a local rule: a final reply for a request no longer in the table is dropped.

A cancelled request, or one past its deadline, is answered when its work has
really stopped (the worker thread reports it), so ``hello`` and a broker in
front of this server never count a busy worker as free; one still waiting in
the queue is answered at once. Until then the I/O thread sends a progress for
every unanswered request at least every :data:`protocol.HEARTBEAT_SECONDS`,
so a client can tell a long job from a dead server.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field

import zmq

from cutout_common import protocol
from models import registry
from server.pipeline.allocator import release_freed_memory
from server.pipeline.model_cache import ModelCache, SegmenterFactory
from server.transport.handler import Reply, RequestHandler
from server.transport.loop import ServingLoop

log = logging.getLogger("person_cutout.server")

OUTBOX = "inproc://person-cutout-outbox-{}"
_server_numbers = itertools.count()

# what a worker thread tells the I/O thread about a job (frame 1 of an outbox message, after the job's serial):
# a progress, its final reply (a result or an error, known by this kind, never by reading the reply), or that it
# stopped without one (cancelled, past its deadline: the I/O thread has the answer)
PROGRESS, RESULT, ERROR, STOPPED = b"P", b"R", b"E", b"S"
#: seconds without work after which the memory freed by the last jobs goes back to the system (see
#: :mod:`server.pipeline.allocator`): back-to-back requests reuse it, an idle server does not keep it
IDLE_RELEASE_SECONDS = 2.0


class Cancelled(Exception):
    """Raised inside a worker when its request was cancelled or ran out of time."""


@dataclass
class Job:
    identity: bytes
    request: protocol.Request
    deadline: float
    serial: int = 0  # names the job between threads: ids may repeat once a request is answered
    cancelled: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)  # a worker thread has taken it
    # the I/O thread's own: the final reply decided while the work still runs, and what the client last heard
    answer: Reply | None = None
    last_sent: float = 0.0
    stage: str = "starting"
    fraction: float = 0.0

    @property
    def key(self) -> tuple[bytes, str]:
        return self.identity, self.request.id


@dataclass
class ServerConfig:
    endpoint: str = protocol.DEFAULT_ENDPOINT
    device: str = "cpu"
    max_pixels: int = protocol.DEFAULT_MAX_PIXELS
    queue_size: int = 8
    workers: int = 1
    request_timeout: float = 600.0
    model_capacity: int = 2
    insecure: bool = False
    curve_dir: str | None = None


class Server(ServingLoop):
    """``serve_forever()`` until ``stop()`` (or SIGINT/SIGTERM when installed); ``start()`` serves on a thread."""

    def __init__(
        self,
        config: ServerConfig,
        factory: SegmenterFactory | None = None,
        names: list[str] | None = None,
        context: zmq.Context | None = None,
        handler: RequestHandler | None = None,
    ):
        """``factory``/``names`` replace the model registry (benchmarks and tests use this); ``handler`` replaces
        the request handling built from them."""
        self.config = config
        self.context = context or zmq.Context.instance()
        if handler is None:
            models = ModelCache(config.device, config.model_capacity, factory=factory or registry.create, names=names)
            handler = RequestHandler(models, config.device, config.max_pixels)
        self.handler = handler
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=config.queue_size)
        self._in_flight: dict[tuple[bytes, str], Job] = {}  # requests not yet answered, in arrival order
        self._unfinished: dict[int, Job] = {}  # jobs no worker thread has reported stopped, by serial
        self._serials = itertools.count(1)
        self._init_loop()
        self._outbox = OUTBOX.format(next(_server_numbers))
        self._workers: list[threading.Thread] = []
        self._auth = None
        self.endpoint: str | None = None
        self.stats = {"requests": 0, "errors": 0, "results": 0}
        self._work_ended: float | None = None  # when the last job stopped, until its memory is released

    @property
    def models(self) -> ModelCache:
        return self.handler.models

    # -- lifecycle ------------------------------------------------------------------

    def bind(self) -> str:
        """Bind the ROUTER (checking the security rules) and return the real endpoint."""
        from server.transport.security import bind, check_bind, configure_curve

        check_bind(self.config.endpoint, self.config.insecure, self.config.curve_dir)
        self._router = self.context.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 2000)  # let the last large replies leave
        self._router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        # a peer that declares a larger frame is disconnected before ZeroMQ buffers it
        self._router.setsockopt(zmq.MAXMSGSIZE, protocol.max_frame_bytes(self.config.max_pixels))
        if self.config.curve_dir:
            self._auth = configure_curve(self.context, self._router, self.config.curve_dir)
        try:
            self.endpoint = bind(self._router, self.config.endpoint)
        except zmq.ZMQError:
            self._router.close(0)
            if self._auth is not None:
                self._auth.stop()
            raise
        self._pull = self.context.socket(zmq.PULL)
        self._pull.bind(self._outbox)
        self.bound = self.endpoint
        return self.endpoint

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())

    def serve_forever(self) -> None:
        if self.endpoint is None:
            self.bind()
        for number in range(self.config.workers):
            thread = threading.Thread(target=self._worker, name=f"worker-{number}", daemon=True)
            thread.start()
            self._workers.append(thread)
        self.handler.prepare()  # the slow imports happen here, before the first message, not while answering one
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        self._ready.set()
        log.info("serving on %s (device %s)", self.endpoint, self.config.device)
        try:
            while not self._stop.is_set():
                events = dict(poller.poll(100))
                if self._router in events:
                    self._drain_router()
                if self._pull in events:
                    self._drain_outbox()
                now = time.monotonic()
                self._expire_deadlines(now)
                self._heartbeat(now)
                self._release_memory_when_idle(now)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        """Answer everything pending with ``shutdown``, stop the workers, close the sockets."""
        for job in list(self._in_flight.values()):
            job.cancelled.set()
            self._send_final(job, Reply.error(job.request.id, "shutdown", "the server is shutting down"))
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        for _ in self._workers:
            try:
                self._jobs.put_nowait(None)
            except queue.Full:
                break
        for thread in self._workers:
            thread.join(timeout=2.0)
        self._router.close(linger=2000)
        self._pull.close(linger=0)
        if self._auth is not None:
            self._auth.stop()

    # -- the I/O thread -----------------------------------------------------------------

    def _drain_router(self) -> None:
        for _ in range(256):  # bounded, so replies are not starved by a flood of requests
            try:
                message = self._router.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            identity = message[0].bytes
            frames = [frame.buffer for frame in message[1:]]
            try:
                self._handle(identity, frames)
            except Exception:  # a bug must cost one message, never the thread that owns the socket
                log.exception("a message could not be handled")
                request_id = protocol.readable_id(frames[0]) if frames else None
                self._send(
                    identity, protocol.encode_error(request_id, "internal", "the server failed to handle this message")
                )

    def _handle(self, identity: bytes, frames: list[memoryview]) -> None:
        self.stats["requests"] += 1
        try:
            request = protocol.parse_request(frames, max_pixels=self.config.max_pixels,
                                             segmenters=self.handler.segmenter_names())
        except protocol.ProtocolError as exc:
            self.stats["errors"] += 1
            self._send(identity, protocol.encode_error(exc.request_id, exc.code, exc.message))
            return
        if request.op == "ping":
            self._send(identity, protocol.encode_result(request.id, pong=True))
        elif request.op == "hello":
            self._send(identity, protocol.encode_result(request.id, **self.handler.hello(self._queue_state())))
        elif request.op == "cancel":
            job = self._in_flight.get((identity, request.target or ""))
            if job is not None:
                self._stop_job(job, "cancelled", "cancelled by the client")
            self._send(identity, protocol.encode_result(request.id, cancelled=job is not None))
        else:
            self._enqueue(identity, request)

    def _enqueue(self, identity: bytes, request: protocol.Request) -> None:
        key = (identity, request.id)
        if key in self._in_flight:
            self.stats["errors"] += 1
            self._send(
                identity,
                protocol.encode_error(request.id, "duplicate_id", f"request {request.id!r} is still in flight"),
            )
            return
        now = time.monotonic()
        limit = request.time_limit(self.config.request_timeout)
        # the pixel frame is a view of ZeroMQ's buffer; the worker decodes it later
        job = Job(identity, request, now + limit, serial=next(self._serials), last_sent=now)
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            retry = max(1.0, self.config.queue_size * 0.5)
            self._send(
                identity,
                protocol.encode_error(
                    request.id, "busy", f"the server's queue of {self.config.queue_size} is full", retry_after=retry
                ),
            )
            return
        self._in_flight[key] = job
        self._unfinished[job.serial] = job

    def _stop_job(self, job: Job, code: str, message: str) -> None:
        """Cancel a job: answered now if it still waits, else once its worker thread has stopped it."""
        if job.answer is not None:
            return  # already stopping
        job.cancelled.set()  # before looking at 'started': the worker sets 'started', then looks at 'cancelled'
        reply = Reply.error(job.request.id, code, message)
        if job.started.is_set():
            job.answer, job.stage = reply, "stopping"
        else:
            self._send_final(job, reply)

    def _drain_outbox(self) -> None:
        for _ in range(1024):
            try:
                message = self._pull.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            job = self._unfinished.get(int.from_bytes(message[0].bytes, "big"))
            if job is None:
                continue
            kind, reply = message[1].bytes, [frame.buffer for frame in message[2:]]
            if kind == PROGRESS:
                if self._in_flight.get(job.key) is job and job.answer is None:
                    header = json.loads(bytes(reply[0]))
                    job.stage, job.fraction = header["stage"], header["fraction"]
                    job.last_sent = time.monotonic()
                    self._send(job.identity, reply)
                continue
            del self._unfinished[job.serial]  # a final reply or STOPPED: no work runs for it any more
            self._work_ended = time.monotonic()
            if job.answer is None and kind == STOPPED:  # the worker saw the deadline pass before this thread did
                job.answer = Reply.error(job.request.id, "deadline", "the request ran past its deadline")
            self._send_final(job, job.answer or Reply(reply, ok=kind == RESULT))

    def _send_final(self, job: Job, reply: Reply) -> None:
        if self._in_flight.get(job.key) is not job:
            return  # already answered (cancelled while queued, shutdown): never twice
        del self._in_flight[job.key]
        self.stats["results" if reply.ok else "errors"] += 1
        self._send(job.identity, reply.frames)

    def _send(self, identity: bytes, reply: list) -> None:
        try:
            self._router.send_multipart([identity, *reply], copy=False)
        except zmq.ZMQError as exc:  # client gone: nothing to do
            log.debug("could not reply to a client: %s", exc)

    def _expire_deadlines(self, now: float) -> None:
        for job in [j for j in self._in_flight.values() if j.deadline <= now and j.answer is None]:
            self._stop_job(job, "deadline", "the request ran past its deadline")

    def _release_memory_when_idle(self, now: float) -> None:
        """Hand freed memory back to the system once no job has run for :data:`IDLE_RELEASE_SECONDS`."""
        if self._work_ended is None or self._unfinished or now - self._work_ended < IDLE_RELEASE_SECONDS:
            return
        self._work_ended = None
        release_freed_memory()

    def _heartbeat(self, now: float) -> None:
        """A progress for every unanswered request that heard nothing for a heartbeat: the server is alive."""
        ahead = 0
        for job in list(self._in_flight.values()):
            waiting = not job.started.is_set()
            if now - job.last_sent >= protocol.HEARTBEAT_SECONDS:
                if waiting:
                    reply = protocol.encode_progress(job.request.id, "queued", 0.0, ahead=ahead)
                else:
                    reply = protocol.encode_progress(job.request.id, job.stage, job.fraction)
                job.last_sent = now
                self._send(job.identity, reply)
            ahead += waiting

    # -- the queue, as hello reports it ---------------------------------------------------------

    def _queue_state(self) -> dict[str, int]:
        """``in_flight``: requests accepted and not answered, plus answered ones whose work has not stopped yet."""
        running = {serial for serial, job in self._unfinished.items() if job.started.is_set()}
        return {
            "size": self.config.queue_size,
            "waiting": sum(1 for job in self._in_flight.values() if not job.started.is_set()),
            "running": len(running),
            "in_flight": len(running | {job.serial for job in self._in_flight.values()}),
        }

    # -- workers ------------------------------------------------------------------------------

    def _worker(self) -> None:
        outbox = self.context.socket(zmq.PUSH)
        outbox.setsockopt(zmq.LINGER, 0)
        outbox.connect(self._outbox)
        try:
            while True:
                job = self._jobs.get()
                if job is None or self._stop.is_set():
                    return
                job.started.set()  # then 'cancelled' is read: see _stop_job
                self._run_job(job, outbox)
        finally:
            outbox.close()

    def _run_job(self, job: Job, outbox: zmq.Socket) -> None:
        """Run one job, then tell the I/O thread exactly once that its work stopped (with the reply, if any)."""
        serial = job.serial.to_bytes(8, "big")
        last = {"stage": None, "fraction": -1.0, "time": 0.0}

        def progress(stage: str, fraction: float) -> None:
            if job.cancelled.is_set() or time.monotonic() > job.deadline:
                raise Cancelled()
            now = time.monotonic()
            # throttle: a stage change, 2 % more, or 0.2 s — enough for a progress bar
            if stage != last["stage"] or fraction - last["fraction"] >= 0.02 or now - last["time"] > 0.2:
                last.update(stage=stage, fraction=fraction, time=now)
                outbox.send_multipart([serial, PROGRESS, *protocol.encode_progress(job.request.id, stage, fraction)])

        reply: Reply | None = None
        try:
            if not job.cancelled.is_set():
                reply = self.handler.process(job.request, progress)
        except Cancelled:
            reply = None  # the I/O thread has (or will have) the answer
        except Exception as exc:  # a bug must cost one request, never the worker thread
            reply = self.handler.error_reply(job.request, exc)
        kind = STOPPED if reply is None else RESULT if reply.ok else ERROR
        try:
            outbox.send_multipart([serial, kind, *(reply.frames if reply else [])], copy=False)
        except Exception:  # the context is closing: the I/O thread answers 'shutdown'
            log.exception("request %r: could not report its end", job.request.id)
