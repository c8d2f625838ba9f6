"""MediaPipe Selfie Segmentation (general model, 256×256) as a PyTorch module.

The architecture is read off the ``.tflite`` graph in the ``mediapipe==0.10.21``
wheel: a MobileNetV3-style encoder (squeeze-excite blocks, hard-swish) down to
1/16, an LR-ASPP-like head, and three decoder stages that merge the 1/8, 1/4 and
1/2 skips with an attention gate, then a 2×2 transposed convolution to full
size and a sigmoid (the sigmoid is inside the original graph).

TensorFlow's SAME padding puts the odd pixel of a stride-2 convolution at the
bottom/right; :class:`SameConv` reproduces that so the port matches the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (asymmetric for even kernels/strides)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        height, width = x.shape[-2:]
        pad_h = max((-(-height // stride) - 1) * stride + kernel - height, 0)
        pad_w = max((-(-width // stride) - 1) * stride + kernel - width, 0)
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return super().forward(x)


def conv1x1(cin: int, cout: int) -> SameConv:
    return SameConv(cin, cout, 1)


def depthwise(channels: int, kernel: int, stride: int) -> SameConv:
    return SameConv(channels, channels, kernel, stride, groups=channels)


class SqueezeExcite(nn.Module):
    """Global average → 1×1 (ReLU) → 1×1 → sigmoid, multiplied back onto the input."""

    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.reduce = conv1x1(channels, squeezed)
        self.expand = conv1x1(squeezed, channels)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.expand(F.relu(self.reduce(x.mean((2, 3), keepdim=True)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class InvertedResidual(nn.Module):
    """MobileNetV3 block: expand 1×1 → depthwise → (squeeze-excite) → project 1×1 (+ residual)."""

    def __init__(self, cin: int, expand: int, cout: int, kernel: int, stride: int, squeeze: int | None, hswish: bool):
        super().__init__()
        self.expand = conv1x1(cin, expand)
        self.depthwise = depthwise(expand, kernel, stride)
        self.se = SqueezeExcite(expand, squeeze) if squeeze else None
        self.project = conv1x1(expand, cout)
        self.act = F.hardswish if hswish else F.relu
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.depthwise(self.act(self.expand(x))))
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.residual else y

    def convs(self) -> list[nn.Conv2d]:
        se = [self.se.reduce, self.se.expand] if self.se else []
        return [self.expand, self.depthwise, *se, self.project]


class DecoderStage(nn.Module):
    """Upsample ×2, 1×1 conv, merge the skip through an attention gate, refine with a residual pair."""

    def __init__(self, cin: int, channels: int):
        super().__init__()
        self.up_conv = conv1x1(cin, channels)
        self.attention = SqueezeExcite(channels, channels)
        self.refine = conv1x1(channels, channels)
        self.refine_dw = depthwise(channels, 3, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        up = self.up_conv(up)
        merged = skip * self.attention.gate(skip + up) + up
        refined = F.relu(self.refine(merged))
        return refined + F.relu(self.refine_dw(refined))

    def convs(self) -> list[nn.Conv2d]:
        return [self.up_conv, self.attention.reduce, self.attention.expand, self.refine, self.refine_dw]


class SelfieSegmentationNet(nn.Module):
    """Input N×3×256×256 RGB in [0, 1]; output N×1×256×256 person probability."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv(3, 16, 3, 2)
        self.blocks = nn.ModuleList(
            [
                InvertedResidual(16, 16, 16, 3, 2, 8, hswish=False),  # 1/4: skip
                InvertedResidual(16, 72, 24, 3, 2, None, hswish=False),
                InvertedResidual(24, 88, 24, 3, 1, None, hswish=False),  # 1/8: skip
                InvertedResidual(24, 96, 32, 5, 2, 24, hswish=True),
                InvertedResidual(32, 128, 32, 5, 1, 32, hswish=True),
                InvertedResidual(32, 128, 32, 5, 1, 32, hswish=True),
                InvertedResidual(32, 96, 32, 5, 1, 24, hswish=True),
                InvertedResidual(32, 96, 32, 5, 1, 24, hswish=True),
            ]
        )
        self.head_features = conv1x1(32, 128)
        self.head_gate = conv1x1(32, 128)
        self.decode8 = DecoderStage(128, 24)
        self.decode4 = DecoderStage(24, 16)
        self.decode2 = DecoderStage(16, 16)
        self.segment = nn.ConvTranspose2d(16, 1, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = F.hardswish(self.stem(x))
        skips = {}
        y = half
        for index, block in enumerate(self.blocks):
            y = block(y)
            if index in (0, 2):
                skips[index] = y
        head = F.relu(self.head_features(y)) * torch.sigmoid(self.head_gate(y.mean((2, 3), keepdim=True)))
        y = self.decode8(head, skips[2])
        y = self.decode4(y, skips[0])
        y = self.decode2(y, half)
        return torch.sigmoid(self.segment(y))

    def convs_in_graph_order(self) -> list[nn.Module]:
        """Every weighted layer in the order the .tflite graph runs them (the converter relies on it)."""
        layers: list[nn.Module] = [self.stem]
        for block in self.blocks:
            layers += block.convs()
        layers += [self.head_features, self.head_gate]
        for stage in (self.decode8, self.decode4, self.decode2):
            layers += stage.convs()
        layers.append(self.segment)
        return layers
