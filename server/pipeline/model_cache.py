"""Loaded segmenters, kept between requests and unloaded least-recently-used first.

Loading a network costs far more than running it once, so models load lazily on
first use and stay. Two models at once must fit: when the cache is full, or the
GPU runs short of memory, the least recently used model goes.

A cache also knows which segmenters it offers (the vocabulary's, or a test's stand-ins through
``factory`` and ``names``) and so which one a request runs: :meth:`ModelCache.resolve`, the
registry's one rule applied to its own weights.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from models import registry
from models.base import ProgressFn, Segmenter, no_progress

SegmenterFactory = Callable[[str, str, Path | None], Segmenter]


class ModelCache:
    def __init__(
        self,
        device: str = "cpu",
        capacity: int = 2,
        weights: Path | None = None,
        factory: SegmenterFactory = registry.create,
        names: list[str] | None = None,
    ):
        self.device = device
        self.capacity = max(1, capacity)
        self.weights = weights
        self._factory = factory
        self._names = None if names is None else list(names)
        self._loaded: OrderedDict[tuple[str, str], Segmenter] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        """The segmenters a request may name: those given, else every declared one."""
        return registry.names() if self._names is None else self._names

    def create(self, name: str) -> Segmenter:
        """An unloaded instance of segmenter ``name`` on the CPU: what it offers, whether its weights are there."""
        return self._factory(name, "cpu", self.weights)

    def is_installed(self, name: str) -> bool:
        return not self.create(name).missing_weights()

    def resolve(self, name: str | None) -> str:
        """The segmenter a request naming ``name`` runs here (None: the default in force, see
        :func:`models.registry.resolve`); :class:`~models.registry.UnknownSegmenterError` for a name not offered."""
        if name is not None and self._names is None and self._factory is not registry.create:
            return name  # a stand-in factory without a list of names refuses an unknown one when asked to create it
        return registry.resolve(name, self.names, self.is_installed)

    def get(self, name: str, device: str | None = None, progress: ProgressFn = no_progress) -> Segmenter:
        """The loaded segmenter ``name`` on ``device`` (the cache's own by default). A load reports to ``progress``
        (stage ``load``); what that raises (a cancel) leaves nothing half-loaded in the cache."""
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
            segmenter.load(progress)
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


_process_cache: ModelCache | None = None


def default_cache() -> ModelCache:
    """A process-wide cache for in-process callers (CLI, eval, tests), on the best device there is."""
    global _process_cache
    if _process_cache is None:
        from server.pipeline.devices import resolve

        _process_cache = ModelCache(resolve("auto"))
    return _process_cache


def _release_device_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a server requirement
        pass
