"""Which torch device to run on: ``auto`` = CUDA, else Apple MPS, else CPU."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve(device: str = "auto") -> str:
    """A concrete torch device name; asking for an absent accelerator is an error, not a silent CPU run."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA GPU")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps was asked for, but this machine has no Apple GPU")
    return device


def describe(device: str) -> str:
    """A human description for ``hello``; imports torch only for a GPU (``hello`` runs in the server's I/O thread)."""
    if device.startswith("cuda"):
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    return device
