"""Randomly initialised weights for the segmenters whose real weights cannot be fetched everywhere.

``maskrcnn``, ``deeplab`` and ``parsing`` download their checkpoints from their authors' hosts.
Where those are unreachable (CI, an offline machine), the tests and ``bench models
--random-weights`` still run the real load path and the whole pipeline on random weights
saved as the same state-dict file the segmenter loads. Speed and memory of these networks
do not depend on the weight values (Mask R-CNN's mask head on how many boxes pass the
threshold, which the caller sets); quality does, so nothing here ever reports quality.
"""

from __future__ import annotations

from pathlib import Path

import torch

#: the segmenters this module can stand in for
NAMES = ("maskrcnn", "deeplab", "parsing")


def random_net(name: str, seed: int = 0) -> torch.nn.Module:
    """The segmenter's network with fresh random weights (seeded, so runs repeat)."""
    torch.manual_seed(seed)
    if name == "maskrcnn":
        from ..maskrcnn import build_net
    elif name == "deeplab":
        from ..deeplab import build_net
    elif name == "parsing":
        from ..schp_net import SCHPNet as build_net
    else:
        raise ValueError(f"no random stand-in for '{name}' (only {', '.join(NAMES)})")
    return build_net()


def write_random_weights(names: list[str] | tuple[str, ...], folder: Path) -> Path:
    """Save ``<name>.pt`` random state dicts into ``folder`` (created); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        torch.save(random_net(name).state_dict(), folder / f"{name}.pt")
    return folder
