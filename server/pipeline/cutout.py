"""One cut-out, start to finish, on numpy arrays: segment → refine by hints → edges → comic layers → composite.

The server, the CLI and ``eval`` all run this same function, so a photo cut out in GIMP, on the
command line or in an evaluation gets the same pixels. The stages live in their own modules: the
request's options (:mod:`.cutout_options`), the segmenter with its CPU fallback
(:mod:`.device_fallback`), the hints (:mod:`.refine`), the edge matting (:mod:`.edges`), the comic
layers (:mod:`server.comic`) and the picture over a colour (:mod:`.compositing`); this module orders
them and reports their progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.base import OptionError, Prediction, ProgressFn, no_progress
from server.pipeline.compositing import composite
from server.pipeline.cutout_options import PipelineOptions, check_hints, for_segmenter, given_mask, parse_options
from server.pipeline.device_fallback import predict_with_fallback
from server.pipeline.model_cache import ModelCache, default_cache


@dataclass
class CutoutResult:
    """Everything one cut-out produced, at the photo's size."""

    segmenter: str
    alpha: np.ndarray  # H×W float32 in [0, 1]
    foreground: np.ndarray | None = None  # H×W×3 float32 in [0, 1]
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # H×W float32
    layers: dict[str, np.ndarray] = field(default_factory=dict)  # H×W×4 uint8 (comic)
    composite: np.ndarray | None = None  # H×W×3 uint8 over the requested background
    info: dict[str, Any] = field(default_factory=dict)


def run_cutout(
    rgb: np.ndarray,
    segmenter: str | None,
    options: dict[str, Any] | None,
    models: ModelCache,
    progress: ProgressFn = no_progress,
    given_alpha: np.ndarray | None = None,
    hints: np.ndarray | None = None,
) -> CutoutResult:
    """Cut the person out of ``rgb`` (H×W×3 uint8) with ``segmenter`` (None: the default, as ``models`` resolves it).

    ``given_alpha`` (H×W uint8, the sent image's alpha channel) is the person's mask
    when the option ``mask`` is ``alpha``; no segmenter runs on the whole photo then.
    ``hints`` (H×W uint8: 255 person, 0 not person, else no hint) redoes the mask where they
    contradict it; the option ``hints``, when given, says they must be there.
    Raises ``UnknownSegmenterError``, ``WeightsMissingError`` or ``OptionError``
    for requests that cannot run; the caller turns them into protocol errors.
    """
    opts = parse_options(options)
    check_hints(rgb, hints, opts.hints)
    if opts.mask == "alpha":
        name, prediction, fallback = "alpha", Prediction(alpha=given_mask(rgb, given_alpha)), None
    else:
        name = models.resolve(segmenter)
        progress("load", 0.0)
        # colours only for a caller that gets them or the comic layers that paint with them: a layer mask (the
        # plug-in's default) leaves out three of a matting network's four full-size planes
        colours = opts.foreground or opts.comic is not None
        prediction, fallback = predict_with_fallback(rgb, name, for_segmenter(name, opts.segmenter_options), models,
                                                     progress, colours)
    result = CutoutResult(segmenter=name, alpha=prediction.alpha, info=dict(prediction.info))
    if fallback:
        result.info["fallback"] = fallback
    if opts.foreground:
        result.foreground = prediction.foreground
    if opts.parts:
        result.parts = prediction.parts
    if hints is not None:
        result.alpha = _refine(rgb, result.alpha, hints, segmenter, models, progress)
    person_colours = prediction.foreground  # the comic layers use them whether or not the client asked for them
    if opts.edges != "off":
        colours = _matte_edges(rgb, result, prediction, opts, hints, progress)
        if colours is not None:
            person_colours = colours
    if opts.comic is not None:
        result.layers = _comic_layers(rgb, result.alpha, opts.comic, person_colours, progress)
    if opts.background is not None:
        result.composite = composite(rgb, result.alpha, result.foreground, opts.background)
    return result


def _refine(
    rgb: np.ndarray,
    alpha: np.ndarray,
    hints: np.ndarray,
    segmenter: str | None,
    models: ModelCache,
    progress: ProgressFn,
) -> np.ndarray:
    """The mask redone under the hints, with the segmenter (the request's, else the default) re-run on crops.

    Its own options are not passed to crops: a point chosen on the photo (``person``) means nothing there.
    The network is resolved and loaded on the first crop, so hints the mask already agrees with load nothing.
    """
    from server.pipeline.refine import refine_with_hints, segmenter_evidence

    evidence = []

    def segment(crop: np.ndarray) -> np.ndarray:
        if not evidence:
            evidence.append(segmenter_evidence(models.get(models.resolve(segmenter))))
        return evidence[0](crop)

    return refine_with_hints(rgb, alpha, hints, segment=segment, progress=progress)


def _matte_edges(
    rgb: np.ndarray,
    result: CutoutResult,
    prediction: Prediction,
    opts: PipelineOptions,
    hints: np.ndarray | None,
    progress: ProgressFn,
) -> np.ndarray | None:
    """The edge band of ``result``'s mask matted again, in place; returns the person's colours when it estimated
    them. The artist's hint pixels stay as painted."""
    from server.pipeline import edges

    progress("edges", 0.0)
    hair = prediction.parts.get("Hair")
    result.alpha, colours = edges.matte_edges(rgb, result.alpha, opts.edges, hair=hair, progress=progress)
    if colours is not None and opts.foreground:
        result.foreground = colours
    if hints is not None:
        from server.pipeline.refine import pin_hints

        pin_hints(result.alpha, hints)
    progress("edges", 1.0)
    return colours


def _comic_layers(
    rgb: np.ndarray, alpha: np.ndarray, comic_option: dict[str, Any], colours: np.ndarray | None, progress: ProgressFn
) -> dict[str, np.ndarray]:
    from server import comic

    progress("comic", 0.0)
    params = {k: v for k, v in comic_option.items() if k not in ("style", "soft_edges")}
    try:
        layers = comic.render(rgb, alpha, comic_option["style"], params, comic_option.get("soft_edges", True),
                              progress=progress, foreground=colours)
    except (KeyError, TypeError, ValueError) as exc:
        raise OptionError(f"comic: {exc}") from exc
    progress("comic", 1.0)
    return layers


def predict_mask(rgb: np.ndarray, segmenter: str | None = None, options: dict[str, Any] | None = None) -> np.ndarray:
    """The soft person mask (H×W float32 in [0, 1]) the full pipeline gives for ``rgb``."""
    return run_cutout(rgb, segmenter, options, default_cache()).alpha
