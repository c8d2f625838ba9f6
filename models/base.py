"""The one interface every segmenter implements.

A segmenter turns an RGB photo (``H×W×3`` uint8 numpy array) into a soft person
probability (``H×W`` float32 in [0, 1]) at the photo's own size. Some networks
give more: foreground colours freed from the background (matting networks) or
named part masks (human parsing). They return those in :class:`Prediction` so
the server can send them as extra named frames.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cutout_common import vocabulary
from cutout_common.options import Option, OptionError, check_options
from cutout_common.protocol import ProgressFn, no_progress

if TYPE_CHECKING:
    import torch

__all__ = [
    "OptionError",
    "Prediction",
    "ProgressFn",
    "Segmenter",
    "WeightedModel",
    "WeightsMissingError",
    "no_progress",
    "progress_within",
]


def progress_within(progress: ProgressFn, start: float, end: float) -> ProgressFn:
    """``progress`` for a part of the work that runs from ``start`` to ``end`` of the whole: the part's own 0 … 1 (a
    network inside a pipeline, one network's loading among several) lands on that stretch of the bar."""
    return lambda stage, fraction: progress(stage, start + (end - start) * fraction)


class WeightsMissingError(RuntimeError):
    """Raised when a segmenter's weight files are not installed.

    The message names the install command, because the server never downloads during a request,
    and names the files relative to the weights folder: it may travel to a client on another machine,
    which has no business knowing the server's paths.
    """

    def __init__(self, segmenter: str, missing: list[Path], weights_dir: Path | None = None):
        self.segmenter = segmenter
        self.missing = missing
        names = ", ".join(_relative(p, weights_dir) for p in missing)
        command = vocabulary.install_command([segmenter])
        super().__init__(f"weights for segmenter '{segmenter}' are not installed ({names}); run: {command}")


def _relative(path: Path, folder: Path | None) -> str:
    try:
        return str(path.relative_to(folder)) if folder is not None else path.name
    except ValueError:
        return path.name


