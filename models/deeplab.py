"""``deeplab`` — torchvision's DeepLabV3 (dilated ResNet-101) on the PASCAL VOC labels.

The dilated-convolution semantic network (the DilatedNet role). Built with ``weights=None`` and
filled from ``weights/deeplab.pt``. Person = VOC label 15; the alpha is the softmax probability
of that label, computed at the working size (shorter side 520, as torchvision's preset) and
resized back to the photo on the soft values. Option ``view`` (int, 64–1024): the working size.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from cutout_common.options import Option

from .base import Prediction, ProgressFn, Segmenter, no_progress
from .registry import register
from .torch_run import autocast, resize_soft

PERSON = 15
VIEW = 520
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def build_net() -> torch.nn.Module:
    from torchvision.models.segmentation import deeplabv3_resnet101

    return deeplabv3_resnet101(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)


def working_view(rgb: np.ndarray, short_side: int) -> np.ndarray:
    """The photo with its shorter side at ``short_side`` (torchvision's SemanticSegmentation preset)."""
    height, width = rgb.shape[:2]
    scale = short_side / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interpolation)


OPTIONS = (
    Option(
        "view", "Network view", "int", VIEW, 64, 1024, unit="px", help="the photo's shorter side as the network sees it"
    ),
)


@register("deeplab")
class DeepLabSegmenter(Segmenter):
    options = OPTIONS
    network = staticmethod(build_net)

    @torch.inference_mode()
    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        view = self.check_options(options)["view"]
        progress("segment", 0.1)
        small = (working_view(rgb, view).astype(np.float32) / 255.0 - MEAN) / STD
        tensor = torch.from_numpy(small).to(self.device).permute(2, 0, 1)[None]
        with autocast(self.device):
            logits = self.net(tensor)["out"][0]
        prob = torch.softmax(logits.float(), 0)[PERSON].cpu().numpy()
        progress("segment", 1.0)
        return Prediction(alpha=resize_soft(prob, rgb.shape[:2]), info={"view": list(small.shape[1::-1])})
