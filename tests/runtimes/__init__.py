"""Original runtimes (mediapipe, onnxruntime, TF.js) installed into throwaway folders for comparison tests.

They never enter the server's environment: each lives in a temporary venv or
node_modules folder made by the test session and deleted with it.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def throwaway_venv(folder: Path, requirements: list[str], timeout: float = 900) -> Path:
    """A venv in ``folder`` with ``requirements`` from PyPI; returns its python. Fails the test clearly."""
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
        pytest.fail(f"could not install {' '.join(requirements)} into a throwaway venv:\n{result.stderr[-2000:]}")
    return python


def run_script(python: Path, script: str, *args: str, timeout: float = 600) -> None:
    result = subprocess.run([str(python), str(HERE / script), *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"{script} failed:\n{result.stderr[-3000:]}")


__all__ = ["throwaway_venv", "run_script", "sys"]
