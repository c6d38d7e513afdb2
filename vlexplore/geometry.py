"""Box geometry in the authors' inclusive-pixel convention (width = x2 - x1 + 1).

Alignment decides which regions a phrase "owns": a region is aligned when its
intersection over the target (IoT, the gold box) exceeds the threshold, strictly.
May import: records.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .records import as_boxes

__all__ = [
    "area",
    "intersection",
    "iou",
    "iot",
    "overlap",
    "best_overlap",
    "aligned_regions",
    "target_region",
    "encode_boxes",
    "patch_coverage",
    "patches_under_boxes",
    "grid_positions",
    "grow_patches",
    "OverlapMeasure",
]

OverlapMeasure = Literal["iot", "iou"]


def area(boxes) -> np.ndarray:
    b = as_boxes(boxes, "boxes")
    return (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)


def intersection(regions, targets) -> np.ndarray:
    """(N, K) pixel areas of overlap between each region and each target."""
    a = as_boxes(regions, "regions")[:, None, :]
    b = as_boxes(targets, "targets")[None, :, :]
    width = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1
    height = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1
    return np.clip(width, 0, None) * np.clip(height, 0, None)


def iou(a, b) -> np.ndarray:
    """Intersection over union, (N, K)."""
    inter = intersection(a, b)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return inter / union


def iot(regions, targets) -> np.ndarray:
    """Intersection over target: the share of each target box covered by each region, (N, K)."""
    return intersection(regions, targets) / area(targets)[None, :]


def overlap(regions, targets, method: OverlapMeasure = "iot") -> np.ndarray:
    if method == "iot":
        return iot(regions, targets)
    if method == "iou":
        return iou(regions, targets)
    raise ValueError(f"alignment: expected 'iot' or 'iou', got {method!r}")


def best_overlap(region_boxes, gold_boxes, method: OverlapMeasure = "iot") -> np.ndarray:
    """(N,) each region's largest overlap with any of the gold boxes (0 when there are none)."""
    gold = as_boxes(gold_boxes, "gold boxes")
    regions = as_boxes(region_boxes, "region boxes")
    if len(gold) == 0 or len(regions) == 0:
        return np.zeros(len(regions))
    return overlap(regions, gold, method).max(axis=1)


def aligned_regions(region_boxes, gold_boxes, threshold: float = 0.5, method: OverlapMeasure = "iot") -> np.ndarray:
    """Indices of regions whose best overlap with any gold box is strictly above ``threshold``."""
    return np.flatnonzero(best_overlap(region_boxes, gold_boxes, method) > threshold)


def target_region(region_boxes, gold_boxes, aligned: np.ndarray) -> int | None:
    """The MRC target: among ``aligned`` regions, the one with the highest IoU with any gold box."""
    if len(aligned) == 0:
        return None
    scores = iou(as_boxes(region_boxes, "region boxes")[aligned], gold_boxes).max(axis=1)
    return int(aligned[int(np.argmax(scores))])


def encode_boxes(boxes, image_size: tuple[int, int], with_area: bool = True) -> np.ndarray:
    """VOLTA's box encoding: [x1/w, y1/h, x2/w, y2/h(, area/(w*h))] with area = (x2-x1)*(y2-y1)."""
    b = as_boxes(boxes, "boxes")
    width, height = image_size
    out = np.stack([b[:, 0] / width, b[:, 1] / height, b[:, 2] / width, b[:, 3] / height], axis=1)
    if with_area:
        relative_area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) / (width * height)
        out = np.concatenate([out, relative_area[:, None]], axis=1)
    return out.astype(np.float32)


def patch_coverage(patch_boxes, gold_boxes) -> np.ndarray:
    """(P,) the largest share of each patch that any one gold box covers (0 when there are none)."""
    patches = as_boxes(patch_boxes, "patch boxes")
    gold = as_boxes(gold_boxes, "gold boxes")
    if len(gold) == 0 or len(patches) == 0:
        return np.zeros(len(patches))
    return (intersection(patches, gold) / area(patches)[:, None]).max(axis=1)


def patches_under_boxes(patch_boxes, gold_boxes, min_coverage: float = 0.5) -> np.ndarray:
    """Boolean mask of the patches that a gold box covers by at least ``min_coverage`` of their area.

    The rule for pixel-input models (ViLT): a patch counts as "under" a box when at least
    half of it (by default) lies inside any of the phrase's boxes, so a box smaller than a
    patch still claims the patch that holds most of it.
    """
    patches = as_boxes(patch_boxes, "patch boxes")
    gold = as_boxes(gold_boxes, "gold boxes")
    if len(gold) == 0:
        return np.zeros(len(patches), dtype=bool)
    mask = patch_coverage(patches, gold) >= min_coverage
    # A box entirely inside one patch covers less than half of it; claim that patch anyway
    # (a box that misses every patch, e.g. outside a crop, claims none).
    share = iot(patches, gold)
    holder = share.argmax(axis=0)
    mask[holder[share.max(axis=0) > 0]] = True
    return mask


def grid_positions(patch_boxes) -> np.ndarray:
    """(P, 2) (row, column) of each patch of a grid, from the distinct top and left edges."""
    patches = as_boxes(patch_boxes, "patch boxes")
    rows = np.unique(patches[:, 1], return_inverse=True)[1]
    columns = np.unique(patches[:, 0], return_inverse=True)[1]
    return np.stack([rows, columns], axis=1).astype(np.int64)


def grow_patches(mask, positions, rings: int, groups=None) -> np.ndarray:
    """``mask`` plus ``rings`` rings of neighbouring patches (8-connected), within each group.

    ``positions`` are (row, column) grid positions; ``groups`` (one id per patch) keeps a
    growth inside one view of a multi-view model (a tile does not border the global view).
    """
    mask = np.asarray(mask, dtype=bool)
    if rings <= 0 or not mask.any():
        return mask.copy()
    positions = np.asarray(positions)
    groups = np.zeros(len(mask), dtype=np.int64) if groups is None else np.asarray(groups)
    grown = mask.copy()
    for group in np.unique(groups[mask]):
        members = groups == group
        marked = positions[members & mask]
        distance = np.abs(positions[members][:, None, :] - marked[None, :, :]).max(axis=2)  # Chebyshev
        grown[members] |= (distance <= rings).any(axis=1)
    return grown
