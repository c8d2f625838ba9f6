"""``selfie`` — MediaPipe Selfie Segmentation ported to PyTorch: the fast fallback segmenter.

106 k parameters, a 256×256 view of the photo. The original squashes the photo to
256×256 (no letterbox) with an affine warp, feeds RGB in [0, 1] and resizes the
probability back bilinearly; ``predict`` does the same by default, so the port matches the
mediapipe runtime, and keeps the soft values all the way to the photo's size.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from .base import OptionError, Prediction, ProgressFn, Segmenter, no_progress
from .selfie_net import SelfieSegmentationNet

VIEW = 256


class SelfieSegmenter(Segmenter):
    name = "selfie"
    title = "MediaPipe Selfie Segmentation (fast, 256×256)"
    licence = "Apache-2.0"
    weight_files = ("selfie.pt",)

    def load(self) -> None:
        self.ensure_weights()
        net = SelfieSegmentationNet()
        net.load_state_dict(torch.load(self.weights_dir / "selfie.pt", map_location="cpu", weights_only=True))
        self.net = net.eval().to(self.device)

    @torch.inference_mode()
    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """The network's 256×256 probability for a photo squashed to 256×256."""
        height, width = rgb.shape[:2]
        # mediapipe's ImageToTensorCalculator samples with this affine map (corner to corner,
        # no half-pixel shift); cv2.resize would shift the view by half a pixel and drift from the original
        scale = np.array([[VIEW / width, 0, 0], [0, VIEW / height, 0]], np.float32)
        view = cv2.warpAffine(rgb, scale, (VIEW, VIEW), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        tensor = torch.from_numpy(view).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        return self.net(tensor)[0, 0].float().cpu().numpy()

    def predict(self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress) -> Prediction:
        options = options or {}
        unknown = set(options) - {"flip"}
        if unknown:
            raise OptionError(f"selfie does not know the option(s) {', '.join(sorted(unknown))}")
        flip = options.get("flip", False)
        if not isinstance(flip, bool):
            raise OptionError("option 'flip' must be true or false")
        progress("segment", 0.1)
        small = self.probability(rgb)
        if flip:  # test-time augmentation: average with the mirrored view
            small = 0.5 * (small + self.probability(rgb[:, ::-1].copy())[:, ::-1])
        progress("segment", 0.9)
        height, width = rgb.shape[:2]
        alpha = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        return Prediction(alpha=np.clip(alpha, 0.0, 1.0).astype(np.float32), info={"view": [VIEW, VIEW]})
