"""Robust Video Matting (MobileNetV3 variant) as a PyTorch module.

Lin et al., "Robust High-Resolution Video Matting with Temporal Guidance" (WACV 2022),
https://github.com/PeterL1n/RobustVideoMatting (GPL-3.0). The layer layout follows the
paper's PyTorch code; the weights come from the TF.js export of the same network
(see :mod:`models.install.rvm`), in which batch norm is already folded into the
convolutions. The encoder is MobileNetV3-Large (last three blocks dilated) laid out module
for module as torchvision builds it, so the state dict's names are torchvision's; it is
written here because importing torchvision imports its detection ops and with them torch's
compiler stack, seconds of every cold start. Its batch norms hold the folded offsets and are
fused away by :func:`fuse_batch_norms` after loading. Everything after the encoder is written
here with plain biased convolutions.

This module is the network at one resolution: ``forward`` takes the (already
downsampled) view and returns the foreground residual and alpha at that view's size.
Upsampling to the photo with the fast guided filter lives in :mod:`models.rvm`, where
it can be done in bounded memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: encoder channels at 1/2, 1/4, 1/8 and 1/16 of the view (after LR-ASPP for the last)
FEATURE_CHANNELS = (16, 24, 40, 128)
#: decoder output channels at 1/8, 1/4, 1/2 and full view size
DECODER_CHANNELS = (80, 40, 32, 16)
#: recurrent state channels (half of each decoder block's output; the bottleneck's is 128 // 2)
STATE_CHANNELS = (16, 20, 40, 64)


#: MobileNetV3-Large's blocks with the last three dilated (output stride 16), as RVM uses: input channels, kernel,
#: expanded channels, output channels, squeeze-and-excitation, activation (ReLU or hard swish), stride, dilation
BLOCKS = (
    (16, 3, 16, 16, False, "RE", 1, 1),
    (16, 3, 64, 24, False, "RE", 2, 1),  # f1: 1/2 (after features[1]); f2 after features[3]
    (24, 3, 72, 24, False, "RE", 1, 1),
    (24, 5, 72, 40, True, "RE", 2, 1),
    (40, 5, 120, 40, True, "RE", 1, 1),
    (40, 5, 120, 40, True, "RE", 1, 1),  # f3: 1/8
    (40, 3, 240, 80, False, "HS", 2, 1),
    (80, 3, 200, 80, False, "HS", 1, 1),
    (80, 3, 184, 80, False, "HS", 1, 1),
    (80, 3, 184, 80, False, "HS", 1, 1),
    (80, 3, 480, 112, True, "HS", 1, 1),
    (112, 3, 672, 112, True, "HS", 1, 1),
    (112, 5, 672, 160, True, "HS", 2, 2),  # dilated: stride 1 instead of 2
    (160, 5, 960, 160, True, "HS", 1, 2),
    (160, 5, 960, 160, True, "HS", 1, 2),
)
#: MobileNetV3's batch norm settings (the epsilon is what fusing uses)
BATCH_NORM_EPS, BATCH_NORM_MOMENTUM = 0.001, 0.01


def _activation(kind: str | None) -> list[nn.Module]:
    return {"RE": [nn.ReLU(inplace=True)], "HS": [nn.Hardswish(inplace=True)], None: []}[kind]


class ConvNormActivation(nn.Sequential):
    """Convolution without bias, batch norm, then the activation (none for a projection): torchvision's
    ``Conv2dNormActivation``, indices 0, 1, 2."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, dilation: int = 1,
                 groups: int = 1, activation: str | None = "HS"):
        padding = (kernel - 1) // 2 * dilation
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels, eps=BATCH_NORM_EPS, momentum=BATCH_NORM_MOMENTUM),
            *_activation(activation),
        )


