"""Raw pixel frames <-> numpy arrays, for the formats of :mod:`cutout_common.protocol`."""

from __future__ import annotations

import numpy as np

from cutout_common.protocol import PIXEL_FORMATS


def decode(buffer: bytes | memoryview, width: int, height: int, fmt: str, stride: int | None = None) -> np.ndarray:
    """An ``H×W×C`` uint8 view of a pixel frame (a copy only when rows are padded).

    The sizes must already be validated (``protocol.parse_request`` does it).
    """
    channels = PIXEL_FORMATS[fmt]
    row = width * channels
    stride = row if stride is None else stride
    flat = np.frombuffer(buffer, dtype=np.uint8, count=stride * height)
    rows = flat.reshape(height, stride)
    if stride != row:
        rows = np.ascontiguousarray(rows[:, :row])
    return rows.reshape(height, width, channels)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """RGB view of any decoded format: grey is repeated, alpha is dropped.

    The layer's own alpha is not multiplied in: the returned mask says where the
    person is, and GIMP combines it with the layer's alpha itself.
    """
    channels = image.shape[2]
    if channels in (3, 4):
        return image[:, :, :3]
    return np.repeat(image[:, :, :1], 3, axis=2)


def alpha_to_gray8(alpha: np.ndarray) -> np.ndarray:
    """Soft [0, 1] float -> 0…255 uint8, rounded (not truncated) so 0.5 maps to 128."""
    return np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)


def colour_to_rgb8(colour: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(colour * 255.0), 0, 255).astype(np.uint8)
