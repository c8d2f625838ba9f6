"""Where a cut-out runs — in this process or at a server — behind one call, for the CLI, ``eval`` and batches.

A *cutter* is ``cut(rgb, segmenter, options, *, mask=None, hints=None) -> CutoutResult``: :func:`local` runs
:func:`server.pipeline.cutout.run_cutout` here, :func:`remote` sends the photo to a server (or a
broker) and turns its reply's frames back into the same arrays. ``mask`` (H×W uint8) is a mask to
start from instead of segmenting (the option ``mask: alpha``, sent as the image's alpha channel) and
``hints`` (H×W uint8) the artist's hints (the option ``hints``, sent as its GRAY8 frame). A failure that
every photo would meet (an unknown segmenter, a wrong option, missing weights, no server) is a
:class:`CutoutRefused`, so a folder stops at the first photo instead of failing each one; anything else is
the photo's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from server.pipeline.cutout import CutoutResult


class Cutter(Protocol):
    def __call__(
        self,
        rgb: np.ndarray,
        segmenter: str | None,
        options: dict[str, Any],
        *,
        mask: np.ndarray | None = None,
        hints: np.ndarray | None = None,
    ) -> CutoutResult: ...


def with_mask_and_hints(options: dict[str, Any], mask: np.ndarray | None, hints: np.ndarray | None) -> dict[str, Any]:
    """The request's options when it starts from ``mask`` and/or carries ``hints``."""
    options = dict(options)
    if mask is not None:
        options["mask"] = "alpha"
    if hints is not None:
        options["hints"] = True
    return options

#: server error codes that no other photo would escape
REFUSED_CODES = frozenset({"unknown_segmenter", "bad_option", "weights_missing", "unreachable", "timeout",
                           "bad_version", "shutdown"})


class CutoutRefused(Exception):
    """The request cannot run for any photo: the message says why in one line."""


def local(device: str = "auto", preload: Iterable[str | None] = (), capacity: int = 2) -> Cutter:
    """A cutter running the pipeline in this process; ``preload`` loads segmenters now (None: the default, as
    every photo resolves it), so no photo's time includes loading."""
    from models import registry
    from models.base import OptionError, WeightsMissingError
    from server.pipeline.cutout import run_cutout
    from server.pipeline.devices import resolve
    from server.pipeline.model_cache import ModelCache

    refused = (WeightsMissingError, registry.UnknownSegmenterError, OptionError)
    try:
        cache = ModelCache(resolve(device), capacity=capacity)
        for name in preload:
            cache.get(cache.resolve(name))
    except (ValueError, *refused) as exc:
        raise CutoutRefused(str(exc)) from None

    def cut(rgb: np.ndarray, segmenter: str | None, options: dict[str, Any], *,
            mask: np.ndarray | None = None, hints: np.ndarray | None = None) -> CutoutResult:
        try:
            return run_cutout(rgb, segmenter, with_mask_and_hints(options, mask, hints), cache,
                              given_alpha=mask, hints=hints)
        except refused as exc:
            raise CutoutRefused(str(exc)) from None

    return cut


def remote(
    endpoint: str, curve: tuple[bytes, bytes, bytes] | None = None, silence_timeout: float | None = None
) -> Cutter:
    """A cutter asking the server at ``endpoint``; one connection for every photo."""
    from cutout_common import protocol
    from cutout_common.client import Client, ServerError

    # frames as views of ZeroMQ's buffers: numpy reads them in place
    client = Client(
        endpoint, curve=curve, silence_timeout=silence_timeout or protocol.SILENCE_SECONDS, copy_frames=False
    )

    def cut(rgb: np.ndarray, segmenter: str | None, options: dict[str, Any], *,
            mask: np.ndarray | None = None, hints: np.ndarray | None = None) -> CutoutResult:
        height, width = rgb.shape[:2]
        image, fmt = (rgb, "RGB8") if mask is None else (np.dstack([rgb, mask]), "RGBA8")
        extra = {} if hints is None else {"hints": np.ascontiguousarray(hints, np.uint8).data}
        try:
            reply = client.cutout(np.ascontiguousarray(image).data, width, height, fmt, segmenter=segmenter,
                                  options=with_mask_and_hints(options, mask, None), **extra)
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
        parts={
            name[5:]: plane(data).astype(np.float32) / 255.0
            for name, data in frames.items()
            if name.startswith("part:")
        },
        layers={name[6:]: plane(data, 4).copy() for name, data in frames.items() if name.startswith("layer:")},
        info=reply.header.get("info", {}),
    )