def squeeze_channels(channels: int, divisor: int = 8) -> int:
    """A quarter of ``channels`` rounded to a multiple of ``divisor``, never 10 % below it (MobileNet's rule)."""
    quarter = channels // 4
    rounded = max(divisor, int(quarter + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * quarter else rounded


class SqueezeExcitation(nn.Module):
    """Channels rescaled by a gate computed from their global average (ReLU inside, hard sigmoid out)."""

    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class InvertedResidual(nn.Module):
    """Expand (1×1), depthwise (k×k), optional squeeze-and-excitation, project (1×1); the input added back when
    the shape is kept."""

    def __init__(self, in_channels: int, kernel: int, expanded: int, out_channels: int, use_se: bool,
                 activation: str, stride: int, dilation: int):
        super().__init__()
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(ConvNormActivation(in_channels, expanded, 1, activation=activation))
        layers.append(ConvNormActivation(expanded, expanded, kernel, 1 if dilation > 1 else stride, dilation,
                                         groups=expanded, activation=activation))
        if use_se:
            layers.append(SqueezeExcitation(expanded, squeeze_channels(expanded)))
        layers.append(ConvNormActivation(expanded, out_channels, 1, activation=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.use_res_connect else out


class MobileNetV3Encoder(nn.Module):
    """MobileNetV3-Large, features 0–16; returns the four feature maps the decoder uses.

    The ImageNet normalisation is part of the network (as in RVM); ``mean`` and ``std`` are
    buffers so the converter can store the exact constants of the source graph.
    """

    def __init__(self) -> None:
        super().__init__()
        last = BLOCKS[-1][3]
        self.features = nn.Sequential(
            ConvNormActivation(3, BLOCKS[0][0], 3, stride=2),
            *(InvertedResidual(*block) for block in BLOCKS),
            ConvNormActivation(last, 6 * last, 1),
        )
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        features = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in (1, 3, 6, 16):
                features.append(x)
        return features


class LRASPP(nn.Module):
    """Lite R-ASPP: a 1×1 projection gated by a global-context attention vector."""

    def __init__(self, in_channels: int = 960, out_channels: int = 128):
        super().__init__()
        self.aspp1 = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.ReLU(inplace=True))
        self.aspp2 = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aspp1(x) * self.aspp2(x)


class ConvGRU(nn.Module):
    """Convolutional GRU cell; the state ``h`` is None for a still photo (a zero first frame).

    With a zero state the cell reduces exactly: the reset gate multiplies zeros, the zero half of
    each concatenated input adds nothing, and the output is ``z * c``. :meth:`first_frame` computes
    just that, with a third of the multiply-adds and no concatenations (every cut-out is a first frame).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.ih = nn.Sequential(nn.Conv2d(channels * 2, channels * 2, 3, padding=1), nn.Sigmoid())
        self.hh = nn.Sequential(nn.Conv2d(channels * 2, channels, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        if h is None:
            return self.first_frame(x)
        r, z = self.ih(torch.cat([x, h], dim=1)).split(self.channels, dim=1)
        c = self.hh(torch.cat([x, r * h], dim=1))
        return (1 - z) * h + z * c

    def first_frame(self, x: torch.Tensor) -> torch.Tensor:
        """The cell with a zero state: the update gate and candidate from the weights that see ``x`` only."""
        n = self.channels
        gates, candidate = self.ih[0], self.hh[0]
        z = torch.sigmoid(F.conv2d(x, gates.weight[n:, :n], gates.bias[n:], padding=1))
        c = torch.tanh(F.conv2d(x, candidate.weight[:, :n], candidate.bias, padding=1))
        return z * c


class BottleneckBlock(nn.Module):
    """At 1/16: half the channels pass through a ConvGRU."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.gru = ConvGRU(channels // 2)

    def forward(self, x: torch.Tensor, r: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = x.split(self.channels // 2, dim=1)
        b = self.gru(b, r)
        return torch.cat([a, b], dim=1), b


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """×2 bilinear (half-pixel centres, as TF's ResizeBilinear), cropped to the skip connection's size."""
    x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    return x[:, :, : like.shape[2], : like.shape[3]]


class UpsamplingBlock(nn.Module):
    """Upsample, concatenate the encoder skip and the downsampled source, conv + ReLU, ConvGRU on half."""

    def __init__(self, in_channels: int, skip_channels: int, src_channels: int, out_channels: int):
        super().__init__()
        self.out_channels = out_channels
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels + src_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True)
        )
        self.gru = ConvGRU(out_channels // 2)

    def forward(
        self, x: torch.Tensor, f: torch.Tensor, s: torch.Tensor, r: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(torch.cat([upsample_to(x, s), f, s], dim=1))
        a, b = x.split(self.out_channels // 2, dim=1)
        b = self.gru(b, r)
        return torch.cat([a, b], dim=1), b


class OutputBlock(nn.Module):
    """Back to the view's full size: upsample, concatenate the source, two conv + ReLU."""

    def __init__(self, in_channels: int, src_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels + src_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([upsample_to(x, s), s], dim=1))


class RecurrentDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        f, d = FEATURE_CHANNELS, DECODER_CHANNELS
        self.avgpool = nn.AvgPool2d(2, 2, count_include_pad=False, ceil_mode=True)
        self.decode4 = BottleneckBlock(f[3])
        self.decode3 = UpsamplingBlock(f[3], f[2], 3, d[0])
        self.decode2 = UpsamplingBlock(d[0], f[1], 3, d[1])
        self.decode1 = UpsamplingBlock(d[1], f[0], 3, d[2])
        self.decode0 = OutputBlock(d[2], 3, d[3])

    def forward(
        self, s0: torch.Tensor, f1: torch.Tensor, f2: torch.Tensor, f3: torch.Tensor, f4: torch.Tensor,
        states: list[torch.Tensor | None],
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        s1 = self.avgpool(s0)
        s2 = self.avgpool(s1)
        s3 = self.avgpool(s2)
        r1, r2, r3, r4 = states
        x4, r4 = self.decode4(f4, r4)
        x3, r3 = self.decode3(x4, f3, s3, r3)
        x2, r2 = self.decode2(x3, f2, s2, r2)
        x1, r1 = self.decode1(x2, f1, s1, r1)
        return self.decode0(x1, s0), [r1, r2, r3, r4]


class MattingNetwork(nn.Module):
    """RVM at one resolution: ``src`` (N×3×h×w RGB in [0, 1]) → (foreground residual N×3×h×w, alpha N×1×h×w).

    The foreground is ``src + residual``; neither output is clamped here, because the
    guided filter that brings them to the photo's size works on the raw values (as upstream).
    ``states`` are the four recurrent states (None: a still photo / first frame); the new
    states are returned for video use.
    """

    def __init__(self) -> None:
        super().__init__()
        self.backbone = MobileNetV3Encoder()
        self.aspp = LRASPP(960, FEATURE_CHANNELS[3])
        self.decoder = RecurrentDecoder()
        self.project_mat = nn.Conv2d(DECODER_CHANNELS[3], 4, 1)

    def forward(
        self, src: torch.Tensor, states: list[torch.Tensor | None] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        f1, f2, f3, f4 = self.backbone(src)
        f4 = self.aspp(f4)
        hidden, states = self.decoder(src, f1, f2, f3, f4, states or [None] * 4)
        fgr_residual, pha = self.project_mat(hidden).split([3, 1], dim=1)
        return fgr_residual, pha, states


def fuse_batch_norms(module: nn.Module) -> nn.Module:
    """Fold every (conv, batch norm) pair of a :class:`ConvNormActivation` into the conv.

    The converted weights carry batch norm as a pure per-channel offset; folding it into
    the convolution's bias saves a full pass over every feature map on the CPU.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for block in module.modules():
        if isinstance(block, ConvNormActivation) and isinstance(block[1], nn.BatchNorm2d):
            block[0] = fuse_conv_bn_eval(block[0].eval(), block[1].eval())
            block[1] = nn.Identity()
    return module
