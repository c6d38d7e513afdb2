"""The six input conditions of the protocol, built as plain arrays.

Vision-for-language (MLM readout): the phrase is masked in all three; regions are left
alone (None), the aligned ones replaced by the baseline (Object), or all replaced (All).
Language-for-vision (MRC readout): the aligned regions are zeroed in all three; the text is
left alone (None), the phrase masked (Phrase), or the whole caption masked (All).
The defaults are the paper's choices ("paper" preset); the alternatives are named options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from . import geometry
from .records import Phrase

__all__ = [
    "VIS4LANG",
    "LANG4VIS",
    "AblationSettings",
    "PAPER",
    "Alignment",
    "align",
    "require_gold_boxes",
    "mask_text",
    "replace_rows",
    "global_feature",
    "vis4lang_regions",
    "lang4vis_regions",
]

VIS4LANG: tuple[str, ...] = ("none", "object", "all")
LANG4VIS: tuple[str, ...] = ("none", "phrase", "all")


@dataclass(frozen=True)
class AblationSettings:
    """How to ablate. Every field defaults to what produced the paper's numbers."""

    threshold: float = 0.5  # a region is aligned when its overlap is strictly above this
    alignment: Literal["iot", "iou"] = "iot"  # overlap measure: intersection over target or union
    baseline: Literal["average", "zero"] = "average"  # vis4lang replacement feature
    recompute_global_vis4lang: bool = True  # paper: global = mean of the ablated rows
    recompute_global_lang4vis: bool = False  # paper: global keeps the original mean (a leak)
    patch_coverage: float = 0.5  # pixel models: share of a patch a box must cover

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1); got {self.threshold}")
        if self.alignment not in ("iot", "iou"):
            raise ValueError(f"alignment must be 'iot' or 'iou'; got {self.alignment!r}")
        if self.baseline not in ("average", "zero"):
            raise ValueError(f"baseline must be 'average' or 'zero'; got {self.baseline!r}")
        if not 0.0 < self.patch_coverage <= 1.0:
            raise ValueError(f"patch_coverage must be in (0, 1]; got {self.patch_coverage}")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def is_paper(self) -> bool:
        return self == PAPER


PAPER = AblationSettings()


@dataclass(frozen=True)
class Alignment:
    """Which regions a phrase owns, and which one is scored for MRC."""

    aligned: np.ndarray  # indices of aligned regions (or patches)
    target: int | None  # MRC target region, None when nothing is aligned
    overlap: np.ndarray  # (N,) best overlap of each region with any gold box


def require_gold_boxes(phrase: Phrase) -> None:
    """The diagnostic ablates what lies under a phrase's boxes: a phrase without one has no unit."""
    if len(phrase.boxes) == 0:
        raise ValueError(
            f"phrase {phrase.text!r} has no gold box; draw at least one box for it (the diagnostic "
            "ablates the regions under the phrase's boxes)"
        )


def align(region_boxes: np.ndarray, phrase: Phrase, settings: AblationSettings = PAPER) -> Alignment:
    require_gold_boxes(phrase)
    best = geometry.best_overlap(region_boxes, phrase.boxes, settings.alignment)
    aligned = np.flatnonzero(best > settings.threshold)
    return Alignment(aligned, geometry.target_region(region_boxes, phrase.boxes, aligned), best)


def mask_text(input_ids, positions, mask_id: int) -> np.ndarray:
    """A copy of ``input_ids`` with ``positions`` replaced by [MASK] (length unchanged)."""
    ids = np.array(input_ids, dtype=np.int64)
    ids[list(positions)] = mask_id
    return ids


def replace_rows(features: np.ndarray, rows: np.ndarray, replacement: np.ndarray | float) -> np.ndarray:
    out = np.array(features, dtype=np.float32, copy=True)
    out[rows] = replacement
    return out


def global_feature(features: np.ndarray) -> np.ndarray:
    return features.astype(np.float64).mean(axis=0).astype(np.float32)


def _baseline(features: np.ndarray, settings: AblationSettings, average_feature: np.ndarray | None):
    if settings.baseline == "zero":
        return np.zeros(features.shape[1], dtype=np.float32)
    if average_feature is None:
        raise ValueError("baseline 'average' needs the dataset-average region feature (average_feature)")
    average_feature = np.asarray(average_feature, dtype=np.float32)
    if average_feature.shape != (features.shape[1],):
        raise ValueError(
            f"average_feature has shape {average_feature.shape}; the regions have {features.shape[1]}-d features"
        )
    return average_feature


def vis4lang_regions(
    features: np.ndarray,
    aligned: np.ndarray,
    settings: AblationSettings = PAPER,
    average_feature: np.ndarray | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(features, global feature, ablated mask) for None / Object / All."""
    baseline = _baseline(features, settings, average_feature)
    original_global = global_feature(features)
    n = len(features)
    out = {}
    for condition, rows in (("none", np.zeros(0, int)), ("object", aligned), ("all", np.arange(n))):
        ablated_features = replace_rows(features, rows, baseline)
        glob = global_feature(ablated_features) if settings.recompute_global_vis4lang else original_global
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        out[condition] = (ablated_features, glob, mask)
    return out


def lang4vis_regions(
    features: np.ndarray, aligned: np.ndarray, settings: AblationSettings = PAPER
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, global feature, ablated mask), the same in all three lang4vis conditions."""
    zeroed = replace_rows(features, aligned, 0.0)
    glob = global_feature(zeroed) if settings.recompute_global_lang4vis else global_feature(features)
    mask = np.zeros(len(features), dtype=bool)
    mask[aligned] = True
    return zeroed, glob, mask


def text_for_conditions(input_ids, phrase_positions, caption_positions, mask_id: int) -> dict:
    """Token ids per condition: ("vis4lang", c) and ("lang4vis", c)."""
    masked_phrase = mask_text(input_ids, phrase_positions, mask_id)
    out = {("vis4lang", c): masked_phrase for c in VIS4LANG}
    out[("lang4vis", "none")] = np.array(input_ids, dtype=np.int64)
    out[("lang4vis", "phrase")] = masked_phrase
    out[("lang4vis", "all")] = mask_text(input_ids, caption_positions, mask_id)
    return out

