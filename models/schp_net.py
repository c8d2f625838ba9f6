"""The Self-Correction Human Parsing network (SCHP, "AugmentCE2P"), ResNet-101 backbone.

Written to the published architecture (Li et al., *Self-Correction for Human Parsing*, 2020) so
that its state dict has the same tensor names and shapes as the public LIP checkpoint
``exp-schp-201908261155-lip.pth`` once its ``module.`` prefix is stripped: a deep-stem ResNet-101
(three 3×3 convs, layer4 dilated), a PSP context module, an edge branch, a decoder and a fusion
head. SCHP trained with InPlace-ABN (batch norm + leaky ReLU 0.01 in one module, no
``num_batches_tracked``); :class:`ABN` reproduces it for inference. Only the fusion output is
returned, because that is what SCHP's own inference uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: the 20 LIP labels, in the network's output order
LIP_LABELS = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat", "Socks", "Pants",
    "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg", "Left-shoe", "Right-shoe",
)


class ABN(nn.Module):
    """Inference form of InPlace-ABN: batch norm with running statistics, then leaky ReLU (slope 0.01)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, 1e-5)
        return F.leaky_relu(x, 0.01)


def conv_abn(cin: int, cout: int, kernel: int = 1, padding: int = 0) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=padding, bias=False), ABN(cout))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class PSPModule(nn.Module):
    def __init__(self, features: int = 2048, out: int = 512, sizes: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size), nn.Conv2d(features, out, 1, bias=False), ABN(out))
            for size in sizes
        )
        self.bottleneck = conv_abn(features + len(sizes) * out, out, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        priors = [F.interpolate(stage(x), size, mode="bilinear", align_corners=True) for stage in self.stages]
        return self.bottleneck(torch.cat([*priors, x], 1))


class EdgeModule(nn.Module):
    def __init__(self, cins: tuple[int, int, int] = (256, 512, 1024), mid: int = 256, out: int = 2):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = (conv_abn(c, mid) for c in cins)
        self.conv4 = nn.Conv2d(mid, out, 3, padding=1)
        self.conv5 = nn.Conv2d(out * 3, out, 1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        size = x1.shape[2:]
        feats = [self.conv1(x1), self.conv2(x2), self.conv3(x3)]
        feats = [feats[0]] + [F.interpolate(f, size, mode="bilinear", align_corners=True) for f in feats[1:]]
        return torch.cat(feats, 1)  # the edge logits (conv4/conv5) only train the features; fusion uses these


class DecoderModule(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.conv1 = conv_abn(512, 256)
        self.conv2 = conv_abn(256, 48)
        self.conv3 = nn.Sequential(
            nn.Conv2d(304, 256, 1, bias=False), ABN(256), nn.Conv2d(256, 256, 1, bias=False), ABN(256)
        )
        self.conv4 = nn.Conv2d(256, classes, 1)

    def forward(self, context: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        top = F.interpolate(self.conv1(context), low.shape[2:], mode="bilinear", align_corners=True)
        return self.conv3(torch.cat([top, self.conv2(low)], 1))


class SCHPNet(nn.Module):
    """Input: BGR in [0, 1] normalised as SCHP does; output: fusion logits at 1/4 of the input size."""

    def __init__(self, classes: int = len(LIP_LABELS), layers: tuple[int, ...] = (3, 4, 23, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.conv3 = nn.Conv2d(64, 128, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(128)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.cin = 128
        self.layer1 = self._layer(64, layers[0])
        self.layer2 = self._layer(128, layers[1], stride=2)
        self.layer3 = self._layer(256, layers[2], stride=2)
        self.layer4 = self._layer(512, layers[3], dilation=2)
        self.context_encoding = PSPModule()
        self.edge = EdgeModule()
        self.decoder = DecoderModule(classes)
        self.fushion = nn.Sequential(  # sic: SCHP's spelling, kept so the checkpoint's keys match
            nn.Conv2d(1024, 256, 1, bias=False), ABN(256), nn.Dropout2d(0.1), nn.Conv2d(256, classes, 1)
        )

    def _layer(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.cin != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
            )
        layers = [Bottleneck(self.cin, planes, stride, dilation, downsample)]
        self.cin = planes * 4
        layers += [Bottleneck(self.cin, planes, 1, dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.maxpool(F.relu(self.bn3(self.conv3(x))))
        x2 = self.layer1(x)
        x3 = self.layer2(x2)
        x4 = self.layer3(x3)
        x5 = self.layer4(x4)
        parsing_fea = self.decoder(self.context_encoding(x5), x2)
        edge_fea = self.edge(x2, x3, x4)
        return self.fushion(torch.cat([parsing_fea, edge_fea], 1))


def load_schp_state(net: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a SCHP state dict (``module.`` prefix allowed) strictly by name and shape.

    ``num_batches_tracked`` counters are training bookkeeping and may be absent or extra. Any other
    missing, unexpected or mis-shaped tensor raises ``ValueError`` naming it, so a wrong file
    (another dataset's head, a truncated save) is refused instead of producing noise.
    """
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(own) - set(given))
    if missing:
        raise ValueError(
            f"SCHP checkpoint lacks tensor '{missing[0]}'"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )
    unexpected = sorted(set(given) - set(own))
    if unexpected:
        raise ValueError(
            f"SCHP checkpoint has unexpected tensor '{unexpected[0]}'"
            + (f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else "")
        )
    for key, tensor in own.items():
        if tuple(given[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"SCHP checkpoint tensor '{key}' has shape {tuple(given[key].shape)}, expected {tuple(tensor.shape)}"
            )
    net.load_state_dict(given, strict=False)
