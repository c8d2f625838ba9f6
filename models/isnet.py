"""``isnet`` — ISNet (DIS) from IMG.LY's background-removal package, ported to PyTorch.

A 44 M-parameter, 1024×1024 foreground network: the sharpest outlines of the
segmenters here, strongest on photos of one person (it segments "the salient
object", so it can miss people in crowds and keep objects that stand out).
The photo is letterboxed into 1024×1024 (option ``view``: ``letterbox``, the
default, measured a little better on persons-dev, or ``squash`` as IMG.LY and
onnxruntime on the original do; README, *Quality*), fed as
(RGB − 128) / 256, and the probability is resized back to the photo's size on the
soft values. Whatever the photo size, the network sees 1024², so peak memory is the
photo itself plus a few photo-sized float planes. fp16 on CUDA, fp32 elsewhere.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from cutout_common.options import Choice, Option

from .base import Prediction, ProgressFn, Segmenter, no_progress
from .isnet_net import ISNetDIS
from .registry import register
from .stage_progress import progress_between_stages

VIEW = 1024
VIEWS = ("squash", "letterbox")
#: letterbox measured (slightly) better than squash on persons-dev (mean IoU; see the module docstring)
DEFAULT_VIEW = "letterbox"


def to_view(rgb: np.ndarray, view: str) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The 1024×1024 network input and the (top, left, height, width) box the photo fills in it.

    ``squash`` stretches the photo to the square (as IMG.LY does); ``letterbox`` keeps its aspect
    ratio and pads with mid-grey, which the (x − 128) / 256 normalisation turns into zeros.
    INTER_AREA when shrinking: averaging avoids the aliasing plain bilinear has on large photos.
    """
    height, width = rgb.shape[:2]
    if view == "squash":
        box = (0, 0, VIEW, VIEW)
    else:
        scale = VIEW / max(height, width)
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        box = ((VIEW - h) // 2, (VIEW - w) // 2, h, w)
    top, left, h, w = box
    shrinking = h * w < height * width
    resized = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if (h, w) == (VIEW, VIEW):
        return resized, box
    canvas = np.full((VIEW, VIEW, 3), 128, np.uint8)
    canvas[top : top + h, left : left + w] = resized
    return canvas, box


def from_view(probability: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """The photo-sized probability: crop the photo's box out of the view, resize bilinearly (soft values kept)."""
    top, left, h, w = box
    height, width = size
    crop = np.ascontiguousarray(probability[top : top + h, left : left + w])
    alpha = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha, 0.0, 1.0, out=alpha).astype(np.float32, copy=False)


OPTIONS = (
    Option("view", "View", "choice", DEFAULT_VIEW,
           choices=(Choice("letterbox", "Letterbox", "aspect ratio kept, padded with grey"),
                    Choice("squash", "Squash", "stretched to the square, as IMG.LY runs it")),
           help="how the photo becomes the network's 1024×1024 input"),
)


@register("isnet")
class ISNetSegmenter(Segmenter):
    options = OPTIONS
    network = staticmethod(ISNetDIS)
    half_on_cuda = True  # its weights ship in float16; the probability moves by < 1e-4 (tests/test_devices.py)

    def load_state(self, net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
        net.load_state_dict({k: v.float() for k, v in state.items()})  # stored fp16, as shipped

    def prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        # channels-last: oneDNN's CPU convolutions (and cuDNN's) run in it without reordering every feature
        # map in and out of each convolution (4.1 against 5.3 CPU s per 1024² view on 2 threads), and an
        # H×W×3 view already has that layout
        return net.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def probability(self, view: np.ndarray, progress: ProgressFn = no_progress) -> np.ndarray:
        """The network's 1024×1024 probability for a 1024×1024 uint8 RGB view; each of its eleven stages reports
        (0.1 … 0.9), so a cancel raised from ``progress`` stops the pass between them."""
        # batch axis first, then the permute: the N×C×H×W tensor is channels-last in memory with a batch
        # stride torch recognises, so nothing is transposed; the float copy keeps the layout
        tensor = torch.from_numpy(view).to(self.device)[None].permute(0, 3, 1, 2).to(self.dtype)
        with progress_between_stages(self.net.stages(), progress, "segment", 0.1, 0.9):
            probability = self.net(tensor.sub_(128.0).div_(256.0))
        return probability[0, 0].float().cpu().numpy()

    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        view_mode = self.check_options(options)["view"]
        progress("segment", 0.05)
        view, box = to_view(rgb, view_mode)
        small = self.probability(view, progress)
        progress("segment", 0.95)
        alpha = from_view(small, box, rgb.shape[:2])
        return Prediction(alpha=alpha, info={"view": [VIEW, VIEW], "view_mode": view_mode})
