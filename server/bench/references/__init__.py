"""The original runtimes (mediapipe, onnxruntime, TF.js), installed into throwaway folders.

The ports in ``models/`` are checked against them (the equivalence tests) and timed next
to them (``python -m server bench models``). They never enter the server's environment:
each lives in a temporary venv or ``node_modules`` folder that its caller deletes.
Failures raise :class:`RuntimeError` (nothing here imports pytest), so a test can fail
with the message and a benchmark can print it as a table line.
"""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent


def throwaway_venv(folder: Path, requirements: list[str], timeout: float = 900) -> Path:
    """A venv in ``folder`` with ``requirements`` from PyPI; returns its python."""
    python = folder / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(folder)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"could not install {' '.join(requirements)} into a throwaway venv:\n{result.stderr[-2000:]}")
    return python


def run_script(python: Path, script: str, *args: str, timeout: float = 600) -> None:
    result = subprocess.run([str(python), str(HERE / script), *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{result.stderr[-3000:]}")

