"""Request handling: a parsed request in, its final reply out — ``hello``, and the image ops through the pipeline.

No sockets here (:mod:`server.transport.service` moves the messages, queues the jobs and keeps the
heartbeats): :meth:`RequestHandler.process` decodes the pixels, runs :func:`server.pipeline.cutout.run_cutout`
(or lists the people, for ``instances``) and encodes the result; :meth:`RequestHandler.error_reply` turns
what a request raised into its protocol error. A :class:`Reply` says whether it is a result or an error,
so the transport never reads the encoded bytes to know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from cutout_common import options, protocol, vocabulary
from cutout_common.protocol import ProgressFn
from models import registry
from models.base import OptionError, Segmenter, WeightsMissingError
from server import __version__
from server.pipeline import pixels
from server.pipeline.cutout import CutoutResult, run_cutout
from server.pipeline.model_cache import ModelCache

log = logging.getLogger("person_cutout.server")


@dataclass(frozen=True)
class Reply:
    """A final reply: its frames as sent, and whether it is a ``result`` (``ok``) or an ``error``."""

    frames: list
    ok: bool

    @classmethod
    def result(cls, request_id: str, frames: list[tuple[dict[str, Any], Any]] | None = None, **fields: Any) -> Reply:
        return cls(protocol.encode_result(request_id, frames, **fields), ok=True)

    @classmethod
    def error(cls, request_id: str | None, code: str, message: str, **fields: Any) -> Reply:
        return cls(protocol.encode_error(request_id, code, message, **fields), ok=False)


class RequestHandler:
    """What the server answers; ``models`` holds the segmenters it offers (its names, factory and weights) and loads
    them as requests need them."""

    def __init__(self, models: ModelCache, device: str, max_pixels: int):
        self.models = models
        self.device = device
        self.max_pixels = max_pixels
        self._catalogue: list[tuple[str, Segmenter | None, str]] | None = None

    def segmenter_names(self) -> list[str]:
        return self.models.names

    def prepare(self) -> None:
        """The slow imports (every segmenter's module, the comic renderer), done before the first message rather than
        while answering one, where they would hold every client's messages and heartbeats."""
        self.catalogue()
        try:
            from server import comic  # noqa: F401 - for hello's comic styles
        except ImportError:
            pass

    def catalogue(self) -> list[tuple[str, Segmenter | None, str]]:
        """(name, unloaded segmenter or None, problem) of every segmenter, for ``hello``; built once."""
        if self._catalogue is None:
            entries = []
            for name in self.segmenter_names():
                try:
                    entries.append((name, self.models.create(name), ""))
                except Exception as exc:  # a broken optional module must not break hello
                    entries.append((name, None, str(exc)))
            self._catalogue = entries
        return self._catalogue

    def hello(self, queue: dict[str, int]) -> dict[str, Any]:
        """What this server offers; ``default`` is what a request naming no segmenter runs (None: none installed)."""
        from server.pipeline.devices import describe

        segmenters = [_describe(name, segmenter, problem) for name, segmenter, problem in self.catalogue()]
        installed = {s["name"] for s in segmenters if s["installed"]}
        resolved = self.models.resolve(None)
        default = resolved if resolved in installed else None
        info: dict[str, Any] = {
            "server": f"person-cutout {__version__}",
            "protocol": protocol.VERSION,
            "device": describe(self.device),
            "default": default,
            "segmenters": segmenters,
            "max_pixels": self.max_pixels,
            "formats": list(protocol.PIXEL_FORMATS),
            "ops": list(protocol.OPS),
            "edges": list(options.by_name(vocabulary.PIPELINE_OPTIONS)["edges"].values),
            "options": options.describe(vocabulary.PIPELINE_OPTIONS),
            "queue": queue,
        }
        first = vocabulary.default_order(self.segmenter_names())[0]
        if default != first:
            using = f"using '{default}'" if default else "no segmenter is"
            info["notice"] = (f"the default segmenter '{first}' is not installed; {using} "
                              f"(run: {vocabulary.install_command()})")
        try:
            from server import comic

            info["comic_styles"] = comic.styles()
        except (ImportError, AttributeError):
            pass
        return info

    def process(self, request: protocol.Request, progress: ProgressFn) -> Reply:
        """The result of an image request; raises what stops it (see :meth:`error_reply`), and whatever ``progress``
        raises to cancel it."""
        image = pixels.decode(request.pixels, request.width, request.height, request.format, request.stride)
        rgb = pixels.to_rgb(image)
        if request.op == "instances":
            return Reply.result(request.id, instances=self.instances(rgb, request.segmenter, dict(request.options)))
        request_options = dict(request.options)
        if request.op == "comic":
            request_options.setdefault("comic", request_options.pop("style", "cartoon"))
        alpha = image[:, :, -1] if image.shape[2] in (2, 4) else None  # for the option mask=alpha
        hints = None  # the frame's size was checked by parse_request
        if request.hints is not None:
            hints = np.frombuffer(request.hints, np.uint8).reshape(request.height, request.width)
        result = run_cutout(rgb, request.segmenter, request_options, self.models, progress, given_alpha=alpha,
                            hints=hints)
        progress("encode", 1.0)
        return Reply.result(request.id, result_frames(result), segmenter=result.segmenter, info=result.info)

    def instances(self, rgb: np.ndarray, segmenter: str | None, request_options: dict[str, Any]) -> list[dict]:
        """The people the segmenter (the request's, else the default) finds; refused for one that lists none."""
        name = self.models.resolve(segmenter)
        if not vocabulary.capabilities(name).instances:
            listing = " and ".join(f"'{n}'" for n in vocabulary.with_capability("instances"))
            raise OptionError(f"segmenter '{name}' does not list instances; {listing} do")
        return self.models.get(name).instances(rgb, request_options)

    def error_reply(self, request: protocol.Request, exc: Exception) -> Reply:
        """The ``error`` reply for a request that raised ``exc``; never raises itself."""
        try:
            if isinstance(exc, protocol.ProtocolError):
                return Reply.error(request.id, exc.code, exc.message)
            if isinstance(exc, registry.UnknownSegmenterError):
                return Reply.error(request.id, "unknown_segmenter", str(exc))
            if isinstance(exc, WeightsMissingError):
                return Reply.error(request.id, "weights_missing", str(exc), segmenter=exc.segmenter)
            if isinstance(exc, OptionError):
                return Reply.error(request.id, "bad_option", str(exc))
            if isinstance(exc, MemoryError):
                return Reply.error(request.id, "internal", "the server ran out of memory for this image")
            log.error("request %r failed", request.id, exc_info=exc)
            return Reply.error(request.id, "internal", f"{type(exc).__name__}: {exc}")
        except Exception:
            log.exception("request %r: its error could not be described", request.id)
            return Reply.error(request.id, "internal", "the server failed while handling the request")


def _describe(name: str, segmenter: Segmenter | None, problem: str) -> dict[str, Any]:
    """One segmenter as ``hello`` lists it."""
    if segmenter is None:  # a broken optional module must not break hello
        return {"name": name, "title": name, "licence": "", "installed": False, "problem": problem}
    info = vocabulary.SEGMENTERS.get(name)
    return {
        "name": name,
        "title": segmenter.title,
        "licence": segmenter.licence,
        "notices": list(info.notices) if info else [],
        "installed": not segmenter.missing_weights(),
        "install": vocabulary.install_command([name]),
        "options": options.describe(segmenter.options),
    }


def result_frames(result: CutoutResult) -> list[tuple[dict[str, Any], np.ndarray]]:
    """The named frames of a cut-out result, mask first: C-contiguous uint8 arrays.

    The arrays themselves are the frames: ZeroMQ sends them from their own memory (``copy=False``
    all the way to the client's socket), so no ``tobytes()`` copy is made of any.
    """
    height, width = result.alpha.shape
    frames = [(protocol.frame_description("mask", "GRAY8", width, height), pixels.alpha_to_gray8(result.alpha))]
    if result.foreground is not None:
        colour = pixels.colour_to_rgb8(result.foreground)
        frames.append((protocol.frame_description("foreground", "RGB8", width, height), colour))
    if result.composite is not None:
        composite = np.ascontiguousarray(result.composite)
        frames.append((protocol.frame_description("composite", "RGB8", width, height), composite))
    for name, part in result.parts.items():
        frames.append((protocol.frame_description(f"part:{name}", "GRAY8", width, height), pixels.alpha_to_gray8(part)))
    for name, layer in result.layers.items():
        frames.append((protocol.frame_description(f"layer:{name}", "RGBA8", width, height),
                       np.ascontiguousarray(layer)))
    return frames
