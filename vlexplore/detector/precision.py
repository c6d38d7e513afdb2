"""Opt-in bfloat16 arithmetic for the detector's region head; float32 stays the default.

The published features (VOLTA's, generate_tsv.py's) were computed in float32, and so is
``precision="fp32"``, bit for bit the same as before this option existed. ``"bf16"`` runs
res5 over the proposals (93 % of the work at the published sizes) in bfloat16, which a CPU
with avx512_bf16 multiplies about twice as fast. Each convolution's frozen batch norm is
folded into it first (one rounding to bfloat16 instead of two), and the maps are kept
channels-last, the layout oneDNN's bfloat16 kernels want; inputs and outputs stay float32.

Only res5: the backbone, the proposals, the predictors, the pooling of the region features
and the selection run in float32. With the backbone in bfloat16 too (7 % more of the work)
the proposals themselves move, and with them every box of the caffe mode (which keeps the
proposal boxes); with res5 alone the 300 candidates are exactly the fp32 ones and only the
choice among them and the features move slightly (benchmarks/README.md measures how much).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.common import DETECTOR_PRECISIONS
from .resnet import ConvNorm

__all__ = ["DETECTOR_PRECISIONS", "check_precision", "Bf16Convs", "fold_batch_norms"]

def check_precision(precision: str) -> str:
    if precision not in DETECTOR_PRECISIONS:
        raise ValueError(
            f"unknown detector precision {precision!r}; use fp32 (the default, what VOLTA's features are) "
            "or bf16 (res5 in bfloat16: faster on a CPU with bfloat16 instructions, slightly different regions)"
        )
    return precision


def _folded(conv: ConvNorm) -> nn.Conv2d:
    """One biased convolution computing ``conv`` followed by its frozen batch norm."""
    norm = conv.norm
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (cout,)
    out = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
        padding=conv.padding, dilation=conv.dilation, bias=True,
    )  # fmt: skip
    out.weight.data = conv.weight.detach() * scale[:, None, None, None]
    out.bias.data = norm.bias - norm.running_mean * scale
    return out


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every ``ConvNorm`` replaced by the equivalent biased ``Conv2d``."""
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ConvNorm):
                setattr(parent, name, _folded(child))
    return module


class Bf16Convs(nn.Module):
    """``module`` (a ResNet part) run in bfloat16, channels-last, batch norms folded; float32 in and out."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        folded = fold_batch_norms(module).to(torch.bfloat16)
        self.module = folded.to(memory_format=torch.channels_last).eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.bfloat16, memory_format=torch.channels_last)
        return self.module(x).float().contiguous()