@dataclass
class Prediction:
    """What a segmenter returns, always at the input photo's size.

    ``alpha``: person probability or alpha matte, float32 in [0, 1].
    ``foreground``: optional H×W×3 float32 colours in [0, 1] of the person with the
    old background removed (meaningful where alpha > 0).
    ``parts``: optional named part masks (float32 in [0, 1]), e.g. ``{"Hair": ...}``.
    ``info``: small JSON-able facts for the reply (instances found, view size...).
    """

    alpha: np.ndarray
    foreground: np.ndarray | None = None
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class WeightedModel:
    """A network behind a name whose weights install.py puts in the weights folder.

    Construction is cheap; :meth:`load` reads the weights and moves the network to a device, so
    the server can list what it offers without loading anything. Title and licence come from
    :mod:`cutout_common.vocabulary`, the one table the plug-in's dialogs are built from too.
    """

    #: registry name, e.g. ``"selfie"``
    name: ClassVar[str]
    #: weight files (relative to the weights directory); the first is the network's state dict.
    #: A class that names a :attr:`network` and no files loads ``<name>.pt``.
    weight_files: ClassVar[tuple[str, ...]] = ()
    #: builds the network (uninitialised) that :meth:`load` fills from the first weight file
    network: ClassVar[Callable[[], torch.nn.Module] | None] = None
    #: the network runs in float16 on CUDA (a class sets it when its results measured the same in it)
    half_on_cuda: ClassVar[bool] = False

    def __init__(self, weights_dir: Path, device: str = "cpu"):
        self.weights_dir = Path(weights_dir)
        self.device = device
        #: float16 forced on (True) or off (False) before :meth:`load`; None: :attr:`half_on_cuda` on CUDA. Tests
        #: force it on the CPU, where torch runs float16 too (slowly), to check the casts a GPU run makes
        self.half: bool | None = None

    @property
    def title(self) -> str:
        info = vocabulary.SEGMENTERS.get(self.name) or vocabulary.NETWORKS.get(self.name)
        return info.title if info else self.name

    @property
    def licence(self) -> str:
        info = vocabulary.SEGMENTERS.get(self.name) or vocabulary.NETWORKS.get(self.name)
        return info.licence if info else ""

    @property
    def files(self) -> tuple[str, ...]:
        """Its weight files: :attr:`weight_files`, or ``<name>.pt`` for a class that names a :attr:`network` and no
        files (the name may come from :func:`models.registry.register`, after the class is made)."""
        return self.weight_files or ((f"{self.name}.pt",) if self.network is not None else ())

    def missing_weights(self) -> list[Path]:
        """Weight files that are not on disk (empty when ready)."""
        paths = [self.weights_dir / f for f in self.files]
        return [p for p in paths if not p.is_file()]

    def ensure_weights(self) -> None:
        missing = self.missing_weights()
        if missing:
            raise WeightsMissingError(self.name, missing, self.weights_dir)

    def load(self, progress: ProgressFn = no_progress) -> None:
        """Read the weights into ``self.net`` on ``self.device``: build, load the state, prepare, move and cast to
        :attr:`dtype` (the type the network computes in; its caller casts inputs to it and outputs back to float32).
        ``progress("load", fraction)`` after each step (ISNet's take up to half a second each on 2 cores): what it
        raises stops the loading there, and ``self.net`` stays as it was."""
        import torch

        self.ensure_weights()
        net = self.build_network()
        progress("load", 0.25)
        state = torch.load(self.weights_dir / self.files[0], map_location="cpu", weights_only=True)
        progress("load", 0.5)
        self.load_state(net, state)
        del state
        progress("load", 0.75)
        dtype = self.compute_dtype()
        net = self.prepare(net.eval()).to(self.device, dtype)
        self.dtype, self.net = dtype, net
        progress("load", 1.0)

    def compute_dtype(self) -> torch.dtype:
        """float16 where :attr:`half` asks for it, or on CUDA for a network with :attr:`half_on_cuda`; else float32."""
        import torch

        half = self.half if self.half is not None else self.half_on_cuda and str(self.device).startswith("cuda")
        return torch.float16 if half else torch.float32

    def build_network(self) -> torch.nn.Module:
        """The network with uninitialised weights, from :attr:`network`."""
        if self.network is None:
            raise NotImplementedError(f"{type(self).__name__} names no network; it must override load()")
        return self.network()

    def load_state(self, net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
        """Put the saved state into ``net``, strictly (a wrong file fails here, not with noise later)."""
        net.load_state_dict(state)

    def prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        """A hook for what follows loading (fusing batch norms, a dtype or memory format for the device)."""
        return net


class Segmenter(WeightedModel, abc.ABC):
    """A person segmenter: a :class:`WeightedModel` that declares its :attr:`options` and implements
    :meth:`predict`."""

    #: the segmenter's own request options (besides the pipeline's), checked by :meth:`check_options`
    options: ClassVar[tuple[Option, ...]] = ()

    def check_options(self, options: dict[str, Any] | None) -> dict[str, Any]:
        """Every option of this segmenter, checked, defaults filled in; raises :class:`OptionError`."""
        return check_options(self.options, options, self.name)

    @abc.abstractmethod
    def predict(
        self,
        rgb: np.ndarray,
        options: dict[str, Any] | None = None,
        progress: ProgressFn = no_progress,
    ) -> Prediction:
        """Segment one photo (``H×W×3`` uint8 RGB)."""

    def predict_without_colours(
        self,
        rgb: np.ndarray,
        options: dict[str, Any] | None = None,
        progress: ProgressFn = no_progress,
    ) -> Prediction:
        """:meth:`predict` for a caller that will not use the foreground colours (a layer mask): the
        same alpha; a segmenter whose colours cost full-size work (``rvm``'s guided filter on three more planes,
        ``people``'s merges) leaves them out — at 12 MP that is about a third of the default's time."""
        return self.predict(rgb, options, progress)


class ColourMatting(Segmenter):
    """A segmenter whose foreground colours cost full-size work of their own (``rvm``, ``people``): it implements
    :meth:`predict_matte` once, and :meth:`predict` and :meth:`predict_without_colours` ask it with or without them."""

    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        return self.predict_matte(rgb, options, progress, colours=True)

    def predict_without_colours(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        return self.predict_matte(rgb, options, progress, colours=False)

    @abc.abstractmethod
    def predict_matte(
        self, rgb: np.ndarray, options: dict[str, Any] | None, progress: ProgressFn, colours: bool
    ) -> Prediction:
        """The prediction, with the foreground colours when ``colours`` (else ``foreground`` is None)."""
