"""Box operations of the detector in plain torch: anchors, box decoding, NMS, RoI max pooling.

torchvision's wheel for this torch is a CUDA build that does not import on CPU machines, so
these are written here. They follow the arithmetic of the kernels the reference runs
(torchvision's ``nms``/``roi_pool``, detectron2's ``Box2BoxTransform``) in float32, step for
step, because their outputs feed discrete decisions (which box survives, which feature cell a
box edge rounds to) where a last-bit difference would change the result. Each is checked
against a brute-force loop in tests/test_detector_ops.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "cell_anchors",
    "grid_anchors",
    "decode_boxes",
    "clip_boxes",
    "pairwise_iou",
    "nms",
    "per_class_nms",
    "round_half_away",
    "roi_pool",
]

#: detectron2's cap on predicted log-scale changes: no box grows more than 1000/16 times
SCALE_CLAMP = math.log(1000.0 / 16)


# Anchors -----------------------------------------------------------------------------
def cell_anchors(sizes, ratios) -> torch.Tensor:
    """(len(sizes) * len(ratios), 4) anchors centred on (0, 0), size-major, as x1, y1, x2, y2."""
    rows = []
    for size in sizes:
        area = float(size) ** 2.0
        for ratio in ratios:
            width = math.sqrt(area / ratio)
            height = ratio * width  # height / width == ratio, area kept
            rows.append([-width / 2.0, -height / 2.0, width / 2.0, height / 2.0])
    return torch.tensor(rows, dtype=torch.float32)


def grid_anchors(base: torch.Tensor, height: int, width: int, stride: int, offset: float = 0.0):
    """(height * width * A, 4): the A cell anchors at every feature cell, row-major, anchor fastest."""
    shift_x = torch.arange(offset * stride, width * stride, step=stride, dtype=torch.float32)
    shift_y = torch.arange(offset * stride, height * stride, step=stride, dtype=torch.float32)
    grid_y, grid_x = torch.meshgrid(shift_y, shift_x, indexing="ij")
    shifts = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)] * 2, dim=1)  # (HW, 4)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)


# Box decoding ------------------------------------------------------------------------
def decode_boxes(deltas: torch.Tensor, boxes: torch.Tensor, weights) -> torch.Tensor:
    """Apply (dx, dy, dw, dh) deltas (N, K*4) to boxes (N, 4): (N, K*4) boxes x1, y1, x2, y2."""
    boxes = boxes.to(deltas.dtype)
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = torch.clamp(deltas[:, 2::4] / ww, max=SCALE_CLAMP)
    dh = torch.clamp(deltas[:, 3::4] / wh, max=SCALE_CLAMP)
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    pred_w = torch.exp(dw) * widths[:, None]
    pred_h = torch.exp(dh) * heights[:, None]
    out = torch.empty_like(deltas)
    out[:, 0::4] = pred_ctr_x - 0.5 * pred_w
    out[:, 1::4] = pred_ctr_y - 0.5 * pred_h
    out[:, 2::4] = pred_ctr_x + 0.5 * pred_w
    out[:, 3::4] = pred_ctr_y + 0.5 * pred_h
    return out


def clip_boxes(boxes: torch.Tensor, height: float, width: float) -> torch.Tensor:
    """Boxes (..., 4) clamped into [0, width] x [0, height] (a new tensor)."""
    limits = torch.tensor([width, height, width, height], dtype=boxes.dtype)
    return torch.minimum(boxes.clamp(min=0), limits)


# Non-maximum suppression -----------------------------------------------------------
def pairwise_iou(a: torch.Tensor, b: torch.Tensor, plus_one: bool = False) -> torch.Tensor:
    """(len(a), len(b)) IoU. ``plus_one``: py-faster-rcnn's inclusive pixel convention (w = x2-x1+1)."""
    one = 1.0 if plus_one else 0.0
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    w = (
        torch.minimum(a[:, None, 2], b[None, :, 2])
        - torch.maximum(a[:, None, 0], b[None, :, 0])
        + one
    ).clamp(min=0)
    h = (
        torch.minimum(a[:, None, 3], b[None, :, 3])
        - torch.maximum(a[:, None, 1], b[None, :, 1])
        + one
    ).clamp(min=0)
    inter = w * h
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, max_keep: int | None = None,
        plus_one: bool = False) -> torch.Tensor:  # fmt: skip
    """Greedy NMS: indices of kept boxes by descending score (IoU > threshold suppresses).

    Greedy NMS decides box i from the boxes kept before it only, so stopping after
    ``max_keep`` kept boxes gives exactly the first ``max_keep`` of the full result.
    """
    n = len(boxes)
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order].float()
    one = 1.0 if plus_one else 0.0
    x1, y1, x2, y2 = b.unbind(1)
    areas = (x2 - x1 + one) * (y2 - y1 + one)
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        if max_keep is not None and len(keep) >= max_keep or i == n - 1:
            break
        w = (torch.minimum(x2[i], x2[i + 1 :]) - torch.maximum(x1[i], x1[i + 1 :]) + one).clamp(
            min=0
        )
        h = (torch.minimum(y2[i], y2[i + 1 :]) - torch.maximum(y1[i], y1[i + 1 :]) + one).clamp(
            min=0
        )
        inter = w * h
        iou = inter / (areas[i] + areas[i + 1 :] - inter)
        suppressed[i + 1 :] |= (iou > threshold).numpy()
    return order[torch.tensor(keep, dtype=torch.long)]


