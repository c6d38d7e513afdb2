"""A simulated object detector for the procedural world.

Like bottom-up attention it returns a fixed number of boxes per image (36 by default):
jittered boxes around each object, part boxes inside objects and background boxes, in a
shuffled order. Each region's feature is a fixed descriptor of its crop's pixels (colour
histogram, a saliency thumbnail, shape moments); nothing of the ground truth is written
into it. Each region also gets a class distribution (silver labels) from a simulated
classifier whose noise is a parameter, so the paper's finding that detector labels agree
with gold only 38% of the time can be reproduced under control.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import geometry
from ..records import Regions
from .scenes import CLASS_NAMES, Scene

__all__ = ["DetectorConfig", "FEATURE_DIM", "SILVER_NOISE", "region_boxes", "region_features", "gold_region_classes", "silver_labels", "detect"]

FEATURE_DIM = 128
#: label noise at which the detector's top class at the target region agrees with gold ~38% of the time
SILVER_NOISE = 1.1
_HIST_BINS = 4  # per RGB channel: 64 colour bins
_THUMB = 7  # saliency thumbnail side: 49 values


@dataclass(frozen=True)
class DetectorConfig:
    num_regions: int = 36
    jitters_per_object: int = 3
    parts_per_object: int = 2
    jitter: float = 0.12  # std of each box side's shift, relative to the object's size
    label_noise: float = SILVER_NOISE  # std of the Gaussian noise on the classifier's logits
    label_confidence: float = 1.0  # logit margin of the true class before noise

    def __post_init__(self) -> None:
        if self.num_regions < 1:
            raise ValueError(f"num_regions: need at least one region per image; got {self.num_regions}")
        if self.jitters_per_object < 1:
            raise ValueError(f"jitters_per_object: need at least one box per object; got {self.jitters_per_object}")
        if self.parts_per_object < 0:
            raise ValueError(f"parts_per_object: must be >= 0; got {self.parts_per_object}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter: must be in [0, 1); got {self.jitter}")
        if self.label_noise < 0:
            raise ValueError(f"label_noise: must be >= 0; got {self.label_noise}")


def _clip_box(box, width: int, height: int) -> list[float]:
    x1, y1, x2, y2 = box
    x1 = float(np.clip(round(x1), 0, width - 2))
    y1 = float(np.clip(round(y1), 0, height - 2))
    x2 = float(np.clip(round(x2), x1 + 1, width - 1))
    y2 = float(np.clip(round(y2), y1 + 1, height - 1))
    return [x1, y1, x2, y2]


def region_boxes(scene: Scene, config: DetectorConfig, rng: np.random.Generator) -> np.ndarray:
    """(num_regions, 4) boxes: object jitters first claim slots, then parts, then background."""
    width, height = scene.image_size
    jitters, parts = [], []
    for obj in scene.objects:
        x1, y1, x2, y2 = obj.box
        w, h = x2 - x1 + 1, y2 - y1 + 1
        for _ in range(config.jitters_per_object):
            shift = rng.normal(0.0, config.jitter, size=4) * np.array([w, h, w, h])
            jitters.append(_clip_box((x1 + shift[0], y1 + shift[1], x2 + shift[2], y2 + shift[3]), width, height))
        for _ in range(config.parts_per_object):
            fw, fh = rng.uniform(0.35, 0.6, size=2)
            px = x1 + rng.uniform(0, 1 - fw) * w
            py = y1 + rng.uniform(0, 1 - fh) * h
            parts.append(_clip_box((px, py, px + fw * w, py + fh * h), width, height))
    # Round-robin over objects so that every object keeps a box when slots are few.
    n_obj = len(scene.objects)
    ordered = [jitters[o * config.jitters_per_object + k] for k in range(config.jitters_per_object) for o in range(n_obj)]
    if config.parts_per_object:
        ordered += [parts[o * config.parts_per_object + k] for k in range(config.parts_per_object) for o in range(n_obj)]
    boxes = ordered[: config.num_regions]
    while len(boxes) < config.num_regions:
        bw = rng.uniform(0.12, 0.7) * width
        bh = rng.uniform(0.12, 0.7) * height
        bx = rng.uniform(0, width - bw)
        by = rng.uniform(0, height - bh)
        boxes.append(_clip_box((bx, by, bx + bw, by + bh), width, height))
    boxes = np.array(boxes, dtype=np.float64)
    return boxes[rng.permutation(len(boxes))]


def _saliency(image: np.ndarray) -> np.ndarray:
    """Per-pixel colourfulness in [0, 1]: the world's backgrounds are nearly grey."""
    image = image.astype(np.float32)
    chroma = image.max(axis=2) - image.min(axis=2)
    return np.clip((chroma - 30.0) / 90.0, 0.0, 1.0)


