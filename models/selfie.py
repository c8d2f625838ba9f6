"""``selfie`` — MediaPipe Selfie Segmentation ported to PyTorch: the fast fallback segmenter.

106 k parameters, a 256×256 view of the photo. With every option off, ``predict`` does
what the mediapipe runtime does — squash the photo to 256×256 with an affine warp, feed
RGB in [0, 1], resize the probability back bilinearly — so the port can be checked
against the original. The options add steps around the network, each switchable so
``eval`` can show what it is worth (defaults chosen by measurement on persons-dev):

* ``letterbox`` (bool) — keep the aspect ratio (pad the short side) instead of squashing;
* ``flip`` (bool) — test-time augmentation: average with the horizontally mirrored view;
* ``zoom`` (bool) — a second pass on the person's bounding region, so a small or
  full-body person fills the 256×256 view, merged into the first pass;
* ``cleanup`` (bool) — drop stray islands and fill small holes (see :mod:`models.mask_cleanup`).

Soft values are kept all the way to the photo's size (bilinear, never a binary mask).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from cutout_common.options import Option

from .base import Prediction, ProgressFn, Segmenter, no_progress
from .mask_cleanup import clean_mask
from .registry import register
from .selfie_net import SelfieSegmentationNet

VIEW = 256
#: every step on, chosen by measurement: mean IoU / F1 at 0.5 on all 87 persons-dev photos
#:   all off (= mediapipe)  0.851 / 0.898    all on              0.900 / 0.941
#:   letterbox only         0.859 / 0.910    all but letterbox   0.883 / 0.923
#:   flip only              0.862 / 0.909    all but flip        0.890 / 0.934
#:   zoom only              0.871 / 0.911    all but zoom        0.870 / 0.920
#:   cleanup only           0.851 / 0.898    all but cleanup     0.899 / 0.940
#: (every step also helps on both the odd and the even half of the set taken alone)
#: Tried and dropped: replicated instead of black padding 0.873; area-averaged downscaling 0.888;
#: a second zoom iteration 0.899; first pass without flip 0.895.
DEFAULTS: dict[str, bool] = {"letterbox": True, "flip": True, "zoom": True, "cleanup": True}
#: the zoomed view covers the person's box grown by this fraction of its longer side on each side
#: (measured: 0.05 → IoU 0.891, 0.10 → 0.896, 0.15 → 0.899, 0.22 → 0.893, 0.30 → 0.891)
ZOOM_MARGIN = 0.15
#: zoom only when the box's longer side is this much smaller than the photo's (1.0 → IoU 0.898; 1.6 → 0.886)
ZOOM_MIN_GAIN = 1.25

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in photo pixels (continuous, corners)


def squash_transform(width: int, height: int) -> np.ndarray:
    """mediapipe's ImageToTensorCalculator map (corner to corner, no half-pixel shift)."""
    return np.array([[VIEW / width, 0, 0], [0, VIEW / height, 0]], np.float32)


def box_transform(box: Box, letterbox: bool) -> np.ndarray:
    """Affine map photo → 256×256 view showing ``box``; letterboxed boxes keep the aspect ratio.

    Pixel centres map to pixel centres, so warping back with the same matrix lines up exactly.
    """
    x0, y0, x1, y1 = box
    sx, sy = VIEW / (x1 - x0), VIEW / (y1 - y0)
    if letterbox:  # the same scale both ways; centre the box, the rest is padding
        sx = sy = min(sx, sy)
        x0, y0 = (x0 + x1) / 2 - VIEW / sx / 2, (y0 + y1) / 2 - VIEW / sy / 2
    return np.array([[sx, 0, sx * (0.5 - x0) - 0.5], [0, sy, sy * (0.5 - y0) - 0.5]], np.float32)


def person_box(alpha: np.ndarray, margin: float = ZOOM_MARGIN) -> Box | None:
    """Bounding box of the confident person pixels, grown by ``margin``; None when nobody is there."""
    ys, xs = np.nonzero(alpha >= 0.5)
    if len(xs) == 0:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1.0, ys.min(), ys.max() + 1.0
    grow = margin * max(x1 - x0, y1 - y0)
    return (x0 - grow, y0 - grow, x1 + grow, y1 + grow)


