"""``python -m server eval``: cut-out quality on a folder of photos with ground truth.

    python -m server eval --data DIR [--model NAME ...] [--out REPORT_DIR] [--connect ENDPOINT]
                          [--options JSON] [--limit N] [--worst N] [--device DEV]

``DIR`` holds ``images/`` and ``masks/``, matched by file stem (``images/7.jpg`` ↔ ``masks/7.png``).
A mask whose pixels are all 0 or one other value is a binary person mask; one with intermediate
values is an alpha matte, which adds the matting measures (SAD, MSE, gradient). Ground truth of
another size with the photo's aspect ratio is resized to the photo. Files that cannot be read, or
photos without ground truth, are listed and skipped.

Each ``--model`` is a segmenter name, optionally with its own options as ``NAME:JSON``
(``'selfie:{"flip": true}'``), so one run can put a network with and without a step side by side;
``--options`` applies to every model. Predictions come from the same pipeline the server runs
(:func:`server.pipeline.cutout.run_cutout`) in-process, or from a running server with ``--connect``.

Output: a markdown table (one row per model, means over the photos, with the share of the photo
covered by stray soft alpha and the number of photos that have grey smears), a second table by
person size (small / medium / large: the share of the photo the true person covers), on the
terminal, and with
``--out``: ``summary.md``, ``summary.csv``, ``photos.csv`` (every photo × model), ``report.json``
(all of it, plus the skipped files) and ``worst-<model>.png``, a contact sheet of the photos
with the lowest IoU: photo | truth | prediction | error (red: person claimed where there is
none, cyan: person missed). Measures and their conventions: :mod:`server.evaluation.metrics`.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

from server.evaluation import metrics

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: measures in table order; the matting ones only appear when some truth is an alpha matte
REGION_MEASURES = ("precision", "recall", "f1", "iou", "boundary_f", "mae")
MATTING_MEASURES = ("sad", "mse", "gradient")
#: measures reported per person size class
SIZE_MEASURES = ("iou", "f1")
HEADINGS = {
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "iou": "IoU",
    "boundary_f": "Boundary F",
    "mae": "MAE",
    "sad": "SAD",
    "mse": "MSE",
    "gradient": "Grad",
}
#: relative aspect-ratio difference up to which ground truth of another size is resized
ASPECT_TOLERANCE = 0.01
#: height of one contact-sheet panel, pixels
THUMB_HEIGHT = 200
#: request errors that would fail for every photo: stop instead of skipping photo after photo
FATAL_CODES = {"unknown_segmenter", "bad_option", "weights_missing", "unreachable", "bad_version"}

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
        count, IoU and F1 per person size class, seconds per photo and per megapixel."""
        rows = []
        for spec in self.models:
            mine = [r for r in self.results if r.model == spec.label]
            row: dict[str, Any] = {"model": spec.label, "photos": len(mine)}
            for key in REGION_MEASURES + MATTING_MEASURES:
                values = [r.scores[key] for r in mine if key in r.scores]
                row[key] = float(np.mean(values)) if values else None
            strays = [r.scores["stray"] for r in mine if "stray" in r.scores]
            row["stray"] = float(np.mean(strays)) if strays else None
            row["smears"] = sum(share > metrics.SMEAR_SHARE for share in strays) if strays else None
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


