"""``python -m server eval --clicks N``: refine by hand measured as interactive segmentation is.

Each photo is cut out once; then the click simulator (:mod:`.clicks`) clicks ``N`` times, and after
each click the mask is refined with every hint so far by the same pipeline the server runs for GIMP's
*Refine Cut-out…* (option ``mask: alpha`` with the previous round's mask as 8-bit alpha, option
``hints``; in-process or at a running server, :mod:`server.transport.cutters`). Reported: mean IoU
after 0…N clicks, NoC@90 / NoC@95 capped at ``N`` with the photos that never get there, two bounds
(two curves of :func:`.clicks.oracle_refine`, a refine that knows the truth and sets right, whole, every mistake
a click lands on; the second leaves the true outline ±1 px as the masks have it), the grey the refines leave
(stray soft alpha and smears, as ``eval`` measures them, before any click and after the last) and the time
of one refine (wall and this process's CPU). ``--out`` writes ``clicks.md`` and ``clicks.csv`` (one row
per photo: its IoU after each click, so failures can be looked at).
"""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from server.evaluation import clicks as simulator
from server.evaluation.dataset import load_sample
from server.evaluation.evaluate import EvalError, ModelSpec, photo_pairs
from server.evaluation.metrics import SMEAR_SHARE, stray_soft_alpha
from server.pipeline.pixels import alpha_to_gray8
from server.transport import cutters


@dataclass
class ClickPhoto:
    photo: str
    ious: list[float]  # after 0, 1, …, N clicks
    refine_seconds: list[float]  # wall clock of each refine
    refine_cpu_seconds: list[float]  # this process's CPU time of each refine (in-process: the whole refine)
    oracle: list[float] = field(default_factory=list)  # the same clicks answered by clicks.oracle_refine
    stray: tuple[float, float] = (0.0, 0.0)  # metrics.stray_soft_alpha before any click and after the last
    oracle_outline_kept: list[float] = field(default_factory=list)  # ... leaving the true outline ±1 px as it was


@dataclass
class ClickReport:
    data: str
    model: ModelSpec
    clicks: int
    photos: list[ClickPhoto] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> simulator.ClickSummary:
        return simulator.summarise([p.ious for p in self.photos])


def evaluate_clicks(
    data: Path,
    spec: ModelSpec,
    clicks: int,
    *,
    limit: int | None = None,
    connect: str | None = None,
    device: str = "auto",
    progress: bool = False,
) -> ClickReport:
    """The click simulator on every photo of ``data`` with ``spec``'s segmenter and the pipeline's refine."""
    from tqdm import tqdm

    if clicks < 1:
        raise EvalError(f"--clicks must be at least 1, got {clicks}")
    pairs, skipped = photo_pairs(data, limit)
    try:
        cut = cutters.remote(connect) if connect else cutters.local(device, preload=[spec.segmenter])
    except cutters.CutoutRefused as exc:
        raise EvalError(str(exc)) from None
    first_options = {**spec.options, "foreground": False}
    report = ClickReport(str(data), spec, clicks, skipped=list(skipped))
    for pair in tqdm(pairs, unit="photo", disable=None if progress else True, file=sys.stderr):
        try:
            rgb, truth, _ = load_sample(pair)
            initial = cut(rgb, spec.segmenter, first_options).alpha
            photo = ClickPhoto(pair.stem, [], [], [])

            def refine(rgb: np.ndarray, alpha: np.ndarray, hints: np.ndarray, photo: ClickPhoto = photo) -> np.ndarray:
                start, cpu_start = time.perf_counter(), time.process_time()
                out = cut(rgb, spec.segmenter, first_options, mask=alpha_to_gray8(alpha), hints=hints).alpha
                photo.refine_seconds.append(time.perf_counter() - start)
                photo.refine_cpu_seconds.append(time.process_time() - cpu_start)
                return out

            last = [initial]
            photo.ious = simulator.simulate(rgb, truth, initial, refine, clicks,
                                            on_step=lambda step, click, alpha, hints, last=last: last.append(alpha))
            photo.stray = (stray_soft_alpha(initial, truth), stray_soft_alpha(last[-1], truth))
            photo.oracle = simulator.simulate(rgb, truth, initial, simulator.oracle_refine(truth), clicks)
            photo.oracle_outline_kept = simulator.simulate(
                rgb, truth, initial, simulator.oracle_refine(truth, simulator.OUTLINE_BAND), clicks)
        except cutters.CutoutRefused as exc:
            raise EvalError(f"{spec.label}: {exc}") from None
        except Exception as exc:  # an unreadable photo is reported, never fatal
            report.skipped.append({"file": str(pair.image), "reason": f"{type(exc).__name__}: {exc}"})
            continue
        report.photos.append(photo)
    if not report.photos:
        raise EvalError("no photo could be evaluated: " + "; ".join(s["reason"] for s in report.skipped[:3]))
    return report