OPTIONS = (
    Option("letterbox", "Letterbox", "bool", DEFAULTS["letterbox"], help="keep the photo's aspect ratio in the view"),
    Option("flip", "Mirror too", "bool", DEFAULTS["flip"], help="average with the mirrored photo's answer"),
    Option("zoom", "Zoomed second pass", "bool", DEFAULTS["zoom"], help="look again at the person's box"),
    Option("cleanup", "Clean-up", "bool", DEFAULTS["cleanup"], help="drop stray islands, fill small holes"),
)


@register("selfie")
class SelfieSegmenter(Segmenter):
    options = OPTIONS
    network = staticmethod(SelfieSegmentationNet)

    @torch.inference_mode()
    def view_probability(self, rgb: np.ndarray, transform: np.ndarray, flip: bool = False) -> np.ndarray:
        """The network's 256×256 probability for the view of ``rgb`` that ``transform`` maps out.

        Outside the photo the view is black, as in mediapipe's letterbox (BORDER_CONSTANT).
        """
        view = cv2.warpAffine(rgb, transform, (VIEW, VIEW), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        tensor = torch.from_numpy(view).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        if flip:  # test-time augmentation: both views in one batch, the mirrored one mirrored back
            tensor = torch.cat([tensor, tensor.flip(3)])
        out = self.net(tensor)[:, 0]
        if flip:
            out = 0.5 * (out[0] + out[1].flip(1))
        else:
            out = out[0]
        return out.float().cpu().numpy()

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """The network's 256×256 probability for a photo squashed to 256×256, as mediapipe runs it."""
        height, width = rgb.shape[:2]
        return self.view_probability(rgb, squash_transform(width, height))

    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        opts = self.check_options(options)
        height, width = rgb.shape[:2]
        progress("segment", 0.1)
        if opts["letterbox"]:
            transform = box_transform((0, 0, width, height), letterbox=True)
            alpha = to_photo(self.view_probability(rgb, transform, opts["flip"]), transform, (height, width))
        else:  # mediapipe's own squash and bilinear resize back
            small = self.view_probability(rgb, squash_transform(width, height), opts["flip"])
            alpha = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        info: dict[str, Any] = {"view": [VIEW, VIEW], "options": opts}
        if opts["zoom"]:
            progress("segment", 0.5)
            box = person_box(alpha, ZOOM_MARGIN)
            if box is not None and max(box[2] - box[0], box[3] - box[1]) * ZOOM_MIN_GAIN < max(width, height):
                transform = box_transform(box, letterbox=True)
                zoomed = self.view_probability(rgb, transform, opts["flip"])
                alpha = merge_zoomed(alpha, zoomed, transform)
                info["zoom_box"] = [round(float(v), 1) for v in box]
        if opts["cleanup"]:
            progress("segment", 0.9)
            alpha = clean_mask(alpha)
        progress("segment", 1.0)
        return Prediction(alpha=np.clip(alpha, 0.0, 1.0).astype(np.float32), info=info)


def to_photo(small: np.ndarray, transform: np.ndarray, shape: tuple[int, int], outside: float = 0.0) -> np.ndarray:
    """Warp a 256×256 probability back onto the photo (bilinear); pixels the view missed get ``outside``."""
    height, width = shape
    return cv2.warpAffine(
        small,
        transform,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=outside,
    )


def merge_zoomed(alpha: np.ndarray, zoomed: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Put the zoomed pass into the photo: inside its view it replaces the first pass, outside it keeps it.

    The weight ramps down over the view's outer 8 pixels so no seam shows where the views meet.
    """
    height, width = alpha.shape
    ramp = np.minimum(np.arange(VIEW) + 0.5, VIEW - np.arange(VIEW) - 0.5).clip(0, 8) / 8
    weight = to_photo(np.minimum.outer(ramp, ramp).astype(np.float32), transform, (height, width))
    return weight * to_photo(zoomed, transform, (height, width)) + (1 - weight) * alpha