def region_features(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N, 128) float32 descriptors computed from each box's crop of ``image``.

    64 colour-histogram bins (square-rooted), a 7x7 saliency thumbnail, 7 log Hu moments of
    the saliency, and 8 summary values (mean RGB, saliency mean/std, edge density, aspect,
    relative area).
    """
    height, width = image.shape[:2]
    saliency = _saliency(image)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(gray, 60, 140)
    quantised = (image.astype(np.int32) * _HIST_BINS) // 256
    bins = (quantised[..., 0] * _HIST_BINS + quantised[..., 1]) * _HIST_BINS + quantised[..., 2]
    out = np.zeros((len(boxes), FEATURE_DIM), dtype=np.float32)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.int64)):
        crop = (slice(y1, y2 + 1), slice(x1, x2 + 1))
        hist = np.bincount(bins[crop].ravel(), minlength=_HIST_BINS**3).astype(np.float64)
        hist = np.sqrt(hist / hist.sum())
        sal = saliency[crop]
        thumb = cv2.resize(sal, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).ravel()
        moments = cv2.HuMoments(cv2.moments(cv2.resize(sal, (32, 32), interpolation=cv2.INTER_AREA))).ravel()
        hu = -np.sign(moments) * np.log10(np.abs(moments) + 1e-12) / 12.0
        rgb = image[crop].reshape(-1, 3).mean(axis=0) / 255.0
        w, h = x2 - x1 + 1, y2 - y1 + 1
        summary = [
            *rgb,
            sal.mean(),
            sal.std(),
            (edges[crop] > 0).mean(),
            np.log(w / h) / 2.0,
            w * h / (width * height),
        ]
        out[i] = np.concatenate([hist, thumb, hu, summary]).astype(np.float32)
    return out


def gold_region_classes(region_boxes_: np.ndarray, scene: Scene, min_iou: float = 0.5) -> np.ndarray:
    """Each region's gold class: the shape of its best-matching object (IoU >= 0.5), else background."""
    classes = np.zeros(len(region_boxes_), dtype=np.int64)
    if not scene.objects:
        return classes
    overlaps = geometry.iou(region_boxes_, scene.object_boxes)
    best = overlaps.argmax(axis=1)
    matched = overlaps.max(axis=1) >= min_iou
    classes[matched] = scene.object_classes[best[matched]]
    return classes


def silver_labels(gold: np.ndarray, config: DetectorConfig, rng: np.random.Generator, num_classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """A noisy classifier's distribution: softmax(margin * onehot(gold) + noise * N(0, 1))."""
    logits = rng.normal(0.0, 1.0, size=(len(gold), num_classes)) * config.label_noise
    logits[np.arange(len(gold)), gold] += config.label_confidence
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def detect(scene: Scene, config: DetectorConfig | None = None) -> tuple[Regions, np.ndarray]:
    """The detector's ``Regions`` for ``scene`` and each region's gold class (for training)."""
    config = config or DetectorConfig()
    rng = np.random.default_rng([scene.seed, 15485863])
    boxes = region_boxes(scene, config, rng)
    features = region_features(scene.image, boxes)
    gold = gold_region_classes(boxes, scene)
    cls_prob = silver_labels(gold, config, rng)
    regions = Regions(boxes=boxes, features=features, image_size=scene.image_size, cls_prob=cls_prob, class_names=CLASS_NAMES)
    return regions, gold
