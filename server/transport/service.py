"""The ZeroMQ server: one thread owns the ROUTER socket, worker threads run the models.

ZeroMQ sockets are not thread-safe, so only the I/O thread touches the ROUTER.
Workers hand their replies (progress and results) back through an inproc PUSH →
PULL pair, and the I/O thread forwards them. The I/O thread also keeps the
table of requests in flight, which makes "exactly one final reply per request"
a local rule: a final reply for a request no longer in the table (cancelled,
past its deadline, answered at shutdown) is dropped.
"""

from __future__ import annotations

import itertools
import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from cutout_common import options, protocol, vocabulary
from models import registry
from models.base import OptionError, WeightsMissingError
from server import __version__
from server.pipeline import pixels
from server.pipeline.cutout import CutoutResult, run_cutout
from server.pipeline.model_cache import ModelCache, SegmenterFactory

log = logging.getLogger("person_cutout.server")

OUTBOX = "inproc://person-cutout-outbox-{}"
_server_numbers = itertools.count()


class Cancelled(Exception):
    """Raised inside a worker when its request was cancelled or ran out of time."""


@dataclass
class Job:
    identity: bytes
    request: protocol.Request
    deadline: float
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> tuple[bytes, str]:
        return self.identity, self.request.id


@dataclass
class ServerConfig:
    endpoint: str = "tcp://127.0.0.1:5555"
    device: str = "cpu"
    max_pixels: int = protocol.DEFAULT_MAX_PIXELS
    queue_size: int = 8
    workers: int = 1
    request_timeout: float = 600.0
    model_capacity: int = 2
    insecure: bool = False
    curve_dir: str | None = None


