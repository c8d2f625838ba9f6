"""``rvm`` — Robust Video Matting (MobileNetV3) in PyTorch: the default segmenter.

A matting network trained on people: it returns a real alpha matte (soft hair and
outlines) and the person's colours freed from the old background. A still photo is a
video's first frame (zero recurrent states). As upstream, the network looks at a
downsampled view of the photo (option ``view``: the long side it sees, default 448,
chosen on persons-dev for quality and speed, see :data:`DEFAULT_VIEW`) and a fast guided
filter, guided by the full-resolution photo, brings alpha and foreground back to the
photo's size. A photo smaller than the
view is seen at its own size (option ``enlarge``, default false: enlarging thumbnails gains
little and costs a full network run for each; README, *Quality*).

That last step is done here, not in the network, in bands of rows: the guided
filter's coefficients are small (view size), and each band of the photo is
interpolated, multiplied and clamped on its own, so a 24 MP photo needs a few hundred
MB for its outputs and a bounded working set, not a dozen full-size float tensors.
The arithmetic is the TF.js graph's: a 3×3 box filter without padding (valid region
only), ``eps = 1e-5``, half-pixel bilinear interpolation, foreground = photo + residual.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from cutout_common.options import Option

from .base import ColourMatting, Prediction, ProgressFn
from .registry import register
from .rvm_net import MattingNetwork, fuse_batch_norms

#: long side of the network's view. persons-dev, small photos kept: IoU 0.908 / 0.910 / 0.912 / 0.907 at
#: 384 / 448 / 512 / 768, and 0.63 / 0.82 / 0.99 s per MP for the whole pipeline on 2 CPU cores at 384 / 448 / 512:
#: 448 keeps the default under 1 s/MP with a margin for slower machines, for 0.002 of IoU
DEFAULT_VIEW = 448
VIEW_RANGE = (64, 2048)
#: guided filter: box radius (3×3) and regulariser, as in the source graph
RADIUS, EPS = 1, 1e-5
#: output rows interpolated at a time in the full-resolution step (bounds the working set)
BAND_PIXELS = 1 << 20


OPTIONS = (
    Option("view", "Network view", "int", DEFAULT_VIEW, VIEW_RANGE[0], VIEW_RANGE[1], unit="px",
           help="long side of the photo as the network sees it"),
    Option("enlarge", "Enlarge small photos", "bool", False, help="photos smaller than the view are enlarged to it"),
)


@register("rvm")
class RobustVideoMatting(ColourMatting):
    options = OPTIONS
    network = staticmethod(MattingNetwork)
    half_on_cuda = True  # as upstream runs it; the guided filter after it stays float32 (tests/test_devices.py)

    def prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        # channels-last: oneDNN's CPU convolutions run in it without reordering each feature map (about
        # 12 % less CPU time here); the view built in :meth:`matte` already has that layout
        return fuse_batch_norms(net).to(memory_format=torch.channels_last)

    def predict_matte(
        self, rgb: np.ndarray, options: dict[str, Any] | None, progress: ProgressFn, colours: bool
    ) -> Prediction:
        """The prediction, with the foreground colours when ``colours`` (else ``foreground`` is None)."""
        opts = self.check_options(options)
        view, enlarge = opts["view"], opts["enlarge"]
        height, width = rgb.shape[:2]
        ratio = downsample_ratio(height, width, view) if enlarge or max(height, width) > view else 1.0
        progress("segment", 0.05)
        alpha, foreground, size = self.matte(rgb, ratio, colours)
        progress("segment", 1.0)
        info = {"view": [size[1], size[0]], "downsample_ratio": round(float(ratio), 6),
                "options": {"view": view, "enlarge": enlarge}}
        return Prediction(alpha=alpha, foreground=foreground, info=info)

    @torch.inference_mode()
    def matte(
        self, rgb: np.ndarray, ratio: float, colours: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
        """(alpha H×W, foreground H×W×3 or None unless ``colours``, view size) for ``rgb`` seen at
        ``downsample_ratio`` ``ratio``."""
        height, width = rgb.shape[:2]
        photo = torch.from_numpy(np.require(rgb, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]))  # no copy when possible
        # H×W×3 is N×C×H×W in channels-last memory. The batch axis goes in before the permute, so its stride is
        # the whole image's: with any other stride torch cannot tell the layout, and the network's concatenations
        # with the view would fall back to slow NCHW copies
        if ratio == 1.0:
            src = photo.to(self.device)[None].permute(0, 3, 1, 2).float().div_(255.0)
        else:  # TF's int(size × ratio), float32 arithmetic
            small = (int(np.float32(height) * np.float32(ratio)), int(np.float32(width) * np.float32(ratio)))
            src = resize_bilinear(photo, small).to(self.device)[None].permute(0, 3, 1, 2)
        src = src.to(self.dtype)  # the network's own type (float16 on a GPU); the guided filter works in float32
        fgr_residual, pha, _ = self.net(src)
        if ratio == 1.0:
            alpha = pha[0, 0].clamp(0, 1).float().cpu().numpy()
            if not colours:
                return alpha, None, (height, width)
            foreground = (src + fgr_residual)[0].clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()
            return alpha, np.ascontiguousarray(foreground), (height, width)
        base = torch.cat([fgr_residual, pha], dim=1)[0].float().cpu()
        alpha, foreground = guided_upsample(src[0].float().cpu(), base, photo, colours)
        return alpha, foreground, tuple(src.shape[2:])


def downsample_ratio(height: int, width: int, view: int) -> float:
    """RVM's ``downsample_ratio`` so the long side becomes ``view`` (float32, as the graph computes sizes).

    For a photo smaller than the view this enlarges (ratio > 1; the guided filter then
    brings the result back down) — used with the ``enlarge`` option.
    """
    long_side = np.float32(max(height, width))
    if long_side == view:
        return 1.0
    ratio = np.float32(view / float(long_side))
    while int(long_side * ratio) < view:  # float32 rounding must not lose the last pixel
        ratio = np.nextafter(ratio, np.float32(np.inf))
    return float(ratio)


def bilinear_taps(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Half-pixel-centre bilinear taps along one axis, as TF's ResizeBilinear: (lower, upper, weight of upper)."""
    scale = in_size / out_size
    position = (torch.arange(out_size, dtype=torch.float64) + 0.5) * scale - 0.5
    floor = position.floor()
    lower = floor.clamp(0, in_size - 1).long()
    upper = position.ceil().clamp(0, in_size - 1).long()
    return lower, upper, (position - floor).float()


