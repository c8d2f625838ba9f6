"""``python -m server eval``'s engine: every model on every photo with ground truth, scored per photo.

Each model is a segmenter name, optionally with its own options (``NAME:JSON``), so one run can put a
network with and without a step side by side. Predictions come from the same pipeline the server runs,
in-process or from a running server (:mod:`server.transport.cutters`), or from any function given as
``predictors`` (a network that is not a registered segmenter). Unreadable files and photos without
ground truth are listed and skipped; a failure every photo would meet stops the run. The dataset is
:mod:`.dataset`, the measures :mod:`.metrics`, the outputs :mod:`.report` and :mod:`.sheets`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from server.evaluation import metrics, sheets
from server.evaluation.dataset import DatasetError, find_pairs, load_sample, part_labels, read_parts
from server.evaluation.metrics import MATTING_MEASURES, REGION_MEASURES
from server.transport import cutters

Predictor = Callable[[np.ndarray], np.ndarray]


class EvalError(Exception):
    """The evaluation cannot run at all (no photos, unknown model, missing weights, no server)."""


@dataclass
class ModelSpec:
    """One column of the comparison: a segmenter (None: the default) and its options."""

    label: str
    segmenter: str | None
    options: dict[str, Any]


@dataclass
class PhotoResult:
    model: str
    photo: str
    width: int
    height: int
    truth: str  # "binary" or "alpha"
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time: steadier than wall time on a busy machine
    scores: dict[str, float]
    size: str = ""  # the true person's size class (metrics.person_size)


#: measures reported per person size class
SIZE_MEASURES = ("iou", "f1")


@dataclass
class Report:
    data: str
    models: list[ModelSpec]
    results: list[PhotoResult] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: per model label: the worst photos as (iou, stem, contact-sheet row), best first
    worst: dict[str, list[tuple[float, str, np.ndarray]]] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        """Per model: photo count, mean of every measure, stray soft alpha (mean share, photos with smears),
        IoU with the outline 1 px out and 1 px in (and on how many photos each beats the mask as it is),
        count, IoU and F1 per person size class, seconds per photo and per megapixel."""
        rows = []
        for spec in self.models:
            mine = [r for r in self.results if r.model == spec.label]
            row: dict[str, Any] = {"model": spec.label, "photos": len(mine)}
            for key in REGION_MEASURES + MATTING_MEASURES:
                values = [r.scores[key] for r in mine if key in r.scores]
                row[key] = float(np.mean(values)) if values else None
            outside = [r.scores["outside"] for r in mine if "outside" in r.scores]
            row["outside"] = float(np.mean(outside)) if outside else None
            for group in metrics.PART_GROUPS:  # pooled over the photos: the share of all such pixels kept
                pixels = sum(r.scores.get(f"{group}_pixels", 0.0) for r in mine)
                kept = sum(r.scores.get(f"{group}_kept", 0.0) for r in mine)
                row[f"{group}_kept"] = kept / pixels if pixels else None
                row[f"{group}_photos"] = sum(f"{group}_pixels" in r.scores for r in mine)
            strays = [r.scores["stray"] for r in mine if "stray" in r.scores]
            row["stray"] = float(np.mean(strays)) if strays else None
            row["smears"] = sum(share > metrics.SMEAR_SHARE for share in strays) if strays else None
            for shift in ("grown", "shrunk"):  # which way the outline would move to agree (metrics.outline_offset_ious)
                pairs = [(r.scores[f"iou_{shift}"], r.scores["iou"]) for r in mine if f"iou_{shift}" in r.scores]
                row[f"iou_{shift}"] = float(np.mean([moved for moved, _ in pairs])) if pairs else None
                row[f"{shift}_better"] = sum(moved > as_is for moved, as_is in pairs) if pairs else None
            for size in metrics.SIZE_CLASSES:
                sized = [r for r in mine if r.size == size]
                row[f"{size}_photos"] = len(sized)
                for key in SIZE_MEASURES:
                    row[f"{size}_{key}"] = float(np.mean([r.scores[key] for r in sized])) if sized else None
            megapixels = sum(r.width * r.height for r in mine) / 1e6
            for prefix, seconds in (("", sum(r.seconds for r in mine)), ("cpu_", sum(r.cpu_seconds for r in mine))):
                row[f"{prefix}s_per_photo"] = seconds / len(mine) if mine else None
                row[f"{prefix}s_per_mp"] = seconds / megapixels if megapixels else None
            rows.append(row)
        return rows


def parse_json(text: str | None, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise EvalError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise EvalError(f"{what} must be a JSON object")
    return value


def parse_models(models: Iterable[str] | None, common: dict[str, Any]) -> list[ModelSpec]:
    """``NAME`` or ``NAME:JSON`` strings → specs; ``common`` options under each model's own."""
    if not models:
        return [ModelSpec("default", None, dict(common))]
    specs = []
    for text in models:
        name, _, own = text.partition(":")
        options = {**common, **parse_json(own, f"options of {name}")} if own else dict(common)
        specs.append(ModelSpec(text, None if name == "default" else name, options))
    return specs


