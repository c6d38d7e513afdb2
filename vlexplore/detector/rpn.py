"""Region proposal network on res4: anchors (sizes x ratios at stride 16), objectness, NMS 0.7.

One feature level, so the reference's per-level NMS is plain NMS. Proposals come back in the
resized image's pixels, sorted by objectness, at most ``rpn_post_nms`` of them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import DetectorConfig
from .ops import cell_anchors, clip_boxes, decode_boxes, grid_anchors, nms

__all__ = ["RPNHead", "RegionProposals"]


class RPNHead(nn.Module):
    """3x3 conv (hidden width) -> per anchor: one objectness logit and four box deltas."""

    def __init__(self, cin: int, hidden: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, hidden, 3, padding=1)
        self.objectness_logits = nn.Conv2d(hidden, num_anchors, 1)
        self.anchor_deltas = nn.Conv2d(hidden, num_anchors * 4, 1)

    def forward(self, res4: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = F.relu(self.conv(res4))
        return self.objectness_logits(hidden), self.anchor_deltas(hidden)


class RegionProposals(nn.Module):
    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        self.rpn_head = RPNHead(config.res4_channels, config.rpn_channels, config.num_anchors)
        self.register_buffer(
            "base_anchors",
            cell_anchors(config.anchor_sizes, config.anchor_ratios),
            persistent=False,
        )

    def forward(
        self, res4: torch.Tensor, image_height: int, image_width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, 4) proposals in input pixels and their (P,) objectness logits, best first."""
        c = self.config
        logits, deltas = self.rpn_head(res4)  # (1, A, H, W), (1, 4A, H, W)
        _, num_anchors, height, width = logits.shape
        logits = logits[0].permute(1, 2, 0).reshape(-1)  # (H*W*A,) anchor fastest
        deltas = deltas[0].view(num_anchors, 4, height, width).permute(2, 3, 0, 1).reshape(-1, 4)
        anchors = grid_anchors(self.base_anchors, height, width, c.stride, c.anchor_offset)
        top = torch.sort(logits, descending=True).indices[: c.rpn_pre_nms]
        boxes = decode_boxes(deltas[top], anchors[top], c.rpn_box_weights)
        boxes = clip_boxes(boxes, image_height, image_width)
        scores = logits[top]
        nonempty = ((boxes[:, 2] - boxes[:, 0]) > c.rpn_min_size) & (
            (boxes[:, 3] - boxes[:, 1]) > c.rpn_min_size
        )
        boxes, scores = boxes[nonempty], scores[nonempty]
        keep = nms(boxes, scores, c.rpn_nms, max_keep=c.rpn_post_nms)
        return boxes[keep], scores[keep]
