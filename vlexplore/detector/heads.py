"""The region head: RoIPool 14x14 on res4 -> res5 -> mean pool = the region feature -> predictors.

The classifier has ``num_classes + 1`` outputs and the attribute head ``num_attrs + 1``, in
the checkpoint's (detectron2's) order: background / "no attribute" is the *last* column.
``postprocess`` moves it to column 0, where the VOLTA features and the 1,601-line vocabulary
have it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import DetectorConfig
from .ops import roi_pool
from .resnet import build_res5

__all__ = ["BoxPredictor", "RegionHead", "HeadOutputs"]


@dataclass
class HeadOutputs:
    features: torch.Tensor  # (R, D) mean-pooled res5: the region features
    class_logits: torch.Tensor  # (R, num_classes + 1), background last
    attr_logits: torch.Tensor  # (R, num_attrs + 1), "no attribute" last
    box_deltas: torch.Tensor  # (R, num_classes * 4), one box per foreground class


class BoxPredictor(nn.Module):
    """Class scores, per-class box deltas, and attributes conditioned on the predicted class."""

    def __init__(self, dim: int, num_classes: int, num_attrs: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(dim, num_classes + 1)
        self.bbox_pred = nn.Linear(dim, num_classes * 4)
        self.cls_embedding = nn.Embedding(num_classes + 1, dim // 8)
        self.fc_attr = nn.Linear(dim + dim // 8, dim // 4)
        self.attr_score = nn.Linear(dim // 4, num_attrs + 1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        class_logits = self.cls_score(features)
        deltas = self.bbox_pred(features)
        predicted = self.cls_embedding(
            class_logits.argmax(-1)
        )  # argmax over all columns, background included
        hidden = F.relu(self.fc_attr(torch.cat([features, predicted], dim=-1)))
        return class_logits, self.attr_score(hidden), deltas


class RegionHead(nn.Module):
    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        self.res5 = build_res5(config)
        self.box_predictor = BoxPredictor(config.feature_dim, config.num_classes, config.num_attrs)

    def pooled_features(
        self, res4: torch.Tensor, boxes: torch.Tensor, res5: nn.Module | None = None, chunk: int = 32
    ) -> torch.Tensor:
        """(R, D) region features of ``boxes`` (input pixels) on ``res4`` (1, C, H, W).

        res5 runs per region on its 14x14 pooled map at 2048 channels: ~2.9 GMAC a region at
        the published sizes, ~90 % of the detector's work, and every proposal needs it (the
        caffe selection ranks all 300 by their class scores). It runs in chunks that keep
        memory flat. ``res5``: another implementation of ``self.res5`` to run instead (the
        bfloat16 one of ``precision.Bf16Convs``, float32 in and out).
        """
        c = self.config
        res5 = self.res5 if res5 is None else res5
        scale = 1.0 / c.stride
        out = [res4.new_zeros(0, c.feature_dim)]
        for start in range(0, len(boxes), chunk):
            pooled = roi_pool(res4[0], boxes[start : start + chunk], c.pool_size, scale)
            out.append(res5(pooled).mean(dim=(2, 3)))
        return torch.cat(out)

    def forward(
        self, res4: torch.Tensor, boxes: torch.Tensor, res5: nn.Module | None = None
    ) -> HeadOutputs:
        features = self.pooled_features(res4, boxes, res5)
        class_logits, attr_logits, deltas = self.box_predictor(features)
        return HeadOutputs(features, class_logits, attr_logits, deltas)
