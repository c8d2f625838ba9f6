"""Converters for checkpoints that are already PyTorch state dicts: torchvision's and SCHP's.

Nothing to translate, only to check: each is loaded strictly into the segmenter's network (every
name and shape must match), so a wrong or truncated download is refused here, with the tensor named,
rather than producing noise later, and saved as the plain state dict the segmenter loads.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..paths import write_weights


def _load(sources: dict[str, Path]) -> dict[str, torch.Tensor]:
    (path,) = sources.values()
    return torch.load(path, map_location="cpu", weights_only=True)


def maskrcnn(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """torchvision's Mask R-CNN checkpoint, checked against the network, as maskrcnn.pt."""
    from ..maskrcnn import build_net

    state = _load(sources)
    build_net().load_state_dict(state)
    return [write_weights(state, weights_dir, "maskrcnn.pt")]


def deeplab(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """torchvision's DeepLabV3 checkpoint, checked against the network, as deeplab.pt."""
    from ..deeplab import build_net

    state = _load(sources)
    build_net().load_state_dict(state)
    return [write_weights(state, weights_dir, "deeplab.pt")]


def parsing(sources: dict[str, Path], weights_dir: Path) -> list[Path]:
    """SCHP's checkpoint ({'state_dict': {'module.…': tensor}}) → a plain, checked state dict in parsing.pt."""
    from ..schp_net import SCHPNet, load_schp_state

    checkpoint = _load(sources)
    state = checkpoint.get("state_dict", checkpoint)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    load_schp_state(SCHPNet(), state)  # raises naming any missing or mis-shaped tensor
    return [write_weights(state, weights_dir, "parsing.pt")]
