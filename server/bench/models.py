"""``python -m server bench models``: speed and memory of each installed segmenter on this device.

A table of rows, one per (model, runtime): seconds per photo and per megapixel on the
same photos, in the same run, so the figures compare. The reference row is ``rvm`` on
the original runtime (its TF.js graph on TF.js's WebAssembly backend, installed with
npm into a temporary folder); every row's time is also printed as a ratio to it.
``isnet`` (and ``best``, which runs it) has the original ISNet ONNX on onnxruntime next to it,
the reference when ``rvm`` is not in the run (the table says which row the ratios are to);
``modnet`` has the original MODNet ONNX on onnxruntime (same photos, same resizing, as many
intra-op threads as torch has), the reference when neither of the others is in the run. Below
the table, each port's time as a ratio to its own original runtime, and its first call (loading
included) next to the runtime's where that is known.
Then the peak memory of each torch segmenter on a 12 MP and a 24 MP photo, each in a
fresh process so the figures are its own.

Photos: persons-dev (``../shared/data/persons-dev/images``) when present, otherwise the
demo photo. Timings exclude loading and one warm-up run.

``--random-weights`` adds the segmenters whose real weights are not installed (``maskrcnn``,
``deeplab``, ``parsing``, whose checkpoints live on their authors' hosts) with random weights:
their speed and memory are the architecture's, their rows say so. Mask R-CNN's mask head only
runs on boxes that pass its score threshold, which random weights rarely do, so its random row
is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]  # the checkout: server/bench/ is two levels down
PERSONS_DEV = REPO.parent / "shared" / "data" / "persons-dev" / "images"
DEMO = REPO / "tests" / "data" / "astronaut.png"
#: synthetic photo sizes for the memory figures (width, height)
MEMORY_SIZES = {"12 MP": (4000, 3000), "24 MP": (6000, 4000)}


@dataclass
class Row:
    """One line of the speed table: ``measure(photos)`` returns, per photo, wall seconds or (wall, CPU) seconds."""

    model: str
    runtime: str
    measure: Callable[[list[np.ndarray]], list[float] | list[tuple[float, float]]]
    reference: bool = False
    #: (wall, CPU) seconds of loading plus the first photo, filled by ``measure`` where it knows them
    first: list[tuple[float, float]] = field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--photos", type=int, default=12, help="how many photos to time (default %(default)s)")
    parser.add_argument("--folder", type=Path, default=None, help="photos to use (default: persons-dev, else the demo)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, mps or auto")
    parser.add_argument("--models", default=None, help="comma-separated segmenters (default: every installed one)")
    parser.add_argument("--no-reference", action="store_true", help="skip the original runtimes (no npm/pip installs)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 12 / 24 MP peak-memory figures")
    parser.add_argument("--random-weights", action="store_true",
                        help="also time maskrcnn, deeplab and parsing on random weights when theirs are missing")


def run(args: argparse.Namespace) -> int:
    from server.pipeline.devices import describe, resolve

    device = resolve(args.device)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    photos = load_photos(args.folder, args.photos)
    names = args.models.split(",") if args.models else installed_segmenters()
    weights = {name: None for name in names}
    if args.random_weights:
        from models.install.random_weights import NAMES as RANDOM_NAMES
        from models.install.random_weights import write_random_weights

        missing = [n for n in RANDOM_NAMES if (n in names or not args.models) and registry_missing(n)]
        scratch = tempfile.TemporaryDirectory(prefix="bench-random-weights-")  # removed when run() returns
        folder = write_random_weights(missing, Path(scratch.name))
        weights.update({name: folder for name in missing})
        names = list(weights)
    megapixels = [p.shape[0] * p.shape[1] / 1e6 for p in photos]
    print(f"models benchmark on {describe(device)}: {len(photos)} photos, "
          f"{statistics.median(megapixels):.2f} MP median, torch threads {_torch_threads()}")
    table = rows(names, device, args, weights)
    results: list[tuple[Row, list[tuple[float, float]] | str]] = []
    for row in table:
        try:
            results.append((row, [m if isinstance(m, tuple) else (m, float("nan")) for m in row.measure(photos)]))
        except Exception as exc:  # a missing runtime is a line in the table, not the end of the benchmark
            results.append((row, f"unavailable: {str(exc).strip().splitlines()[-1][:100]}"))
    # the first original runtime that ran (rvm's TF.js, else ISNet's onnxruntime) is what the ratios are to
    reference_row, reference = next(((row, r) for row, r in results if row.reference and not isinstance(r, str)),
                                    (None, None))
    # CPU seconds too: on a machine shared with other work, wall time mostly measures the neighbours
    if reference_row is not None:
        print(f"ratios (vs ref) are to {reference_row.model} on {reference_row.runtime}")
        reference_wall = statistics.median(w for w, _ in reference)
        reference_cpu = statistics.median(c for _, c in reference)  # nan where the runtime reports no CPU time
    print(f"\n{'model':<10} {'runtime':<16} {'s/photo':>8} {'s/MP':>7} {'vs ref':>7} {'cpu s/photo':>12} {'vs ref':>7}")
    for row, outcome in results:
        if isinstance(outcome, str):
            print(f"{row.model:<10} {row.runtime:<16} {outcome}")
            continue
        wall = statistics.median(w for w, _ in outcome)
        cpu = statistics.median(c for _, c in outcome)
        per_mp = sum(w for w, _ in outcome) / sum(megapixels)
        wall_ratio = f"{wall / reference_wall:.2f}" if reference else "-"
        cpu_ratio = f"{cpu / reference_cpu:.2f}" if reference and cpu == cpu and reference_cpu == reference_cpu else "-"
        print(f"{row.model:<10} {row.runtime:<16} {wall:>8.3f} {per_mp:>7.3f} {wall_ratio:>7} {cpu:>12.3f} {cpu_ratio:>7}",
              flush=True)
    print_port_ratios(results)
    if not args.no_memory:
        print(f"\n{'model':<10} {'size':<6} {'peak MiB':>9} {'growth MiB':>11} {'s':>6}")
        for name in names:
            for label, size in MEMORY_SIZES.items():
                try:
                    peak, growth, seconds = peak_memory(name, size, device, weights.get(name))
                    print(f"{name:<10} {label:<6} {peak:>9.0f} {growth:>11.0f} {seconds:>6.2f}", flush=True)
                except RuntimeError as exc:
                    print(f"{name:<10} {label:<6} failed: {str(exc).strip().splitlines()[-1][:100]}")
    return 0


def print_port_ratios(results: list[tuple[Row, list[tuple[float, float]] | str]]) -> None:
    """Each port's median time over its own original runtime's (wall and CPU), and both first calls."""
    measured = [(row, outcome) for row, outcome in results if not isinstance(outcome, str)]
    originals = [(row, outcome) for row, outcome in measured if not row.runtime.startswith("torch")]
    if not originals:
        return
    print("\nport vs its original runtime (same photos, same run): wall, CPU; first call = loading + first photo")
    for original, reference in originals:
        for row, outcome in measured:
            if row.model != original.model or not row.runtime.startswith("torch"):
                continue
            wall = statistics.median(w for w, _ in outcome) / statistics.median(w for w, _ in reference)
            cpu = statistics.median(c for _, c in outcome) / statistics.median(c for _, c in reference)
            line = f"{row.model:<10} {row.runtime} / {original.runtime}: {wall:.2f}× wall, {cpu:.2f}× CPU"
            if row.first and original.first:
                (port_wall, port_cpu), (orig_wall, orig_cpu) = row.first[0], original.first[0]
                line += (f"; first call {port_wall:.2f} s (CPU {port_cpu:.2f}) against {orig_wall:.2f} s"
                         f" (CPU {orig_cpu:.2f})")
            print(line)


def rows(names: list[str], device: str, args: argparse.Namespace, weights: dict[str, Path | None]) -> list[Row]:
    """The speed table: every named torch segmenter, then the original runtimes that exist for them."""
    table = []
    for name in names:
        row = Row(name, f"torch {device}" + (" random w." if weights.get(name) else ""), lambda photos: [])
        row.measure = torch_measure(name, device, weights.get(name), row.first)
        table.append(row)
    if not args.no_reference and "rvm" in names:
        table.append(Row("rvm", "TF.js wasm", tfjs_rvm_measure, reference=True))
    if not args.no_reference and ("isnet" in names or "best" in names):
        table.append(Row("isnet", "onnxruntime cpu", onnx_isnet_measure, reference=True))
    if not args.no_reference and "modnet" in names:
        row = Row("modnet", "onnxruntime cpu", lambda photos: [], reference=True)
        row.measure = onnx_modnet_measure(row.first)
        table.append(row)
    return table


def installed_segmenters() -> list[str]:
    from models import registry

    return [name for name in registry.names() if not registry.create(name).missing_weights()]


def registry_missing(name: str) -> bool:
    from models import registry

    return bool(registry.create(name).missing_weights())


def load_photos(folder: Path | None, count: int) -> list[np.ndarray]:
    folder = folder or (PERSONS_DEV if PERSONS_DEV.is_dir() else None)
    paths = sorted(folder.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem)) if folder else [DEMO]
    paths = paths[:: max(1, len(paths) // count)][:count]  # spread over the set, not just its first names
    if not paths:
        raise SystemExit(f"no .jpg photos in {folder}")
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def torch_measure(
    name: str, device: str, weights: Path | None = None, first: list[tuple[float, float]] | None = None
) -> Callable[[list[np.ndarray]], list[tuple[float, float]]]:
    def measure(photos: list[np.ndarray]) -> list[tuple[float, float]]:
        import torch

        from models import registry

        start, cpu = time.perf_counter(), time.process_time()
        segmenter = registry.create(name, device, weights)
        segmenter.load()
        segmenter.predict(photos[0])  # warm-up: first-call allocations and kernel selection
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if first is not None:
            first.append((time.perf_counter() - start, time.process_time() - cpu))
        seconds = []
        for rgb in photos:
            start, cpu = time.perf_counter(), time.process_time()
            segmenter.predict(rgb)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds.append((time.perf_counter() - start, time.process_time() - cpu))
        return seconds

    return measure


def tfjs_rvm_measure(photos: list[np.ndarray]) -> list[tuple[float, float]]:
    """The original RVM graph on TF.js (wasm), on the same photos at the same downsample ratios."""
    from models.paths import weights_dir
    from models.rvm import DEFAULT_VIEW, downsample_ratio
    from server.bench.references.tfjs_rvm import install_tfjs, run_tfjs

    sources = weights_dir() / "sources" / "rvm"
    with tempfile.TemporaryDirectory(prefix="bench-tfjs-") as scratch:
        runtime = install_tfjs(Path(scratch) / "runtime")
        jobs = {f"p{i}": (rgb, downsample_ratio(*rgb.shape[:2], DEFAULT_VIEW)) for i, rgb in enumerate(photos)}
        results = run_tfjs(runtime, sources, jobs, Path(scratch) / "io")
        return [(results[f"p{i}"].seconds, results[f"p{i}"].cpu_seconds) for i in range(len(photos))]


def onnx_isnet_measure(photos: list[np.ndarray]) -> list[float]:
    """The original ISNet ONNX (IMG.LY's) on onnxruntime (CPU, from PyPI into a temporary venv), same photos."""
    from models.paths import weights_dir
    from server.bench.references.onnx_isnet import install_onnxruntime, run_reference, write_model

    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as scratch:
        work = Path(scratch)
        python = install_onnxruntime(work / "venv")
        model = write_model(weights_dir() / "sources" / "isnet", work / "isnet.onnx")
        paths = []
        for i, rgb in enumerate(photos):
            paths.append(work / f"p{i}.png")
            Image.fromarray(rgb).save(paths[-1])
        timings = run_reference(python, model, paths, work / "out")
        return [timings[f"p{i}"] for i in range(len(photos))]


def onnx_modnet_measure(first: list[tuple[float, float]]) -> Callable[[list[np.ndarray]], list[tuple[float, float]]]:
    """The original MODNet ONNX on onnxruntime (CPU, from PyPI into a temporary venv), same photos, same resizing."""

    def measure(photos: list[np.ndarray]) -> list[tuple[float, float]]:
        import torch

        from models.paths import weights_dir
        from server.bench.references.onnx_modnet import install_onnxruntime, model_path, run_reference

        with tempfile.TemporaryDirectory(prefix="bench-onnx-modnet-") as scratch:
            work = Path(scratch)
            python = install_onnxruntime(work / "venv")
            paths = []
            for i, rgb in enumerate(photos):
                paths.append(work / f"p{i}.png")
                Image.fromarray(rgb).save(paths[-1])
            timings = run_reference(python, model_path(weights_dir() / "sources" / "modnet"), paths, work / "out",
                                    threads=torch.get_num_threads())
            first.append(tuple(timings["first"]))
            return [tuple(timings[f"p{i}"]) for i in range(len(photos))]

    return measure


def peak_memory(name: str, size: tuple[int, int], device: str, weights: Path | None = None) -> tuple[float, float, float]:
    """(peak RSS MiB, growth over the loaded and warmed-up model MiB, seconds) for one photo of ``size``."""
    width, height = size
    script = textwrap.dedent(f"""
        import json, sys, time
        import numpy as np
        from PIL import Image
        sys.path.insert(0, {str(REPO)!r})
        from models import registry
        def status(key):  # kB from /proc/self/status (Linux)
            return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
        segmenter = registry.create({name!r}, {device!r}, {str(weights) if weights else None!r}); segmenter.load()
        demo = Image.open({str(DEMO)!r}).convert("RGB")
        rgb = np.asarray(demo.resize(({width}, {height}), Image.BILINEAR))
        segmenter.predict(np.asarray(demo))
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
        before = status("VmRSS:")
        start = time.perf_counter()
        segmenter.predict(rgb)
        seconds = time.perf_counter() - start
        peak = status("VmHWM:")
        print(json.dumps({{"peak": peak / 1024, "growth": (peak - before) / 1024, "seconds": seconds}}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(result.stderr or "no output")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["peak"], report["growth"], report["seconds"]


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
