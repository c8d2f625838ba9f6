"""Where a cut-out runs — in this process or at a server — behind one call, for the CLI, ``eval`` and batches.

A *cutter* is ``cut(rgb, segmenter, options) -> CutoutResult``: :func:`local` runs
:func:`server.pipeline.cutout.run_cutout` here, :func:`remote` sends the photo to a server (or a
broker) and turns its reply's frames back into the same arrays. A failure that every photo would
meet (an unknown segmenter, a wrong option, missing weights, no server) is a :class:`CutoutRefused`,
so a folder stops at the first photo instead of failing each one; anything else is the photo's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from server.pipeline.cutout import CutoutResult

Cutter = Callable[[np.ndarray, "str | None", "dict[str, Any]"], CutoutResult]

#: server error codes that no other photo would escape
REFUSED_CODES = frozenset({"unknown_segmenter", "bad_option", "weights_missing", "unreachable", "timeout",
                           "bad_version", "shutdown"})


class CutoutRefused(Exception):
    """The request cannot run for any photo: the message says why in one line."""


def local(device: str = "auto", preload: Iterable[str | None] = (), capacity: int = 2) -> Cutter:
    """A cutter running the pipeline in this process; ``preload`` loads segmenters now (None: the default),
    so no photo's time includes loading."""
    from models import registry
    from models.base import OptionError, WeightsMissingError
    from server.pipeline.cutout import run_cutout
    from server.pipeline.devices import resolve
    from server.pipeline.model_cache import ModelCache

    refused = (WeightsMissingError, registry.UnknownSegmenterError, OptionError)
    try:
        cache = ModelCache(resolve(device), capacity=capacity)
        for name in preload:
            cache.get(name or registry.default_name())
    except (ValueError, *refused) as exc:
        raise CutoutRefused(str(exc)) from None

    def cut(rgb: np.ndarray, segmenter: str | None, options: dict[str, Any]) -> CutoutResult:
        try:
            return run_cutout(rgb, segmenter, options, cache)
        except refused as exc:
            raise CutoutRefused(str(exc)) from None

    return cut


def remote(endpoint: str, curve: tuple[bytes, bytes, bytes] | None = None, silence_timeout: float | None = None) -> Cutter:
    """A cutter asking the server at ``endpoint``; one connection for every photo."""
    from cutout_common import protocol
    from cutout_common.client import Client, ServerError

    # frames as views of ZeroMQ's buffers: numpy reads them in place
    client = Client(endpoint, curve=curve, silence_timeout=silence_timeout or protocol.SILENCE_SECONDS, copy_frames=False)

    def cut(rgb: np.ndarray, segmenter: str | None, options: dict[str, Any]) -> CutoutResult:
        height, width = rgb.shape[:2]
        try:
            reply = client.cutout(np.ascontiguousarray(rgb).data, width, height, "RGB8", segmenter=segmenter, options=options)
        except ServerError as exc:
            if exc.code in REFUSED_CODES:
                raise CutoutRefused(str(exc)) from None
            raise
        return result_from_reply(reply, width, height)

    return cut


def result_from_reply(reply, width: int, height: int) -> CutoutResult:
    """Numpy arrays back from a ``result`` reply's named frames."""
    frames = reply.frames

    def plane(data: bytes | memoryview, channels: int = 1) -> np.ndarray:
        shape = (height, width) if channels == 1 else (height, width, channels)
        return np.frombuffer(data, np.uint8).reshape(shape)

    foreground = plane(frames["foreground"], 3).astype(np.float32) / 255.0 if "foreground" in frames else None
    return CutoutResult(
        segmenter=reply.header.get("segmenter", ""),
        alpha=plane(frames["mask"]).astype(np.float32) / 255.0,
        foreground=foreground,
        parts={name[5:]: plane(data).astype(np.float32) / 255.0 for name, data in frames.items() if name.startswith("part:")},
        layers={name[6:]: plane(data, 4).copy() for name, data in frames.items() if name.startswith("layer:")},
        info=reply.header.get("info", {}),
    )