class Server:
    """``serve_forever()`` until ``stop()`` (or SIGINT/SIGTERM when installed)."""

    def __init__(
        self,
        config: ServerConfig,
        factory: SegmenterFactory | None = None,
        names: list[str] | None = None,
        context: zmq.Context | None = None,
    ):
        """``factory``/``names`` replace the model registry (benchmarks and tests use this)."""
        self.config = config
        self._names = names
        self.context = context or zmq.Context.instance()
        self.models = ModelCache(config.device, config.model_capacity, factory=factory or registry.create)
        self._factory = factory
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=config.queue_size)
        self._in_flight: dict[tuple[bytes, str], Job] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._outbox = OUTBOX.format(next(_server_numbers))
        self._workers: list[threading.Thread] = []
        self._auth = None
        self.endpoint: str | None = None
        self.stats = {"requests": 0, "errors": 0, "results": 0}

    # -- lifecycle ------------------------------------------------------------------

    def bind(self) -> str:
        """Bind the ROUTER (checking the security rules) and return the real endpoint."""
        from server.transport.security import check_bind, configure_curve

        check_bind(self.config.endpoint, self.config.insecure, self.config.curve_dir)
        self._router = self.context.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 2000)  # let the last large replies leave
        self._router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        if self.config.curve_dir:
            self._auth = configure_curve(self.context, self._router, self.config.curve_dir)
        self._router.bind(self.config.endpoint)
        self.endpoint = self._router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._pull = self.context.socket(zmq.PULL)
        self._pull.bind(self._outbox)
        return self.endpoint

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())

    def stop(self) -> None:
        self._stop.set()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self._ready.wait(timeout)

    def serve_forever(self) -> None:
        if self.endpoint is None:
            self.bind()
        for number in range(self.config.workers):
            thread = threading.Thread(target=self._worker, name=f"worker-{number}", daemon=True)
            thread.start()
            self._workers.append(thread)
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
                self._expire_deadlines()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        """Answer everything pending with ``shutdown``, stop the workers, close the sockets."""
        for job in list(self._in_flight.values()):
            job.cancelled.set()
            self._send_final(job.key, protocol.encode_error(job.request.id, "shutdown", "the server is shutting down"))
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
            self._handle(identity, frames)

    def _handle(self, identity: bytes, frames: list[memoryview]) -> None:
        self.stats["requests"] += 1
        try:
            request = protocol.parse_request(frames, max_pixels=self.config.max_pixels, segmenters=self._segmenter_names())
        except protocol.ProtocolError as exc:
            self.stats["errors"] += 1
            self._send(identity, protocol.encode_error(exc.request_id, exc.code, exc.message))
            return
        if request.op == "ping":
            self._send(identity, protocol.encode_result(request.id, pong=True))
        elif request.op == "hello":
            self._send(identity, protocol.encode_result(request.id, **self.hello()))
        elif request.op == "cancel":
            job = self._in_flight.get((identity, request.target or ""))
            if job is not None:
                job.cancelled.set()
                self._send_final(job.key, protocol.encode_error(job.request.id, "cancelled", "cancelled by the client"))
            self._send(identity, protocol.encode_result(request.id, cancelled=job is not None))
        else:
            self._enqueue(identity, request)

    def _enqueue(self, identity: bytes, request: protocol.Request) -> None:
        key = (identity, request.id)
        if key in self._in_flight:  # a client's retry of a request still running: it will get that answer
            return
        # the pixel frame is a view of ZeroMQ's buffer; the worker decodes it later
        deadline = time.monotonic() + _request_timeout(request, self.config.request_timeout)
        job = Job(identity, request, deadline)
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            retry = max(1.0, self.config.queue_size * 0.5)
            self._send(
                identity,
                protocol.encode_error(request.id, "busy", f"the server's queue of {self.config.queue_size} is full", retry_after=retry),
            )
            return
        self._in_flight[key] = job

    def _drain_outbox(self) -> None:
        for _ in range(1024):
            try:
                message = self._pull.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            identity, request_id, final = message[0].bytes, message[1].bytes.decode(), message[2].bytes == b"1"
            reply = [frame.buffer for frame in message[3:]]
            if final:
                self._send_final((identity, request_id), reply)
            elif (identity, request_id) in self._in_flight:
                self._send(identity, reply)

    def _send_final(self, key: tuple[bytes, str], reply: list) -> None:
        if self._in_flight.pop(key, None) is None:
            return  # already answered (cancel, deadline, shutdown): never twice
        if reply and b'"type":"error"' in bytes(reply[0][:200]):
            self.stats["errors"] += 1
        else:
            self.stats["results"] += 1
        self._send(key[0], reply)

    def _send(self, identity: bytes, reply: list) -> None:
        try:
            self._router.send_multipart([identity, *reply], copy=False)
        except zmq.ZMQError as exc:  # client gone: nothing to do
            log.debug("could not reply to a client: %s", exc)

    def _expire_deadlines(self) -> None:
        now = time.monotonic()
        for job in [j for j in self._in_flight.values() if j.deadline <= now]:
            job.cancelled.set()
            self._send_final(job.key, protocol.encode_error(job.request.id, "deadline", "the request ran past its deadline"))

    # -- hello ----------------------------------------------------------------------------

    def _segmenter_names(self) -> list[str]:
        return self._names if self._names is not None else registry.names()

    def hello(self) -> dict[str, Any]:
        from server.pipeline.devices import describe

        segmenters = []
        for name in self._segmenter_names():
            try:
                segmenter = (self._factory or registry.create)(name, "cpu", self.models.weights)
                missing = segmenter.missing_weights()
                info = vocabulary.SEGMENTERS.get(name)
                segmenters.append(
                    {
                        "name": name,
                        "title": segmenter.title,
                        "licence": segmenter.licence,
                        "notices": list(info.notices) if info else [],
                        "installed": not missing,
                        "install": f"python install.py --models {info.install_models if info else name}",
                        "options": options.describe(segmenter.options),
                    }
                )
            except Exception as exc:  # a broken optional module must not break hello
                segmenters.append({"name": name, "title": name, "licence": "", "installed": False, "problem": str(exc)})
        installed = [s["name"] for s in segmenters if s["installed"]]
        order = [n for n in registry.DEFAULT_ORDER if n in installed] or installed
        default = order[0] if order else None
        info: dict[str, Any] = {
            "server": f"person-cutout {__version__}",
            "protocol": protocol.VERSION,
            "device": describe(self.config.device),
            "default": default,
            "segmenters": segmenters,
            "max_pixels": self.config.max_pixels,
            "formats": list(protocol.PIXEL_FORMATS),
            "ops": list(protocol.OPS),
            "edges": list(options.by_name(vocabulary.PIPELINE_OPTIONS)["edges"].values),
            "options": options.describe(vocabulary.PIPELINE_OPTIONS),
            "queue": {"size": self.config.queue_size, "waiting": self._jobs.qsize(), "in_flight": len(self._in_flight)},
        }
        if default != registry.DEFAULT_ORDER[0]:
            info["notice"] = (
                f"the default segmenter '{registry.DEFAULT_ORDER[0]}' is not installed; "
                f"using '{default}' (run: python install.py)"
            )
        try:
            from server import comic

            info["comic_styles"] = comic.styles()
        except (ImportError, AttributeError):
            pass
        return info

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
                if job.cancelled.is_set():
                    continue
                self._run_job(job, outbox)
        finally:
            outbox.close()

    def _run_job(self, job: Job, outbox: zmq.Socket) -> None:
        request = job.request
        head = [job.identity, request.id.encode()]
        last = {"stage": None, "fraction": -1.0, "time": 0.0}

        def progress(stage: str, fraction: float) -> None:
            if job.cancelled.is_set() or time.monotonic() > job.deadline:
                raise Cancelled()
            now = time.monotonic()
            # throttle: a stage change, 2 % more, or 0.2 s — enough for a progress bar
            if stage != last["stage"] or fraction - last["fraction"] >= 0.02 or now - last["time"] > 0.2:
                last.update(stage=stage, fraction=fraction, time=now)
                outbox.send_multipart([*head, b"0", *protocol.encode_progress(request.id, stage, fraction)])

        try:
            reply = self._process(request, progress)
        except Cancelled:
            return  # the I/O thread has answered already
        except protocol.ProtocolError as exc:
            reply = protocol.encode_error(request.id, exc.code, exc.message)
        except registry.UnknownSegmenterError as exc:
            reply = protocol.encode_error(request.id, "unknown_segmenter", str(exc))
        except WeightsMissingError as exc:
            reply = protocol.encode_error(request.id, "weights_missing", str(exc), segmenter=exc.segmenter)
        except OptionError as exc:
            reply = protocol.encode_error(request.id, "bad_option", str(exc))
        except MemoryError:
            reply = protocol.encode_error(request.id, "internal", "the server ran out of memory for this image")
        except Exception as exc:  # a bug must cost one request, not the server
            log.exception("request %s failed", request.id)
            reply = protocol.encode_error(request.id, "internal", f"{type(exc).__name__}: {exc}")
        outbox.send_multipart([*head, b"1", *reply], copy=False)

    def _process(self, request: protocol.Request, progress) -> list:
        image = pixels.decode(request.pixels, request.width, request.height, request.format, request.stride)
        rgb = pixels.to_rgb(image)
        if request.op == "instances":  # the default segmenter's people unless the request names another
            name = request.segmenter or (self._names[0] if self._names else registry.default_name(self.models.weights))
            segmenter = self.models.get(name)
            if not hasattr(segmenter, "instances"):
                raise OptionError(f"segmenter '{segmenter.name}' does not list instances; 'people' and 'maskrcnn' do")
            return protocol.encode_result(request.id, instances=segmenter.instances(rgb, dict(request.options)))
        options = dict(request.options)
        if request.op == "comic":
            options.setdefault("comic", options.pop("style", "cartoon"))
        segmenter = request.segmenter or (self._names[0] if self._names else None)
        alpha = image[:, :, -1] if image.shape[2] in (2, 4) else None  # for the option mask=alpha
        result = run_cutout(rgb, segmenter, options, self.models, progress, given_alpha=alpha)
        progress("encode", 1.0)
        return protocol.encode_result(request.id, result_frames(result), segmenter=result.segmenter, info=result.info)