def predictors_for(specs: list[ModelSpec], connect: str | None, device: str) -> dict[str, Predictor]:
    """One predictor per model: the cut-out's mask, in-process (models loaded now) or from the server at ``connect``."""
    try:
        if connect:
            cut = cutters.remote(connect)
        else:
            cut = cutters.local(device, preload=[spec.segmenter for spec in specs], capacity=len(specs))
    except cutters.CutoutRefused as exc:
        raise EvalError(str(exc)) from None
    return {spec.label: lambda rgb, s=spec: cut(rgb, s.segmenter, s.options).alpha for spec in specs}


# -- the evaluation -------------------------------------------------------------------------


def photo_pairs(data: Path | str, limit: int | None = None) -> tuple[list, list[dict[str, str]]]:
    """(photo/mask pairs of ``data``, the first ``limit`` when given; files skipped) or :class:`EvalError`."""
    try:
        pairs, skipped = find_pairs(Path(data))
    except DatasetError as exc:
        raise EvalError(str(exc)) from None
    pairs = pairs[:limit] if limit else pairs
    if not pairs:
        raise EvalError(f"no photo in {data}/images has a mask in {data}/masks")
    return pairs, skipped


def evaluate(
    data: Path,
    specs: list[ModelSpec],
    *,
    limit: int | None = None,
    connect: str | None = None,
    device: str = "auto",
    worst: int = 8,
    progress: bool = False,
    predictors: dict[str, Predictor] | None = None,
) -> Report:
    """Run every model on every photo of ``data``; per-photo scores, skipped files, worst photos.

    ``predictors`` (label → function from RGB to soft mask) replaces the pipeline, e.g. for a
    network that is not a registered segmenter.
    """
    from tqdm import tqdm

    pairs, skipped = photo_pairs(data, limit)
    names = part_labels(Path(data))
    if predictors is None:
        predictors = predictors_for(specs, connect, device)
    report = Report(str(data), specs, skipped=skipped)
    bar = tqdm(total=len(pairs) * len(specs), unit="cut-out", disable=None if progress else True, file=sys.stderr)
    for pair in pairs:
        try:
            rgb, truth, alpha = load_sample(pair)
        except Exception as exc:  # any unreadable file is reported, never fatal
            report.skipped.append({"file": f"{pair.image} / {pair.mask.name}", "reason": _reason(exc)})
            bar.update(len(specs))
            continue
        for spec in specs:
            bar.set_postfix_str(f"{spec.label} {pair.stem}", refresh=False)
            try:
                start, cpu_start = time.perf_counter(), time.process_time()
                pred = predictors[spec.label](rgb)
                seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
            except Exception as exc:
                if isinstance(exc, cutters.CutoutRefused):
                    bar.close()
                    raise EvalError(f"{spec.label}: {exc}") from None
                report.skipped.append({"file": str(pair.image), "model": spec.label, "reason": _reason(exc)})
                bar.update(1)
                continue
            scores = metrics.photo_metrics(pred, truth, alpha_truth=alpha)
            parts = read_parts(pair, truth.shape) if names else None
            if parts is not None:
                scores |= metrics.parts_kept(pred, parts, names)
            height, width = truth.shape
            report.results.append(
                PhotoResult(
                    spec.label, pair.stem, width, height, "alpha" if alpha else "binary", seconds, cpu_seconds, scores,
                    metrics.person_size(truth),
                )
            )
            if worst > 0:
                sheets.keep_worst(
                    report.worst.setdefault(spec.label, []), worst, scores["iou"], pair.stem, rgb, truth, pred
                )
            bar.update(1)
    bar.close()
    return report


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