def format_report(report: ClickReport) -> str:
    """The curve, NoC lines and the refine's time, as ``eval --clicks`` prints them."""
    lines = [f"{report.model.label}, {len(report.photos)} photos, {report.clicks} simulated clicks each", ""]
    lines.append(simulator.format_summary(report.summary()))
    def curve(name: str) -> str:
        return " | ".join(f"{v:.3f}" for v in np.mean([getattr(p, name) for p in report.photos], axis=0))

    lines.append(
        f"bound, a refine that knows the truth and sets right whole every mistake a click lands on: {curve('oracle')}"
    )
    lines.append(f"bound, the same leaving the true outline ±{simulator.OUTLINE_BAND} px as the mask has it: "
                 f"{curve('oracle_outline_kept')}")
    before, after = (np.array([p.stray[k] for p in report.photos]) for k in (0, 1))
    lines.append(f"grey left by the refines: stray soft alpha {100 * before.mean():.3f} % of a photo before any click, "
                 f"{100 * after.mean():.3f} % after the last; smears {np.count_nonzero(before > SMEAR_SHARE)} → "
                 f"{np.count_nonzero(after > SMEAR_SHARE)} photos")
    wall = [s for p in report.photos for s in p.refine_seconds]
    cpu = [s for p in report.photos for s in p.refine_cpu_seconds]
    if wall:
        lines.append(f"one refine: mean {np.mean(wall):.2f} s wall, {np.mean(cpu):.2f} s CPU of this process "
                     f"(median {np.median(wall):.2f} s wall, slowest {max(wall):.2f} s; {len(wall)} refines)")
    return "\n".join(lines)


def write_report(report: ClickReport, out: Path) -> list[Path]:
    """clicks.md (what is printed) and clicks.csv (per photo: IoU after each click, NoC, the refines' time)."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "clicks.md"
    markdown.write_text(format_report(report) + "\n")
    table = out / "clicks.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        targets = simulator.NOC_TARGETS
        writer.writerow(["photo", *(f"iou_{k}" for k in range(report.clicks + 1)),
                         *(f"noc{round(t * 100)}" for t in targets), "refine_seconds", "refine_cpu_seconds",
                         "stray_before", "stray_after", *(f"oracle_{k}" for k in range(report.clicks + 1)),
                         *(f"oracle_outline_kept_{k}" for k in range(report.clicks + 1))])
        for p in report.photos:
            writer.writerow([p.photo, *(f"{v:.4f}" for v in p.ious), *(simulator.noc(p.ious, t) for t in targets),
                             f"{sum(p.refine_seconds):.3f}", f"{sum(p.refine_cpu_seconds):.3f}",
                             f"{p.stray[0]:.5f}", f"{p.stray[1]:.5f}",
                             *(f"{v:.4f}" for v in p.oracle), *(f"{v:.4f}" for v in p.oracle_outline_kept)])
    return [markdown, table]