def result_frames(result: CutoutResult) -> list[tuple[dict[str, Any], bytes]]:
    """The named frames of a cut-out result, mask first."""
    height, width = result.alpha.shape
    frames = [(protocol.frame_description("mask", "GRAY8", width, height), pixels.alpha_to_gray8(result.alpha).tobytes())]
    if result.foreground is not None:
        colour = pixels.colour_to_rgb8(result.foreground)
        frames.append((protocol.frame_description("foreground", "RGB8", width, height), colour.tobytes()))
    if result.composite is not None:
        frames.append((protocol.frame_description("composite", "RGB8", width, height), result.composite.tobytes()))
    for name, part in result.parts.items():
        frames.append((protocol.frame_description(f"part:{name}", "GRAY8", width, height), pixels.alpha_to_gray8(part).tobytes()))
    for name, layer in result.layers.items():
        frames.append((protocol.frame_description(f"layer:{name}", "RGBA8", width, height), layer.tobytes()))
    return frames


def _request_timeout(request: protocol.Request, default: float) -> float:
    """The client may ask for a shorter deadline (``timeout`` seconds in the header), never a longer one."""
    asked = request.header.get("timeout")
    if isinstance(asked, (int, float)) and not isinstance(asked, bool) and asked > 0:
        return min(float(asked), default)
    return default
