"""The evaluation's outputs: a markdown table on the terminal, and summary/CSV/JSON files and contact sheets."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from PIL import Image

from server.evaluation import metrics
from server.evaluation.evaluate import SIZE_MEASURES, Report
from server.evaluation.metrics import MATTING_MEASURES, REGION_MEASURES
from server.evaluation.sheets import stack_rows

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
    lines += [
        "",
        f"Stray %: mean share of the photo with alpha in [{metrics.SOFT_RANGE[0]:g}, {metrics.SOFT_RANGE[1]:g}] "
        f"farther than {100 * metrics.STRAY_DISTANCE:g} % of the diagonal from the true outline; Smears: photos "
        f"where that share exceeds {100 * metrics.SMEAR_SHARE:g} %.",
        "",
        *outline_lines(summary),
        "",
        size_table(summary),
        *parts_table(summary),
    ]
    return "\n".join(lines)


def parts_table(summary: list[dict]) -> list[str]:
    """For a set that labels parts: per model, the share of each group's pixels kept (pooled over the photos) and
    the mean share of the cut-out outside the true person; nothing for a set without parts."""
    groups = [g for g in metrics.PART_GROUPS if any(row.get(f"{g}_kept") is not None for row in summary)]
    if not groups:
        return []
    counts = {g: max(row.get(f"{g}_photos") or 0 for row in summary) for g in groups}
    lines = ["", "| Model | " + " | ".join(f"{g} kept ({', '.join(metrics.PART_GROUPS[g])}; {counts[g]} photos)"
                                           for g in groups) + " | Outside % |",
             "|---|" + "---:|" * (len(groups) + 1)]
    for row in summary:
        cells = [_fmt(row.get(f"{g}_kept"), 3) for g in groups]
        cells.append(_fmt(None if row.get("outside") is None else 100 * row["outside"], 2))
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    lines += ["", "Kept: the share of the labelled pixels of each group the cut-out keeps (≥ 0.5), over all the "
              "photos; Outside %: the mean share of the cut-out (≥ 0.5) outside the true person."]
    return lines


def outline_lines(summary: list[dict]) -> list[str]:
    """Per model: the IoU its masks would score with the outline moved a pixel out or in, and on how many photos
    that beats them — where out wins on most, the truth is drawn outside the network's 0.5 contour."""
    lines = []
    for row in summary:
        if row.get("iou_grown") is None:
            continue
        lines.append(f"Outline ({row['model']}): 1 px out IoU {row['iou_grown']:.3f}, better on {row['grown_better']} "
                     f"of {row['photos']} photos; 1 px in {row['iou_shrunk']:.3f}, better on {row['shrunk_better']}.")
    return lines


def size_table(summary: list[dict]) -> str:
    """Per model and person size class (share of the photo the true person covers): photos, mean IoU and F1."""
    low, high = (f"{100 * limit:g} %" for limit in metrics.SIZE_LIMITS)
    heading = " | ".join(
        f"{size}: photos | " + " | ".join(HEADINGS[k] for k in SIZE_MEASURES) for size in metrics.SIZE_CLASSES
    )
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
        extra = ("stray", "iou_grown", "iou_shrunk", "outside",
                 *(f"{group}_{count}" for group in metrics.PART_GROUPS for count in ("kept", "pixels")))
        writer.writerow(["model", "photo", "width", "height", "truth", "size", "seconds", "cpu_seconds", *keys, *extra])
        for r in report.results:
            scores = [r.scores.get(k, "") for k in (*keys, *extra)]
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
