"""The ORIGINAL Robust Video Matting TF.js graph, run by TF.js on its WebAssembly backend.

``install_tfjs(folder)`` puts ``@tensorflow/tfjs`` and ``@tensorflow/tfjs-backend-wasm``
into a throwaway ``node_modules`` with the ordinary npm client (pure JavaScript and
WebAssembly: nothing native is downloaded or built). ``run_tfjs`` feeds photos to
``tfjs_rvm.js`` through raw files and reads back alpha, foreground and timings.
Used by ``tests/test_rvm.py`` (equivalence) and ``python -m server bench models``.
Nothing here imports pytest, so the bench can use it too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.bench.references import LineSession

HERE = Path(__file__).resolve().parent
PACKAGES = ("@tensorflow/tfjs@4.22.0", "@tensorflow/tfjs-backend-wasm@4.22.0")


class RuntimeUnavailable(RuntimeError):
    """node/npm are missing or the packages could not be installed."""


@dataclass
class TfjsResult:
    alpha: np.ndarray  # H×W float32
    foreground: np.ndarray  # H×W×3 float32
    seconds: float  # the graph's own wall time for this photo (after a warm-up run)
    cpu_seconds: float  # CPU time of the node process meanwhile (the wasm backend runs on one thread)


def install_tfjs(folder: Path, timeout: float = 600) -> Path:
    """``npm install`` the two packages into ``folder``; returns it. Raises :class:`RuntimeUnavailable`."""
    folder = Path(folder)
    if (folder / "node_modules" / "@tensorflow" / "tfjs-backend-wasm").is_dir():
        return folder
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeUnavailable(f"{tool} is not installed (Debian: apt-get install nodejs npm)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text('{"private": true}\n')
    command = ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", *PACKAGES]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeUnavailable(f"npm install {' '.join(PACKAGES)} failed:\n{result.stderr[-2000:]}")
    return folder


def run_node(runtime: Path, script: str, arguments: list[str], timeout: float) -> list[dict]:
    """Run one of this folder's node scripts inside ``runtime`` (so require() finds its node_modules and
    tfjs_load.js); returns the JSON lines it printed."""
    for name in (script, "tfjs_load.js"):
        shutil.copyfile(HERE / name, Path(runtime) / name)
    result = subprocess.run(
        ["node", str(Path(runtime) / script), *arguments], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{result.stderr[-3000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _write_jobs(photos: dict[str, tuple[np.ndarray, float]], work: Path) -> list[str]:
    """The photos as raw RGB files in ``work``, and the script's job arguments for them."""
    work.mkdir(parents=True, exist_ok=True)
    jobs = []
    for name, (rgb, ratio) in photos.items():
        np.ascontiguousarray(rgb, np.uint8).tofile(work / f"{name}.rgb")
        jobs.append(f"{name}:{rgb.shape[0]}:{rgb.shape[1]}:{float(np.float32(ratio))!r}")
    return jobs


def tfjs_session(
    runtime: Path, model_dir: Path, photos: dict[str, tuple[np.ndarray, float]], work: Path
) -> LineSession:
    """``tfjs_rvm.js --serve``: the photos (in order) timed one at a time, on request (see :class:`LineSession`)."""
    jobs = _write_jobs(photos, Path(work))
    for name in ("tfjs_rvm.js", "tfjs_load.js"):
        shutil.copyfile(HERE / name, Path(runtime) / name)
    return LineSession(["node", str(Path(runtime) / "tfjs_rvm.js"), "--serve", str(model_dir), str(work), *jobs])


def run_tfjs(
    runtime: Path, model_dir: Path, photos: dict[str, tuple[np.ndarray, float]], work: Path, timeout: float = 900
) -> dict[str, TfjsResult]:
    """Run the graph on ``photos`` (name → (RGB uint8 H×W×3, downsample_ratio)) with zero recurrent states."""
    work = Path(work)
    jobs = _write_jobs(photos, work)
    seconds = {}
    for record in run_node(runtime, "tfjs_rvm.js", [str(model_dir), str(work), *jobs], timeout):
        seconds[record["name"]] = (record["seconds"], record["cpuSeconds"])
    results = {}
    for name, (rgb, _) in photos.items():
        height, width = rgb.shape[:2]
        alpha = np.fromfile(work / f"{name}.pha", np.float32).reshape(height, width)
        foreground = np.fromfile(work / f"{name}.fgr", np.float32).reshape(height, width, 3)
        results[name] = TfjsResult(alpha, foreground, *seconds[name])
    return results
