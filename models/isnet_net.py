"""ISNet (Qin et al., "Highly Accurate Dichotomous Image Segmentation", ECCV 2022) in PyTorch.

A U²-Net style network: six nested residual U-blocks (RSU) down, five up, one
3×3 side convolution per decoder level. Batch norm is folded into the
convolutions (the IMG.LY ONNX export this port is loaded from has none left), so
every block is ``conv → ReLU``. Module names follow the DIS reference code
(``stage1.rebnconvin.conv_s1``, ``side1``...), which is also how the ONNX export
names its nodes, so the converter maps weights by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def upsample_like(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bilinear (half-pixel, as the export's ``Resize``) to ``target``'s height and width."""
    return F.interpolate(x, size=target.shape[2:], mode="bilinear", align_corners=False)


def pool(x: torch.Tensor) -> torch.Tensor:
    """Halve the resolution (2×2 max, ceil mode so odd sizes keep their last row)."""
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class ConvReLU(nn.Module):
    """3×3 convolution (batch norm folded in) and ReLU; ``conv_s1`` as in the reference's REBNCONV."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1, stride: int = 1):
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv_s1(x), inplace=True)


class RSU(nn.Module):
    """Residual U-block of ``depth`` levels (RSU-7 ... RSU-4): a small U-Net plus the input's projection.

    ``depth - 2`` levels are pooled by 2; the bottom convolution is dilated by 2 instead.
    """

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int):
        super().__init__()
        self.depth = depth
        self.rebnconvin = ConvReLU(in_ch, out_ch)
        self.rebnconv1 = ConvReLU(out_ch, mid_ch)
        for i in range(2, depth):
            setattr(self, f"rebnconv{i}", ConvReLU(mid_ch, mid_ch))
        setattr(self, f"rebnconv{depth}", ConvReLU(mid_ch, mid_ch, dilation=2))
        for i in range(depth - 1, 1, -1):
            setattr(self, f"rebnconv{i}d", ConvReLU(2 * mid_ch, mid_ch))
        self.rebnconv1d = ConvReLU(2 * mid_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        skips = [self.rebnconv1(hxin)]
        for i in range(2, self.depth):
            skips.append(getattr(self, f"rebnconv{i}")(pool(skips[-1])))
        hx = getattr(self, f"rebnconv{self.depth}")(skips[-1])
        for i in range(self.depth - 1, 0, -1):
            hx = getattr(self, f"rebnconv{i}d")(torch.cat((hx, skips[i - 1]), 1))
            if i > 1:
                hx = upsample_like(hx, skips[i - 2])
        return hx + hxin


class RSU4F(nn.Module):
    """RSU-4F: the deepest blocks keep their resolution and widen the view with dilations 1, 2, 4, 8."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int):
        super().__init__()
        self.rebnconvin = ConvReLU(in_ch, out_ch)
        self.rebnconv1 = ConvReLU(out_ch, mid_ch)
        self.rebnconv2 = ConvReLU(mid_ch, mid_ch, dilation=2)
        self.rebnconv3 = ConvReLU(mid_ch, mid_ch, dilation=4)
        self.rebnconv4 = ConvReLU(mid_ch, mid_ch, dilation=8)
        self.rebnconv3d = ConvReLU(2 * mid_ch, mid_ch, dilation=4)
        self.rebnconv2d = ConvReLU(2 * mid_ch, mid_ch, dilation=2)
        self.rebnconv1d = ConvReLU(2 * mid_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(torch.cat((hx4, hx3), 1))
        hx2d = self.rebnconv2d(torch.cat((hx3d, hx2), 1))
        return self.rebnconv1d(torch.cat((hx2d, hx1), 1)) + hxin


class ISNetDIS(nn.Module):
    """ISNet for 1024×1024 input normalised as (RGB − 128) / 256.

    ``forward`` returns the main probability (side output 1, 1×1×H×W); ``side_outputs``
    returns all six (deep supervision during training; coarser, so unused here).
    """

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(3, 64, 3, stride=2, padding=1)
        self.stage1 = RSU(7, 64, 32, 64)
        self.stage2 = RSU(6, 64, 32, 128)
        self.stage3 = RSU(5, 128, 64, 256)
        self.stage4 = RSU(4, 256, 128, 512)
        self.stage5 = RSU4F(512, 256, 512)
        self.stage6 = RSU4F(512, 256, 512)
        self.stage5d = RSU4F(1024, 256, 512)
        self.stage4d = RSU(4, 1024, 128, 256)
        self.stage3d = RSU(5, 512, 64, 128)
        self.stage2d = RSU(6, 256, 32, 64)
        self.stage1d = RSU(7, 128, 16, 64)
        for i, channels in enumerate((64, 64, 128, 256, 512, 512), start=1):
            setattr(self, f"side{i}", nn.Conv2d(channels, 1, 3, padding=1))

    def stages(self) -> list[nn.Module]:
        """The encoder's and decoder's stages in the order they run (each a few tenths of a second at 1024² on a
        CPU: where progress is reported)."""
        names = ("stage1", "stage2", "stage3", "stage4", "stage5", "stage6")
        return [getattr(self, name) for name in (*names, "stage5d", "stage4d", "stage3d", "stage2d", "stage1d")]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Decoder features hx1d ... hx5d and the bottom hx6, finest first."""
        hx1 = self.stage1(self.conv_in(x))
        hx2 = self.stage2(pool(hx1))
        hx3 = self.stage3(pool(hx2))
        hx4 = self.stage4(pool(hx3))
        hx5 = self.stage5(pool(hx4))
        hx6 = self.stage6(pool(hx5))
        hx5d = self.stage5d(torch.cat((upsample_like(hx6, hx5), hx5), 1))
        hx4d = self.stage4d(torch.cat((upsample_like(hx5d, hx4), hx4), 1))
        hx3d = self.stage3d(torch.cat((upsample_like(hx4d, hx3), hx3), 1))
        hx2d = self.stage2d(torch.cat((upsample_like(hx3d, hx2), hx2), 1))
        hx1d = self.stage1d(torch.cat((upsample_like(hx2d, hx1), hx1), 1))
        return [hx1d, hx2d, hx3d, hx4d, hx5d, hx6]

    def side_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.features(x)
        return [torch.sigmoid(upsample_like(getattr(self, f"side{i}")(f), x)) for i, f in enumerate(features, 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hx1d = self.features(x)[0]
        return torch.sigmoid(upsample_like(self.side1(hx1d), x))
