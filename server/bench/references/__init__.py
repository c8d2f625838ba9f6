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
        raise RuntimeError(
            f"could not install {' '.join(requirements)} into a throwaway venv:\n{result.stderr[-2000:]}"
        )
    return python


def run_script(python: Path, script: str, *args: str, timeout: float = 600) -> None:
    result = subprocess.run([str(python), str(HERE / script), *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{result.stderr[-3000:]}")



class LineSession:
    """A reference runtime in a child process that times one photo at a time, on request.

    The child (a reference script in its ``--serve`` mode) loads its model, runs the first photo and
    prints ``{"first": [wall, cpu]}``; then for each photo index written to its stdin it runs that
    photo and prints ``{"wall": s, "cpu": s}``. A benchmark can so alternate it with the port, photo
    by photo, and a busy machine slows both alike. Lines that are not JSON objects (a runtime's own
    chatter) are skipped; a child that dies or stays silent for ``timeout`` seconds raises
    :class:`RuntimeError` with the end of its stderr.
    """

    def __init__(self, command: list[str], timeout: float = 900, cwd: Path | None = None):
        import queue
        import tempfile
        import threading

        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                         text=True, bufsize=1, cwd=cwd)
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()  # a blocked read cannot time out; a queue can
        wall, cpu = self._read()["first"]
        self.first = (float(wall), float(cpu))

    def _pump(self) -> None:
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put("")  # end of output: the child has exited

    def _read(self) -> dict:
        import json
        import queue

        while True:
            try:
                line = self._lines.get(timeout=self.timeout)
            except queue.Empty:
                self.close()
                raise RuntimeError(f"{self._process.args[1]} was silent for {self.timeout:g} s") from None
            if not line:
                self._stderr.seek(0)
                raise RuntimeError(f"{self._process.args[1]} ended:\n{self._stderr.read()[-3000:]}")
            if line.startswith("{"):
                return json.loads(line)

    def time(self, index: int) -> tuple[float, float]:
        """(wall, CPU) seconds of the runtime's prediction for photo ``index``."""
        self._process.stdin.write(f"{index}\n")
        self._process.stdin.flush()
        record = self._read()
        return float(record["wall"]), float(record["cpu"])

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._stderr.close()

    def __enter__(self) -> LineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
