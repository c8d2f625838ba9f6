"""Test doubles for the server's mechanics (transport, queue, cancel, shutdown).

They are not segmenters anyone would use: each computes something a test can
check independently (brightness) or behaves badly on purpose (slow, crashing).
Real networks are tested in their own test files.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from models.base import Prediction, ProgressFn, Segmenter, no_progress
from models.stand_ins import Brightness


def expected_brightness(rgb: np.ndarray) -> np.ndarray:
    """The mask the Brightness stand-in must give, computed another way: Pillow's own Rec. 601 greyscale
    conversion (mode ``L``), not the stand-in's arithmetic."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb), "RGB").convert("L")).astype(np.float32) / 255.0


class Slow(Brightness):
    """Takes ``seconds`` (option) while reporting progress, so requests can be cancelled or cut off.

    ``started_file`` (option): a path written when the work starts, for tests that must act mid-request
    on a server in another process.
    """

    name = "slow"

    def predict(self, rgb: np.ndarray, options: dict | None = None, progress: ProgressFn = no_progress) -> Prediction:
        seconds = float((options or {}).get("seconds", 2.0))
        if (options or {}).get("started_file"):
            Path(options["started_file"]).write_text("started")
        steps = 20
        for step in range(steps):
            progress("segment", step / steps)
            time.sleep(seconds / steps)
        return super().predict(rgb, options, progress)


class Long(Brightness):
    """Takes ``seconds`` (option, 60 by default) with progress four times a second: a long job a GUI test can
    start from a dialog (which sends no options), cancel, and leave running on the server; stopped within 0.25 s."""

    name = "long"

    def predict(self, rgb: np.ndarray, options: dict | None = None, progress: ProgressFn = no_progress) -> Prediction:
        steps = max(1, int(float((options or {}).get("seconds", 60.0)) * 4))
        for step in range(steps):
            progress("segment", step / steps)
            time.sleep(0.25)
        return super().predict(rgb, options, progress)


class Quiet(Brightness):
    """Takes ``seconds`` (option) without reporting any progress: a long forward pass that cannot be interrupted."""

    name = "quiet"

    def predict(self, rgb: np.ndarray, options: dict | None = None, progress: ProgressFn = no_progress) -> Prediction:
        time.sleep(float((options or {}).get("seconds", 2.0)))
        return super().predict(rgb, options, progress)


class Disc(Brightness):
    """A soft ellipse in the middle of the photo: a person-shaped mask at any size, for edge refinement."""

    name = "disc"

    def predict(self, rgb: np.ndarray, options: dict | None = None, progress: ProgressFn = no_progress) -> Prediction:
        h, w = rgb.shape[:2]
        y, x = np.ogrid[:h, :w]
        r = np.sqrt(((x - w / 2) / (w / 5)) ** 2 + ((y - h / 2) / (h / 2.5)) ** 2)
        return Prediction(alpha=np.clip((1.0 - r) * 20.0 + 0.5, 0.0, 1.0).astype(np.float32))


class Crashing(Brightness):
    name = "crashing"

    def predict(self, rgb: np.ndarray, options: dict | None = None, progress: ProgressFn = no_progress) -> Prediction:
        raise ZeroDivisionError("a bug inside the segmenter")


class Missing(Brightness):
    name = "missing"
    weight_files = ("does-not-exist.pt",)


class DeviceMemory(Brightness):
    """Runs out of accelerator memory on any device but the CPU, as torch says it (``torch.OutOfMemoryError``).

    ``when`` (class attribute): ``"predict"`` (a photo too large for the GPU) or ``"load"`` (the network does
    not fit). ``devices`` records the device of every instance that was loaded, in order.
    """

    name = "device-memory"
    when = "predict"
    devices: list[str] = []

    def _out_of_memory(self) -> None:
        import torch

        if self.device != "cpu":
            raise torch.OutOfMemoryError(f"{self.device.upper()} out of memory. Tried to allocate 2.00 GiB")

    def load(self, progress=None) -> None:
        if self.when == "load":
            self._out_of_memory()
        DeviceMemory.devices.append(self.device)

    def predict(self, rgb: np.ndarray, options: dict | None = None, progress: ProgressFn = no_progress) -> Prediction:
        if self.when == "predict":
            self._out_of_memory()
        return super().predict(rgb, options, progress)


DOUBLES = {cls.name: cls for cls in (Brightness, Slow, Quiet, Disc, Crashing, Missing, DeviceMemory)}


def factory(name: str, device: str, weights: Path | None) -> Segmenter:
    from models.registry import UnknownSegmenterError

    if name not in DOUBLES:
        raise UnknownSegmenterError(name)
    return DOUBLES[name](weights or Path("/nonexistent"), device)


class Stop(Exception):
    """What :class:`StopAfter` raises: a cancel, as the server's progress callback raises one."""


class StopAfter:
    """A progress callback that records every call and raises :class:`Stop` on call number ``calls``."""

    def __init__(self, calls: int):
        self.calls = calls
        self.seen: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        self.seen.append((stage, fraction))
        if len(self.seen) == self.calls:
            raise Stop()