def _lerp_rows(x: torch.Tensor, taps: tuple[torch.Tensor, torch.Tensor, torch.Tensor], dim: int) -> torch.Tensor:
    lower, upper, weight = taps
    shape = [1] * x.dim()
    shape[dim] = -1
    a, b = x.index_select(dim, lower).float(), x.index_select(dim, upper).float()
    return a + (b - a) * weight.view(shape)


def resize_bilinear(photo: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Downsample an H×W×3 uint8 photo to ``size`` as TF does (bilinear, no antialiasing), in [0, 1].

    Only the two source rows each output row needs are ever widened to float, so a 24 MP
    photo costs no full-size float copy.
    """
    rows = _lerp_rows(photo, bilinear_taps(photo.shape[0], size[0]), 0)
    return _lerp_rows(rows, bilinear_taps(photo.shape[1], size[1]), 1) / 255.0


def box_filter_valid(x: torch.Tensor, radius: int = RADIUS) -> torch.Tensor:
    """Mean over (2r+1)² windows, valid region only (C×h×w → C×(h−2r)×(w−2r)), as the graph's box filter.

    OpenCV's box filter on the channels-last copy, cropped to the valid region: about 7× faster
    than ``avg_pool2d`` on these small-channel CPU planes (it was a tenth of a cut-out's time).
    """
    size = 2 * radius + 1
    planes = np.ascontiguousarray(x.permute(1, 2, 0).numpy(), dtype=np.float32)
    blurred = cv2.blur(planes, (size, size), borderType=cv2.BORDER_REPLICATE)
    if blurred.ndim == 2:  # OpenCV drops a single channel's axis
        blurred = blurred[..., None]
    valid = blurred[radius : blurred.shape[0] - radius, radius : blurred.shape[1] - radius]
    return torch.from_numpy(np.ascontiguousarray(valid)).permute(2, 0, 1)


def guided_coefficients(lr_x: torch.Tensor, lr_y: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Fast guided filter at low resolution: per-pixel linear model ``y ≈ A·x + b`` (each C×h'×w')."""
    mean_x, mean_y = box_filter_valid(lr_x), box_filter_valid(lr_y)
    cov_xy = box_filter_valid(lr_x * lr_y) - mean_x * mean_y
    var_x = box_filter_valid(lr_x * lr_x) - mean_x * mean_x
    a = cov_xy / (var_x + eps)
    return a, mean_y - a * mean_x


def guided_upsample(
    src: torch.Tensor, base: torch.Tensor, photo: torch.Tensor, colours: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Bring the network's view outputs to the photo's size with the fast guided filter.

    ``src``: the view (3×h×w in [0, 1]); ``base``: foreground residual and alpha at view
    size (4×h×w); ``photo``: the full-size H×W×3 uint8 photo. The guide is RGB plus its grey
    mean, channel by channel. Returns clamped (alpha H×W, foreground H×W×3) float32; without
    ``colours``, (alpha, None): each channel is filtered on its own, so the alpha is the same,
    for a quarter of the full-size work.

    Per band of rows: the coefficients' rows are interpolated here (few, small), their
    columns by OpenCV's bilinear resize (the same half-pixel rule, SIMD), and the linear
    model is applied in place into the output arrays, channels last like the photo.
    """
    height, width = photo.shape[:2]
    grey = src.mean(0, keepdim=True)
    lr_x, lr_y = (torch.cat([src, grey]), base) if colours else (grey, base[3:])
    a, b = guided_coefficients(lr_x, lr_y)
    planes = a.shape[0]  # A (planes) then b (planes); alpha's are the last of each
    coefficients = torch.cat([a, b]).permute(1, 2, 0).contiguous()  # h'×w'×2·planes
    rows = bilinear_taps(coefficients.shape[0], height)
    alpha = np.empty((height, width), np.float32)
    foreground = np.empty((height, width, 3), np.float32) if colours else None
    band = max(1, BAND_PIXELS // max(width, 1))
    for top in range(0, height, band):
        span = slice(top, min(top + band, height))
        band_rows = _lerp_rows(coefficients, tuple(t[span] for t in rows), 0).numpy()
        full = torch.from_numpy(cv2.resize(band_rows, (width, band_rows.shape[0]), interpolation=cv2.INTER_LINEAR))
        guide = photo[span].float().div_(255.0)
        if foreground is not None:
            fgr = torch.from_numpy(foreground[span])
            torch.addcmul(full[..., 4:7], full[..., 0:3], guide, out=fgr)  # residual = A·I + b
            fgr.add_(guide).clamp_(0, 1)  # foreground = photo + residual
        pha = torch.from_numpy(alpha[span])
        torch.addcmul(full[..., 2 * planes - 1], full[..., planes - 1], guide.mean(2), out=pha).clamp_(0, 1)
    return alpha, foreground