# -- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``eval`` command's flags (registered by :mod:`server.commands.main`)."""
    parser.add_argument("--data", type=Path, required=True, help="folder with images/ and masks/ matched by stem")
    parser.add_argument(
        "--model", "--models", dest="models", nargs="+", default=None, metavar="NAME[:JSON]",
        help='segmenters side by side, each optionally with its own options, e.g. selfie \'selfie:{"flip":true}\' '
        "(default: the default segmenter)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, metavar="REPORT_DIR", help="write tables, CSV, JSON, sheets")
    parser.add_argument(
        "--connect", default=None, metavar="ENDPOINT", help="ask a running server instead of in-process"
    )
    parser.add_argument(
        "--options", default="{}", metavar="JSON", help='options for every model, e.g. \'{"edges": "fast"}\''
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N photos (by name)")
    parser.add_argument("--worst", type=int, default=8, metavar="N", help="photos on each contact sheet (default 8)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (in-process only)")


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the report files; one-line errors for what cannot run."""
    from server.commands.errors import CliError

    try:
        specs = parse_models(args.models, parse_json(args.options, "--options"))
        report = evaluate(
            Path(args.data), specs, limit=args.limit, connect=args.connect,
            device=getattr(args, "device", "auto"), worst=getattr(args, "worst", 8), progress=True,
        )  # fmt: skip
    except EvalError as exc:
        raise CliError(str(exc)) from None
    print(markdown_table(report))
    for item in report.skipped:
        print(f"skipped {item['file']}: {item['reason']}", file=sys.stderr)
    if args.out:
        for path in write_report(report, Path(args.out)):
            print(f"wrote {path}")
    return 0


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


# -- ground truth ---------------------------------------------------------------------------


@dataclass
class Pair:
    stem: str
    image: Path
    mask: Path


def find_pairs(data: Path) -> tuple[list[Pair], list[dict[str, str]]]:
    """Photos and masks matched by stem, sorted by stem; the unmatched ones as skipped entries."""
    images, masks = data / "images", data / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise EvalError(f"{data} must hold images/ and masks/ folders")
    photos = _by_stem(images)
    truths = _by_stem(masks)
    pairs = [Pair(stem, photos[stem], truths[stem]) for stem in sorted(photos) if stem in truths]
    skipped = [{"file": str(photos[s]), "reason": "no mask with this name"} for s in sorted(photos) if s not in truths]
    skipped += [
        {"file": str(truths[s]), "reason": "no photo with this name"} for s in sorted(truths) if s not in photos
    ]
    return pairs, skipped


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            found.setdefault(path.stem, path)
    return found


def read_truth(path: Path) -> tuple[np.ndarray, bool]:
    """(truth H×W float32 in [0, 1], is it an alpha matte); binary when only 0 and one other value occur."""
    with Image.open(path) as image:
        if image.mode in ("I", "I;16", "I;16B", "I;16L"):
            values = np.asarray(image, dtype=np.float32) / 65535.0
        elif image.mode == "F":
            values = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        else:
            values = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    levels = np.unique(values)
    if len(levels) == 1 or (len(levels) == 2 and levels[0] == 0.0):  # {v} or {0, v}: 0/1 or 0/255 masks
        return (values >= levels[-1] / 2).astype(np.float32) if levels[-1] > 0 else values, False
    return values, True


def fit_truth(truth: np.ndarray, alpha: bool, height: int, width: int) -> np.ndarray | None:
    """Ground truth at the photo's size; None when the aspect ratios differ (a different picture)."""
    h, w = truth.shape
    if (h, w) == (height, width):
        return truth
    if abs((w / h) / (width / height) - 1.0) > ASPECT_TOLERANCE:
        return None
    shrink = h * w > height * width
    resized = cv2.resize(truth, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return resized if alpha else (resized >= 0.5).astype(np.float32)


def load_sample(pair: Pair) -> tuple[np.ndarray, np.ndarray, bool]:
    """(RGB uint8 photo, truth at its size, alpha?); raises ValueError/OSError for unusable files."""
    truth, alpha = read_truth(pair.mask)
    with Image.open(pair.image) as image:
        image.load()
        rgb = np.asarray(image.convert("RGB"))
        fitted = fit_truth(truth, alpha, *rgb.shape[:2])
        if fitted is None:  # masks drawn on the photo as displayed: try its EXIF orientation
            rotated = ImageOps.exif_transpose(image)
            if rotated.size != image.size:
                rgb = np.asarray(rotated.convert("RGB"))
                fitted = fit_truth(truth, alpha, *rgb.shape[:2])
    if fitted is None:
        raise ValueError(f"mask is {truth.shape[1]}×{truth.shape[0]}, photo {rgb.shape[1]}×{rgb.shape[0]}")
    return rgb, fitted, alpha


# -- predictions ----------------------------------------------------------------------------


def in_process_predictors(specs: list[ModelSpec], device: str) -> dict[str, Predictor]:
    """One predictor per model through the server's own pipeline, models loaded up front."""
    from models import registry
    from models.base import WeightsMissingError
    from server.pipeline.cutout import run_cutout
    from server.pipeline.devices import resolve
    from server.pipeline.model_cache import ModelCache

    try:
        cache = ModelCache(resolve(device), capacity=len(specs))
    except ValueError as exc:
        raise EvalError(str(exc)) from None
    predictors = {}
    for spec in specs:
        name = spec.segmenter or registry.default_name()
        try:
            cache.get(name)  # load now, so no photo's time includes loading
        except (registry.UnknownSegmenterError, WeightsMissingError) as exc:
            raise EvalError(str(exc)) from None
        predictors[spec.label] = lambda rgb, n=name, o=spec.options: run_cutout(rgb, n, o, cache).alpha
    return predictors


def server_predictors(specs: list[ModelSpec], endpoint: str) -> dict[str, Predictor]:
    """One predictor per model through a running server; the mask comes back as GRAY8."""
    from cutout_common.client import Client

    client = Client(endpoint)

    def predict(rgb: np.ndarray, spec: ModelSpec) -> np.ndarray:
        height, width = rgb.shape[:2]
        pixels = np.ascontiguousarray(rgb)
        reply = client.cutout(pixels.tobytes(), width, height, "RGB8", segmenter=spec.segmenter, options=spec.options)
        mask = np.frombuffer(reply.frames["mask"], np.uint8).reshape(height, width)
        return mask.astype(np.float32) / 255.0

    return {spec.label: lambda rgb, s=spec: predict(rgb, s) for spec in specs}


def is_fatal(exc: Exception) -> bool:
    """Errors that every photo would hit: wrong option, unknown model, no server."""
    from models.base import OptionError, WeightsMissingError
    from models.registry import UnknownSegmenterError

    if isinstance(exc, (OptionError, WeightsMissingError, UnknownSegmenterError)):
        return True
    return getattr(exc, "code", None) in FATAL_CODES


# -- the evaluation -------------------------------------------------------------------------


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

    pairs, skipped = find_pairs(Path(data))
    pairs = pairs[:limit] if limit else pairs
    if not pairs:
        raise EvalError(f"no photo in {data}/images has a mask in {data}/masks")
    if predictors is None:
        predictors = server_predictors(specs, connect) if connect else in_process_predictors(specs, device)
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
                if is_fatal(exc):
                    bar.close()
                    raise EvalError(f"{spec.label}: {exc}") from None
                report.skipped.append({"file": str(pair.image), "model": spec.label, "reason": _reason(exc)})
                bar.update(1)
                continue
            scores = metrics.photo_metrics(pred, truth, alpha_truth=alpha)
            height, width = truth.shape
            report.results.append(
                PhotoResult(
                    spec.label, pair.stem, width, height, "alpha" if alpha else "binary", seconds, cpu_seconds, scores,
                    metrics.person_size(truth),
                )
            )
            if worst > 0:
                _keep_worst(report.worst.setdefault(spec.label, []), worst, scores["iou"], pair.stem, rgb, truth, pred)
            bar.update(1)
    bar.close()
    return report


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _keep_worst(
    heap: list[tuple[float, str, np.ndarray]], size: int, score: float, stem: str, rgb, truth, pred
) -> None:
    """Keep the ``size`` lowest-IoU photos, as small contact-sheet rows (memory stays bounded)."""
    item = (-score, stem, sheet_row(rgb, truth, pred, f"{stem}  IoU {score:.3f}"))
    if len(heap) < size:
        heapq.heappush(heap, item)
    elif item[0] > heap[0][0]:
        heapq.heapreplace(heap, item)


# -- output ---------------------------------------------------------------------------------


def markdown_table(report: Report) -> str:
    """The summary as markdown: one row per model, means over its photos; then the same by person size."""
    summary = report.summary()
    alpha = any(r.truth == "alpha" for r in report.results)
    keys = REGION_MEASURES + (MATTING_MEASURES if alpha else ())
    photos = {r.photo for r in report.results}
    kinds = sorted({r.truth for r in report.results})
    lines = [
        f"Data: {report.data} — {len(photos)} photos ({', '.join(kinds) or 'none'} ground truth), "
        f"{len(report.skipped)} skipped",
        "",
        "| Model | Photos | " + " | ".join(HEADINGS[k] for k in keys) + " | Stray % | Smears | s/photo | s/MP |",
        "|---|---:|" + "---:|" * (len(keys) + 4),
    ]
    for row in summary:
        cells = [_fmt(row[k], 4 if k in ("mae", "mse") else 3) for k in keys]
        cells += [_fmt(None if row["stray"] is None else 100 * row["stray"], 3), _count(row["smears"])]
        cells += [_fmt(row["s_per_photo"], 3), _fmt(row["s_per_mp"], 3)]
        lines.append(f"| {row['model']} | {row['photos']} | " + " | ".join(cells) + " |")
    lines += ["", f"Stray %: mean share of the photo with alpha in [{metrics.SOFT_RANGE[0]:g}, {metrics.SOFT_RANGE[1]:g}] "
              f"farther than {100 * metrics.STRAY_DISTANCE:g} % of the diagonal from the true outline; Smears: photos "
              f"where that share exceeds {100 * metrics.SMEAR_SHARE:g} %.", "", size_table(summary)]
    return "\n".join(lines)


def size_table(summary: list[dict[str, Any]]) -> str:
    """Per model and person size class (share of the photo the true person covers): photos, mean IoU and F1."""
    low, high = (f"{100 * limit:g} %" for limit in metrics.SIZE_LIMITS)
    heading = " | ".join(f"{size}: photos | " + " | ".join(HEADINGS[k] for k in SIZE_MEASURES) for size in metrics.SIZE_CLASSES)
    lines = [f"By person size (the share of the photo the true person covers: small < {low}, medium < {high}, large):",
             "", f"| Model | {heading} |", "|---|" + "---:|" * (len(metrics.SIZE_CLASSES) * (1 + len(SIZE_MEASURES)))]
    for row in summary:
        cells = []
        for size in metrics.SIZE_CLASSES:
            cells.append(str(row[f"{size}_photos"]))
            cells += [_fmt(row[f"{size}_{key}"], 3) for key in SIZE_MEASURES]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "–" if value is None else str(value)


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def write_report(report: Report, out: Path) -> list[Path]:
    """summary.md, summary.csv, photos.csv, report.json and one contact sheet per model."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "summary.md"
    path.write_text(markdown_table(report) + "\n")
    written.append(path)

    summary = report.summary()
    path = out / "summary.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    written.append(path)

    path = out / "photos.csv"
    keys = REGION_MEASURES + MATTING_MEASURES
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "photo", "width", "height", "truth", "size", "seconds", "cpu_seconds", *keys, "stray"])
        for r in report.results:
            scores = [r.scores.get(k, "") for k in (*keys, "stray")]
            times = [f"{r.seconds:.4f}", f"{r.cpu_seconds:.4f}"]
            writer.writerow([r.model, r.photo, r.width, r.height, r.truth, r.size, *times, *scores])
    written.append(path)

    path = out / "report.json"
    document = {
        "data": report.data,
        "models": [{"label": s.label, "segmenter": s.segmenter, "options": s.options} for s in report.models],
        "summary": summary,
        "photos": [r.__dict__ for r in report.results],
        "skipped": report.skipped,
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    written.append(path)

    for label, heap in report.worst.items():
        rows = [row for _, _, row in sorted(heap, key=lambda item: item[0], reverse=True)]  # worst first
        if rows:
            path = out / f"worst-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label).strip('_')}.png"
            Image.fromarray(stack_rows(rows)).save(path)
            written.append(path)
    return written


def sheet_row(rgb: np.ndarray, truth: np.ndarray, pred: np.ndarray, caption: str) -> np.ndarray:
    """photo | truth | prediction | error, each ``THUMB_HEIGHT`` high; error red = false person, cyan = missed."""
    height, width = truth.shape
    size = (max(1, round(width * THUMB_HEIGHT / height)), THUMB_HEIGHT)
    small = [cv2.resize(np.ascontiguousarray(a), size, interpolation=cv2.INTER_AREA) for a in (rgb, truth, pred)]
    photo, t, p = small[0], small[1].astype(np.float32), small[2].astype(np.float32)
    extra, missed = np.clip(p - t, 0, 1), np.clip(t - p, 0, 1)
    error = np.stack([extra, missed, missed], axis=2)
    error = np.clip(error * 255.0, 0, 255).astype(np.uint8)
    photo = photo.copy()
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(photo, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, thickness, cv2.LINE_AA)
    gap = np.full((THUMB_HEIGHT, 4, 3), 64, np.uint8)
    return np.concatenate([photo, gap, _grey(t), gap, _grey(p), gap, error], axis=1)


def _grey(mask: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(mask * 255.0, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of different widths one under another on a dark background."""
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=32) for r in rows]
    return np.concatenate(padded, axis=0)
