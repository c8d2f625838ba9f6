"""Loaded segmenters, kept between requests and unloaded least-recently-used first.

Loading a network costs far more than running it once, so models load lazily on
first use and stay. Two models at once must fit: when the cache is full, or the
GPU runs short of memory, the least recently used model goes.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from models import registry
from models.base import Segmenter

SegmenterFactory = Callable[[str, str, Path | None], Segmenter]


class ModelCache:
    def __init__(
        self,
        device: str = "cpu",
        capacity: int = 2,
        weights: Path | None = None,
        factory: SegmenterFactory = registry.create,
    ):
        self.device = device
        self.capacity = max(1, capacity)
        self.weights = weights
        self._factory = factory
        self._loaded: OrderedDict[tuple[str, str], Segmenter] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, device: str | None = None) -> Segmenter:
        """The loaded segmenter ``name`` on ``device`` (the cache's own by default)."""
        device = device or self.device
        key = (name, device)
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            while len(self._loaded) >= self.capacity:
                self._evict_oldest()
            segmenter = self._factory(name, device, self.weights)
            segmenter.ensure_weights()
            segmenter.load()
            self._loaded[key] = segmenter
            return segmenter

    def free_memory(self) -> None:
        """Unload every model — called when a device ran out of memory."""
        with self._lock:
            self._loaded.clear()
            _release_device_memory()

    def _evict_oldest(self) -> None:
        self._loaded.popitem(last=False)
        _release_device_memory()


def _release_device_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a server requirement
        pass
