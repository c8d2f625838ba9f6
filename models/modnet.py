"""``modnet`` — MODNet photographic portrait matting (MobileNetV2, 6.5 M parameters), ported to PyTorch.

A trimap-free matting network trained on portraits: on a person who fills the photo (a
portrait, a full-body street photo) it gives confident alpha with soft hair; on small people
in groups it returns almost nothing, so it is meant for person crops as much as for whole
photos. The photo is resized by MODNet's own recipe (:mod:`models.modnet_view`: short side to
``short_side``, sides rounded down to multiples of 32), fed as (RGB − 127.5) / 127.5, and the
matte is resized back to the photo's size on the soft values.

Option: ``short_side`` (int, 64–2048, default 512, MODNet's reference size) — the short side
the network sees for photos larger than it on both sides or smaller on both.

No foreground colours: the network predicts none, and the pipeline's ``edges`` modes estimate
them in the outline band (``server.edges``) when asked; doing it here would cost every caller,
the crop-wise use included, a pass over the whole photo. fp32 on every device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cutout_common.options import Option

from .base import Prediction, ProgressFn, Segmenter, no_progress
from .modnet_net import MODNet, for_inference
from .modnet_view import DEFAULT_SHORT_SIDE, resize, view_size
from .registry import register

SHORT_SIDE_RANGE = (64, 2048)


OPTIONS = (
    Option("short_side", "Network view", "int", DEFAULT_SHORT_SIDE, SHORT_SIDE_RANGE[0], SHORT_SIDE_RANGE[1], unit="px",
           help="the photo's short side as the network sees it (MODNet's recipe: 512)"),
)


@register("modnet")
class ModNetSegmenter(Segmenter):
    options = OPTIONS
    network = MODNet

    def prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        # channels-last: the layout oneDNN's CPU convolutions (and cuDNN's) run fastest in, and the
        # layout an H×W×3 photo already has, so the input needs no transposing copy
        return for_inference(net).to(memory_format=torch.channels_last)

    def predict(
        self, rgb: np.ndarray, options: dict[str, Any] | None = None, progress: ProgressFn = no_progress
    ) -> Prediction:
        short_side = self.check_options(options)["short_side"]
        height, width = rgb.shape[:2]
        size = view_size(height, width, short_side)
        progress("segment", 0.05)
        small = self.matte(resize(rgb, size))
        progress("segment", 0.95)
        alpha = resize(small, (height, width))
        return Prediction(alpha=alpha, info={"view": [size[1], size[0]], "options": {"short_side": short_side}})

    @torch.inference_mode()
    def matte(self, view: np.ndarray) -> np.ndarray:
        """The network's alpha (float32 in [0, 1], view-sized) for an H×W×3 uint8 view whose sides are multiples
        of 32."""
        photo = torch.from_numpy(np.require(view, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]))  # no copy when possible
        # an H×W×3 array is an N×C×H×W tensor in channels-last memory: permuting is free, and the float copy keeps it.
        # The batch axis goes in first, so its stride is the whole image's: with any other stride torch cannot tell the
        # layout is channels-last, and the graph's concatenations with the image would fall back to NCHW copies
        tensor = photo.to(self.device)[None].permute(0, 3, 1, 2).float()
        return self.net(tensor.sub_(127.5).div_(127.5))[0, 0].cpu().numpy()
