"""Which units (detector regions or image patches) a phrase owns, and which one MRC scores.

Regions: aligned when their best overlap (IoT by default) with a gold box is strictly above
the threshold; the target is the aligned region of highest IoU. Patches (pixel models):
aligned when a gold box covers at least ``patch_coverage`` of them; no target.
May import: records, geometry, protocol.settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import geometry
from ..records import Phrase
from .settings import PAPER, AblationSettings

__all__ = ["Alignment", "require_gold_boxes", "align_regions", "align_patches"]


@dataclass(frozen=True)
class Alignment:
    """Which units a phrase owns, and which one is scored for MRC."""

    aligned: np.ndarray  # (A,) indices of aligned regions (or patches)
    target: int | None  # MRC target region, None when nothing is aligned (always None for patches)
    overlap: np.ndarray  # (N,) each unit's best overlap with any gold box, in ``measure``
    measure: str  # "iot" or "iou" (regions), "patch coverage" (patches)


def require_gold_boxes(phrase: Phrase) -> None:
    """The diagnostic ablates what lies under a phrase's boxes: a phrase without one has no unit."""
    if len(phrase.boxes) == 0:
        raise ValueError(
            f"phrase {phrase.text!r} has no gold box; draw at least one box for it (the diagnostic "
            "ablates the regions under the phrase's boxes)"
        )


def align_regions(region_boxes: np.ndarray, phrase: Phrase, settings: AblationSettings = PAPER) -> Alignment:
    require_gold_boxes(phrase)
    best = geometry.best_overlap(region_boxes, phrase.boxes, settings.alignment)
    aligned = geometry.aligned_regions(region_boxes, phrase.boxes, settings.threshold, settings.alignment)
    target = geometry.target_region(region_boxes, phrase.boxes, aligned)
    return Alignment(aligned, target, best, settings.alignment)


def align_patches(
    patch_boxes: np.ndarray, phrase: Phrase, settings: AblationSettings = PAPER, under: np.ndarray | None = None
) -> Alignment:
    """``under``: the patches the model's own geometry puts under the boxes (``VLModel.patches_under_boxes``,
    which multi-view models decide view by view); default ViLT's rule on ``patch_boxes``."""
    require_gold_boxes(phrase)
    if under is None:
        under = geometry.patches_under_boxes(patch_boxes, phrase.boxes, settings.patch_coverage)
        under = geometry.grow_patches(under, geometry.grid_positions(patch_boxes), settings.patch_border)
    coverage = geometry.patch_coverage(patch_boxes, phrase.boxes)
    return Alignment(np.flatnonzero(under), None, coverage, "patch coverage")
