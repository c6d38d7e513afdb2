"""From 300 scored proposals to the regions a model reads: the ``caffe`` and ``hf`` modes.

``caffe`` is what the bottom-up-attention features of VOLTA (and LXMERT, UNITER, ...) are:
airsplay/bottom-up-attention's ``generate_tsv.py``. For every foreground class, greedy NMS
at 0.3 over the *proposal* boxes (py-faster-rcnn's inclusive-pixel IoU, in original image
pixels) ranked by that class's score; a proposal's confidence is its highest class score
among the classes whose NMS it survives (0 if none). Proposals with confidence >= 0.2 are
kept, cut to the 36 most confident when more pass, topped up to the 36 most confident when
fewer pass (when exactly 36 pass they stay in proposal order, as generate_tsv.py leaves
them). The regions are the proposal boxes themselves, not the class-regressed boxes.

``hf`` is the Hugging Face LXMERT demo's ``ROIOutputs``: every proposal takes its best
foreground class and that class's regressed box (clipped to the input), then class-agnostic
NMS at each threshold of the config's list until at least ``MIN_DETECTIONS`` boxes survive
(at most ``MAX_DETECTIONS`` kept). Kept only so that equality with the reference can be
tested; where the demo would fail (no threshold gives enough boxes) the last one is used.

Both return ``cls_prob`` with background in column 0 and ``attr_prob`` with "no attribute"
in column 0 (the checkpoint has them last).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import DetectorConfig
from .heads import HeadOutputs
from .ops import clip_boxes, decode_boxes, nms, per_class_nms
from .preprocess import DetectorInput

__all__ = ["Selection", "background_first", "select_caffe", "select_hf", "MODES"]

MODES = ("caffe", "hf")


@dataclass
class Selection:
    index: torch.Tensor  # (N,) proposals kept, in output order
    boxes: torch.Tensor  # (N, 4) original image pixels


def background_first(probs: torch.Tensor) -> torch.Tensor:
    """Move the last column (detectron2's background / "no attribute") to column 0."""
    return torch.cat([probs[:, -1:], probs[:, :-1]], dim=1)


def select_caffe(
    head: HeadOutputs, proposals: torch.Tensor, inputs: DetectorInput, config: DetectorConfig
) -> Selection:
    boxes = proposals / inputs.scale_x  # one scale for both axes in this mode
    scores = torch.softmax(head.class_logits, dim=-1)[:, :-1]  # (R, num_classes) foreground
    survives = per_class_nms(boxes, scores, config.caffe_nms, plus_one=True)
    confidence = torch.where(survives, scores, torch.zeros(())).amax(dim=1)
    passing = torch.nonzero(confidence >= config.caffe_conf).flatten()
    if len(passing) != config.num_regions:
        passing = torch.sort(confidence, descending=True, stable=True).indices[: config.num_regions]
    return Selection(passing, boxes[passing])


def select_hf(
    head: HeadOutputs, proposals: torch.Tensor, inputs: DetectorInput, config: DetectorConfig
) -> Selection:
    count = len(proposals)
    classes = config.num_classes
    boxes = decode_boxes(head.box_deltas, proposals, config.box_weights).view(count * classes, 4)
    boxes = clip_boxes(boxes, inputs.input_height, inputs.input_width).view(count, classes, 4)
    scores = torch.softmax(head.class_logits, dim=-1)[:, :-1]
    best_scores, best_classes = scores.max(dim=1)
    best_boxes = boxes[torch.arange(count), best_classes]
    keep = torch.zeros(0, dtype=torch.long)
    for threshold in config.hf_nms:
        keep = nms(best_boxes, best_scores, threshold)[: config.hf_max_detections]
        if len(keep) >= config.hf_min_detections:
            break
    back = torch.true_divide(
        torch.tensor([inputs.image_height, inputs.image_width]),
        torch.tensor([inputs.input_height, inputs.input_width]),
    )  # the demo's scales_yx, float32
    out = best_boxes[keep].clone()
    out[:, 0::2] *= back[1]
    out[:, 1::2] *= back[0]
    return Selection(keep, out)
