"""Caffe-style ResNet (MSRA): stride in the 1x1 conv, frozen batch norm, caffe max pool.

The backbone stops at res4 (stride 16, the C4 layout): region proposals and RoI pooling
both read res4, and res5 runs per region in the head (heads.py). Module names follow the
published checkpoint (``backbone.stem.conv1.norm.running_mean`` ...), so its state dict
loads as it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import RESNET_BLOCKS, DetectorConfig

__all__ = ["FrozenBatchNorm", "ConvNorm", "Bottleneck", "Stem", "ResNetC4", "make_stage"]


class FrozenBatchNorm(nn.Module):
    """Batch norm with fixed statistics and affine (inference only; what caffe's BN+Scale did)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


class ConvNorm(nn.Conv2d):
    """A bias-free convolution followed by frozen batch norm (``conv.weight``, ``conv.norm.*``)."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
    ):
        super().__init__(
            cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, bias=False
        )
        self.norm = FrozenBatchNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(super().forward(x))


class Bottleneck(nn.Module):
    """1x1 (stride here, MSRA) -> 3x3 (optionally dilated) -> 1x1, plus a projection shortcut."""

    def __init__(self, cin: int, cout: int, width: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.shortcut = ConvNorm(cin, cout, 1, stride=stride) if cin != cout else None
        self.conv1 = ConvNorm(cin, width, 1, stride=stride)
        self.conv2 = ConvNorm(width, width, 3, padding=dilation, dilation=dilation)
        self.conv3 = ConvNorm(width, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        out += x if self.shortcut is None else self.shortcut(x)
        return F.relu_(out)


def make_stage(
    blocks: int, cin: int, cout: int, width: int, stride: int, dilation: int = 1
) -> nn.Sequential:
    layers = [
        Bottleneck(cin if i == 0 else cout, cout, width, stride if i == 0 else 1, dilation)
        for i in range(blocks)
    ]
    return nn.Sequential(*layers)


class Stem(nn.Module):
    """7x7/2 conv, ReLU, 3x3/2 max pool: stride 4."""

    def __init__(self, cout: int, caffe_maxpool: bool) -> None:
        super().__init__()
        self.conv1 = ConvNorm(3, cout, 7, stride=2, padding=3)
        self.caffe_maxpool = caffe_maxpool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu_(self.conv1(x))
        if self.caffe_maxpool:  # caffe rounds the output size up instead of padding
            return F.max_pool2d(x, kernel_size=3, stride=2, padding=0, ceil_mode=True)
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


class ResNetC4(nn.Module):
    """stem -> res2 (/4) -> res3 (/8) -> res4 (/16); returns res4 (B, 4 * res2_channels, H/16, W/16)."""

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        blocks = RESNET_BLOCKS[config.depth]
        self.stem = Stem(config.stem_channels, config.caffe_maxpool)
        cin, cout, width = config.stem_channels, config.res2_channels, config.bottleneck_channels
        for index, name in enumerate(("res2", "res3", "res4")):
            self.add_module(
                name, make_stage(blocks[index], cin, cout, width, 1 if index == 0 else 2)
            )
            cin, cout, width = cout, cout * 2, width * 2

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.res4(self.res3(self.res2(self.stem(image))))


def build_res5(config: DetectorConfig) -> nn.Sequential:
    """res5 for the RoI head: the VG model keeps stride 1 and dilates the 3x3 convs by 2."""
    blocks = RESNET_BLOCKS[config.depth][3]
    stride, dilation = (2, 1) if config.res5_halve else (1, 2)
    return make_stage(
        blocks,
        config.res4_channels,
        config.feature_dim,
        config.bottleneck_channels * 8,
        stride,
        dilation,
    )
