"""``parsing`` — human parsing with the 20 LIP labels (Self-Correction Human Parsing, ResNet-101).

The network (:mod:`models.schp_net`) loads SCHP's public LIP checkpoint
``exp-schp-201908261155-lip.pth`` (converted to ``weights/parsing.pt``: ``module.`` prefix
stripped, checked by tensor name and shape). As SCHP's own inference does, the photo is fitted
whole into a 473×473 view keeping its aspect ratio (black padding), fed as BGR normalised with
SCHP's ImageNet statistics, and the logits are upsampled to the view. Softmax probabilities are
resized back to the photo: alpha = 1 − P(Background); the 19 other labels come back as named part
masks (``"Hair"``, ``"Face"``, ``"Upper-clothes"`` …). Options: ``view`` (int, working size,
default 473), ``parts`` (bool, default true).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from cutout_common.options import Option

from .base import Prediction, ProgressFn, Segmenter, no_progress
from .registry import register
from .schp_net import LIP_LABELS, SCHPNet, load_schp_state
from .torch_run import autocast, resize_soft

VIEW = 473
#: SCHP's normalisation, in BGR order
MEAN_BGR = np.array([0.406, 0.456, 0.485], np.float32)
STD_BGR = np.array([0.225, 0.224, 0.229], np.float32)


def letterbox(rgb: np.ndarray, view: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The photo fitted whole and centred in a view×view square; returns (square, (x, y, w, h) of the photo in it)."""
    height, width = rgb.shape[:2]
    scale = view / max(height, width)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    x, y = (view - w) // 2, (view - h) // 2
    square = np.zeros((view, view, 3), np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    square[y : y + h, x : x + w] = cv2.resize(rgb, (w, h), interpolation=interpolation)
    return square, (x, y, w, h)


OPTIONS = (
    Option("view", "Network view", "int", VIEW, 64, 1024, unit="px", help="side of the square the network sees"),
    Option("parts", "Body parts", "bool", True, help="return the 19 part masks"),
)


@register("parsing")
class ParsingSegmenter(Segmenter):
    options = OPTIONS
    network = staticmethod(SCHPNet)

    def load_state(self, net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
        load_schp_state(net, state)

    @torch.inference_mode()
    def probabilities(self, rgb: np.ndarray, view: int = VIEW) -> np.ndarray:
        """Softmax over the 20 LIP labels at the photo's size (H×W×20 float32)."""
        square, (x, y, w, h) = letterbox(rgb, view)
        bgr = (square[:, :, ::-1].astype(np.float32) / 255.0 - MEAN_BGR) / STD_BGR
        tensor = torch.from_numpy(np.ascontiguousarray(bgr)).to(self.device).permute(2, 0, 1)[None]
        with autocast(self.device):
            logits = self.net(tensor)
        logits = F.interpolate(logits.float(), (view, view), mode="bilinear", align_corners=True)
        prob = torch.softmax(logits[0], 0).permute(1, 2, 0)[y : y + h, x : x + w].cpu().numpy()
        height, width = rgb.shape[:2]
        return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)

    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        opts = self.check_options(options)
        progress("segment", 0.1)
        prob = self.probabilities(rgb, opts["view"])
        progress("segment", 0.9)
        alpha = resize_soft(1.0 - prob[:, :, 0], rgb.shape[:2])
        parts = (
            {label: np.clip(prob[:, :, i], 0, 1).astype(np.float32) for i, label in enumerate(LIP_LABELS) if i}
            if opts["parts"]
            else {}
        )
        labels = prob.argmax(axis=2)
        present = [LIP_LABELS[i] for i in np.unique(labels) if i]
        progress("segment", 1.0)
        return Prediction(alpha=alpha, parts=parts, info={"view": [opts["view"]] * 2, "labels_present": present})