def per_class_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float,
                  plus_one: bool = False) -> torch.Tensor:  # fmt: skip
    """(N, C) bool: does box n survive greedy NMS among the same N boxes ranked by class c's score?

    The boxes are shared by all classes (generate_tsv.py runs NMS on the proposals), so one
    IoU matrix serves all of them and the C greedy passes run side by side: step t settles,
    for every class at once, the box of rank t. Each class's "suppressed" set is a row of
    bits (N = 300 boxes: 38 bytes), so a step touches C x 38 bytes, not C x N.
    """
    n, c = scores.shape
    if n == 0:
        return torch.zeros(0, c, dtype=torch.bool)
    overlaps = np.packbits((pairwise_iou(boxes.float(), boxes.float(), plus_one) > threshold).numpy(), axis=1)
    order = torch.sort(scores.t(), dim=1, descending=True, stable=True).indices.numpy()  # (C, N)
    suppressed = np.zeros((c, overlaps.shape[1]), dtype=np.uint8)
    kept = np.zeros((c, n), dtype=bool)
    classes = np.arange(c)
    for t in range(n):
        box = order[:, t]  # (C,) the rank-t box of each class
        alive = (suppressed[classes, box >> 3] >> (7 - (box & 7)) & 1) == 0
        kept[classes, box] = alive
        suppressed[alive] |= overlaps[box[alive]]
    return torch.from_numpy(np.ascontiguousarray(kept.T))


# RoI max pooling ---------------------------------------------------------------------
def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's ``round`` (halves away from zero); ``torch.round`` rounds halves to even."""
    a = x.abs()
    fl = torch.floor(a)
    return torch.sign(x) * (fl + (a - fl >= 0.5).to(x.dtype))


def roi_bins(boxes: torch.Tensor, spatial_scale: float, size: int, height: int, width: int):
    """Per box and output bin, the feature rows [h0, h1) and columns [w0, w1) it max-pools.

    Caffe's (and torchvision's) RoIPool: box edges scaled and rounded to feature cells, the
    inclusive cell span cut into ``size`` float32 bins, bins clipped to the map.
    """
    scaled = boxes.float() * torch.tensor(spatial_scale, dtype=torch.float32)
    start_w, start_h, end_w, end_h = round_half_away(scaled).to(torch.int64).unbind(1)
    roi_w = torch.clamp(end_w - start_w + 1, min=1).float()
    roi_h = torch.clamp(end_h - start_h + 1, min=1).float()
    bin_w = roi_w / float(size)
    bin_h = roi_h / float(size)
    steps = torch.arange(size, dtype=torch.float32)
    h0 = torch.floor(steps[None] * bin_h[:, None]).long() + start_h[:, None]
    h1 = torch.ceil((steps[None] + 1) * bin_h[:, None]).long() + start_h[:, None]
    w0 = torch.floor(steps[None] * bin_w[:, None]).long() + start_w[:, None]
    w1 = torch.ceil((steps[None] + 1) * bin_w[:, None]).long() + start_w[:, None]
    return h0.clamp(0, height), h1.clamp(0, height), w0.clamp(0, width), w1.clamp(0, width)


def roi_pool(
    features: torch.Tensor, boxes: torch.Tensor, size: int, spatial_scale: float
) -> torch.Tensor:
    """(R, C, size, size) max over each box's bins of ``features`` (C, H, W); empty bins are 0.

    Bins are contiguous, so the 2-D max is a max over rows then over columns; each box
    gathers only the few rows/columns its bins span.
    """
    channels, height, width = features.shape
    out = features.new_zeros(len(boxes), channels, size, size)
    if len(boxes) == 0:
        return out
    h0, h1, w0, w1 = roi_bins(boxes, spatial_scale, size, height, width)
    empty = (h1 <= h0)[:, :, None] | (w1 <= w0)[:, None, :]  # (R, size, size)
    span_h = int((h1 - h0).max().clamp(min=1))
    span_w = int((w1 - w0).max().clamp(min=1))
    reach_h = torch.arange(span_h)
    reach_w = torch.arange(span_w)
    neg_inf = torch.tensor(float("-inf"), dtype=features.dtype)
    for r in range(len(boxes)):
        c0, c1 = int(w0[r].min()), int(w1[r].max())
        if c1 <= c0 or int(h1[r].max()) <= int(h0[r].min()):
            continue  # the box lies off the map: every bin is empty
        rows = h0[r][:, None] + reach_h  # (size, span_h)
        row_ok = rows < h1[r][:, None]
        strip = features[:, rows.clamp(max=height - 1), c0:c1]  # (C, size, span_h, c1-c0)
        strip = torch.where(row_ok[None, :, :, None], strip, neg_inf).amax(
            dim=2
        )  # (C, size, c1-c0)
        cols = w0[r][:, None] + reach_w - c0  # (size, span_w)
        col_ok = cols < (w1[r][:, None] - c0)
        cells = strip[:, :, cols.clamp(0, c1 - c0 - 1)]  # (C, size, size, span_w)
        pooled = torch.where(col_ok[None, None], cells, neg_inf).amax(dim=3)
        out[r] = torch.where(empty[r][None], torch.zeros((), dtype=features.dtype), pooled)
    return out
