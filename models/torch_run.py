"""Small shared steps for the torchvision-style segmenters (maskrcnn, deeplab, parsing)."""

from __future__ import annotations

import contextlib

import cv2
import numpy as np
import torch


def autocast(device: str) -> contextlib.AbstractContextManager:
    """fp16 autocast on CUDA (half the memory, tensor cores); full precision elsewhere."""
    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def fit_within(rgb: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """Shrink (never enlarge) so the longer side is at most ``longest``; returns (image, scale).

    A 24 MP photo would cost the network gigabytes for no gain: it works at its own size and the
    probabilities are resized back afterwards.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, longest / max(height, width))
    if scale == 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def resize_soft(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a probability map (H×W or H×W×C) to ``shape`` bilinearly, keeping soft values in [0, 1]."""
    height, width = shape
    if prob.shape[:2] != (height, width):
        prob = cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(prob, 0.0, 1.0).astype(np.float32)

