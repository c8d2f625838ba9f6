"""Raw pixel frames <-> numpy arrays, for the formats of :mod:`cutout_common.protocol`."""

from __future__ import annotations

import cv2
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
    """The RGB of any decoded format, in one contiguous array: grey is repeated, alpha is dropped.

    The layer's own alpha is not multiplied in: the returned mask says where the
    person is, and GIMP combines it with the layer's alpha itself.
    A copy, not a strided view of RGBA: every stage after this reads the photo several times (the
    detector's views, the crops, the guided filter), and each read of a strided view is a slow copy
    or a slow OpenCV path — at 12 MP about 0.1 s each; OpenCV's conversion copies once in 10 ms.
    """
    channels = image.shape[2]
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
    if channels == 3:
        return image
    return np.repeat(image[:, :, :1], 3, axis=2)


#: pixels converted at a time: a band's float temporary stays small (4 MiB) however large the photo
BAND_PIXELS = 1 << 20


def alpha_to_gray8(alpha: np.ndarray) -> np.ndarray:
    """Soft [0, 1] float -> 0…255 uint8, rounded (not truncated) so 0.5 maps to 128."""
    return _to_uint8(alpha)


def colour_to_rgb8(colour: np.ndarray) -> np.ndarray:
    """[0, 1] float colours -> 0…255 uint8, rounded as :func:`alpha_to_gray8`."""
    return _to_uint8(colour)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """``clip(rint(values × 255), 0, 255)`` as C-contiguous uint8, a band of rows at a time.

    Whole-array numpy expressions would hold three photo-sized float temporaries at once (864 MB for a
    24 MP foreground); a band's stays in the cache.
    """
    out = np.empty(values.shape, np.uint8)
    if values.size == 0:
        return out
    rows = max(1, BAND_PIXELS // max(1, values[0].size))
    for top in range(0, values.shape[0], rows):
        band = np.multiply(values[top : top + rows], 255.0, dtype=np.promote_types(values.dtype, np.float32))
        np.rint(band, out=band)
        out[top : top + rows] = np.clip(band, 0, 255, out=band)
    return out
