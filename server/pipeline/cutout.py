"""One cut-out, start to finish, on numpy arrays: segment → refine edges → comic layers.

The server, the CLI and ``eval`` all run this same function, so a photo cut out
in GIMP, on the command line or in an evaluation gets the same pixels.

Options (a JSON object on the wire) read here; every other key goes to the
segmenter (e.g. ``view`` for ``rvm``, ``selection`` for ``maskrcnn``):

* ``edges`` — ``off`` (default) | ``fast`` | ``best``: alpha matting in the edge band;
* ``foreground`` — bool, default true: return decontaminated colours when known;
* ``parts`` — bool, default false: return part masks (``parsing``);
* ``comic`` — a style name or ``{"style": name, ...parameters}``: comic layers; ``"soft_edges":
  false`` clips the layers to the mask instead of multiplying by it (for a client that masks them);
* ``background`` — ``black``, ``white`` or ``#rrggbb``: also return the cut-out composited
  over that colour (frame ``composite``), computed here so GIMP needs no pixel arithmetic;
* ``mask`` — ``segment`` (default) | ``alpha``: take the person's mask from the sent image's
  alpha channel instead of running a segmenter (GIMP's Comic Layers on a layer that already
  has a mask the artist refined by hand);
* ``hints`` — bool: a hints image comes with the photo (``run_cutout``'s ``hints``; on the wire a
  GRAY8 frame after the pixels). The mask, segmented or given, is redone where the hints
  contradict it (:mod:`server.pipeline.refine`), before the edges and comic stages, so they work
  on the corrected mask; hint pixels stay hard (0 or 1) through the edges stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import ImageColor

from cutout_common.options import by_name, check_options
from cutout_common.vocabulary import PIPELINE_OPTIONS
from models import registry
from models.base import OptionError, Prediction, ProgressFn, no_progress
from server.pipeline.model_cache import ModelCache


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


@dataclass
class PipelineOptions:
    edges: str = "off"
    foreground: bool = True
    parts: bool = False
    comic: dict[str, Any] | None = None
    background: str | None = None
    mask: str = "segment"
    hints: bool = False
    segmenter_options: dict[str, Any] = field(default_factory=dict)


def parse_options(options: dict[str, Any] | None) -> PipelineOptions:
    """Split the pipeline's options (checked against :data:`PIPELINE_OPTIONS`) from the segmenter's.

    A wrong type or value raises :class:`OptionError`; the segmenter checks its own share later.
    """
    options = dict(options or {})
    ours = {name: options.pop(name) for name in by_name(PIPELINE_OPTIONS) if name in options}
    return PipelineOptions(**check_options(PIPELINE_OPTIONS, ours, "the pipeline"), segmenter_options=options)


def run_cutout(
    rgb: np.ndarray,
    segmenter: str | None,
    options: dict[str, Any] | None,
    models: ModelCache,
    progress: ProgressFn = no_progress,
    given_alpha: np.ndarray | None = None,
    hints: np.ndarray | None = None,
) -> CutoutResult:
    """Cut the person out of ``rgb`` (H×W×3 uint8).

    ``given_alpha`` (H×W uint8, the sent image's alpha channel) is the person's mask
    when the option ``mask`` is ``alpha``; no segmenter runs on the whole photo then.
    ``hints`` (H×W uint8: 255 person, 0 not person, else no hint) redoes the mask where they
    contradict it; the option ``hints``, when given, says they must be there.
    Raises ``UnknownSegmenterError``, ``WeightsMissingError`` or ``OptionError``
    for requests that cannot run; the caller turns them into protocol errors.
    """
    opts = parse_options(options)
    _check_hints(rgb, hints, opts.hints)
    if opts.mask == "alpha":
        if given_alpha is None:
            raise OptionError("option 'mask': 'alpha' needs an image with an alpha channel (RGBA8 or GRAYA8)")
        if given_alpha.shape != rgb.shape[:2]:
            raise OptionError(f"the given mask is {given_alpha.shape[1]}×{given_alpha.shape[0]}, the photo "
                              f"{rgb.shape[1]}×{rgb.shape[0]}")
        name = "alpha"
        prediction, fallback = Prediction(alpha=given_alpha.astype(np.float32) / 255.0), None
    else:
        name = segmenter or registry.default_name(models.weights)
        progress("load", 0.0)
        prediction, fallback = _predict(rgb, name, opts, models, progress)
    result = CutoutResult(segmenter=name, alpha=prediction.alpha, info=dict(prediction.info))
    if fallback:
        result.info["fallback"] = fallback
    if opts.foreground:
        result.foreground = prediction.foreground
    if opts.parts:
        result.parts = prediction.parts

    if hints is not None:
        result.alpha = _refine(rgb, result.alpha, hints, segmenter, opts, models, progress)

    person_colours = prediction.foreground  # the comic layers use them whether or not the client asked for them
    if opts.edges != "off":
        from server.pipeline import edges

        progress("edges", 0.0)
        hair = prediction.parts.get("Hair")
        alpha, colours = edges.matte_edges(rgb, result.alpha, opts.edges, hair=hair, progress=progress)  # refined by hints
        result.alpha = alpha
        if colours is not None:
            person_colours = colours
            if opts.foreground:
                result.foreground = colours
        if hints is not None:  # the artist's pixels stay as painted
            from server.pipeline.refine import pin_hints

            pin_hints(result.alpha, hints)
        progress("edges", 1.0)

    if opts.comic is not None:
        from server import comic

        progress("comic", 0.0)
        params = {k: v for k, v in opts.comic.items() if k not in ("style", "soft_edges")}
        try:
            result.layers = comic.render(
                rgb, result.alpha, opts.comic["style"], params, opts.comic.get("soft_edges", True), progress=progress,
                foreground=person_colours,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OptionError(f"comic: {exc}") from exc
        progress("comic", 1.0)
    if opts.background is not None:
        result.composite = composite(rgb, result.alpha, result.foreground, opts.background)
    return result


def _check_hints(rgb: np.ndarray, hints: np.ndarray | None, announced: bool) -> None:
    """A hints image of the photo's size in uint8, and one whenever the option ``hints`` says so: checked
    before any network runs."""
    if hints is None:
        if announced:
            raise OptionError("option 'hints' is true but no hints image came with the photo")
        return
    if hints.dtype != np.uint8 or hints.shape != rgb.shape[:2]:
        raise OptionError(
            f"the hints image must be one byte per pixel at the photo's size {rgb.shape[1]}×{rgb.shape[0]}, "
            f"got {hints.dtype} {'×'.join(str(n) for n in hints.shape[::-1])}"
        )


def _refine(
    rgb: np.ndarray,
    alpha: np.ndarray,
    hints: np.ndarray,
    segmenter: str | None,
    opts: PipelineOptions,
    models: ModelCache,
    progress: ProgressFn,
) -> np.ndarray:
    """The mask redone under the hints, with the segmenter (the request's, else the default) re-run on crops.

    Its own options are not passed to crops: a point chosen on the photo (``person``) means nothing there.
    The network is loaded on the first crop, so hints the mask already agrees with load nothing.
    """
    from server.pipeline.refine import refine_with_hints, segmenter_evidence

    def evidence(crop: np.ndarray) -> np.ndarray:
        return segmenter_evidence(models.get(segmenter or registry.default_name(models.weights)))(crop)

    return refine_with_hints(rgb, alpha, hints, segment=evidence, progress=progress)


def _predict(
    rgb: np.ndarray, name: str, opts: PipelineOptions, models: ModelCache, progress: ProgressFn
) -> tuple[Prediction, str | None]:
    """Run the segmenter; on accelerator out-of-memory (loading it or running it), free the cache and retry on the CPU.

    torch reports it as a ``RuntimeError`` saying "out of memory" (``torch.OutOfMemoryError`` on CUDA, a plain one
    from MPS); on the CPU the error stands.
    """
    try:
        segmenter = models.get(name)
        progress("segment", 0.0)
        return segmenter.predict(rgb, opts.segmenter_options, lambda s, f: progress(s or "segment", f)), None
    except RuntimeError as exc:
        if "out of memory" not in str(exc).lower() or models.device == "cpu":
            raise
    models.free_memory()
    segmenter = models.get(name, "cpu")
    progress("segment (cpu fallback)", 0.0)
    prediction = segmenter.predict(rgb, opts.segmenter_options, progress)
    return prediction, f"ran on the CPU after the {models.device} device ran out of memory"


_default_cache: ModelCache | None = None


def default_cache() -> ModelCache:
    """A process-wide cache for in-process callers (CLI, eval, tests)."""
    global _default_cache
    if _default_cache is None:
        from server.pipeline.devices import resolve

        _default_cache = ModelCache(resolve("auto"))
    return _default_cache


def predict_mask(rgb: np.ndarray, segmenter: str | None = None, options: dict[str, Any] | None = None) -> np.ndarray:
    """The soft person mask (H×W float32 in [0, 1]) the full pipeline gives for ``rgb``."""
    return run_cutout(rgb, segmenter, options, default_cache()).alpha


def composite(
    rgb: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None = None, background: str = "transparent"
) -> np.ndarray:
    """The cut-out as an image: RGBA on transparent, or RGB over a solid colour.

    Uses the decontaminated ``foreground`` colours where alpha is soft, so no halo
    of the old background shows on black (the original platform's output).
    """
    colours = rgb.astype(np.float32) / 255.0 if foreground is None else foreground.astype(np.float32)
    a = alpha.astype(np.float32)[..., None]
    if background == "transparent":
        rgba = np.concatenate([colours, a], axis=2)
        return np.clip(np.rint(rgba * 255.0), 0, 255).astype(np.uint8)
    fill = np.asarray(parse_colour(background), dtype=np.float32) / 255.0
    out = colours * a + fill * (1.0 - a)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour as Pillow reads it (``black``, ``white``, ``#rrggbb``, …); ``ValueError`` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"a colour is a name or #rrggbb, not {text!r}")
    return ImageColor.getrgb(text)[:3]
